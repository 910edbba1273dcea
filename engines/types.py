"""The dataclasses that cross the manager's API: requests, results, health."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import numpy as np

from .audio import ReferenceAudio
from .profiles import Profile

# progress(fraction in [0, 1], message)
ProgressCallback = Callable[[float, str], None]

ENGINE_NAMES = ("f5tts", "xtts")


@dataclass(frozen=True)
class SynthesisRequest:
    """What a user asks for. ``voice_preset`` (dubbing) or ``reference_audio`` (cloning)."""

    text: str
    language: str
    engine: str = "f5tts"
    voice_preset: Optional[str] = None
    reference_audio: Optional[str] = None   # a path to the uploaded clip
    reference_text: Optional[str] = None    # its transcript (F5-TTS needs it)
    quality_profile: Optional[str] = None   # None: the engine's default
    speed: Optional[float] = None           # None: the profile's speed
    seed: Optional[int] = None              # None: a random seed, reported in the metadata
    allow_fallback: bool = True

    @property
    def is_cloning(self) -> bool:
        return self.reference_audio is not None


@dataclass(frozen=True)
class EngineJob:
    """What one engine is asked to render, everything resolved for that engine."""

    text: str
    language: str                 # canonical code, e.g. pt-BR
    profile: Profile
    speed: float
    seed: int
    reference: Optional[ReferenceAudio] = None
    reference_text: Optional[str] = None
    xtts_speaker: Optional[str] = None
    progress: Optional[ProgressCallback] = None


@dataclass(frozen=True)
class EngineOutput:
    audio: np.ndarray
    chunks: int
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SynthesisResult:
    audio: np.ndarray
    sample_rate: int
    metadata: dict[str, Any]

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate

    @property
    def engine_used(self) -> str:
        return self.metadata["tts_engine_used"]


@dataclass
class EngineHealth:
    engine_name: str
    status: str  # available | not_loaded | unavailable
    device: str
    sample_rate: int
    languages: list[str]
    model: str
    weights_present: bool
    load_s: Optional[float] = None
    error: Optional[str] = None
    license: Optional[str] = None
    gpu_memory_mb: Optional[float] = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
