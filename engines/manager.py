"""The one API the UI, the CLI, the HTTP routes and the tests call.

``EngineManager`` loads engines lazily (each exactly once), hands every piece of device
work to the device's one worker thread (``worker.py``), and falls back in an explicit,
ordered loop from the requested engine to the other when the requested one cannot load,
does not serve the language, cannot take the request, raises, or returns audio that fails
the sanity guard. Every result says what really ran and why.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from .quality.asr import Transcriber
from .audio.waveforms import load_reference_audio
from .base import Engine, free_gpu_cache
from .quality.best_of import best_take
from .dispatch import Dispatcher, in_callers_context
from .weights.downloads import download_progress
from .errors import EngineUnavailableError, InputError, NoEngineAvailableError
from .f5.engine import F5Engine
from .quality.guard import audio_problem
from .knobs import AppliedKnobs, apply_knobs, check_knobs
from .languages import normalize_language
from .text.normalize import normalize_text
from .profiles import engine_of_profile, get_profile, map_quality_profile_for_fallback, suggest_alternative_profile
from .settings import Settings, resolve_device
from .weights.sources import without_paths
from .report import EngineChoice
from .results import Prepared, Served, ValidatedRequest, build_result
from .text.checks import validate_reference_text, validate_text
from .types import (ENGINE_NAMES, MAX_SPEED, MIN_SPEED, SEED_LIMIT, EngineJob, EngineOutput, ProgressCallback,
                    SynthesisRequest, SynthesisResult, SynthesisStream, Voice)
from .voices.catalog import CannotServe, VoiceCatalog, VoiceLibrary
from .worker import DevicePoisonedError, DeviceWorker, shared_worker
from .xtts.engine import XttsEngine

logger = logging.getLogger("voice_studio.engines")

MAX_TARGET_SECONDS = 600.0

# First imports of transformers' lazy modules (shared by f5-tts and coqui-tts) are not
# thread-safe: two racing first loads made XTTS fail with "cannot import name 'GPT2Config'".
# Loads therefore run one at a time in the whole process, whichever manager asks.
_IMPORT_LOCK = threading.Lock()


def default_engines(settings: Settings) -> dict[str, Engine]:
    """Both engine adapters for ``settings.device``; nothing loads."""
    return {
        "f5tts": F5Engine(settings.f5, settings.device, cache_dir=settings.cache_dir, accel=settings.accel),
        "xtts": XttsEngine(settings.xtts, settings.device, accel=settings.accel),
    }


class EngineManager:
    def __init__(self, settings: Settings | None = None, engines: dict[str, Engine] | None = None,
                 worker: DeviceWorker | None = None, library: VoiceLibrary | None = None):
        self.settings = settings or Settings.from_env()
        self.engines: dict[str, Engine] = engines or default_engines(self.settings)
        self._worker = worker
        self.dispatch = Dispatcher(lambda: self.worker, self.ensure_loaded)
        self._load_locks = {name: threading.Lock() for name in self.engines}
        self._load_errors: dict[str, str] = {}
        self._loading: set[str] = set()
        self.voices = VoiceCatalog(self.settings.cache_dir, self.settings.presets_dir, library)
        # Speech recognition for reference clips without a transcript (VOICE_STUDIO_ASR_MODEL; loads on first use).
        self.asr = Transcriber.from_env(self.settings.device, self.settings.cache_dir, self.on_device, _IMPORT_LOCK)

    @classmethod
    def from_env(cls) -> "EngineManager":
        """Engines and the saved-voice library (``VOICE_STUDIO_VOICES_DIR``) from the environment."""
        from .voices.library import VoiceLibrary

        return cls(Settings.from_env(), library=VoiceLibrary.from_env())

    #: Whether ``switch_model`` can swap an engine's weights (one worker holds them all).
    switches_models: bool = True

    @property
    def concurrency(self) -> int:
        """How many syntheses the app lets run at once: one per engine (several devices or
        replicas say more)."""
        return len(self.engines)

    @property
    def worker(self) -> DeviceWorker:
        """The device's worker (shared by every manager of this process), picked on first use."""
        if self._worker is None:
            self._worker = shared_worker(resolve_device(self.settings.device))
        return self._worker

    def on_device(self, fn: Callable[[], Any], label: str = "device call") -> Any:
        """Run ``fn`` on the device worker (anything that touches the GPU: models of other kinds too)."""
        return self.worker.call(fn, label=label)

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
            if self.worker.poisoned is not None:
                return self.worker.poisoned
            self._loading.add(name)
            try:
                with _IMPORT_LOCK:
                    engine.load(self.worker)
            except EngineUnavailableError as exc:
                self._load_errors[name] = str(exc)
            except Exception as exc:  # OOM, a broken install: the engine is unavailable, the app goes on
                logger.exception("engine load crashed", extra={"engine": name})
                self._load_errors[name] = f"load failed ({type(exc).__name__}: {without_paths(str(exc))})"
                self.worker.call(engine.unload, label=f"unload {name}")
            finally:
                self._loading.discard(name)
            if name in self._load_errors:
                logger.error("engine unavailable", extra={"engine": name, "reason": self._load_errors[name]})
                return self._load_errors[name]
            engine.start_warmup(self.worker)
        return None

    def load(self, name: str) -> dict[str, Any]:
        """Load (or retry loading) an engine now; returns its health."""
        self.engine(name)
        with self._load_locks[name]:
            self._load_errors.pop(name, None)
        self.ensure_loaded(name)
        return self.engine_health(name).to_dict()

    def unload(self, name: str) -> dict[str, Any]:
        """Unload after the work queued before it; a request queued later loads the engine again."""
        engine = self.engine(name)
        with self._load_locks[name]:
            with engine.unloading():  # XTTS: its decodes in flight end first, new ones wait for the unload
                self.worker.call(engine.unload, label=f"unload {name}")
            self._load_errors.pop(name, None)
        logger.info("engine unloaded", extra={"engine": name})
        return self.engine_health(name).to_dict()

    def switch_model(self, name: str, choice: Any, progress: ProgressCallback | None = None) -> dict[str, Any]:
        """Switch ``name`` to another model (``engines/switching.py``): requests in flight finish on the
        old one, later ones wait for the new one; returns the engine's health."""
        from .switching import switch_model

        def mark_loading(loading: bool) -> None:
            (self._loading.add if loading else self._loading.discard)(name)
            self._load_errors.pop(name, None)

        switch_model(self.engine(name), choice, self.worker, self._load_locks[name], _IMPORT_LOCK, mark_loading,
                     progress)
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
        profile = request.quality_profile
        if profile is not None and engine_of_profile(profile) != request.engine:
            # The fallback maps a profile to the other engine's counterpart; a request never asks for that.
            owner = self.engines[request.engine].display_name
            raise InputError(f"quality profile {profile!r} is not one of {owner}'s profiles: "
                             f"did you mean {suggest_alternative_profile(profile, request.engine)}?")
        if request.speed is not None and not (MIN_SPEED <= float(request.speed) <= MAX_SPEED):
            raise InputError(f"speed {request.speed} is out of range; use {MIN_SPEED} to {MAX_SPEED}")
        if request.seed is not None and not (0 <= int(request.seed) < SEED_LIMIT):
            raise InputError(f"seed {request.seed} is out of range; use 0 to {SEED_LIMIT - 1}")
        knobs = check_knobs(request.knobs)
        target = request.target_duration_s
        if target is not None and not (0.1 <= float(target) <= MAX_TARGET_SECONDS):
            raise InputError(f"target duration {target} s is out of range; use 0.1 to {MAX_TARGET_SECONDS:.0f} s")
        candidates = self._candidates(request)
        if not any(language in self.engines[name].languages for name in candidates):
            served = "; ".join(f"{self.engines[n].display_name} serves {', '.join(self.engines[n].languages)}"
                               for n in candidates)
            raise InputError(f"language {language} cannot be served by "
                             f"{' or '.join(self.engines[n].display_name for n in candidates)} ({served})")
        if request.is_cloning:
            reference = load_reference_audio(request.reference_audio)
            validate_reference_text(request.reference_text, reference.source_seconds)
            voice = Voice(id="cloned", kind="upload", reference=reference, transcript=request.reference_text)
        else:
            voice = self.voices.resolve(request.voice_preset)
        seed = int(request.seed) if request.seed is not None else secrets.randbelow(2**31)
        return ValidatedRequest(replace(request, knobs=knobs), text, language, voice, seed)

    def _candidates(self, request: SynthesisRequest) -> list[str]:
        if not request.allow_fallback:
            return [request.engine]
        return [request.engine] + [name for name in ENGINE_NAMES if name != request.engine and name in self.engines]

    # --- synthesis ------------------------------------------------------------------------
    def synthesize(self, request: SynthesisRequest, progress: ProgressCallback | None = None) -> SynthesisResult:
        """Render ``request`` on the requested engine, or on the next one that can serve it."""
        with self.worker.arriving(request.engine):  # a batch starting meanwhile may wait for this one
            return self._synthesize(request, progress)

    def _synthesize(self, request: SynthesisRequest, progress: ProgressCallback | None) -> SynthesisResult:
        valid = self.validate(request)

        def render(engine: Engine, job: EngineJob) -> EngineOutput:
            output = self.dispatch.render(engine, job)
            if job.profile.best_of > 1:  # more takes, the one Whisper hears best kept (engines/quality/best_of.py)
                output = best_take(job, output, lambda take: self.dispatch.render(engine, take), self.asr,
                                   engine.sample_rate)
            problem = audio_problem(output.audio, engine.sample_rate, job.text, job.speed, job.target_duration_s)
            if problem is not None:
                raise _Rejected(f"{engine.display_name} output failed the sanity check: {problem}")
            return replace(output, details={**engine.served_model(), **output.details})  # which checkpoint ran

        served = self._first_that_serves(valid, progress, render)
        return build_result(valid, served, served.output, time.perf_counter() - served.started)

    def stream(self, request: SynthesisRequest, progress: ProgressCallback | None = None) -> SynthesisStream:
        """Like ``synthesize``, but the audio arrives in chunks as it is made (``SynthesisStream``).

        The fallback loop runs until an engine has produced its first chunk; a failure after
        that ends the stream with the error.
        """
        valid = self.validate(request)
        served = self._first_that_serves(valid, progress, self.dispatch.stream)
        engine, job = served.prepared.engine, served.prepared.job
        model = engine.served_model()  # its first chunk exists: the model stays until the stream ends

        def finish(parts) -> SynthesisResult:
            import numpy as np

            audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
            # A stream that knows where it ran (a device of several, a Ray Serve replica) says so.
            output = EngineOutput(audio=audio, chunks=len(parts),
                                  details={"streamed": True, **model, **getattr(served.output, "details", {})})
            synth_s = time.perf_counter() - served.started
            problem = audio_problem(audio, engine.sample_rate, job.text, job.speed, job.target_duration_s)
            return build_result(valid, served, output, synth_s, sanity_problem=problem)

        return SynthesisStream(served.output, engine.sample_rate, served.choice, finish)

    def _first_that_serves(self, valid: ValidatedRequest, progress: ProgressCallback | None,
                           run: Callable[[Engine, EngineJob], Any]) -> Served:
        """The fallback loop: ``run`` on the requested engine, else on the next that can serve
        ``valid``; each engine's reason for not serving is kept. ``InputError`` ends the loop."""
        request = valid.request
        attempts: dict[str, str] = {}
        for name in self._candidates(request):
            prepared = self._prepare(name, valid, attempts, progress)
            if prepared is None:
                continue
            started = time.perf_counter()
            try:
                output = run(prepared.engine, prepared.job)
            except InputError:
                raise
            except _Rejected as exc:
                attempts[name] = str(exc)
                continue
            except Exception as exc:
                attempts[name] = self._synthesis_failure(prepared.engine, exc)
                continue
            choice = EngineChoice(tts_engine_requested=request.engine, tts_engine_used=name,
                                  quality_profile_requested=request.quality_profile,
                                  quality_profile_used=prepared.profile_name, quality_profile_mapped=prepared.mapped,
                                  seed=valid.seed, attempts=dict(attempts))
            return Served(prepared, choice, started, output)
        raise NoEngineAvailableError(attempts, {n: e.display_name for n, e in self.engines.items()})

    def natural_seconds(self, request: SynthesisRequest) -> float | None:
        """How long the requested engine will speak ``request`` at its natural pace, told before
        rendering where the engine can (F5-TTS's length rule); None where it cannot or would not serve."""
        prepared = self._prepare(request.engine, self.validate(request), {}, None)
        return prepared.engine.natural_seconds(prepared.job) if prepared is not None else None

    def _prepare(self, name: str, valid: ValidatedRequest, attempts: dict[str, str],
                 progress: ProgressCallback | None) -> Prepared | None:
        """The engine ``name`` made ready for ``valid``, or None with the reason in ``attempts``."""
        engine = self.engines[name]
        if valid.language not in engine.languages:
            attempts[name] = (f"{engine.display_name} does not serve language {valid.language} "
                              f"(serves {', '.join(engine.languages)})")
            return None
        load_start = time.perf_counter()
        was_loaded = engine.is_loaded
        # First use: "loading F5-TTS: step 2 of 4, ..." or the MB downloaded, not a bar standing at 0%.
        with download_progress(name).reporting(progress, f"loading {engine.display_name}"):
            reason = self.ensure_loaded(name)
        if reason is not None:
            attempts[name] = reason
            return None
        load_s = 0.0 if was_loaded else time.perf_counter() - load_start
        profile_name, mapped = map_quality_profile_for_fallback(valid.request.quality_profile, name)
        try:
            voice = self._voice_for(engine, valid)
        except CannotServe as exc:
            attempts[name] = str(exc)
            return None
        knobs = apply_knobs(get_profile(profile_name), name, valid.request.knobs or {}, voice.knobs,
                            valid.request.speed, valid.request.seed)
        job = self._job(valid, voice, knobs, progress)
        if engine.normalizes_text and valid.request.text_normalization:  # numbers, money, dates... as words
            job = replace(job, text=normalize_text(job.text, job.language))
        reason = engine.cannot_serve(job)
        if reason is not None:
            attempts[name] = reason
            return None
        return Prepared(engine, job, profile_name, mapped, load_s, knobs)

    def _voice_for(self, engine: Engine, valid: ValidatedRequest) -> Voice:
        if not engine.needs_reference:
            return valid.voice
        voice = valid.voice
        if voice.reference is None:
            renderer = self.engines.get("xtts")

            def speaker_known(speaker: str) -> bool:
                return renderer is not None and self.ensure_loaded("xtts") is None and renderer.knows_speaker(speaker)

            voice = self.voices.reference_for(voice, valid.language, self.synthesize, speaker_known)
        # A clip without its transcript is transcribed (engines/quality/asr.py); CannotServe names VOICE_STUDIO_ASR_MODEL.
        return self.asr.complete_voice(voice, valid.language, engine.max_reference_seconds)

    def _job(self, valid: ValidatedRequest, voice: Voice, knobs: AppliedKnobs,
             progress: ProgressCallback | None) -> EngineJob:
        """The engine's job: the profile with the knobs put in (``engines/knobs.py``), their speed."""
        request = valid.request
        target = float(request.target_duration_s) if request.target_duration_s is not None else None
        return EngineJob(text=valid.text, language=valid.language, profile=knobs.profile, speed=knobs.speed,
                         seed=valid.seed,
                         voice=voice, target_duration_s=target, progress=in_callers_context(progress))

    def _synthesis_failure(self, engine: Engine, exc: Exception) -> str:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            self.worker.call(free_gpu_cache, label="free GPU cache")  # the engine stays loaded and usable
            reason = f"{engine.display_name} ran out of GPU memory during synthesis"
        elif isinstance(exc, DevicePoisonedError):
            reason = str(exc)
        else:
            reason = f"{engine.display_name} failed during synthesis ({type(exc).__name__}: {without_paths(str(exc))})"
        # INFO: the fallback's warning (or the error when no engine is left) says it again, with this reason.
        logger.info("synthesis failed", exc_info=exc, extra={"engine": engine.name, "reason": reason})
        return reason

    # --- health ---------------------------------------------------------------------------
    def engine_health(self, name: str):
        engine = self.engine(name)
        health = engine.health(self._load_errors.get(name))
        download = download_progress(name).snapshot()
        if download is not None:
            health.details["download"] = download
        step = download_progress(name).describe_step()
        if step is not None:
            health.details["load_step"] = step
        poisoned = self._worker.poisoned if self._worker is not None else None
        if poisoned is not None:
            return replace(health, status="unavailable", error=poisoned)
        if name in self._loading and health.status == "not_loaded":
            return replace(health, status="loading")
        return health

    def health(self) -> dict[str, Any]:
        engines = {name: self.engine_health(name).to_dict() for name in self.engines}
        down = [name for name, h in engines.items() if h["status"] == "unavailable"]
        status = "healthy" if not down else ("unhealthy" if len(down) == len(engines) else "degraded")
        worker = self._worker.status() if self._worker is not None else None
        return {"status": status, "engines": engines, "worker": worker, "asr": self.asr.health(),
                "timestamp": datetime.now(timezone.utc).isoformat()}


class _Rejected(Exception):
    """An engine's output that ran but may not be served (the sanity guard): try the next engine."""
