"""Dropdown choices, as (label, value) pairs, from the engine layer's registries."""

from __future__ import annotations

from engines import DEFAULT_PROFILE, PROFILES_BY_ENGINE, EngineManager
from engines.voices.presets import DEFAULT_PRESET
from engines.languages import LANGUAGE_NAMES

from ..serving.labels import engine_label

DEFAULT_ENGINE = "f5tts"
DEFAULT_LANGUAGE = "pt-BR"
DECLARED_NOTE = "*not loaded yet: the declared list; the model's own once it loads"


def engine_choices(manager: EngineManager) -> list[tuple[str, str]]:
    return [(engine_label(name), name) for name in manager.engines]


def language_label(code: str) -> str:
    """"English (en)"; a name that already has brackets takes the code inside them:
    "Portuguese (Brazil, pt-BR)", not "Portuguese (Brazil) (pt-BR)"."""
    name = LANGUAGE_NAMES.get(code)
    if name is None:
        return code
    if name.endswith(")"):
        return f"{name[:-1]}, {code})"
    return f"{name} ({code})"


def language_choices(manager: EngineManager) -> list[tuple[str, str]]:
    return [(language_label(code), code) for code in manager.languages()]


def default_language(manager: EngineManager) -> str:
    languages = manager.languages()
    return DEFAULT_LANGUAGE if DEFAULT_LANGUAGE in languages else languages[0]


def languages_hint(manager: EngineManager) -> str:
    """Which engine speaks what. An engine not loaded yet shows its declared list (settings, or
    the model's published list) with a star; once loaded, the model's own list."""
    parts, any_declared = [], False
    for name, engine in manager.engines.items():
        codes = list(engine.languages)
        shown = ", ".join(codes) if len(codes) <= 6 else f"{len(codes)} languages"
        star = "" if engine.is_loaded else "*"
        any_declared = any_declared or not engine.is_loaded
        parts.append(f"{engine_label(name)}: {shown}{star}")
    return " · ".join(parts) + (f" ({DECLARED_NOTE})" if any_declared else "")


def voice_choices(voices: list[dict]) -> list[tuple[str, str]]:
    """Presets and saved voices (``manager.voices.list()``), each labelled with its kind."""
    def label(voice: dict) -> str:
        if voice["kind"] != "saved":
            return voice["name"]
        return f"{voice['name']} · saved" + ("" if "f5tts" in voice.get("engines", ()) else " · XTTS only")

    return [(label(voice), voice["id"]) for voice in voices]


def follow_voices(payload: dict | None, current: str | None):
    """The voice dropdown after the list changed: the same choice while it still exists."""
    import gradio as gr

    options = voice_choices((payload or {}).get("voices", []))
    ids = [value for _, value in options]
    return gr.Dropdown(choices=options, value=current if current in ids else DEFAULT_PRESET)


def profile_choices(engine: str | None) -> list[tuple[str, str]]:
    profiles = PROFILES_BY_ENGINE.get(engine or DEFAULT_ENGINE, PROFILES_BY_ENGINE[DEFAULT_ENGINE])
    return [(name, name) for name in profiles]


def default_profile(engine: str | None) -> str:
    return DEFAULT_PROFILE.get(engine or DEFAULT_ENGINE, DEFAULT_PROFILE[DEFAULT_ENGINE])
