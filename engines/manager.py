"""The one API the UI, the CLI, the tests and the Gradio API call.

``EngineManager`` loads engines lazily (each exactly once, behind a lock), runs one
synthesis at a time per engine, and falls back in an explicit, ordered loop from the
requested engine to the other when the requested one cannot load, does not serve the
language, cannot take the request, raises, or returns audio that fails the sanity
guard. Every result says what really ran and why.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .audio import ReferenceAudio, load_reference_audio
from .base import Engine, free_gpu_cache
from .errors import EngineUnavailableError, InputError, NoEngineAvailableError
from .f5tts import F5Engine
from .guard import audio_problem
from .languages import normalize_language
from .presets import VoicePreset, get_preset
from .profiles import engine_of_profile, get_profile, map_quality_profile_for_fallback
from .settings import Settings
from .text import validate_text
from .types import ENGINE_NAMES, EngineHealth, EngineJob, ProgressCallback, SynthesisRequest, SynthesisResult
from .voices import CannotServe, PresetReferences
from .xtts import XttsEngine

logger = logging.getLogger("voice_studio.engines")

MIN_SPEED, MAX_SPEED = 0.5, 2.0


@dataclass(frozen=True)
class ValidatedRequest:
    request: SynthesisRequest
    text: str
    language: str
    preset: VoicePreset | None
    reference: ReferenceAudio | None
    seed: int


class EngineManager:
    def __init__(self, settings: Settings | None = None, engines: dict[str, Engine] | None = None):
        self.settings = settings or Settings.from_env()
        self.engines: dict[str, Engine] = engines or {
            "f5tts": F5Engine(self.settings.f5, self.settings.device, cache_dir=self.settings.cache_dir,
                              accel=self.settings.accel),
            "xtts": XttsEngine(self.settings.xtts, self.settings.device, accel=self.settings.accel),
        }
        self._load_locks = {name: threading.Lock() for name in self.engines}
        # Loads of different engines run one at a time: their first imports (transformers'
        # lazy modules, shared by f5-tts and coqui-tts) are not thread-safe, and two racing
        # first requests made XTTS fail with "cannot import name 'GPT2Config'".
        self._any_load_lock = threading.Lock()
        self._synth_locks = {name: threading.Lock() for name in self.engines}
        self._load_errors: dict[str, str] = {}
        self.preset_references = PresetReferences(self)

    @classmethod
    def from_env(cls) -> "EngineManager":
        return cls(Settings.from_env())

    # --- engines ------------------------------------------------------------------------
    def engine(self, name: str) -> Engine:
        if name not in self.engines:
            raise InputError(f"unknown engine {name!r}; valid engines: " + ", ".join(self.engines))
        return self.engines[name]

    def ensure_loaded(self, name: str) -> str | None:
        """Load ``name`` once; return why it cannot be loaded, or None when it is ready.

        A failure is remembered (no retry per request); ``load(name)`` retries.
        """
        engine = self.engine(name)
        if engine.is_loaded:
            return None
        with self._load_locks[name]:
            if engine.is_loaded:
                return None
            if name in self._load_errors:
                return self._load_errors[name]
            try:
                with self._any_load_lock:
                    engine.load()
            except EngineUnavailableError as exc:
                self._load_errors[name] = str(exc)
            except Exception as exc:  # OOM, a broken install: the engine is unavailable, the app goes on
                logger.exception("engine load crashed", extra={"engine": name})
                self._load_errors[name] = f"load failed ({type(exc).__name__}: {exc})"
                engine.unload()
            if name in self._load_errors:
                logger.error("engine unavailable", extra={"engine": name, "reason": self._load_errors[name]})
                return self._load_errors[name]
        return None

    def load(self, name: str) -> dict[str, Any]:
        """Load (or retry loading) an engine now; returns its health."""
        self.engine(name)
        with self._load_locks[name]:
            self._load_errors.pop(name, None)
        self.ensure_loaded(name)
        return self.engine_health(name).to_dict()

    def unload(self, name: str) -> dict[str, Any]:
        engine = self.engine(name)
        with self._load_locks[name], self._synth_locks[name]:
            engine.unload()
            self._load_errors.pop(name, None)
        logger.info("engine unloaded", extra={"engine": name})
        return self.engine_health(name).to_dict()

    def languages(self) -> list[str]:
        seen: list[str] = []
        for engine in self.engines.values():
            seen.extend(code for code in engine.languages if code not in seen)
        return seen

    # --- validation -----------------------------------------------------------------------
    def validate(self, request: SynthesisRequest) -> ValidatedRequest:
        """Every check that needs no model; raises ``InputError`` with a specific message."""
        text = validate_text(request.text, self.settings.max_text_chars)
        language = normalize_language(request.language)
        self.engine(request.engine)
        if request.quality_profile is not None:
            engine_of_profile(request.quality_profile)
        if request.speed is not None and not (MIN_SPEED <= float(request.speed) <= MAX_SPEED):
            raise InputError(f"speed {request.speed} is out of range; use {MIN_SPEED} to {MAX_SPEED}")
        if request.seed is not None and not (0 <= int(request.seed) < 2**32):
            raise InputError(f"seed {request.seed} is out of range; use 0 to {2**32 - 1}")
        candidates = self._candidates(request)
        if not any(language in self.engines[name].languages for name in candidates):
            served = "; ".join(f"{n} serves {', '.join(self.engines[n].languages)}" for n in candidates)
            raise InputError(f"language {language} cannot be served by {' or '.join(candidates)} ({served})")
        preset = None if request.is_cloning else get_preset(request.voice_preset)
        reference = load_reference_audio(request.reference_audio) if request.is_cloning else None
        seed = int(request.seed) if request.seed is not None else secrets.randbelow(2**31)
        return ValidatedRequest(request, text, language, preset, reference, seed)

    def _candidates(self, request: SynthesisRequest) -> list[str]:
        if not request.allow_fallback:
            return [request.engine]
        return [request.engine] + [name for name in ENGINE_NAMES if name != request.engine and name in self.engines]

    # --- synthesis ------------------------------------------------------------------------
    def synthesize(self, request: SynthesisRequest, progress: ProgressCallback | None = None) -> SynthesisResult:
        """Render ``request`` on the requested engine, or on the next one that can serve it."""
        valid = self.validate(request)
        attempts: dict[str, str] = {}
        for name in self._candidates(request):
            engine = self.engines[name]
            if valid.language not in engine.languages:
                attempts[name] = f"{name} does not serve language {valid.language} (serves {', '.join(engine.languages)})"
                continue
            load_start = time.perf_counter()
            was_loaded = engine.is_loaded
            reason = self.ensure_loaded(name)
            if reason is not None:
                attempts[name] = reason
                continue
            load_s = 0.0 if was_loaded else time.perf_counter() - load_start
            profile_name, mapped = map_quality_profile_for_fallback(request.quality_profile, name)
            try:
                job = self._job(engine, valid, profile_name, progress)
            except CannotServe as exc:
                attempts[name] = str(exc)
                continue
            reason = engine.cannot_serve(job)
            if reason is not None:
                attempts[name] = reason
                continue
            synth_start = time.perf_counter()
            try:
                with self._synth_locks[name]:
                    output = engine.synthesize(job)
            except InputError:
                raise
            except Exception as exc:
                attempts[name] = self._synthesis_failure(name, exc)
                continue
            synth_s = time.perf_counter() - synth_start
            problem = audio_problem(output.audio, engine.sample_rate, valid.text, job.speed)
            if problem is not None:
                attempts[name] = f"{name} output failed the sanity check: {problem}"
                continue
            return self._result(valid, engine, job, output, profile_name, mapped, attempts, load_s, synth_s)
        raise NoEngineAvailableError(attempts)

    def _synthesis_failure(self, name: str, exc: Exception) -> str:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            free_gpu_cache()  # the engine stays loaded and usable for the next request
            reason = f"{name} ran out of GPU memory during synthesis"
        else:
            reason = f"{name} failed during synthesis ({type(exc).__name__}: {exc})"
        logger.warning("synthesis failed", exc_info=exc, extra={"engine": name, "reason": reason})
        return reason

    def _job(self, engine: Engine, valid: ValidatedRequest, profile_name: str,
             progress: ProgressCallback | None) -> EngineJob:
        profile = get_profile(profile_name)
        speed = float(valid.request.speed) if valid.request.speed is not None else profile.speed
        common = dict(text=valid.text, language=valid.language, profile=profile, speed=speed, seed=valid.seed,
                      progress=progress)
        if valid.reference is not None:
            return EngineJob(**common, reference=valid.reference, reference_text=valid.request.reference_text)
        if engine.name == "xtts":
            return EngineJob(**common, xtts_speaker=valid.preset.xtts_speaker)
        reference, transcript = self.preset_references.for_f5(valid.preset, valid.language)
        return EngineJob(**common, reference=reference, reference_text=transcript)

    def _result(self, valid, engine, job, output, profile_name, mapped, attempts, load_s, synth_s) -> SynthesisResult:
        request = valid.request
        duration = output.audio.size / engine.sample_rate
        fallback = engine.name != request.engine
        reason = attempts.get(request.engine) if fallback else None
        metadata: dict[str, Any] = {
            "tts_engine_requested": request.engine,
            "tts_engine_used": engine.name,
            "engine_fallback": fallback,
            "fallback_reason": reason,
            "quality_profile_requested": request.quality_profile,
            "quality_profile_used": profile_name,
            "quality_profile_mapped": mapped,
            "language": valid.language,
            "voice": valid.preset.name if valid.preset else "cloned",
            "mode": "clone" if request.is_cloning else "dub",
            "sample_rate": engine.sample_rate,
            "duration_s": round(duration, 3),
            "chunks": output.chunks,
            "seed": valid.seed,
            "speed": job.speed,
            "device": engine.device,
            "text_chars": len(valid.text),
            "load_s": round(load_s, 3),
            "synth_s": round(synth_s, 3),
            "rtf": round(synth_s / duration, 4) if duration else None,
            "attempts": attempts,
            **output.details,
        }
        if fallback:
            logger.warning("engine fallback", extra={
                "engine_requested": request.engine, "engine_used": engine.name, "reason": reason,
                "profile_requested": request.quality_profile, "profile_used": profile_name})
        logger.info("synthesis done", extra={k: metadata[k] for k in ("tts_engine_used", "duration_s", "synth_s", "rtf")})
        return SynthesisResult(output.audio, engine.sample_rate, metadata)

    # --- health ---------------------------------------------------------------------------
    def engine_health(self, name: str) -> EngineHealth:
        return self.engine(name).health(self._load_errors.get(name))

    def health(self) -> dict[str, Any]:
        engines = {name: self.engine_health(name).to_dict() for name in self.engines}
        down = [name for name, h in engines.items() if h["status"] == "unavailable"]
        status = "healthy" if not down else ("unhealthy" if len(down) == len(engines) else "degraded")
        return {"status": status, "engines": engines, "timestamp": datetime.now(timezone.utc).isoformat()}
