"""CUDA-synchronised wall-clock timing and peak-memory bookkeeping."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

import torch


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


@dataclass
class Timing:
    """Median of ``runs`` synchronised wall times, with the peak memory they reached."""

    runs: list[float] = field(default_factory=list)
    peak_gib: float = 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    def as_dict(self) -> dict:
        return {"median_s": self.median, "runs_s": self.runs, "peak_gib": self.peak_gib}


def timed(fn: Callable[[], object], repeats: int, warmup: int = 1) -> tuple[Timing, object]:
    """Warm up, then time ``repeats`` calls; returns the timing and the last result."""
    result = None
    for _ in range(warmup):
        result = fn()
    sync()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t = Timing()
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        result = fn()
        sync()
        t.runs.append(time.perf_counter() - start)
    if torch.cuda.is_available():
        t.peak_gib = torch.cuda.max_memory_allocated() / 2**30
    return t, result


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double().flatten(), b.double().flatten()
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b))
