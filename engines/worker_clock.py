"""The device worker's busy time, by kind of job (``DeviceWorker.status()["busy_s"]``).

Each job counts its own seconds on the worker thread, less those of the jobs that ran inside
its turn offers (an XTTS decode slice inside an F5 batch counts for XTTS). So under a load the
figures say what each engine's traffic cost the device, whatever order it was served in. Used
from the worker thread alone, and read under the worker's lock.
"""

from __future__ import annotations

import time


class BusyClock:
    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}
        self._counted = 0.0  # every job's own time so far: what a job running around them must not count

    def start(self) -> tuple[float, float]:
        """A job starts: the mark its ``stop`` needs."""
        return time.perf_counter(), self._counted

    def stop(self, mark: tuple[float, float], label: str) -> None:
        """The job started at ``mark`` ended: its own seconds count for ``label``'s first word."""
        started, counted = mark
        own = time.perf_counter() - started - (self._counted - counted)
        self._counted += own
        kind = label.split(" ", 1)[0]
        self._seconds[kind] = self._seconds.get(kind, 0.0) + own

    def seconds(self) -> dict[str, float]:
        return {kind: round(s, 3) for kind, s in sorted(self._seconds.items())}
