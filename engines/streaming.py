"""Running an engine's chunk generator on the device worker and handing the chunks over.

The generator runs inside one worker job (the engine's state, the KV cache for XTTS, is
shared, so one stream at a time per device); chunks cross to the consumer's thread
through a queue. ``open_stream`` returns once the first chunk exists, so a failure before
any audio is raised to the caller (and the manager can fall back); later failures end the
iteration with the error. Closing the iterator early stops the job at the next chunk.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

import numpy as np

from .base import Engine
from .types import EngineJob
from .worker import DeviceWorker

_DONE = object()


def open_stream(worker: DeviceWorker, engine: Engine, job: EngineJob, ready: Callable[[], None]) -> Iterator[np.ndarray]:
    chunks: queue.Queue = queue.Queue()
    cancelled = threading.Event()

    def produce() -> None:
        try:
            ready()
            for chunk in engine.stream(job):
                if cancelled.is_set():
                    break
                chunks.put(np.asarray(chunk, dtype=np.float32).reshape(-1))
        except Exception as exc:  # handed to the consumer: before the first chunk it triggers the fallback
            chunks.put(exc)
            raise
        finally:
            chunks.put(_DONE)

    worker.submit(produce, label=f"{engine.name} stream")
    first = chunks.get()
    if isinstance(first, Exception):
        raise first
    if first is _DONE:
        raise RuntimeError(f"{engine.display_name} produced no audio")

    def consume() -> Iterator[np.ndarray]:
        try:
            item = first
            while item is not _DONE:
                if isinstance(item, Exception):
                    raise item
                yield item
                item = chunks.get()
        finally:
            cancelled.set()

    return consume()
