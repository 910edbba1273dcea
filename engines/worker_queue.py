"""The device worker's line of jobs, and the order they leave it in (``engines/worker.py``).

Oldest first, but a job someone listens for (``urgent``: short, a stream's first audio waits
for it) before the others; a job that can share a forward takes the compatible jobs queued
behind it (its ``batch_key``, up to its ``max_batch``); an exclusive job (a graph capture) never starts while
``held_back`` (kernels launched from other threads), and gets a turn once a batch has run since
the last capture. The line also counts, per group (an engine), the callers still preparing a
request (``arriving``) and their jobs queued or running (``in_flight``), so a batch about to
start knows whether one more is coming.

The worker holds its lock around every call here: this module has no lock of its own.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

BatchRunner = Callable[[Sequence[Any]], Sequence[Any]]


@dataclass
class Job:
    seq: int
    label: str
    future: Future
    fn: Callable[[], Any] | None = None
    item: Any = None
    batch_key: Hashable | None = None
    run_batch: BatchRunner | None = None
    max_batch: int = 1
    group: str | None = None
    exclusive: bool = False
    interleave: bool = False
    urgent: bool = False  # someone listens for it (a stream's first audio): it goes before older jobs
    submitted: float = field(default_factory=time.perf_counter)


class JobLine:
    """The jobs waiting for the worker, and the callers whose jobs are about to join them."""

    def __init__(self) -> None:
        self.jobs: deque[Job] = deque()
        self.capture_turn = False  # an exclusive job queued now goes next: a batch ran since the last one
        self.arriving: Counter[str] = Counter()  # callers preparing a request, per group
        self.in_flight: Counter[str] = Counter()  # their jobs queued or running, per group

    def __len__(self) -> int:
        return len(self.jobs)

    def put(self, job: Job) -> None:
        self.jobs.append(job)
        if job.group is not None:
            self.in_flight[job.group] += 1

    def landed(self, jobs: list[Job]) -> None:
        """``jobs`` are out of the worker's hands: no longer in flight."""
        for job in jobs:
            if job.group is not None:
                self.in_flight[job.group] -= 1

    def take_all(self) -> list[Job]:
        """Every waiting job, out of the line (and landed): a broken device fails them all."""
        pending = list(self.jobs)
        self.jobs.clear()
        self.landed(pending)
        return pending

    def first_interleave(self) -> Job | None:
        """The waiting job that may run inside a long job's turn offer: the oldest urgent one, else the oldest."""
        urgent = next((job for job in self.jobs if job.interleave and job.urgent), None)
        return urgent or next((job for job in self.jobs if job.interleave), None)

    def remove(self, job: Job) -> None:
        self.jobs.remove(job)

    def exclusive_due(self) -> bool:
        """Whether ``take_next`` would take an exclusive job now but for the work held back."""
        if not self.jobs:
            return False
        if self.jobs[0].exclusive:
            return True
        return self.capture_turn and any(job.exclusive for job in self.jobs)

    def take_next(self, held_back: bool) -> list[Job]:
        """The next runnable job with the compatible jobs queued behind it: the oldest, or the
        oldest exclusive one when it is the captures' turn; none exclusive while ``held_back``."""
        runnable = [i for i, job in enumerate(self.jobs) if not (job.exclusive and held_back)]
        if not runnable:
            return []
        index = next((i for i in runnable if self.jobs[i].urgent), runnable[0])
        if self.capture_turn:
            index = next((i for i in runnable if self.jobs[i].exclusive), index)
        job = self.jobs[index]
        del self.jobs[index]
        self.capture_turn = not job.exclusive
        taken = [job]
        self.fill(taken)
        return taken

    def fill(self, taken: list[Job]) -> None:
        """Add the queued jobs compatible with ``taken[0]``, up to its ``max_batch``."""
        first = taken[0]
        if first.batch_key is None:
            return
        for other in list(self.jobs):
            if len(taken) >= first.max_batch:
                break
            if other.batch_key == first.batch_key:
                self.jobs.remove(other)
                taken.append(other)

    def more_arriving(self, group: str) -> bool:
        """Whether a caller of ``group`` is still preparing a request whose job is not queued yet."""
        return self.arriving[group] > self.in_flight[group]
