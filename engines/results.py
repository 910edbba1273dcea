"""From a request to its result: the request as validated, the engine prepared for it, the
engine that served it, and the one builder of the result's report (whole or streamed)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Generic, TypeVar

from .base import Engine
from .report import EngineChoice, SynthesisReport
from .types import EngineJob, EngineOutput, SynthesisRequest, SynthesisResult, Voice

logger = logging.getLogger("voice_studio.engines")

Output = TypeVar("Output")


@dataclass(frozen=True)
class ValidatedRequest:
    """A request that passed every check that needs no model."""

    request: SynthesisRequest
    text: str
    """The text as checked (trimmed, within the length limit)."""
    language: str
    """The canonical language code."""
    voice: Voice
    """The preset or saved voice, or the uploaded clip decoded."""
    seed: int
    """The request's seed, or the random one drawn for it."""


@dataclass(frozen=True)
class Prepared:
    """One engine made ready for a validated request: loaded, its voice and job resolved."""

    engine: Engine
    job: EngineJob
    profile_name: str
    """The profile the job runs."""
    mapped: bool
    """The profile is this engine's counterpart of the one the request named."""
    load_s: float
    """Seconds spent loading the engine for this request (0 when it was loaded)."""


@dataclass(frozen=True)
class Served(Generic[Output]):
    """The engine that served a request: how it was prepared, the choice the fallback loop
    settled, when its run began (``time.perf_counter``) and what it made (an ``EngineOutput``,
    or the chunk iterator of a stream)."""

    prepared: Prepared
    choice: EngineChoice
    started: float
    output: Output


def build_result(valid: ValidatedRequest, served: Served, output: EngineOutput, synth_s: float,
                 sanity_problem: str | None = None) -> SynthesisResult:
    """The result of ``output`` with its report: what was asked, what really ran and why, timings."""
    request, engine, job = valid.request, served.prepared.engine, served.prepared.job
    voice_details = dict(job.voice.details)
    load_s = served.prepared.load_s + voice_details.pop("preset_render_load_s", 0.0)
    synth_s += voice_details.pop("preset_render_s", 0.0)
    report = SynthesisReport(
        choice=served.choice, language=valid.language, voice=job.voice.id, voice_kind=job.voice.kind,
        mode="clone" if request.is_cloning else "dub", sample_rate=engine.sample_rate,
        duration_s=output.audio.size / engine.sample_rate, chunks=output.chunks, speed=job.speed,
        device=engine.device, text_chars=len(valid.text), load_s=load_s, synth_s=synth_s,
        details={**voice_details, **output.details},
        normalized_text=job.text if job.text != valid.text else None,
        target_duration_s=job.target_duration_s, sanity_problem=sanity_problem)
    result = SynthesisResult.of(output.audio, report)
    choice = served.choice
    if choice.engine_fallback:
        logger.warning("engine fallback", extra={
            "engine_requested": choice.tts_engine_requested, "engine_used": choice.tts_engine_used,
            "reason": choice.fallback_reason, "profile_requested": choice.quality_profile_requested,
            "profile_used": choice.quality_profile_used})
    logger.info("synthesis done", extra={k: result.metadata[k] for k in ("tts_engine_used", "duration_s", "synth_s",
                                                                         "rtf")})
    return result
