"""The typed report of one synthesis: what was asked, what really ran and why, and timings.

``SynthesisReport.to_dict()`` is a result's ``metadata``. Its keys, their order and their
values are a public contract (the badges, the History sidecars and the ``/v1`` headers read
them), so they are written out here, once. ``EngineChoice`` is the part that the fallback
loop settles before any audio exists: a stream reports it with its first chunk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EngineChoice:
    """Which engine serves a request, with which profile and seed, and why."""

    tts_engine_requested: str
    """The engine the request named."""
    tts_engine_used: str
    """The engine that serves it: the requested one, or the next one that could."""
    quality_profile_requested: str | None
    """The profile the request named; None: the engine's default."""
    quality_profile_used: str
    """The profile that runs: the requested one, its counterpart on the fallback engine, or the default."""
    quality_profile_mapped: bool
    """True when ``quality_profile_used`` is the fallback engine's counterpart of the requested profile."""
    seed: int
    """The seed the engine was given: the request's, else a random one (reported so a take can be made again)."""
    attempts: Mapping[str, str] = field(default_factory=dict)
    """Each engine tried before the one that serves, with the reason it did not."""

    @property
    def engine_fallback(self) -> bool:
        return self.tts_engine_used != self.tts_engine_requested

    @property
    def fallback_reason(self) -> str | None:
        """Why the requested engine did not serve; None when it did."""
        return self.attempts.get(self.tts_engine_requested) if self.engine_fallback else None

    def to_dict(self) -> dict[str, Any]:
        """The metadata known before the first chunk (``SynthesisStream.known``)."""
        return {"tts_engine_requested": self.tts_engine_requested, "tts_engine_used": self.tts_engine_used,
                "engine_fallback": self.engine_fallback, "fallback_reason": self.fallback_reason,
                "quality_profile_used": self.quality_profile_used,
                "quality_profile_mapped": self.quality_profile_mapped, "seed": self.seed}


@dataclass(frozen=True)
class SynthesisReport:
    """Everything a result says about how it was made. Times are exact here; ``to_dict`` rounds them."""

    choice: EngineChoice
    """The engine, profile and seed that made it, and the fallback's reasons."""
    language: str
    """The canonical language code the text was spoken in (e.g. ``pt-BR``)."""
    voice: str
    """The voice's id: a preset, a saved voice, or ``cloned`` for an uploaded clip."""
    voice_kind: str
    """``preset`` (built in), ``saved`` (the voice library) or ``upload`` (a clip sent with the request)."""
    mode: str
    """``clone`` (a reference clip came with the request) or ``dub``."""
    sample_rate: int
    """Samples per second of the audio (the engine's own rate)."""
    duration_s: float
    """Length of the audio in seconds."""
    chunks: int
    """How many pieces the engine rendered the text in (streamed: how many chunks it sent)."""
    speed: float
    """The speed the engine was given: the request's, else the profile's."""
    device: str
    """Where the engine ran (``cuda``, ``cpu``)."""
    text_chars: int
    """Characters of the text as the user sent it (after the checks trimmed it)."""
    load_s: float
    """Seconds spent loading the engine (and rendering a preset's reference) for this request."""
    synth_s: float
    """Seconds from the engine's start on this request to the whole audio (a preset's reference included)."""
    details: Mapping[str, Any] = field(default_factory=dict)
    """What the voice and the engine add, reported as they are (``reference_text_source``, ``warmup_state``,
    ``batched_with``, ``best_of``, ``streamed``, ``target_duration_honoured``...)."""
    normalized_text: str | None = None
    """The text the engine spoke, where normalization changed it (numbers, money, dates read as words)."""
    target_duration_s: float | None = None
    """The duration the request asked for, if any."""
    sanity_problem: str | None = None
    """A streamed result's audio that failed the sanity check after it was sent (a whole result is refused)."""

    @property
    def rtf(self) -> float | None:
        """Real-time factor: seconds of work per second of audio (None for empty audio)."""
        return round(self.synth_s / self.duration_s, 4) if self.duration_s else None

    def to_dict(self) -> dict[str, Any]:
        """The result's ``metadata``, key for key and value for value."""
        choice = self.choice
        metadata: dict[str, Any] = {
            "tts_engine_requested": choice.tts_engine_requested,
            "tts_engine_used": choice.tts_engine_used,
            "engine_fallback": choice.engine_fallback,
            "fallback_reason": choice.fallback_reason,
            "quality_profile_requested": choice.quality_profile_requested,
            "quality_profile_used": choice.quality_profile_used,
            "quality_profile_mapped": choice.quality_profile_mapped,
            "language": self.language,
            "voice": self.voice,
            "voice_kind": self.voice_kind,
            "mode": self.mode,
            "sample_rate": self.sample_rate,
            "duration_s": round(self.duration_s, 3),
            "chunks": self.chunks,
            "seed": choice.seed,
            "speed": self.speed,
            "device": self.device,
            "text_chars": self.text_chars,
            "load_s": round(self.load_s, 3),
            "synth_s": round(self.synth_s, 3),
            "rtf": self.rtf,
            "attempts": dict(choice.attempts),
            **self.details,
        }
        if self.normalized_text is not None:
            metadata["normalized_text"] = self.normalized_text
        if self.target_duration_s is not None:
            metadata["target_duration_s"] = self.target_duration_s
            metadata.setdefault("target_duration_honoured", False)
        if self.sanity_problem is not None:
            metadata["sanity_problem"] = self.sanity_problem
        return metadata
