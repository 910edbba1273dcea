"""The F5-TTS adapter, on ``f5_tts.model`` and ``f5_tts.infer.utils_infer``.

Loading assembles the CFM model exactly as upstream's ``load_model`` does, but reads
and normalises the checkpoint in memory (``checkpoints.py``) and checks it against the
architecture before the strict load. Reference clips are prepared here, once per
(content hash, transcript), instead of upstream's ``preprocess_ref_audio_text``, which
leaves a temp wav behind on every call and downloads Whisper when the transcript is empty.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from collections.abc import Hashable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..audio.waveforms import ReferenceAudio, crossfade_join, crossfade_stream
from ..base import Engine, LRUCache, free_gpu_cache, report, seed_everything
from ..weights.checkpoints import (
    build_cfm,
    check_against_model,
    describe_layout,
    normalize_f5_state_dict,
    read_checkpoint_file,
    write_patched_copy,
)
from ..errors import CheckpointError, EngineUnavailableError, InputError
from .f5_reference import MAX_REFERENCE_SECONDS, SAMPLE_RATE, F5Reference, prepare_f5_reference
from ..profiles import F5Profile
from ..settings import F5Settings, resolve_architecture
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


@dataclass(frozen=True)
class _Staged:
    model: Any
    vocoder_dir: Any
    details: dict


class F5Engine(Engine):
    name = "f5tts"
    display_name = "F5-TTS"
    sample_rate = SAMPLE_RATE
    needs_reference = True
    max_batch = 16
    normalizes_text = True  # F5 reads characters as written; XTTS's tokenizer expands numbers itself
    max_reference_seconds = MAX_REFERENCE_SECONDS

    def __init__(self, settings: F5Settings, device_preference: str = "auto", cache_dir=None, accel: str = "auto"):
        super().__init__(device_preference)
        self.settings = settings
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
    def _load(self, device: str) -> _Staged:
        """Read, normalise and check the checkpoint and build the model, on the CPU."""
        try:
            arch = resolve_architecture(self.settings.arch_spec)
        except InputError as exc:
            raise EngineUnavailableError(str(exc)) from exc
        ckpt_path = self.settings.checkpoint.resolve()
        vocab_path = self.settings.vocab.resolve()
        vocoder_dir = self.settings.vocoder.resolve()

        read_start = time.perf_counter()
        raw = read_checkpoint_file(ckpt_path)
        patch_start = time.perf_counter()
        state = normalize_f5_state_dict(raw)
        layout = describe_layout(raw)
        patch_s = time.perf_counter() - patch_start
        del raw
        model, vocab_entries = build_cfm(arch.dit_kwargs, str(vocab_path))
        check_start = time.perf_counter()
        check_against_model(state, model.state_dict(), vocab_entries, arch.name)
        patch_s += time.perf_counter() - check_start  # normalising + checking: the cost of accepting any layout
        patched_copy = None
        if self.settings.patched_copy and self.cache_dir is not None:
            patched_copy = write_patched_copy(state, ckpt_path, self.cache_dir / "patched")
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:  # check_against_model should have caught it; keep the message short
            raise CheckpointError(f"checkpoint does not fit {arch.name}: {str(exc).splitlines()[0]}") from exc
        del state
        details = {
            "checkpoint": self.settings.checkpoint.show(ckpt_path), "checkpoint_layout": layout,
            "architecture": arch.name, "assumed_settings": self.settings.assumed_note,
            "model_shape": {**dict(arch.dit_kwargs), "vocab": vocab_entries},
            "vocab_entries": vocab_entries, "read_s": round(patch_start - read_start, 3),
            "patch_s": round(patch_s, 3), "patched_copy": self.settings.checkpoint.show(patched_copy),
        }
        return _Staged(model=model, vocoder_dir=vocoder_dir, details=details)

    def _activate(self, staged: _Staged) -> None:
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
                f"Vocos vocoder {self.settings.vocoder.name!r} could not be loaded ({type(exc).__name__}: "
                f"{without_paths(' '.join(str(exc).split()))}): set F5TTS_VOCODER to a directory with "
                "config.yaml and pytorch_model.bin") from exc
        accelerator = None
        if self.accel_mode != "off":
            from .accel import F5Accelerator

            accelerator = F5Accelerator(model, vocoder, device)
        self.load_details = {**staged.details, "accelerated": accelerator is not None,
                             "dtype": str(dtype).removeprefix("torch.")}
        self._loaded = _Loaded(model=model, vocoder=vocoder, accelerator=accelerator)

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
            waves = acc.render([p[4] for p in prepared], progress=progress, **kwargs)
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
            results[index] = self._output(job, reference, chunks, job_waves, batch=len(prepared))
        return results  # type: ignore[return-value]

    def _output(self, job: EngineJob, reference: F5Reference, chunks: list[str], waves: list[np.ndarray],
                batch: int = 1) -> EngineOutput:
        waves = [np.asarray(w, dtype=np.float32).reshape(-1) for w in waves]
        details = {"reference_seconds": round(reference.duration_s, 3),
                   "reference_transcript_trimmed": reference.transcript_trimmed,
                   "accelerated": self.accelerator is not None, "batched_with": batch - 1}
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
        return self._output(job, reference, chunks, waves)

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
            yield from acc.render([first], progress=lambda _: yield_point(), **kwargs)[0]
            if rest is not None:
                yield from acc.render([rest], progress=lambda _: yield_point(), **kwargs)[0]

        yield from crossfade_stream(waves(), SAMPLE_RATE, profile.cross_fade)


def _split_request(request):
    """The request's first row as a request of its own, and the other rows as another (or None)."""
    from dataclasses import replace

    first = replace(request, rows=request.rows[:1])
    rest = replace(request, rows=request.rows[1:]) if len(request.rows) > 1 else None
    return first, rest
