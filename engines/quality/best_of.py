"""Best of N takes: render a few, keep the one speech recognition hears best.

F5-TTS sometimes skips or slurs a word; its maintainers advise generating several times and
keeping the best take. A profile with ``best_of`` > 1 (``f5tts_ultra_quality``: 3) renders
the extra takes with the next seeds (``seed + 1``, ``seed + 2``: the result stays
reproducible from the request's seed), all queued at once so the device worker batches them,
transcribes every take with Whisper and keeps the lowest CER against the text spoken. The
metadata's ``best_of`` lists each take's seed and CER and the chosen seed.

Without speech recognition there is nothing to rank by: the first take is kept, and
``best_of`` says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING

from ..errors import EngineUnavailableError
from .guard import audio_problem
from ..types import EngineJob, EngineOutput
from .verify import error_rates

if TYPE_CHECKING:
    from .asr import Transcriber

logger = logging.getLogger(__name__)


def best_take(job: EngineJob, first: EngineOutput, render: Callable[[EngineJob], EngineOutput],
              asr: "Transcriber", sample_rate: int) -> EngineOutput:
    """``first`` or a better take of ``job``; ``render`` makes one more take (a job with another seed)."""
    takes_wanted = job.profile.best_of
    health = asr.health()
    if health["status"] == "unavailable":
        return _with_details(first, {"skipped": f"no speech recognition to rank takes ({health['error']})"})
    extra_jobs = [replace(job, seed=job.seed + offset, progress=None) for offset in range(1, takes_wanted)]
    with ThreadPoolExecutor(max_workers=len(extra_jobs)) as pool:
        futures = [pool.submit(render, extra) for extra in extra_jobs]
    takes: list[tuple[int, EngineOutput]] = [(job.seed, first)]
    for extra, future in zip(extra_jobs, futures):
        try:
            takes.append((extra.seed, future.result()))
        except Exception as exc:  # one failed take: rank the others
            logger.warning("extra take failed", extra={"seed": extra.seed, "error": f"{type(exc).__name__}: {exc}"})
    usable = [(seed, out) for seed, out in takes
              if audio_problem(out.audio, sample_rate, job.text, job.speed, job.target_duration_s) is None]
    if not usable:
        return first
    try:
        heard = asr.transcribe_batch([out.audio for _, out in usable], sample_rate, job.language)
    except EngineUnavailableError as exc:
        return _with_details(first, {"skipped": str(exc)})
    scored = [(error_rates(job.text, text, job.language)[1], seed, out) for (seed, out), text in zip(usable, heard)]
    cer, seed, best = min(scored, key=lambda item: item[0])
    return _with_details(best, {"candidates": [{"seed": s, "cer": round(c, 4)} for c, s, _ in scored],
                                "chosen_seed": seed, "chosen_cer": round(cer, 4)})


def _with_details(output: EngineOutput, best_of: dict) -> EngineOutput:
    return replace(output, details={**output.details, "best_of": best_of})
