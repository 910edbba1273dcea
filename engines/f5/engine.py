"""The F5-TTS adapter, on ``f5_tts.model`` and ``f5_tts.infer.utils_infer``.

Loading reads, checks and builds the model on the CPU (``staging.py``), then moves it to the
device on the worker; an admin can switch to another checkpoint (``models.py``). Reference clips are prepared here, once per
(content hash, transcript), instead of upstream's ``preprocess_ref_audio_text``, which
leaves a temp wav behind on every call and downloads Whisper when the transcript is empty.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from collections.abc import Hashable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..audio.waveforms import ReferenceAudio, crossfade_join, crossfade_stream
from ..base import Engine, LRUCache, free_gpu_cache, report, seed_everything
from ..errors import EngineUnavailableError
from .f5_reference import MAX_REFERENCE_SECONDS, SAMPLE_RATE, F5Reference, prepare_f5_reference
from ..profiles import F5Profile
from ..settings import F5Settings
from .models import F5ModelChoice, model_key, settings_for
from .staging import Staged, stage_checkpoint
from ..weights.sources import without_paths
from ..text.checks import split_text
from ..types import EngineJob, EngineOutput
from ..worker import yield_point

if TYPE_CHECKING:
    from ..worker import DeviceWorker

logger = logging.getLogger(__name__)

HOP_LENGTH = 256
# The first chunk of a stream is kept short, so the first audio arrives after one short forward.
STREAM_FIRST_CHUNK_CHARS = 80


@dataclass(frozen=True)
class _Loaded:
    """Everything a request needs, made ready together (the engine is loaded when this is set)."""

    model: Any
    vocoder: Any
    accelerator: Any  # engines.f5.accel.F5Accelerator, or None for upstream's own inference
    settings: F5Settings  # the checkpoint these weights came from (a switch replaces the whole of this)


class F5Engine(Engine):
    name = "f5tts"
    display_name = "F5-TTS"
    load_steps = ("finding the weights", "reading the checkpoint", "building the model",
                  "moving the model to the device")
    sample_rate = SAMPLE_RATE
    needs_reference = True
    max_batch = 16
    normalizes_text = True  # F5 reads characters as written; XTTS's tokenizer expands numbers itself
    max_reference_seconds = MAX_REFERENCE_SECONDS

    def __init__(self, settings: F5Settings, device_preference: str = "auto", cache_dir=None, accel: str = "auto"):
        super().__init__(device_preference)
        self.configured = settings  # as started (the environment); a custom model switched to fills gaps from it
        self.settings = settings    # the checkpoint to load: ``configured`` until an admin switches the model
        self.cache_dir = cache_dir
        self.accel_mode = accel
        self._loaded: _Loaded | None = None
        self._references = LRUCache(32)

    @property
    def languages(self) -> tuple[str, ...]:
        return self.settings.languages

    @property
    def model_spec(self) -> str:
        return self.settings.checkpoint.spec

    @property
    def license(self) -> str | None:
        return self.settings.license

    def served_model(self) -> dict[str, str]:
        loaded = self._loaded
        return _served(loaded.settings if loaded is not None else self.settings)

    # --- switching the model (engines/f5/models.py) -----------------------------------------
    def settings_for(self, choice: F5ModelChoice) -> F5Settings:
        """The settings that run ``choice`` (``InputError`` when it cannot be run); reads no weights."""
        return settings_for(choice, self.configured)

    def configure(self, settings: F5Settings) -> None:
        """Load ``settings``' checkpoint from now on (call while unloaded, under the manager's load lock)."""
        self.settings = settings

    def missing_weights(self) -> list[tuple[str, str, str]]:
        missing = [(source.description, source.spec, source.env_var)
                   for source in (self.settings.checkpoint, self.settings.vocab) if source.cached_path() is None]
        vocoder = self.settings.vocoder
        if vocoder.missing_locally():
            missing.append((vocoder.description, vocoder.spec, vocoder.env_var))
        return missing

    @property
    def vocoder(self):
        return self._loaded.vocoder if self._loaded is not None else None

    # --- loading ----------------------------------------------------------------------
    def _load(self, device: str) -> Staged:
        return self.stage(self.settings)

    def stage(self, settings: F5Settings) -> Staged:
        """Read, normalise and check ``settings``' checkpoint and build the model, on the CPU (a loaded
        model goes on serving meanwhile: a switch stages the new one first)."""
        return stage_checkpoint(settings, self.cache_dir, self.load_step)

    def _activate(self, staged: Staged) -> None:
        import torch
        from f5_tts.infer.utils_infer import load_vocoder

        device = self.device
        # Upstream's dtype rule (load_checkpoint): fp16 on CUDA with compute capability >= 7.
        dtype = torch.float32
        if device == "cuda" and torch.cuda.get_device_properties(0).major >= 7:
            dtype = torch.float16
        model = staged.model.to(dtype).to(device).eval()
        try:
            vocoder = load_vocoder("vocos", is_local=True, local_path=str(staged.vocoder_dir), device=device)
        except Exception as exc:  # a broken vocoder dir: say which and what to set
            raise EngineUnavailableError(
                f"Vocos vocoder {staged.settings.vocoder.name!r} could not be loaded ({type(exc).__name__}: "
                f"{without_paths(' '.join(str(exc).split()))}): set F5TTS_VOCODER to a directory with "
                "config.yaml and pytorch_model.bin") from exc
        accelerator = None
        if self.accel_mode != "off":
            from .accel import F5Accelerator

            accelerator = F5Accelerator(model, vocoder, device)
        self.load_details = {**staged.details, "accelerated": accelerator is not None,
                             "dtype": str(dtype).removeprefix("torch.")}
        self._loaded = _Loaded(model=model, vocoder=vocoder, accelerator=accelerator, settings=staged.settings)

    def start_warmup(self, worker: "DeviceWorker") -> None:
        """On CUDA: capture every bucketed shape (compiled first with ``compile``), in the background."""
        accelerator = self.accelerator
        if accelerator is None or self.device != "cuda":
            return
        from .accel.f5_warmup import F5Warmup

        compile_dir = self.cache_dir / "compile" if self.cache_dir is not None else None
        mode = "compile" if self.accel_mode == "compile" else "graphs"
        warmup = F5Warmup(accelerator, worker, mode, compile_dir, self.load_details["model_shape"],
                          in_use=lambda: self.accelerator is accelerator)
        self.warmup = warmup.status
        warmup.start()

    def _unload(self) -> None:
        self._loaded = None
        self._references.clear()

    # --- references ---------------------------------------------------------------------
    def cannot_serve(self, job: EngineJob) -> str | None:
        reason = super().cannot_serve(job)
        if reason:
            return reason
        if job.voice.reference is None:
            return "F5-TTS needs a reference clip"
        if not job.voice.has_transcript:
            if job.voice.kind == "saved":
                return (f"F5-TTS needs the reference transcript, and saved voice {job.voice.id} has none "
                        "(save the voice again with the words of its clip to use it on F5-TTS)")
            return "F5-TTS needs the reference transcript (no transcriber is available offline)"
        return None

    def prepare_reference(self, reference: ReferenceAudio, transcript: str) -> F5Reference:
        """Cut to 12 s at a pause, keep the transcript in step, cache per (content, transcript)."""
        key = (reference.sha256, transcript)
        cached = self._references.get(key)
        if cached is None:
            cached = prepare_f5_reference(reference, transcript)
            self._references.put(key, cached)
        return cached

    def _plan(self, job: EngineJob, first_chunk_chars: int | None = None) -> tuple[F5Reference, list[str]]:
        reference = self.prepare_reference(job.voice.reference, job.voice.transcript or "")
        if first_chunk_chars is None or len(job.text) <= first_chunk_chars:
            return reference, reference.chunks(job.text, job.speed)
        head = split_text(job.text, first_chunk_chars)[0]
        rest = job.text[len(head):].strip()
        return reference, [head] + (reference.chunks(rest, job.speed) if rest else [])

    def _fixed_seconds(self, job: EngineJob, reference: F5Reference, chunks: list[str]) -> list[float] | None:
        if job.target_duration_s is None:
            return None
        from .accel.f5_upstream import fixed_durations

        frames = int(reference.audio.shape[-1]) // HOP_LENGTH
        return fixed_durations(frames, chunks, job.target_duration_s, job.profile.cross_fade)

    def natural_seconds(self, job: EngineJob) -> float | None:
        """The clip's length at its natural pace, by upstream's length rule, before rendering it."""
        from .accel.f5_upstream import natural_frames, spaced_ref_text

        reference, chunks = self._plan(job)
        ref_frames, ref_text = int(reference.audio.shape[-1]) // HOP_LENGTH, spaced_ref_text(reference.text)
        # Vocos's ISTFT gives (frames - 1) hops with "center" padding (the published model), frames with "same".
        padding = getattr(getattr(getattr(self.vocoder, "head", None), "istft", None), "padding", "center")
        lost = 0 if padding == "same" else 1
        waves = [np.zeros((natural_frames(ref_frames, ref_text, chunk, job.speed) - lost) * HOP_LENGTH, np.float32)
                 for chunk in chunks]
        # Silent chunks of those lengths, joined as synthesis joins its chunks: the same cross-fades.
        return len(crossfade_join(waves, SAMPLE_RATE, job.profile.cross_fade)) / SAMPLE_RATE

    # --- synthesis ------------------------------------------------------------------------
    def batch_key(self, job: EngineJob) -> Hashable | None:
        if self.accelerator is None:
            return None
        p: F5Profile = job.profile
        return (p.nfe_step, p.cfg_strength, p.sway_sampling_coef)

    def synthesize(self, job: EngineJob) -> EngineOutput:
        result = self.synthesize_batch([job])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def synthesize_batch(self, jobs: Sequence[EngineJob]) -> list[EngineOutput | Exception]:
        """Jobs with one batch key: every chunk of every job in shared forwards (upstream: one by one)."""
        loaded = self._loaded
        if loaded is None:
            raise EngineUnavailableError("F5-TTS is not loaded")
        if loaded.accelerator is None:
            return super().synthesize_batch(jobs) if len(jobs) > 1 else [self._upstream(loaded, jobs[0])]
        return self._accelerated(loaded, jobs)

    def _accelerated(self, loaded: _Loaded, jobs: Sequence[EngineJob]) -> list[EngineOutput | Exception]:
        import torch

        acc = loaded.accelerator
        results: list[EngineOutput | Exception | None] = [None] * len(jobs)
        prepared = []
        for index, job in enumerate(jobs):
            yield_point()  # between two requests' preparation: a waiting XTTS decode slice may take a turn
            try:
                reference, chunks = self._plan(job)
                request = acc.prepare(reference.audio, reference.text, chunks, speed=job.speed, seed=job.seed,
                                      fixed_seconds=self._fixed_seconds(job, reference, chunks))
                prepared.append((index, job, reference, chunks, request))
                report(job, 0.0, f"F5-TTS: {len(chunks)} chunk(s)"
                                 + (f", batched with {len(jobs) - 1} other request(s)" if len(jobs) > 1 else ""))
            except Exception as exc:  # this job's own failure (e.g. a text F5 cannot tokenise)
                results[index] = exc
        if not prepared:
            return results  # type: ignore[return-value]
        profile: F5Profile = prepared[0][1].profile
        kwargs = dict(nfe_step=profile.nfe_step, cfg_strength=profile.cfg_strength,
                      sway_sampling_coef=profile.sway_sampling_coef)
        def progress(fraction: float) -> None:
            for _, job, _, chunks, _ in prepared:
                report(job, 0.95 * fraction, f"F5-TTS: {len(chunks)} chunk(s), {round(100 * fraction)}% sampled")
            yield_point()  # between two ODE steps: a waiting XTTS decode slice may take a turn

        try:
            waves = acc.render([p[4] for p in prepared], progress=progress, between=yield_point, **kwargs)
        except torch.cuda.OutOfMemoryError:
            if len(prepared) == 1:
                raise
            free_gpu_cache()  # too big together: one at a time, each failing on its own
            waves = []
            for p in prepared:
                try:
                    waves.append(acc.render([p[4]], **kwargs)[0])
                except Exception as exc:  # handed to this job's caller
                    waves.append(exc)
        for (index, job, reference, chunks, _), job_waves in zip(prepared, waves):
            if isinstance(job_waves, Exception):
                results[index] = job_waves
                continue
            report(job, 1.0, "F5-TTS: done")
            results[index] = self._output(loaded, job, reference, chunks, job_waves, batch=len(prepared))
        return results  # type: ignore[return-value]

    def _output(self, loaded: _Loaded, job: EngineJob, reference: F5Reference, chunks: list[str],
                waves: list[np.ndarray], batch: int = 1) -> EngineOutput:
        waves = [_without_pauses(job, np.asarray(w, dtype=np.float32).reshape(-1)) for w in waves]
        details = {"reference_seconds": round(reference.duration_s, 3),
                   "reference_transcript_trimmed": reference.transcript_trimmed,
                   "accelerated": loaded.accelerator is not None, "batched_with": batch - 1,
                   **_served(loaded.settings)}
        if self.warmup:
            details["warmup_state"] = self.warmup.get("state")
        if job.target_duration_s is not None:
            details["target_duration_honoured"] = True
        return EngineOutput(audio=crossfade_join(waves, SAMPLE_RATE, job.profile.cross_fade), chunks=len(chunks),
                            details=details)

    def _upstream(self, loaded: _Loaded, job: EngineJob) -> EngineOutput:
        """Upstream's own ``infer_batch_process``, one chunk at a time so progress advances per chunk."""
        from f5_tts.infer.utils_infer import infer_batch_process

        profile: F5Profile = job.profile
        reference, chunks = self._plan(job)
        fixed = self._fixed_seconds(job, reference, chunks)
        seed_everything(job.seed)
        waves = []
        for index, chunk in enumerate(chunks):
            report(job, index / len(chunks), f"F5-TTS: chunk {index + 1} of {len(chunks)}")
            wave, _, _ = next(infer_batch_process(
                (reference.audio, SAMPLE_RATE), reference.text, [chunk], loaded.model, loaded.vocoder,
                mel_spec_type="vocos", progress=None, target_rms=0.1,
                cross_fade_duration=profile.cross_fade, nfe_step=profile.nfe_step,
                cfg_strength=profile.cfg_strength, sway_sampling_coef=profile.sway_sampling_coef,
                speed=job.speed, fix_duration=fixed[index] if fixed else None, device=self.device,
            ))
            waves.append(wave)
        report(job, 1.0, "F5-TTS: done")
        return self._output(loaded, job, reference, chunks, waves)

    def stream(self, job: EngineJob) -> Iterator[np.ndarray]:
        """The first (short) chunk alone, then the rest in one batch; cross-faded as ``synthesize`` joins them."""
        loaded = self._loaded
        if loaded is None:
            raise EngineUnavailableError("F5-TTS is not loaded")
        if loaded.accelerator is None:
            yield self._upstream(loaded, job).audio
            return
        acc, profile = loaded.accelerator, job.profile
        reference, chunks = self._plan(job, STREAM_FIRST_CHUNK_CHARS)
        fixed = self._fixed_seconds(job, reference, chunks)
        request = acc.prepare(reference.audio, reference.text, chunks, speed=job.speed, seed=job.seed,
                              fixed_seconds=fixed)
        kwargs = dict(nfe_step=profile.nfe_step, cfg_strength=profile.cfg_strength,
                      sway_sampling_coef=profile.sway_sampling_coef)
        first, rest = _split_request(request)

        def waves() -> Iterator[np.ndarray]:
            for part in (first, rest):
                if part is not None:
                    for wave in acc.render([part], progress=lambda _: yield_point(), **kwargs)[0]:
                        yield _without_pauses(job, wave)

        yield from crossfade_stream(waves(), SAMPLE_RATE, profile.cross_fade)


def _without_pauses(job: EngineJob, wave: np.ndarray) -> np.ndarray:
    """A chunk's wave with its long pauses cut when the job asks (never when it must last a set time)."""
    if not job.profile.remove_silence or job.target_duration_s is not None:
        return wave
    from ..audio.silences import remove_silences

    return remove_silences(wave, SAMPLE_RATE)


def _served(settings: F5Settings) -> dict[str, str]:
    """``model``: the ``F5TTS_MODEL`` key (or "custom"); ``checkpoint``: the weights, as health names them."""
    return {"model": model_key(settings), "checkpoint": settings.checkpoint.spec}


def _split_request(request):
    """The request's first row as a request of its own, and the other rows as another (or None)."""
    from dataclasses import replace

    first = replace(request, rows=request.rows[:1])
    rest = replace(request, rows=request.rows[1:]) if len(request.rows) > 1 else None
    return first, rest
