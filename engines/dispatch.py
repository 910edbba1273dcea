"""Handing engine jobs to the device worker, and getting their results back.

A job runs on the worker thread; its progress callback runs there too, so it is wrapped to
run in the caller's context (Gradio finds a request's progress bar through context
variables). Jobs of one engine with the same ``batch_key`` are offered to the worker as one
batch. An engine that schedules its own work (XTTS's continuous decode batch) is handed the
worker and the job on the caller's thread instead. If an Unload ran after a job was queued,
the job hands back ``EngineUnloaded`` at once and its caller loads the engine again on its
own thread (reading weights is CPU work that would stall every other job on the worker) and
queues it anew.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .base import Engine
from .errors import EngineUnavailableError, EngineUnloaded
from .streaming import open_stream
from .types import EngineJob, EngineOutput, ProgressCallback
from .worker import DeviceWorker

logger = logging.getLogger("voice_studio.engines")

RELOAD_TRIES = 3


def in_callers_context(progress: ProgressCallback | None) -> ProgressCallback | None:
    """``progress`` made callable from the worker's thread, running in the caller's context."""
    if progress is None:
        return None
    context = contextvars.copy_context()
    lock = threading.Lock()

    def report(fraction: float, message: str) -> None:
        with lock:  # a context can be entered by one thread at a time
            context.run(progress, fraction, message)

    return report


class Dispatcher:
    """Runs jobs on ``worker()``; ``reload(name)`` loads an engine again (None, or why it cannot)."""

    def __init__(self, worker: Callable[[], DeviceWorker], reload: Callable[[str], str | None]):
        self._worker = worker
        self._reload = reload

    def render(self, engine: Engine, job: EngineJob) -> EngineOutput:
        if engine.schedules_itself():  # its work goes to the worker in pieces (XTTS's continuous batch)
            return self._reloading(engine, lambda: engine.render_scheduled(job, self._worker()))
        ready = _ready(engine)
        key = engine.batch_key(job)
        if key is None:
            def run_alone() -> EngineOutput:
                ready()
                return engine.synthesize(job)

            return self._reloading(engine, lambda: self._worker().submit(run_alone,
                                                                        label=f"{engine.name} synthesis").result())

        def run_batch(jobs):
            ready()
            if len(jobs) == 1:
                try:
                    return [engine.synthesize(jobs[0])]
                except Exception as exc:  # that job's failure, handed to its caller
                    return [exc]
            return engine.synthesize_batch(jobs)

        return self._reloading(engine, lambda: self._worker().submit_batchable(
            job, (id(engine), key), run_batch, engine.max_batch, label=f"{engine.name} synthesis",
            group=engine.name).result())

    def stream(self, engine: Engine, job: EngineJob) -> Iterator[np.ndarray]:
        """The engine's chunks as they are made (returns once the first one exists)."""
        if engine.schedules_itself():
            return self._reloading(engine, lambda: engine.stream_scheduled(job, self._worker()))
        return self._reloading(engine, lambda: open_stream(self._worker(), engine, job, _ready(engine)))

    def _reloading(self, engine: Engine, submit: Callable[[], Any]) -> Any:
        for _ in range(RELOAD_TRIES):
            try:
                return submit()
            except EngineUnloaded:
                logger.info("engine loaded again for a queued request", extra={"engine": engine.name})
                reason = self._reload(engine.name)
                if reason is not None:
                    raise EngineUnavailableError(reason) from None
        raise EngineUnavailableError(f"{engine.display_name} was unloaded again each time this request reached it")


def _ready(engine: Engine) -> Callable[[], None]:
    """On the worker, before a job runs: refuse at once if the engine was unloaded meanwhile."""

    def ready() -> None:
        if not engine.is_loaded:
            raise EngineUnloaded(engine.name)

    return ready
