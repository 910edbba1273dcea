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
from typing import TYPE_CHECKING

import numpy as np

from .audio import ReferenceAudio, crossfade_join, cut_at_pause, trim_transcript
from .base import Engine, LRUCache, report, seed_everything
from .checkpoints import (
    check_against_model,
    describe_layout,
    normalize_f5_state_dict,
    read_checkpoint_file,
    write_patched_copy,
)
from .errors import CheckpointError, EngineUnavailableError, InputError
from .profiles import F5Profile
from .settings import F5Settings, resolve_architecture
from .text import split_text
from .types import EngineJob, EngineOutput

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

SAMPLE_RATE = 24000
HOP_LENGTH = 256
MAX_REFERENCE_SECONDS = 12.0
# Upstream sizes chunks so reference + generated audio stays under ~22 s (infer_process).
MAX_TOTAL_SECONDS = 22.0
MIN_CHUNK_CHARS = 40


@dataclass(frozen=True)
class F5Reference:
    audio: torch.Tensor  # [1, T] float32 at 24 kHz
    text: str              # transcript, ending the way upstream expects (". ")
    duration_s: float
    transcript_trimmed: bool

    def chunk_budget(self, speed: float) -> int:
        """Characters per chunk: upstream's rule, counted in characters rather than UTF-8 bytes."""
        chars_per_second = len(self.text) / max(self.duration_s, 0.1)
        return max(MIN_CHUNK_CHARS, int(chars_per_second * (MAX_TOTAL_SECONDS - self.duration_s) * speed))


def normalize_reference_text(text: str) -> str:
    """Upstream's rule: the transcript ends with a sentence end and a space."""
    text = text.strip()
    if text.endswith(("。",)):
        return text
    return (text if text.endswith(".") else text + ".") + " "


class F5Engine(Engine):
    name = "f5tts"
    display_name = "F5-TTS"
    sample_rate = SAMPLE_RATE

    def __init__(self, settings: F5Settings, device_preference: str = "auto", cache_dir=None, accel: str = "auto"):
        super().__init__(device_preference)
        self.settings = settings
        self.cache_dir = cache_dir
        self.accel_mode = accel
        self.model = None
        self.vocoder = None
        self.accelerator = None  # engines.accel.F5Accelerator on CUDA
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
    def is_loaded(self) -> bool:
        return self.model is not None

    # --- loading ----------------------------------------------------------------------
    def _load(self, device: str) -> None:
        import torch
        from f5_tts.infer.utils_infer import load_vocoder

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
        # Upstream's dtype rule (load_checkpoint): fp16 on CUDA with compute capability >= 7.
        dtype = torch.float32
        if device == "cuda" and torch.cuda.get_device_properties(0).major >= 7:
            dtype = torch.float16
        self.model = model.to(dtype).to(device).eval()
        try:
            self.vocoder = load_vocoder("vocos", is_local=True, local_path=str(vocoder_dir), device=device)
        except Exception as exc:  # a broken vocoder dir: say which and what to set
            self.model = None
            raise EngineUnavailableError(
                f"Vocos vocoder in {vocoder_dir} could not be loaded ({type(exc).__name__}: {exc}): "
                "set F5TTS_VOCODER to a directory with config.yaml and pytorch_model.bin") from exc
        warmup_s = self._start_accelerator(device)
        self.load_details = {
            "accelerated": self.accelerator is not None, "warmup_s": warmup_s,
            "checkpoint": str(ckpt_path), "checkpoint_layout": layout, "architecture": arch.name,
            "vocab_entries": vocab_entries, "read_s": round(patch_start - read_start, 3),
            "patch_s": round(patch_s, 3), "patched_copy": str(patched_copy) if patched_copy else None,
            "dtype": str(dtype).removeprefix("torch."),
        }

    def _start_accelerator(self, device: str) -> float | None:
        """On CUDA, the fast path of ``engines.accel`` (same function), warmed up so no user pays compile time."""
        if device != "cuda" or self.accel_mode == "off":
            return None
        from .accel import F5Accelerator

        self.accelerator = F5Accelerator(self.model, self.vocoder, device, compile=self.accel_mode == "auto")
        return round(self.accelerator.warmup(), 2)

    def _unload(self) -> None:
        self.model = None
        self.vocoder = None
        self.accelerator = None
        self._references.clear()

    # --- references ---------------------------------------------------------------------
    def cannot_serve(self, job: EngineJob) -> str | None:
        reason = super().cannot_serve(job)
        if reason:
            return reason
        if job.reference is None:
            return "F5-TTS needs a reference clip"
        if not (job.reference_text or "").strip():
            return "F5-TTS needs the reference transcript (no transcriber is available offline)"
        return None

    def prepare_reference(self, reference: ReferenceAudio, transcript: str) -> F5Reference:
        """Cut to 12 s at a pause, keep the transcript in step, cache per (content, transcript)."""
        import torch

        key = (reference.sha256, transcript)
        cached = self._references.get(key)
        if cached is not None:
            return cached
        samples, kept = cut_at_pause(reference.samples, reference.sample_rate, MAX_REFERENCE_SECONDS)
        text = trim_transcript(transcript.strip(), kept)
        prepared = F5Reference(
            audio=torch.from_numpy(np.ascontiguousarray(samples)).unsqueeze(0),
            text=normalize_reference_text(text),
            duration_s=len(samples) / reference.sample_rate,
            transcript_trimmed=text != transcript.strip(),
        )
        self._references.put(key, prepared)
        return prepared

    # --- synthesis ------------------------------------------------------------------------
    def synthesize(self, job: EngineJob) -> EngineOutput:
        if self.model is None:
            raise EngineUnavailableError("F5-TTS is not loaded")
        assert isinstance(job.profile, F5Profile)
        profile: F5Profile = job.profile
        reference = self.prepare_reference(job.reference, job.reference_text or "")
        chunks = split_text(job.text, reference.chunk_budget(job.speed))
        seed_everything(job.seed)
        if self.accelerator is not None:
            report(job, 0.0, f"F5-TTS: {len(chunks)} chunk(s) in one batch")
            waves = self.accelerator.infer(
                reference.audio, reference.text, chunks, nfe_step=profile.nfe_step,
                cfg_strength=profile.cfg_strength, sway_sampling_coef=profile.sway_sampling_coef,
                speed=job.speed, seed=job.seed)
            waves = [np.asarray(w, dtype=np.float32).reshape(-1) for w in waves]
        else:
            waves = self._upstream_chunks(job, reference, chunks)
        report(job, 1.0, "F5-TTS: done")
        return EngineOutput(
            audio=crossfade_join(waves, SAMPLE_RATE, profile.cross_fade),
            chunks=len(chunks),
            details={"reference_seconds": round(reference.duration_s, 3),
                     "reference_transcript_trimmed": reference.transcript_trimmed,
                     "accelerated": self.accelerator is not None},
        )

    def _upstream_chunks(self, job: EngineJob, reference: F5Reference, chunks: list[str]) -> list[np.ndarray]:
        """Upstream's own ``infer_batch_process``, one chunk at a time so progress advances per chunk."""
        from f5_tts.infer.utils_infer import infer_batch_process

        profile: F5Profile = job.profile
        waves = []
        for index, chunk in enumerate(chunks):
            report(job, index / len(chunks), f"F5-TTS: chunk {index + 1} of {len(chunks)}")
            wave, _, _ = next(infer_batch_process(
                (reference.audio, SAMPLE_RATE), reference.text, [chunk], self.model, self.vocoder,
                mel_spec_type="vocos", progress=None, target_rms=0.1,
                cross_fade_duration=profile.cross_fade, nfe_step=profile.nfe_step,
                cfg_strength=profile.cfg_strength, sway_sampling_coef=profile.sway_sampling_coef,
                speed=job.speed, device=self.device,
            ))
            waves.append(np.asarray(wave, dtype=np.float32).reshape(-1))
        return waves


def build_cfm(dit_kwargs, vocab_file: str):
    """The CFM model as ``f5_tts.infer.utils_infer.load_model`` assembles it, weights random."""
    from f5_tts.model import CFM, DiT
    from f5_tts.model.utils import get_tokenizer

    vocab_char_map, vocab_size = get_tokenizer(vocab_file, "custom")
    model = CFM(
        transformer=DiT(**dict(dit_kwargs), text_num_embeds=vocab_size, mel_dim=100),
        mel_spec_kwargs=dict(n_fft=1024, hop_length=HOP_LENGTH, win_length=1024, n_mel_channels=100,
                             target_sample_rate=SAMPLE_RATE, mel_spec_type="vocos"),
        odeint_kwargs=dict(method="euler"),
        vocab_char_map=vocab_char_map,
    )
    return model, vocab_size
