"""The dataclasses that cross the manager's API: requests, voices, jobs, results, health."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Protocol

import numpy as np

from .audio.waveforms import ReferenceAudio
from .profiles import Profile
from .report import EngineChoice, SynthesisReport

if TYPE_CHECKING:
    import torch

# progress(fraction in [0, 1], message)
ProgressCallback = Callable[[float, str], None]

ENGINE_NAMES = ("f5tts", "xtts")


# The ranges every door (UI, CLI, /v1) checks a request's speed and seed against.
MIN_SPEED, MAX_SPEED = 0.5, 2.0
SEED_LIMIT = 2**32                          # seeds are 0 .. SEED_LIMIT - 1


@dataclass(frozen=True)
class SynthesisRequest:
    """What a user asks for: ``voice_preset`` (a preset or saved voice), or ``reference_audio`` (cloning).

    ``None`` means "the default": the engine's profile, the profile's speed, a random seed.
    Every door (the page, ``/v1``, the CLI) builds one; ``EngineManager.validate`` checks it.
    """

    text: str
    """What to say (at most ``VOICE_STUDIO_MAX_TEXT_CHARS`` characters)."""
    language: str
    """The language of ``text``: a code or name ``engines.languages`` knows (``pt-BR``, ``en``, ``Spanish``)."""
    engine: str = "f5tts"
    """The engine to try first: ``f5tts`` or ``xtts`` (the other one may serve, see ``allow_fallback``)."""
    voice_preset: Optional[str] = None
    """A built-in preset (``female_generic``...) or a saved voice's id; ignored when cloning."""
    reference_audio: Optional[str] = None
    """A path to the clip to clone (3-12 s of clear speech); set, the request is a cloning one."""
    reference_text: Optional[str] = None
    """The clip's transcript. F5-TTS needs it: without it speech recognition writes it, else XTTS serves."""
    quality_profile: Optional[str] = None
    """A profile of ``engine`` (``f5tts_fast``, ``xtts_expressive``...); None: the engine's default."""
    speed: Optional[float] = None
    """Speaking rate, ``MIN_SPEED`` to ``MAX_SPEED`` (1.0: natural); None: the profile's."""
    seed: Optional[int] = None
    """0 to ``SEED_LIMIT - 1``: the same request with the same seed gives the same audio; None: a random
    seed, reported in the metadata."""
    allow_fallback: bool = True
    """When the requested engine cannot serve, let the other one (the result says which, and why)."""
    target_duration_s: Optional[float] = None
    """Speak the text in this many seconds. Engines that can (F5-TTS) generate that length directly; the
    others ignore it and the metadata says so (``target_duration_honoured``)."""
    text_normalization: bool = True
    """Read numbers, currency, dates... as words before F5-TTS speaks them (XTTS does its own)."""

    @property
    def is_cloning(self) -> bool:
        return self.reference_audio is not None


class VoiceCache(Protocol):
    """Where an engine keeps what it derives from a voice for one model (conditioning latents)."""

    def load(self, engine: str, model_key: str) -> Optional[dict[str, "torch.Tensor"]]: ...

    def save(self, engine: str, model_key: str, tensors: dict[str, "torch.Tensor"]) -> None: ...


@dataclass(frozen=True)
class Voice:
    """One voice as the engines take it: a reference clip with its transcript, and/or a speaker
    an engine knows by name (XTTS studio speakers).

    ``kind`` is ``preset`` (built in), ``saved`` (the voice library) or ``upload`` (a clip sent
    with the request). ``details`` are reported in the result metadata as they are.
    """

    id: str
    kind: str
    reference: Optional[ReferenceAudio] = None
    transcript: Optional[str] = None
    speaker: Optional[str] = None
    language: Optional[str] = None
    cache: Optional[VoiceCache] = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def has_transcript(self) -> bool:
        return bool((self.transcript or "").strip())


@dataclass(frozen=True)
class EngineJob:
    """What one engine is asked to render, everything resolved for that engine."""

    text: str
    language: str                 # canonical code, e.g. pt-BR
    profile: Profile
    speed: float
    seed: int
    voice: Voice
    target_duration_s: Optional[float] = None
    progress: Optional[ProgressCallback] = None


@dataclass(frozen=True)
class EngineOutput:
    """What an engine rendered for one job."""

    audio: np.ndarray
    """float32 ``[samples]``, mono, at the engine's ``sample_rate``."""
    chunks: int
    """How many pieces the text was rendered in."""
    details: dict[str, Any] = field(default_factory=dict)
    """Engine-specific facts for the metadata, as they are (``SynthesisReport.details``)."""


@dataclass(frozen=True)
class SynthesisResult:
    """The audio of a request, with what really made it."""

    audio: np.ndarray
    """float32 samples, mono, ``[samples]``."""
    sample_rate: int
    metadata: dict[str, Any]
    """``report.to_dict()``: the keys the badges, the History and ``/v1`` read (a public contract)."""
    report: Optional[SynthesisReport] = None
    """The same, typed; None for a result made from a metadata dict alone."""

    @classmethod
    def of(cls, audio: np.ndarray, report: SynthesisReport) -> "SynthesisResult":
        return cls(audio, report.sample_rate, report.to_dict(), report)

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate

    @property
    def engine_used(self) -> str:
        return self.metadata["tts_engine_used"]


class SynthesisStream:
    """Audio as it is made: iterate for float32 chunks at ``sample_rate``; ``result`` once done.

    The first chunk arrives before the rest is rendered. ``result`` (the whole clip with its
    metadata, as ``synthesize`` returns it) is set when the iterator is exhausted. ``choice``
    is what was settled before the first chunk (engine used, fallback and its reason, profile
    used, seed), for callers that must report it before the audio ends.
    """

    def __init__(self, chunks: Iterator[np.ndarray], sample_rate: int, choice: EngineChoice,
                 finish: Callable[[list[np.ndarray]], SynthesisResult]):
        self.sample_rate = sample_rate
        self.choice = choice
        self.engine = choice.tts_engine_used
        self._chunks = chunks
        self._finish = finish
        self._seen: list[np.ndarray] = []
        self.result: Optional[SynthesisResult] = None

    @property
    def known(self) -> dict[str, Any]:
        """``choice`` as the metadata keys it fills."""
        return self.choice.to_dict()

    def __iter__(self) -> Iterator[np.ndarray]:
        for chunk in self._chunks:
            self._seen.append(chunk)
            yield chunk
        self.result = self._finish(self._seen)

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


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
