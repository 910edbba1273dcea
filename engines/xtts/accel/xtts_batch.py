"""Continuous batching of XTTS decodes on the device worker.

Requests hand rows (one text chunk's decode each) to ``ContinuousBatch.submit`` from any
thread and get a future. On the worker, the batch runs in slices: a slice is one worker job
that, ``sync_every`` steps at a time, admits waiting rows into free slots (a prefill each),
steps every row in flight (``SlotDecoder``), and checks on the host which rows have ended
(stop token, or their token budget). An ended row leaves at once: its sink turns its latents
into its result (HiFi-GAN for a whole clip), its future is settled and its slot is free for
the next row. A sink may instead hand its work to another thread (the vocoder lane,
``engines/gpu/side_lane.py``) and return that work's future: the row still leaves at once,
and its future is settled when that work is done. A streamed row's sink is shown the latents
so far at each check and hands out audio as it is made.

After ``slice_steps`` steps the slice ends and queues the next one behind the jobs waiting on
the worker (F5 batches, reference conditioning, graph captures), so no request waits for more
than one slice of a long decode. When every slot is taken, new rows wait in the batch's own
line, first rows of requests ahead of later rows of others; none is refused for want of a slot.

A failure in one row (its prefill, its sink, its sink's work on the other thread) fails that
row's request alone. A failed step fails the rows in flight and is raised to the worker, which
checks that the device still works.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from concurrent.futures import CancelledError, Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from ...gpu.waits import spread
from .xtts_sampling import SamplingParams
from .xtts_slots import DEFAULT_BUCKETS, SlotDecoder

logger = logging.getLogger(__name__)

QUEUED_KEPT = 512  # rows whose wait for a slot ``status`` summarises


@dataclass(frozen=True)
class BatchOptions:
    slots: int = 4                                   # rows decoding at once (KV-cache slots)
    buckets: tuple[int, ...] = DEFAULT_BUCKETS      # batch sizes a step runs at (one graph each on CUDA)
    slice_steps: int = 128                           # decode steps per worker job


class RowSink(Protocol):
    def update(self, n: int, latents: torch.Tensor, done: bool) -> Any:
        """On the worker at each host check: the row's ``n`` tokens so far and their ``latents``
        [n, D] (the slot's memory: copy what you keep). With ``done`` the row has ended with
        ``n`` tokens; what this returns is the row's result, or a ``concurrent.futures.Future``
        of it (work left to another thread: the slot is freed at once all the same)."""


@dataclass(frozen=True)
class RowRequest:
    """One decode: a text chunk's ids, its voice, its settings, and what becomes of its latents."""

    text_ids: torch.Tensor          # [1, T] int, any device
    cond_latents: torch.Tensor      # [1, C, D]
    params: SamplingParams
    sink: RowSink
    seed: int | None = None
    max_new_tokens: int | None = None
    min_new_tokens: int = 0
    order: int = 0                  # the k-th row of its request: earlier rows of any request go first


@dataclass(frozen=True)
class RowResult:
    value: Any                      # what the sink returned at the end
    codes: list[int]                # the tokens, the stop token included when one came
    queued_s: float                 # from submit to the prefill
    decode_s: float                 # from the prefill to the end of its decode
    peak_rows: int                  # the most rows in flight at one of its steps
    steps: tuple[int, int]          # the batch's step count when it joined and when it left
    sink_s: float = 0.0             # from the end of its decode to its result: the sink's work (HiFi-GAN),
                                    # on a vocoder lane its wait in that lane's line too


@dataclass(eq=False)
class _Row:
    request: RowRequest
    future: Future
    submitted: float
    slot: int = -1
    prefix: int = 0
    max_new: int = 0
    checked: int = 0                # tokens the host has looked at
    produced: int = 1               # tokens made so far (the prefill makes the first)
    admitted: float = 0.0
    peak_rows: int = 1
    joined_step: int = 0
    key: tuple[int, int] = field(default=(0, 0))


class ContinuousBatch:
    """The XTTS decodes in flight on one device, and the line of those waiting for a slot."""

    def __init__(self, accelerator, options: BatchOptions):
        self.acc = accelerator
        self.options = options
        self.decoder = SlotDecoder(accelerator, options.slots, options.buckets)
        self.sync_every = accelerator.options.sync_every
        self._lock = threading.Condition()
        self._waiting: list[_Row] = []
        self._rows: list[_Row] = []          # in flight (worker thread only)
        self._scheduled = False              # a slice is queued or running
        self._closed: BaseException | None = None
        self._draining = False               # an unload waits for the rows queued before it
        self._finishing = 0                  # rows that have left, their sink's work still running elsewhere
        self._worker = None
        self._seq = itertools.count()
        self.stats = {"slices": 0, "steps": 0, "rows": 0, "peak_rows": 0}
        self._queued_s: deque[float] = deque(maxlen=QUEUED_KEPT)  # recent rows' wait from submit to prefill

    # ---- any thread ------------------------------------------------------------------------------
    def submit(self, request: RowRequest, worker, follow_up: bool = False, hurry: bool = False) -> Future:
        """Queue ``request``; its future's result is a ``RowResult``. ``future.cancel()`` takes the
        row out at the next check (its slot freed). ``hurry``: someone listens for this row's first
        audio (a stream's first chunk), so a long job on the worker gives way sooner
        (``DeviceWorker.hurry``). See ``submit_all``."""
        futures = self.submit_all([request], worker, follow_up, urgent=hurry)
        if hurry:
            worker.hurry()
        return futures[0]

    def submit_all(self, requests: list[RowRequest], worker, follow_up: bool = False,
                   urgent: bool = False) -> list[Future]:
        """Queue ``requests`` together. Once closed, raises the close reason. While an unload waits
        for the rows before it (``drain``), new requests wait for the unload (and then get the close
        reason); ``follow_up`` rows (a stream's next chunk, queued as its last one ends) go in.
        ``urgent``: a slice queued for these rows goes before the worker's older jobs."""
        now = time.perf_counter()
        rows = [_Row(r, Future(), now, key=(r.order, next(self._seq))) for r in requests]
        with self._lock:
            while self._draining and self._closed is None and not follow_up:
                self._lock.wait()
            if self._closed is not None:
                raise type(self._closed)(*self._closed.args)
            self._waiting.extend(rows)
            self._worker = worker
            start, self._scheduled = not self._scheduled, True
        if start:
            self._schedule(urgent)
        return [row.future for row in rows]

    def drain(self) -> None:
        """On a caller's thread, before an unload: new requests wait; returns once every row in flight
        or waiting (a stream's next chunks too) has ended and every sink's work left to another
        thread (a vocoder lane) is done. ``end_drain`` lets requests in again."""
        with self._lock:
            self._draining = True
            while (self._scheduled or self._finishing) and self._closed is None:
                self._lock.wait()

    def end_drain(self) -> None:
        with self._lock:
            self._draining = False
            self._lock.notify_all()

    def status(self) -> dict[str, Any]:
        with self._lock:
            waiting, draining, finishing = len(self._waiting), self._draining, self._finishing
            queued_s = list(self._queued_s)
        return {"slots": self.decoder.slots, "in_flight": self.decoder.active, "waiting": waiting,
                "draining": draining, "finishing": finishing,
                "buckets": list(self.decoder.buckets), "graphs": list(self.decoder.graphs),
                "attention": self.decoder.attention.kernel,
                "slice_steps": self.options.slice_steps, **self.stats, "queued_s": spread(queued_s, counted="rows")}

    def close(self, reason: BaseException) -> None:
        """On the worker: every row in flight or waiting fails with ``reason``, and so does every
        later ``submit`` (an unload: the engine's memory goes). Rows that have left and whose sink's
        work runs elsewhere are that work's to settle (an unload closes the lane after this)."""
        with self._lock:
            self._closed = reason
            waiting, self._waiting = self._waiting, []
            self._lock.notify_all()
        rows, self._rows = self._rows, []
        self.decoder.clear()
        for row in rows + waiting:
            _settle(row.future, error=type(reason)(*reason.args))

    # ---- the worker ------------------------------------------------------------------------------
    def _schedule(self, urgent: bool = False) -> None:
        # ``interleave``: a slice may also run between two steps of a long F5 batch (worker.yield_point)
        self._worker.submit(self._slice, label="xtts decode slice", interleave=True, urgent=urgent).add_done_callback(
            self._slice_ended)

    @torch.inference_mode()
    def _slice(self) -> None:
        """One worker job: admit, step and check until ``slice_steps`` steps have run or no row is left."""
        self.stats["slices"] += 1
        budget = self.options.slice_steps
        while budget > 0:
            self._admit()
            if not self._rows:
                break
            burst = self.sync_every
            try:
                self.decoder.step(burst)
            except BaseException as exc:  # no row can be told apart: all in flight fail, the worker probes
                self._fail_in_flight(exc)
                raise
            self.stats["steps"] += burst
            budget -= burst
            self._check(burst)
        with self._lock:
            if not self._rows and not self._waiting:
                self._scheduled = False
                self._lock.notify_all()
                return
        self._schedule()  # the next slice queues behind the jobs that came meanwhile

    def _slice_ended(self, future: Future) -> None:
        """A slice that failed (its rows already failed) or never ran (a broken device): waiting
        rows get another slice, unless the worker refuses work for good."""
        error = future.exception()
        if error is None:
            return
        self._fail_in_flight(error)
        with self._lock:
            retry = bool(self._waiting) and self._worker.poisoned is None
            if not retry:
                waiting, self._waiting = self._waiting, []
                self._scheduled = False
                self._lock.notify_all()
        if retry:
            self._schedule()
            return
        for row in waiting:
            _settle(row.future, error=error)

    def _fail_in_flight(self, error: BaseException) -> None:
        rows, self._rows = self._rows, []
        self.decoder.clear()
        for row in rows:
            _settle(row.future, error=error)

    def _admit(self) -> None:
        """Prefill waiting rows into free slots: first rows of requests before later rows, then oldest."""
        while self.decoder.active < self.decoder.slots:
            with self._lock:
                if not self._waiting:
                    return
                row = min(self._waiting, key=lambda r: r.key)
                self._waiting.remove(row)
            if row.future.cancelled():
                continue
            request = row.request
            try:
                row.slot = self.decoder.admit(request.text_ids, request.cond_latents, request.params,
                                              request.min_new_tokens, request.seed)
            except Exception as exc:  # this row's own failure (its prompt, its conditioning): it alone fails
                _settle(row.future, error=exc)
                continue
            row.prefix = int(request.cond_latents.shape[1] + request.text_ids.shape[-1] + 2)
            row.max_new = min(request.max_new_tokens or self.acc.max_gen, self.acc.max_gen)
            row.admitted = time.perf_counter()
            with self._lock:  # status() reads these from other threads
                self._queued_s.append(row.admitted - row.submitted)
            row.joined_step = self.stats["steps"]
            self._rows.append(row)
            self.stats["rows"] += 1

    def _check(self, burst: int) -> None:
        """The one host sync per burst: each row's new tokens; ended rows leave, streams are fed."""
        rows = self._rows
        active = len(rows)
        self.stats["peak_rows"] = max(self.stats["peak_rows"], active)
        window = burst + 1
        last = self.decoder.rows.steps - 1
        index = torch.tensor([[min(r.checked + j, last) for j in range(window)] for r in rows])
        slots = torch.tensor([r.slot for r in rows])
        tokens = self.decoder.rows.tokens.index_select(0, slots.to(self.decoder.device))
        seen = tokens.gather(1, index.to(self.decoder.device)).tolist()
        stop = self.acc.stop_token
        ended: list[tuple[_Row, int | None]] = []
        for row, new in zip(rows, seen):
            row.produced += burst
            row.peak_rows = max(row.peak_rows, active)
            looked = new[: max(0, min(row.produced, row.max_new) - row.checked)]
            n = row.checked + looked.index(stop) + 1 if stop in looked else None
            if n is None and row.produced >= row.max_new:
                n = row.max_new
            row.checked = row.produced
            if row.future.cancelled():
                ended.append((row, None))
            elif n is not None:
                ended.append((row, n))
            elif not self._feed(row, row.produced):
                ended.append((row, None))
        for row, n in ended:
            if n is not None:
                self._finish(row, n)
        self._leave([row for row, _ in ended])

    def _feed(self, row: _Row, n: int) -> bool:
        """Show a row still decoding its latents so far; False when its sink failed (its future says why)."""
        try:
            row.request.sink.update(n, self.decoder.rows.latents[row.slot, :n], False)
        except Exception as exc:  # this row's own failure (its vocoder call): it alone fails
            _settle(row.future, error=exc)
            return False
        return True

    def _finish(self, row: _Row, n: int) -> None:
        """The row ended with ``n`` tokens: its sink makes its result, or hands its work elsewhere and
        returns its future (either way before its slot is reused)."""
        codes = self.decoder.rows.tokens[row.slot, :n].tolist()
        decoded, steps = time.perf_counter(), (row.joined_step, self.stats["steps"])
        try:
            value = row.request.sink.update(n, self.decoder.rows.latents[row.slot, :n], True)
        except Exception as exc:  # this row's own failure (its vocoder call): it alone fails
            _settle(row.future, error=exc)
            return

        def result(value: Any) -> RowResult:
            return RowResult(value=value, codes=codes, queued_s=row.admitted - row.submitted,
                             decode_s=decoded - row.admitted, peak_rows=row.peak_rows,
                             steps=steps, sink_s=time.perf_counter() - decoded)

        if isinstance(value, Future):
            self._settle_when_done(row, value, result)
        else:
            _settle(row.future, result(value))

    def _settle_when_done(self, row: _Row, work: Future, result) -> None:
        """Settle ``row`` when its sink's ``work`` (on another thread) is done: its result, or its
        failure for this row alone. A row cancelled meanwhile cancels the work if it has not started."""
        with self._lock:
            self._finishing += 1

        def done(work: Future) -> None:
            try:
                if work.cancelled():
                    _settle(row.future, error=CancelledError("the row's sink work was cancelled"))
                elif work.exception() is not None:
                    _settle(row.future, error=work.exception())
                else:
                    _settle(row.future, result(work.result()))
            finally:
                with self._lock:
                    self._finishing -= 1
                    self._lock.notify_all()  # a drain may be waiting for it

        row.future.add_done_callback(lambda settled: work.cancel() if settled.cancelled() else None)
        work.add_done_callback(done)

    def _leave(self, ended: list[_Row]) -> None:
        """Free the ended rows' slots, highest first, each refilled by the last row in flight."""
        for row in sorted(ended, key=lambda r: -r.slot):
            self._rows.remove(row)
            mover = next((r for r in self._rows if r.slot == self.decoder.active - 1), None)
            moved_from = self.decoder.release(row.slot, mover.prefix + mover.produced + 1 if mover else 0)
            if moved_from is not None and mover is not None:
                mover.slot = row.slot


def _settle(future: Future, result: Any = None, error: BaseException | None = None) -> None:
    """Hand a row's outcome to its future, unless its caller cancelled it meanwhile."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:  # cancelled by its caller between the check and now: nobody waits for it
        logger.debug("row outcome dropped: the request was cancelled", extra={"cancelled": future.cancelled()})


__all__ = ["BatchOptions", "CancelledError", "ContinuousBatch", "RowRequest", "RowResult", "RowSink"]
