"""One thread per device runs every job that touches it: loads, warm-up, captures, synthesis.

CUDA graph captures fail, and can poison the CUDA context for good, when another thread
launches work on the device while a capture is recording; the default generator's offset
breaks the same way. So requests are jobs on the worker's queue, the manager's threads only
wait for them, and the only device work launched from other threads is the worker's own
business: a background compile (``background``) and side work (``side_work``: the XTTS
vocoder lane, ``engines/gpu/side_lane.py``), both of which exclusive jobs wait for. Then
(the line's order is ``engines/worker_queue.py``'s; the thread and the turns are here):

- jobs run one at a time, oldest first;
- jobs that say they can share a forward (the same ``batch_key``) are taken together: the
  oldest job's batch is filled with the compatible jobs waiting behind it, up to its
  ``max_batch``. Requests that are still being prepared on their callers' threads
  (``arriving``: decoding a reference, say) are waited for, briefly (``gather_s``), so
  users who press the button at the same moment share one forward; a lone request never
  waits;
- a job marked ``exclusive`` (a graph capture) runs only while no background compile is
  running (``background``) and no side work is, since both launch kernels from their own
  threads; until then the jobs behind it go first. Side work waits in turn while an
  exclusive job runs, and while one is due next and only side work holds it back, so a
  steady flow of side work cannot starve the captures;
- exclusive jobs and the others take turns: a queued capture goes next once one other
  batch has run since the last capture, ahead of the requests still waiting. Under
  steady traffic a warm-up then finishes in as many turns as it has captures, instead
  of waiting behind the whole queue for each of them, and a request still waits for
  one capture at most between two of the batches ahead of it;
- a long job may offer the worker a turn between two pieces of its work (``yield_point``: F5
  between two ODE steps). Then a waiting job marked ``interleave`` (a slice of XTTS's decode
  batch, or an XTTS voice's conditioning, both short) runs there, inline, once the long job has
  had ``turn_s`` of device time since it started or last gave way: a stream's first audio or a
  short XTTS request waits for one turn of a long F5 batch, not for all of it. ``hurry`` (a stream's first chunk waits to
  join the XTTS batch) shortens the running job's turn to ``hurried_turn_s``, and the job it
  waits for is ``urgent``: it goes before the older ones;
- every failure is handed to its own caller; after one on a CUDA device the worker
  probes the device, and if the context is broken it says so for good (``poisoned``),
  failing every job at once instead of hanging or failing silently.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

from .device_checks import cuda_probe, cuda_sync, first_line, is_out_of_memory
from .errors import EngineUnavailableError, VoiceStudioError
from .worker_clock import BusyClock
from .worker_queue import BatchRunner, Job, JobLine

logger = logging.getLogger("voice_studio.worker")

# How long a job that offers turns (``yield_point``) runs before a waiting interleaving job goes:
# about one slice of XTTS decode steps, so the two take the device in similar turns.
TURN_S = 0.25
HURRIED_TURN_S = 0.05  # the turn when a listener waits for a stream's first audio (``hurry``)
_current = threading.local()  # the worker whose thread this is


class DevicePoisonedError(EngineUnavailableError):
    """The device's context is broken; only a new process can use it again."""


class DeviceWorker:
    """The one thread that runs jobs on ``device`` (``cuda`` or ``cpu``)."""

    def __init__(self, device: str = "cpu", probe: Callable[[], None] | None = None, gather_s: float = 0.05,
                 turn_s: float = TURN_S, index: int | None = None, label: str | None = None,
                 hurried_turn_s: float = HURRIED_TURN_S):
        self.device = device
        # One card of several (``cuda`` + ``index``): the worker's threads make it their current
        # device, so the engines' plain "cuda" means this card (engines/devices).
        self.index = index
        self.label = label or (f"{device}:{index}" if index is not None else device)
        self.gather_s = gather_s
        self.turn_s, self.hurried_turn_s = turn_s, hurried_turn_s
        self._turn_started = time.perf_counter()
        self._hurries = 0  # interleave jobs someone listens for (one turn each is short)
        self._probe = probe if probe is not None else (cuda_probe if device == "cuda" else None)
        self._line = JobLine()  # the jobs waiting, in the order they leave (engines/worker_queue.py)
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._background = 0
        self._side_work = 0  # side work running beside the worker (``side_work``)
        self._side_waiting = 0  # side work waiting for an exclusive job
        self._awaiting_side = 0  # the running job waits for side work to end (``awaiting_side_work``)
        self._exclusive_running = False
        self.poisoned: str | None = None
        self.jobs_run = 0
        self.batches_run = 0
        self._busy = BusyClock()  # each kind of job's own time on the thread (``status()["busy_s"]``)

    # --- submitting ---------------------------------------------------------------------
    def submit(self, fn: Callable[[], Any], label: str = "job", exclusive: bool = False,
               interleave: bool = False, urgent: bool = False) -> Future:
        """Run ``fn()`` on the worker thread; its result or exception goes to the future. An
        ``interleave`` job may also run inside a long job's ``yield_point`` (keep it short); an
        ``urgent`` one goes before the jobs queued before it."""
        return self._put(Job(next(self._seq), label, Future(), fn=fn, exclusive=exclusive, interleave=interleave,
                             urgent=urgent))

    def submit_batchable(self, item: Any, batch_key: Hashable, run_batch: BatchRunner, max_batch: int,
                         label: str = "batch", group: str | None = None) -> Future:
        """Queue ``item``; the worker calls ``run_batch(items)`` with it and compatible items.

        ``run_batch`` returns one result per item, in order; a result that is an exception
        is raised to that item's caller alone. ``group`` names the ``arriving`` callers
        this job may wait for (an engine's name).
        """
        job = Job(next(self._seq), label, Future(), item=item, batch_key=batch_key, run_batch=run_batch,
                   max_batch=max(1, int(max_batch)), group=group)
        return self._put(job)

    @contextmanager
    def arriving(self, group: str) -> Iterator[None]:
        """Around a caller's whole request of ``group``: while it is being prepared, a batch of
        that group about to start may wait up to ``gather_s`` for its job."""
        with self._cond:
            self._line.arriving[group] += 1
        try:
            yield
        finally:
            with self._cond:
                self._line.arriving[group] -= 1
                self._cond.notify_all()

    def hurry(self) -> None:
        """A stream's first audio waits on a queued ``interleave`` job: the running job gives way at
        its next ``yield_point`` after ``hurried_turn_s``, not ``turn_s``, once per hurry."""
        with self._cond:
            self._hurries += 1

    def call(self, fn: Callable[[], Any], label: str = "job", exclusive: bool = False,
             interleave: bool = False, hurry: bool = False) -> Any:
        """``submit`` and wait (``hurry``: someone listens for what comes after it, so the job is
        urgent and the running one gives way sooner). On the worker thread itself, runs ``fn`` at
        once (no self-deadlock)."""
        if self.on_worker_thread():
            return fn()
        future = self.submit(fn, label, exclusive, interleave, urgent=hurry)
        if hurry:
            self.hurry()
        return future.result()

    def on_worker_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def _put(self, job: Job) -> Future:
        with self._cond:
            if self.poisoned is not None:
                job.future.set_exception(DevicePoisonedError(self.poisoned))
                return job.future
            self._line.put(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"device-worker-{self.label}", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return job.future

    # --- background work that launches kernels from another thread ----------------------
    def background(self, fn: Callable[[], Any], label: str) -> threading.Thread:
        """Run ``fn`` in its own thread; exclusive jobs wait until it has finished."""
        with self._cond:
            self._background += 1

        def run() -> None:
            try:
                self._enter_device()
                fn()
            except Exception:  # the background work's owner decides what a failure means; log it here
                logger.exception("background work failed", extra={"work": label})
            finally:
                with self._cond:
                    self._background -= 1
                    self._cond.notify_all()

        thread = threading.Thread(target=run, name=f"background-{label}", daemon=True)
        thread.start()
        return thread

    @property
    def background_running(self) -> int:
        with self._cond:
            return self._background

    # --- side work: device work launched from a thread beside the worker ---------------------
    @contextmanager
    def side_work(self) -> Iterator[None]:
        """Around one piece of device work on another thread (a ``SideLane`` callable): waits while
        an exclusive job runs or is due next; no exclusive job starts until it exits."""
        with self._cond:
            self._side_waiting += 1
            while self._exclusive_running or (self._exclusive_due() and not self._awaiting_side):
                self._cond.wait()
            self._side_waiting -= 1
            self._side_work += 1
        try:
            yield
        finally:
            with self._cond:
                self._side_work -= 1
                self._cond.notify_all()  # an exclusive job waiting for it may start

    @contextmanager
    def awaiting_side_work(self) -> Iterator[None]:
        """Around a wait, in the job running on the worker, for side work to end (an unload closing
        a lane): no exclusive job can start before that job ends, so side work does not wait for one."""
        with self._cond:
            self._awaiting_side += 1
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._awaiting_side -= 1

    def _exclusive_due(self) -> bool:
        """Whether ``_next`` would take an exclusive job now but for the side work running (called
        locked): none while a background compile holds them all back."""
        return not self._background and self._line.exclusive_due()

    # --- state ------------------------------------------------------------------------------
    @property
    def queued(self) -> int:
        with self._cond:
            return len(self._line)

    def status(self) -> dict[str, Any]:
        with self._cond:
            return {"device": self.device, "label": self.label, "queued": len(self._line), "jobs_run": self.jobs_run,
                    "batches_run": self.batches_run, "background_work": self._background,
                    "side_work": self._side_work, "side_work_waiting": self._side_waiting,
                    "busy_s": self._busy.seconds(),
                    "poisoned": self.poisoned}

    def mark_poisoned(self, reason: str) -> None:
        with self._cond:
            if self.poisoned is None:
                self.poisoned = reason
                logger.critical("device context broken", extra={"device": self.device, "reason": reason})
            pending = self._line.take_all()
        for job in pending:
            job.future.set_exception(DevicePoisonedError(reason))

    def yield_point(self) -> None:
        """From the job running on this worker, between two pieces of its work that leave the
        device free for anything else: run the oldest waiting ``interleave`` job here, if the
        running job has had its turn (``turn_s`` of the device's time)."""
        if not self.on_worker_thread():
            return
        with self._cond:
            waiting = self._line.first_interleave()
        if waiting is None:
            return
        if self.device == "cuda":  # the device's time, not the host's: launches run ahead of it
            cuda_sync()
        with self._cond:
            hurried = self._hurries > 0
        if time.perf_counter() - self._turn_started < (self.hurried_turn_s if hurried else self.turn_s):
            return
        with self._cond:  # only this thread takes jobs off the queue: it is still there
            self._line.remove(waiting)
        if waiting.future.set_running_or_notify_cancel():
            self._execute([waiting])
        else:
            with self._cond:
                self._line.landed([waiting])
        self._turn_started = time.perf_counter()

    # --- the thread -------------------------------------------------------------------------
    def _next(self) -> list[Job]:
        """The next runnable jobs (``JobLine.take_next``; called locked), exclusive ones held back
        while a background compile or side work runs. Taking an exclusive job marks it running
        (``side_work`` waits) in the same locked step."""
        taken = self._line.take_next(held_back=bool(self._background or self._side_work))
        if taken:
            self._exclusive_running = taken[0].exclusive
        return taken

    def _gather(self, taken: list[Job]) -> None:
        """Wait up to ``gather_s`` for the jobs of callers still preparing theirs (called locked)."""
        first = taken[0]
        group = first.group
        if first.batch_key is None or group is None or self.gather_s <= 0:
            return
        deadline = time.perf_counter() + self.gather_s
        while len(taken) < first.max_batch and self._line.more_arriving(group):
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            self._cond.wait(left)
            self._line.fill(taken)

    def _enter_device(self) -> None:
        """On one of this worker's threads: make its card the thread's current CUDA device."""
        if self.device == "cuda" and self.index is not None:
            import torch

            torch.cuda.set_device(self.index)

    def _run(self) -> None:
        _current.worker = self
        try:
            self._enter_device()
        except Exception as exc:  # a card that cannot be selected: every job hears why, nothing hangs
            self.mark_poisoned(f"{self.label} could not be selected ({type(exc).__name__}: {first_line(exc)})")
        while True:
            with self._cond:
                taken = self._next()
                while not taken:
                    self._cond.wait()
                    taken = self._next()
                self._gather(taken)
            live = [job for job in taken if job.future.set_running_or_notify_cancel()]
            if len(live) < len(taken):
                with self._cond:
                    self._line.landed([job for job in taken if job not in live])
            if live:
                self._turn_started = time.perf_counter()
                self._execute(live)  # (hands every failure to its callers: it does not raise)
            if self._exclusive_running:
                with self._cond:
                    self._exclusive_running = False
                    self._cond.notify_all()  # side work waiting for it may start

    def _execute(self, jobs: list[Job]) -> None:
        first = jobs[0]
        start, mark = time.perf_counter(), self._busy.start()
        if first.interleave:  # what a hurry waited for runs now
            with self._cond:
                self._hurries = max(0, self._hurries - 1)
        try:
            if first.run_batch is not None:
                results = list(first.run_batch([job.item for job in jobs]))
                if len(results) != len(jobs):
                    raise RuntimeError(f"batch runner returned {len(results)} results for {len(jobs)} jobs")
            else:
                results = [first.fn()]
        except BaseException as exc:  # handed to every caller of this batch; the thread goes on
            results = [exc] * len(jobs)
        failure = next((r for r in results if isinstance(r, BaseException)), None)
        with self._cond:
            self._busy.stop(mark, first.label)
            self.jobs_run += len(jobs)
            self.batches_run += 1 if len(jobs) > 1 else 0
            self._line.landed(jobs)
        logger.debug("jobs done", extra={"label": first.label, "jobs": len(jobs),
                                         "wait_s": round(start - first.submitted, 4),
                                         "run_s": round(time.perf_counter() - start, 4)})
        if failure is not None:
            self._check_device(failure)
        for job, result in zip(jobs, results):
            if isinstance(result, BaseException):
                job.future.set_exception(result)
            else:
                job.future.set_result(result)

    def _check_device(self, failure: BaseException) -> None:
        """After a failure, make sure the device still works; a broken context is said once, for good."""
        if self._probe is None or is_out_of_memory(failure) or isinstance(failure, VoiceStudioError):
            return  # out of memory, or a refusal of the job itself: the device is fine
        try:
            self._probe()
        except Exception as exc:  # the probe's own failure is the proof that the context is gone
            self.mark_poisoned(
                f"the {self.device} device stopped working after '{first_line(failure)}' "
                f"({type(exc).__name__}: {first_line(exc)}); restart the process")


def current_worker() -> "DeviceWorker | None":
    """The worker whose thread is calling (a job, a load's activation), else None."""
    return getattr(_current, "worker", None)


def yield_point() -> None:
    """``DeviceWorker.yield_point`` of the worker running the calling thread's job (else nothing)."""
    worker = getattr(_current, "worker", None)
    if worker is not None:
        worker.yield_point()


_SHARED: dict[str, DeviceWorker] = {}
_SHARED_LOCK = threading.Lock()


def shared_worker(device: str, index: int | None = None, label: str | None = None) -> DeviceWorker:
    """The process's one worker for ``device`` (one card of several: ``index``, named ``label``):
    every manager on that device uses the same thread."""
    key = label or (f"{device}:{index}" if index is not None else device)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = DeviceWorker(device, index=index, label=key)
        return _SHARED[key]
