"""Speaker similarity: how much two clips sound like the same person.

A WavLM speaker-verification model through ``transformers`` (``AutoModelForAudioXVector``;
F5-TTS's own evaluation also scores similarity with WavLM): each clip becomes an
x-vector, and the score is the cosine of the two, from -1 to 1. The model card of
``microsoft/wavlm-base-plus-sv`` treats 0.86 and above as the same speaker.

    VOICE_STUDIO_SPEAKER_MODEL   a save_pretrained directory, hf://owner/repo or owner/repo
                                 (default microsoft/wavlm-base-plus-sv)
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.waveforms import resample
from .pretrained import LazyModel, OnDevice, PretrainedSource

SPEAKER_VARIABLE = "VOICE_STUDIO_SPEAKER_MODEL"
DEFAULT_SPEAKER_MODEL = "microsoft/wavlm-base-plus-sv"
SAME_SPEAKER_THRESHOLD = 0.86   # the model card's threshold for wavlm-base-plus-sv
SPEAKER_SAMPLE_RATE = 16000
MAX_SECONDS = 30.0              # each clip is scored on its first 30 s at most


class SpeakerVerifier(LazyModel):
    display_name = "Speaker similarity (WavLM)"

    @classmethod
    def from_env(cls, device_preference: str, on_device: OnDevice, load_lock: threading.Lock | None = None,
                 environ: Mapping[str, str] | None = None) -> "SpeakerVerifier":
        source, problem = PretrainedSource.from_env(environ, SPEAKER_VARIABLE, DEFAULT_SPEAKER_MODEL,
                                                    "speaker-verification model",
                                                    ("config.json", "preprocessor_config.json"),
                                                    ("model.safetensors", "pytorch_model.bin"))
        return cls(source, device_preference, on_device, load_lock,
                   config_error=f"{cls.display_name}: {problem}" if problem else None)

    def _stage(self, path: Path) -> tuple[Any, Any]:
        from transformers import AutoFeatureExtractor, AutoModelForAudioXVector

        model = AutoModelForAudioXVector.from_pretrained(path, local_files_only=True)
        extractor = AutoFeatureExtractor.from_pretrained(path, local_files_only=True)
        return model, extractor

    def _activate(self, staged: tuple[Any, Any], device: str) -> tuple[Any, Any]:
        model, extractor = staged
        return model.to(device).eval(), extractor

    def similarity(self, first: np.ndarray, second: np.ndarray, sample_rate: int) -> float:
        """The cosine similarity of the two clips' speaker embeddings (float32 mono at ``sample_rate``)."""
        return self.similarities(first, [second], sample_rate)[0]

    def similarities(self, reference: np.ndarray, clips: list[np.ndarray], sample_rate: int) -> list[float]:
        """Each clip's similarity to ``reference``, all embedded in one batch."""
        model, extractor = self.ensure_loaded()
        limit = int(MAX_SECONDS * sample_rate)
        audio = [resample(np.asarray(c[:limit], dtype=np.float32), sample_rate, SPEAKER_SAMPLE_RATE)
                 for c in [reference, *clips]]

        def embed() -> list[float]:
            import torch

            inputs = extractor(audio, sampling_rate=SPEAKER_SAMPLE_RATE, return_tensors="pt", padding=True)
            with torch.inference_mode():
                vectors = model(**{k: v.to(model.device) for k, v in inputs.items()}).embeddings
            vectors = torch.nn.functional.normalize(vectors.float(), dim=-1)
            return [float(v) for v in (vectors[1:] @ vectors[0]).cpu()]

        return self.on_device(embed, "speaker similarity")
