"""The XTTS-v2 adapter, on ``TTS.tts.models.xtts.Xtts`` (coqui-tts).

Conditioning latents are computed from the already-decoded reference with the model's
own ``get_gpt_cond_latents`` / ``get_speaker_embedding`` and cached per content hash,
so no temp file is written (``get_conditioning_latents`` only takes paths).
"""

from __future__ import annotations

import logging
import pickle

import numpy as np

from .audio import ReferenceAudio, crossfade_join, resample
from .base import Engine, LRUCache, report, seed_everything
from .checkpoints import _unsupported_global
from .errors import CheckpointError, EngineUnavailableError
from .languages import XTTS_CODES, from_xtts_code
from .profiles import XttsProfile
from .settings import XTTS_LICENSE, XttsSettings
from .text import split_text
from .types import EngineJob, EngineOutput

logger = logging.getLogger(__name__)

SAMPLE_RATE = 24000
GPT_SAMPLE_RATE = 22050
CHUNK_CROSS_FADE_S = 0.05


class XttsEngine(Engine):
    name = "xtts"
    display_name = "XTTS-v2"
    sample_rate = SAMPLE_RATE

    def __init__(self, settings: XttsSettings, device_preference: str = "auto", accel: str = "auto"):
        super().__init__(device_preference)
        self.settings = settings
        self.accel_mode = accel  # auto and graphs are the same for XTTS: its decode step is graphed, never compiled
        self.model = None
        self.accelerator = None  # engines.accel.XttsAccelerator on CUDA
        self._languages: tuple[str, ...] = tuple(XTTS_CODES)  # the published 17 until the config says
        self._latents = LRUCache(32)

    @property
    def languages(self) -> tuple[str, ...]:
        return self._languages

    @property
    def model_spec(self) -> str:
        return self.settings.model_dir.spec

    @property
    def license(self) -> str | None:
        return XTTS_LICENSE

    def missing_weights(self) -> list[tuple[str, str, str]]:
        source = self.settings.model_dir
        return [(source.description, source.spec, source.env_var)] if source.missing_locally() else []

    @property
    def is_loaded(self) -> bool:
        return self.model is not None

    @property
    def speakers(self) -> list[str]:
        manager = getattr(self.model, "speaker_manager", None)
        return sorted(manager.speakers) if manager is not None else []

    def _load(self, device: str) -> None:
        from TTS.tts.configs.xtts_config import XttsConfig
        from TTS.tts.models.xtts import Xtts

        model_dir = self.settings.model_dir.resolve()
        try:
            config = XttsConfig()
            config.load_json(str(model_dir / "config.json"))
            model = Xtts.init_from_config(config)
            model.load_checkpoint(config, checkpoint_dir=str(model_dir), eval=True, use_deepspeed=False)
        except pickle.UnpicklingError as exc:  # torch's text here advises weights_only=False: never pass it on
            what = (f"holds a .pth file with objects that are not plain tensors and was refused (only weights are "
                    f"loaded, never arbitrary pickles): {_unsupported_global(exc)}" if "GLOBAL" in str(exc)
                    else "holds a .pth file that is not a readable PyTorch file (truncated or corrupt)")
            raise CheckpointError(f"XTTS-v2 model in {model_dir} {what}: set XTTS_MODEL to a directory with "
                                  "trusted config.json, model.pth, vocab.json") from exc
        except Exception as exc:  # any failure inside coqui's loader means: this model dir is unusable
            raise EngineUnavailableError(
                f"XTTS-v2 model in {model_dir} could not be loaded ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}): set XTTS_MODEL to a directory with "
                "config.json, model.pth, vocab.json") from exc
        self.model = model.to(device)
        served = [from_xtts_code(code) for code in config.languages]
        self._languages = tuple(code for code in served if code is not None)
        warmup_s = None
        if device == "cuda" and self.accel_mode != "off":
            from .accel import XttsAccelerator

            self.accelerator = XttsAccelerator(self.model, device)
            warmup_s = round(self.accelerator.warmup(), 2)
        self.load_details = {"model_dir": str(model_dir), "speakers": len(self.speakers),
                             "accelerated": self.accelerator is not None, "warmup_s": warmup_s}

    def _unload(self) -> None:
        self.model = None
        self.accelerator = None
        self._latents.clear()

    def cannot_serve(self, job: EngineJob) -> str | None:
        reason = super().cannot_serve(job)
        if reason:
            return reason
        if job.reference is None and job.xtts_speaker is None:
            return "XTTS needs a reference clip or a studio speaker"
        if job.reference is None and self.model is not None and job.xtts_speaker not in self.speakers:
            return (f"XTTS speakers file has no speaker {job.xtts_speaker!r}"
                    + ("" if self.speakers else " (speakers_xtts.pth missing from the model directory)"))
        return None

    def conditioning(self, job: EngineJob):
        """(gpt_cond_latent, speaker_embedding) for a studio speaker or a reference clip."""
        if job.reference is None:
            voice = self.model.speaker_manager.speakers[job.xtts_speaker]
            return voice["gpt_cond_latent"], voice["speaker_embedding"]
        return self.reference_latents(job.reference)

    def reference_latents(self, reference: ReferenceAudio):
        import torch

        cached = self._latents.get(reference.sha256)
        if cached is not None:
            return cached
        config = self.model.config
        samples = resample(reference.samples, reference.sample_rate, GPT_SAMPLE_RATE)
        samples = samples[: int(config.max_ref_len * GPT_SAMPLE_RATE)]
        audio = torch.from_numpy(np.ascontiguousarray(samples)).unsqueeze(0)
        with torch.inference_mode():
            latent = self.model.get_gpt_cond_latents(audio, GPT_SAMPLE_RATE, length=config.gpt_cond_len,
                                                     chunk_length=config.gpt_cond_chunk_len)
            embedding = self.model.get_speaker_embedding(audio, GPT_SAMPLE_RATE)
        self._latents.put(reference.sha256, (latent, embedding))
        return latent, embedding

    def synthesize(self, job: EngineJob) -> EngineOutput:
        if self.model is None:
            raise EngineUnavailableError("XTTS-v2 is not loaded")
        assert isinstance(job.profile, XttsProfile)
        profile: XttsProfile = job.profile
        code = XTTS_CODES[job.language]
        limit = self.model.tokenizer.char_limits.get(code.split("-")[0], 250)
        chunks = split_text(job.text, limit)
        latent, embedding = self.conditioning(job)
        # The accelerator computes the same function as Xtts.inference (engines/accel/xtts.py).
        infer = self.accelerator.inference if self.accelerator is not None else self.model.inference
        sampling = {} if self.accelerator is not None else {"enable_text_splitting": False}
        seed_everything(job.seed)
        waves = []
        for index, chunk in enumerate(chunks):
            report(job, index / len(chunks), f"XTTS: chunk {index + 1} of {len(chunks)}")
            out = infer(
                chunk, code, latent, embedding,
                temperature=profile.temperature, length_penalty=profile.length_penalty,
                repetition_penalty=profile.repetition_penalty, top_k=profile.top_k, top_p=profile.top_p,
                speed=job.speed, **sampling,
            )
            waves.append(np.asarray(out["wav"], dtype=np.float32).reshape(-1))
        report(job, 1.0, "XTTS: done")
        return EngineOutput(audio=crossfade_join(waves, SAMPLE_RATE, CHUNK_CROSS_FADE_S), chunks=len(chunks),
                            details={"accelerated": self.accelerator is not None,
                                     **({"xtts_speaker": job.xtts_speaker} if job.reference is None else {})})
