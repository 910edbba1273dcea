"""OpenAI's speech request, read and turned into the manager's ``SynthesisRequest``.

No model logic: names are looked up in the engine layer's registries (engines, quality
profiles, voices, languages), and every refusal is an ``ApiError`` in OpenAI's JSON shape
with the same message the UI gives for the same mistake.

``model``: ``tts-1`` is the default engine with its fast profile; ``tts-1-hd`` and
``gpt-4o-mini-tts`` its balanced one; an engine name (``f5tts``, ``xtts``) that engine
with its default profile; a profile name that profile (and its engine).
``voice``: a preset or saved voice id, OpenAI's voice names (``OPENAI_VOICES``), or the
``{"id": ...}`` object form.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from engines import DEFAULT_PROFILE, PRESETS, PROFILES_BY_ENGINE, EngineManager, InputError, SynthesisRequest
from engines.json_input import parse_json
from engines.knobs import KNOBS, KnobError, check_knobs
from engines.types import MAX_SPEED, MIN_SPEED, SEED_LIMIT
from engines.languages import normalize_language
from engines.profiles import all_profile_names, engine_of_profile
from engines.text.checks import validate_text

from ..serving.audio_formats import FORMATS

DEFAULT_ENGINE = "f5tts"
FALLBACK_LANGUAGE = "pt-BR"
OPENAI_MIN_SPEED, OPENAI_MAX_SPEED = 0.25, 4.0
STREAM_FORMATS = ("audio", "sse")

# OpenAI's model names -> which of the default engine's profiles they stand for.
OPENAI_MODELS: dict[str, str] = {"tts-1": "fast", "tts-1-hd": "balanced", "gpt-4o-mini-tts": "balanced"}

# OpenAI's voice names -> our two presets, by the voice's usual register.
OPENAI_VOICES: dict[str, str] = {
    **{name: "female_generic" for name in ("alloy", "coral", "marin", "nova", "sage", "shimmer")},
    **{name: "male_generic" for name in ("ash", "ballad", "cedar", "echo", "fable", "onyx", "verse")},
}


class ApiError(Exception):
    """An HTTP error in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""

    TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
             413: "invalid_request_error", 429: "rate_limit_error", 500: "server_error", 503: "server_error"}

    def __init__(self, status: int, message: str, code: str, param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.TYPES.get(self.status, "server_error"),
                          "param": self.param, "code": self.code}}


@dataclass(frozen=True)
class SpeechJob:
    """A checked request: what to synthesize and how to answer."""

    request: SynthesisRequest
    response_format: str
    stream_format: str
    stream: bool            # False: render the whole clip first, then answer with every header


def model_table(manager: EngineManager) -> list[dict[str, Any]]:
    """Every accepted ``model`` with the engine and profile it selects (``GET /v1/models``)."""
    rows = [{"id": name, "engine": DEFAULT_ENGINE, "quality_profile": f"{DEFAULT_ENGINE}_{kind}"}
            for name, kind in OPENAI_MODELS.items()]
    rows += [{"id": name, "engine": name, "quality_profile": DEFAULT_PROFILE[name]} for name in manager.engines]
    rows += [{"id": profile, "engine": engine, "quality_profile": profile}
             for engine, profiles in PROFILES_BY_ENGINE.items() if engine in manager.engines for profile in profiles]
    return rows


def voice_table(manager: EngineManager) -> list[dict[str, Any]]:
    """Our voices, then OpenAI's names with the preset each maps to (``GET /v1/audio/voices``)."""
    voices = [{k: v.get(k) for k in ("id", "name", "kind", "language")} for v in manager.voices.list()]
    known = {v["id"] for v in voices}
    voices += [{"id": name, "name": f"{name} ({PRESETS[preset].label})", "kind": "openai_alias",
                "language": None, "preset": preset} for name, preset in OPENAI_VOICES.items() if name not in known]
    return voices


def parse_body(raw: bytes) -> dict[str, Any]:
    """The body as a dict; its size was bounded while it was read, its depth is bounded here."""
    try:
        body = parse_json(raw, "the request body", max_bytes=len(raw))
    except InputError as exc:
        raise ApiError(400, str(exc), "invalid_json") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object", "invalid_json")
    return body


def read_speech(body: dict[str, Any], manager: EngineManager, default_language: str | None) -> SpeechJob:
    """Check every field (input first: an over-long text is refused before anything else)."""
    text = _field(body, "input", str, required=True)
    try:
        validate_text(text, manager.settings.max_text_chars)
    except InputError as exc:
        raise ApiError(400, str(exc), "invalid_input", "input") from exc
    response_format = _choice(body, "response_format", tuple(FORMATS), "mp3")
    stream_format = _choice(body, "stream_format", STREAM_FORMATS, "audio")
    speed = _speed(body)
    seed = _seed(body)
    allow_fallback = _field(body, "allow_fallback", bool)
    stream = _field(body, "stream", bool)
    knobs = _knobs(body)
    engine, profile = _model(body, manager)
    voice_id, voice_language = _voice(body, manager)
    language = _field(body, "language", str)
    if language is not None:
        try:
            language = normalize_language(language)
        except InputError as exc:
            raise ApiError(400, str(exc), "invalid_language", "language") from exc
    language = language or default_language or voice_language or FALLBACK_LANGUAGE
    request = SynthesisRequest(text=text, language=language, engine=engine, voice_preset=voice_id,
                               quality_profile=profile, speed=speed, seed=seed, knobs=knobs,
                               allow_fallback=True if allow_fallback is None else allow_fallback)
    return SpeechJob(request, response_format, stream_format, True if stream is None else stream)


def _field(body: dict[str, Any], name: str, kind: type, required: bool = False) -> Any:
    value = body.get(name)
    if value is None:
        if required:
            raise ApiError(400, f"{name} is required", "missing_field", name)
        return None
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ApiError(400, f"{name} must be {_KIND_WORDS[kind]}, not {json.dumps(value)[:60]}", "invalid_type", name)
    return value


_KIND_WORDS = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}


def _choice(body: dict[str, Any], name: str, choices: tuple[str, ...], default: str) -> str:
    value = _field(body, name, str)
    if value is None:
        return default
    if value not in choices:
        raise ApiError(400, f"{name} {value!r} is not supported; use one of: {', '.join(choices)}", "invalid_value",
                       name)
    return value


def _speed(body: dict[str, Any]) -> float | None:
    speed = _field(body, "speed", float)
    if speed is None:
        return None
    if not math.isfinite(speed) or not (MIN_SPEED <= speed <= MAX_SPEED):
        wider = (" (OpenAI accepts 0.25 to 4.0; these engines serve less)"
                 if math.isfinite(speed) and OPENAI_MIN_SPEED <= speed <= OPENAI_MAX_SPEED else "")
        raise ApiError(400, f"speed {speed} is out of range; use {MIN_SPEED} to {MAX_SPEED}{wider}",
                       "invalid_value", "speed")
    return speed


def _seed(body: dict[str, Any]) -> int | None:
    seed = _field(body, "seed", int)
    if seed is not None and not 0 <= seed < SEED_LIMIT:
        raise ApiError(400, f"seed {seed} is out of range; use 0 to {SEED_LIMIT - 1}", "invalid_value", "seed")
    return seed


def _knobs(body: dict[str, Any]) -> dict[str, Any]:
    """The engine knobs among the body's fields (``extra_body`` in OpenAI's clients), checked."""
    try:
        return check_knobs({name: body[name] for name in KNOBS if name in body})
    except KnobError as exc:
        raise ApiError(400, str(exc), "invalid_value", exc.param) from exc


def _model(body: dict[str, Any], manager: EngineManager) -> tuple[str, str | None]:
    """(engine, profile or None for the engine's default) for ``model`` and ``quality_profile``."""
    model = _field(body, "model", str, required=True).strip()
    profile = _field(body, "quality_profile", str)
    if profile is not None:
        try:
            engine_of_profile(profile)
        except InputError as exc:
            raise ApiError(400, str(exc), "invalid_value", "quality_profile") from exc
    if model in OPENAI_MODELS or model.startswith("gpt-4o-mini-tts"):
        if profile is not None:
            return engine_of_profile(profile), profile
        return DEFAULT_ENGINE, f"{DEFAULT_ENGINE}_{OPENAI_MODELS.get(model, 'balanced')}"
    if model in manager.engines:
        return model, profile
    if model in all_profile_names():
        if profile is not None and profile != model:
            raise ApiError(400, f"model {model!r} is a quality profile; quality_profile {profile!r} contradicts it",
                           "invalid_value", "quality_profile")
        return engine_of_profile(model), model
    raise ApiError(404, f"unknown model {model!r}; available models: "
                   + ", ".join(row["id"] for row in model_table(manager)), "model_not_found", "model")


def _voice(body: dict[str, Any], manager: EngineManager) -> tuple[str, str | None]:
    """(voice id, the saved voice's language if it has one); 404 for a voice nobody knows."""
    value = body.get("voice")
    if isinstance(value, dict):
        value = value.get("id")
        if not isinstance(value, str):
            raise ApiError(400, 'voice must be a string or an object {"id": "..."}', "invalid_type", "voice")
    elif value is None:
        raise ApiError(400, "voice is required", "missing_field", "voice")
    elif not isinstance(value, str):
        raise ApiError(400, 'voice must be a string or an object {"id": "..."}', "invalid_type", "voice")
    name = value.strip()
    if not name:
        raise ApiError(400, "voice is empty; name a voice (GET /v1/audio/voices lists them)", "missing_field", "voice")
    try:
        voice = manager.voices.resolve(name)
    except InputError:
        voice = None
    if voice is None and name.lower() in OPENAI_VOICES:
        voice = manager.voices.resolve(OPENAI_VOICES[name.lower()])
    if voice is None:
        raise ApiError(404, f"unknown voice {value!r}; available voices: "
                       + ", ".join(v["id"] for v in voice_table(manager)), "voice_not_found", "voice")
    return voice.id, voice.language
