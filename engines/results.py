"""What a request comes back with: the audio and the metadata that says what really ran."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .base import Engine
from .types import EngineJob, EngineOutput, SynthesisRequest, SynthesisResult, Voice

logger = logging.getLogger("voice_studio.engines")


@dataclass(frozen=True)
class ValidatedRequest:
    request: SynthesisRequest
    text: str
    language: str
    voice: Voice
    seed: int


def build_result(valid: ValidatedRequest, engine: Engine, job: EngineJob, output: EngineOutput, profile_name: str,
                 mapped: bool, attempts: dict[str, str], load_s: float, synth_s: float) -> SynthesisResult:
    """The result with its metadata: what was asked, what really ran and why, timings."""
    request = valid.request
    duration = output.audio.size / engine.sample_rate
    fallback = engine.name != request.engine
    reason = attempts.get(request.engine) if fallback else None
    voice_details = dict(job.voice.details)
    load_s += voice_details.pop("preset_render_load_s", 0.0)
    synth_s += voice_details.pop("preset_render_s", 0.0)
    metadata: dict[str, Any] = {
        "tts_engine_requested": request.engine,
        "tts_engine_used": engine.name,
        "engine_fallback": fallback,
        "fallback_reason": reason,
        "quality_profile_requested": request.quality_profile,
        "quality_profile_used": profile_name,
        "quality_profile_mapped": mapped,
        "language": valid.language,
        "voice": job.voice.id,
        "voice_kind": job.voice.kind,
        "mode": "clone" if request.is_cloning else "dub",
        "sample_rate": engine.sample_rate,
        "duration_s": round(duration, 3),
        "chunks": output.chunks,
        "seed": valid.seed,
        "speed": job.speed,
        "device": engine.device,
        "text_chars": len(valid.text),
        "load_s": round(load_s, 3),
        "synth_s": round(synth_s, 3),
        "rtf": round(synth_s / duration, 4) if duration else None,
        "attempts": attempts,
        **voice_details,
        **output.details,
    }
    if job.text != valid.text:
        metadata["normalized_text"] = job.text
    if job.target_duration_s is not None:
        metadata["target_duration_s"] = job.target_duration_s
        metadata.setdefault("target_duration_honoured", False)
    if fallback:
        logger.warning("engine fallback", extra={
            "engine_requested": request.engine, "engine_used": engine.name, "reason": reason,
            "profile_requested": request.quality_profile, "profile_used": profile_name})
    logger.info("synthesis done", extra={k: metadata[k] for k in ("tts_engine_used", "duration_s", "synth_s", "rtf")})
    return SynthesisResult(output.audio, engine.sample_rate, metadata)
