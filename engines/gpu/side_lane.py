"""A second thread beside the device worker for device work that need not hold the worker.

The device worker (``engines/worker.py``) runs every job on the device one at a time. Some
work is independent of what the worker does next and would only make it wait: HiFi-GAN for
an XTTS row that has ended, while the other rows' decode steps (short and memory-bound) could
run meanwhile. A ``SideLane`` runs such work on its own thread, in the order it was handed
over (FIFO), and on CUDA on its own stream, so the device overlaps it with the worker's.
Work that must not wait behind other work gets a lane of its own (XTTS: whole clips in one,
streams' pieces in another).

- Each callable runs inside ``worker.side_work()``: it never starts while an exclusive job (a
  CUDA graph capture) runs or is due next, and none starts until it has ended.
- Tensors the callable reads that the calling thread has just made on its current CUDA stream
  are ``handed`` over: the lane's stream waits for an event recorded after them, and the
  caching allocator is told the lane's stream uses them (``record_stream``), so their memory
  is not given to the worker again before the lane is done with them.
- Results and failures come back as ``concurrent.futures.Future``; a failure is logged and
  goes to that callable's future alone, the lane goes on.
- ``close`` lets the queued work finish and refuses later work with the close reason.

On the CPU the same code runs without streams or events.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from .waits import spread

if TYPE_CHECKING:
    from ..worker import DeviceWorker

logger = logging.getLogger("voice_studio.side_lane")

WAITS_KEPT = 512   # recent waits (handed over to started) that ``status`` summarises


class SideLaneClosed(RuntimeError):
    """Work handed to a lane after ``close`` (the close reason, when one was given, is raised instead)."""


@dataclass
class _Work:
    fn: Callable[[], Any] | None
    label: str
    future: Future = field(default_factory=Future)
    ready: Any = None                      # torch.cuda.Event after the handed tensors, or None
    handed: Sequence[torch.Tensor] = ()
    queued_at: float = field(default_factory=time.perf_counter)


class SideLane:
    """One thread that runs callables in order beside ``worker``, on ``device`` (its own CUDA stream)."""

    def __init__(self, device: torch.device | str, worker: "DeviceWorker | None" = None, label: str = "side lane"):
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self.worker = worker
        self.label = label
        self._work: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._waits: deque[float] = deque(maxlen=WAITS_KEPT)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed: BaseException | None = None
        self._queued = 0                   # handed over and not yet finished
        self.runs = 0
        self.failures = 0

    # --- any thread -------------------------------------------------------------------------
    def submit(self, fn: Callable[[], Any], label: str = "work", handed: Sequence[torch.Tensor] = ()) -> Future:
        """Queue ``fn()``; its result or exception goes to the returned future. ``handed``: tensors
        ``fn`` reads that were made on the calling thread's current CUDA stream (see the module
        docstring). Raises the close reason once the lane is closed."""
        work = _Work(fn, label, handed=tuple(handed))
        if self.cuda and work.handed:
            work.ready = torch.cuda.Event()
            work.ready.record()  # on the caller's current stream, after the work that made the tensors
        with self._lock:
            if self._closed is not None:
                raise _fresh(self._closed)
            self._queued += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"side-lane-{self.label}", daemon=True)
                self._thread.start()
            self._work.put(work)
        return work.future

    def close(self, reason: BaseException | None = None, timeout: float | None = None) -> bool:
        """Refuse later work (with ``reason``), let the queued work finish, and end the thread.
        Returns whether it ended within ``timeout`` seconds (None: wait for it). On the worker's
        own thread the wait tells the worker, so the queued work does not wait for an exclusive
        job that cannot start before this one ends."""
        with self._lock:
            if self._closed is None:
                self._closed = reason if reason is not None else SideLaneClosed(f"the {self.label} is closed")
                if self._thread is not None:
                    self._work.put(None)
            thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        on_worker = self.worker is not None and self.worker.on_worker_thread()
        with self.worker.awaiting_side_work() if on_worker else nullcontext():
            thread.join(timeout)
        if thread.is_alive():
            logger.warning("side lane still busy after close; its queued work finishes in the background",
                           extra={"lane": self.label, "queued": self.queued, "timeout_s": timeout})
            return False
        return True

    @property
    def queued(self) -> int:
        """Callables handed over that have not finished (the running one included)."""
        with self._lock:
            return self._queued

    def status(self) -> dict[str, Any]:
        """Counts, and the recent waits from hand-over to start (p50, p95, max, seconds)."""
        with self._lock:
            waits = list(self._waits)
            state = {"queued": self._queued, "runs": self.runs, "failures": self.failures,
                     "closed": self._closed is not None}
        return {**state, "waited_s": spread(waits)}

    # --- the lane's thread -------------------------------------------------------------------
    def _run(self) -> None:
        try:
            stream = self._enter_device()
        except Exception as exc:  # no device for this thread: every callable hears why, nothing hangs
            logger.error("side lane could not start on its device",
                         extra={"lane": self.label, "device": str(self.device), "error": repr(exc)})
            self._fail_all(exc)
            return
        while True:
            work = self._work.get()
            if work is None:
                return
            with self._lock:
                self._waits.append(time.perf_counter() - work.queued_at)
            self._execute(work, stream)

    def _enter_device(self):
        """The worker's card becomes this thread's current device; returns the lane's own stream (None off CUDA)."""
        if not self.cuda:
            return None
        index = self.device.index if self.device.index is not None else (
            self.worker.index if self.worker is not None else None)
        if index is not None:
            torch.cuda.set_device(index)
        return torch.cuda.Stream()

    def _execute(self, work: _Work, stream) -> None:
        try:
            if not work.future.set_running_or_notify_cancel():  # its owner cancelled it before it started
                with self._guard():
                    _let_go(work)
                return
            try:
                with self._guard(), self._on(stream):
                    if stream is not None and work.ready is not None:
                        stream.wait_event(work.ready)
                        for tensor in work.handed:
                            tensor.record_stream(stream)
                    try:
                        result = work.fn()
                    finally:
                        _let_go(work)
            except BaseException as exc:  # handed to its owner through its future; the lane goes on
                with self._lock:
                    self.failures += 1
                logger.warning("side lane work failed", extra={"lane": self.label, "work": work.label,
                                                               "error": f"{type(exc).__name__}: {exc}"[:300]})
                work.future.set_exception(exc)
            else:
                work.future.set_result(result)
        finally:
            with self._lock:
                self._queued -= 1
                self.runs += 1

    def _guard(self):
        return self.worker.side_work() if self.worker is not None else nullcontext()

    @staticmethod
    def _on(stream):
        return torch.cuda.stream(stream) if stream is not None else nullcontext()

    def _fail_all(self, error: BaseException) -> None:
        """The thread cannot run device work: what is queued fails with ``error``, and so does every
        later ``submit`` (both under the lock, so nothing is queued after the last look)."""
        with self._lock:
            if self._closed is None:
                self._closed = error
            failed = []
            while not self._work.empty():
                work = self._work.get_nowait()
                if work is not None:
                    failed.append(work)
            self._queued -= len(failed)
        for work in failed:
            if work.future.set_running_or_notify_cancel():
                work.future.set_exception(error)


def _let_go(work: _Work) -> None:
    """Drop the work's tensors and event while side work holds the captures back: freeing a tensor
    the lane's stream used records an event, and no capture may be recording meanwhile."""
    work.fn, work.handed, work.ready = None, (), None


def _fresh(reason: BaseException) -> BaseException:
    """A new exception like ``reason`` for another caller (one instance raised in two threads would
    share its traceback); a type that cannot be rebuilt from its args says the same as ``SideLaneClosed``."""
    try:
        return type(reason)(*reason.args)
    except Exception:  # an exception class with its own constructor: keep its words, not its type
        return SideLaneClosed(f"{type(reason).__name__}: {reason}")
