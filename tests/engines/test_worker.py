"""The device worker's contracts, with plain Python jobs (no model): one thread, oldest first,
compatible jobs batched, captures held back while a compile runs, failures to their callers,
and a broken device said once and for good."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from engines.worker import DevicePoisonedError, DeviceWorker
from tests.waiting import until


def _blocked(worker: DeviceWorker) -> threading.Event:
    """Occupy the worker until the returned event is set, so the next jobs queue up."""
    release, started = threading.Event(), threading.Event()
    worker.submit(lambda: (started.set(), release.wait(10)), label="blocker")
    assert started.wait(10)
    return release


def test_jobs_run_on_one_thread_oldest_first():
    worker = DeviceWorker("cpu")
    release = _blocked(worker)
    order, threads = [], set()

    def job(tag):
        def run():
            order.append(tag)
            threads.add(threading.get_ident())
            return tag
        return run

    futures = [worker.submit(job(i), label=f"job {i}") for i in range(6)]
    assert worker.queued == 6
    release.set()
    assert [f.result(10) for f in futures] == list(range(6))
    assert order == list(range(6)) and len(threads) == 1 and threading.get_ident() not in threads


def test_compatible_jobs_join_the_oldest_jobs_batch_up_to_its_limit():
    worker = DeviceWorker("cpu")
    release = _blocked(worker)
    batches, order = [], []

    def run_batch(items):
        batches.append(list(items))
        order.extend(items)
        return [f"done {item}" for item in items]

    def plain(tag):
        return lambda: order.append(tag) or tag

    futures = [worker.submit_batchable("a1", "f5", run_batch, max_batch=3),
               worker.submit(plain("x1")),
               worker.submit_batchable("a2", "f5", run_batch, max_batch=3),
               worker.submit_batchable("b1", "other-profile", run_batch, max_batch=3),
               worker.submit_batchable("a3", "f5", run_batch, max_batch=3),
               worker.submit_batchable("a4", "f5", run_batch, max_batch=3)]
    release.set()
    results = [f.result(10) for f in futures]
    assert results == ["done a1", "x1", "done a2", "done b1", "done a3", "done a4"]
    # a2 and a3 joined a1 (same key, up to 3); x1 then ran in its turn; b1 was never mixed in;
    # a4, over the limit, waited for its own turn after b1.
    assert batches == [["a1", "a2", "a3"], ["b1"], ["a4"]]
    assert order == ["a1", "a2", "a3", "x1", "b1", "a4"]
    assert worker.status()["batches_run"] == 1


def test_a_flood_of_one_kind_cannot_starve_another():
    """Jobs of another kind keep their place in line: at most one batch runs ahead of them."""
    worker = DeviceWorker("cpu")
    release = _blocked(worker)
    order = []

    def run_batch(items):
        order.append(("batch", len(items)))
        return list(items)

    f5 = [worker.submit_batchable(i, "f5", run_batch, max_batch=4) for i in range(3)]
    xtts = worker.submit(lambda: order.append(("xtts", 1)))
    late = [worker.submit_batchable(i, "f5", run_batch, max_batch=4) for i in range(3, 12)]
    release.set()
    for f in f5 + late + [xtts]:
        f.result(10)
    assert order[0] == ("batch", 4), "the first batch takes compatible jobs queued behind the XTTS job"
    assert order[1] == ("xtts", 1), "the XTTS job runs right after the batch it was queued behind"


def test_a_failure_goes_to_its_caller_and_the_worker_goes_on():
    worker = DeviceWorker("cpu")
    failing = worker.submit(lambda: 1 / 0, label="bad")
    with pytest.raises(ZeroDivisionError):
        failing.result(10)

    def run_batch(items):
        return [ValueError(f"bad {item}") if item == "b" else item for item in items]

    release = _blocked(worker)
    futures = [worker.submit_batchable(item, "k", run_batch, max_batch=4) for item in ("a", "b", "c")]
    release.set()
    assert futures[0].result(10) == "a" and futures[2].result(10) == "c"
    with pytest.raises(ValueError, match="bad b"):
        futures[1].result(10)
    assert worker.submit(lambda: "still serving").result(10) == "still serving"
    assert worker.poisoned is None, "without a probe (CPU) a failure never marks the device broken"


def test_exclusive_jobs_wait_while_background_work_runs():
    """Graph captures (exclusive) never run while a compile launches kernels from its own thread;
    ordinary jobs go on meanwhile."""
    worker = DeviceWorker("cpu")
    compiling = threading.Event()
    finish_compile = threading.Event()
    worker.background(lambda: (compiling.set(), finish_compile.wait(10)), label="compile")
    assert compiling.wait(10)
    order = []
    capture = worker.submit(lambda: order.append("capture"), label="capture", exclusive=True)
    requests = [worker.submit(lambda i=i: order.append(f"request {i}")) for i in range(3)]
    for f in requests:
        f.result(10)
    assert order == ["request 0", "request 1", "request 2"] and not capture.done()
    finish_compile.set()
    capture.result(10)
    assert order[-1] == "capture" and worker.background_running == 0


def test_call_from_the_worker_thread_runs_inline():
    worker = DeviceWorker("cpu")
    assert worker.call(lambda: worker.call(lambda: "nested")) == "nested"


def test_a_broken_device_is_said_once_and_fails_every_job_at_once():
    broken = threading.Event()

    def probe():
        if broken.is_set():
            raise RuntimeError("CUDA error: an illegal memory access was encountered")

    worker = DeviceWorker("cuda", probe=probe)
    assert worker.submit(lambda: "fine").result(10) == "fine"
    worker.submit(lambda: 1 / 0).exception(10)  # the probe passes: an ordinary failure
    assert worker.poisoned is None
    release = _blocked(worker)
    broken.set()
    waiting = worker.submit(lambda: "never runs")

    def sticky():
        raise RuntimeError("CUDA error: operation not permitted when stream is capturing")

    failed = worker.submit(sticky)
    queued_after = worker.submit(lambda: "never runs either")
    release.set()
    assert waiting.result(10) == "never runs"  # queued before the failure: ran normally
    with pytest.raises(RuntimeError, match="stream is capturing"):
        failed.result(10)
    with pytest.raises(DevicePoisonedError, match="restart the process"):
        queued_after.result(10)
    start = time.perf_counter()
    with pytest.raises(DevicePoisonedError, match="operation not permitted when stream is capturing"):
        worker.submit(lambda: "new work").result(10)
    assert time.perf_counter() - start < 1.0, "refused at once, not after a hang"


def test_out_of_memory_is_not_a_broken_device():
    import torch

    def probe():
        raise AssertionError("the probe must not run after an out-of-memory error")

    worker = DeviceWorker("cuda", probe=probe)

    def oom():
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")

    with pytest.raises(torch.cuda.OutOfMemoryError):
        worker.submit(oom).result(10)
    assert worker.poisoned is None and worker.submit(lambda: 2).result(10) == 2


def _recorder(sort: bool = False):
    """A batch runner that records each batch it gets, and the list it records into."""
    batches = []

    def run_batch(items):
        batches.append(sorted(items) if sort else list(items))
        return list(items)

    return batches, run_batch


def _caller(worker: DeviceWorker, item, run_batch, delay_s: float, results: dict,
            announced: threading.Barrier | None = None) -> threading.Thread:
    """A request as the manager makes one: announced first, prepared for ``delay_s``, then queued."""
    def run():
        with worker.arriving("f5tts"):
            if announced is not None:
                announced.wait(10)
            time.sleep(delay_s)
            results[item] = worker.submit_batchable(item, "f5", run_batch, max_batch=8,
                                                    group="f5tts").result(30)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_batch_waits_briefly_for_requests_still_being_prepared():
    worker = DeviceWorker("cpu", gather_s=10.0)
    (batches, run_batch), results = _recorder(sort=True), {}

    start = time.perf_counter()
    both = threading.Barrier(2)
    threads = [_caller(worker, "early", run_batch, 0.0, results, both),
               _caller(worker, "late", run_batch, 0.4, results, both)]
    for thread in threads:
        thread.join(30)
    assert batches == [["early", "late"]]  # the early one did not start alone
    assert results == {"early": "early", "late": "late"}
    assert time.perf_counter() - start < 5  # it waited for the late one, not for gather_s


def test_a_lone_request_never_waits_and_a_caller_that_gives_up_releases_the_batch():
    worker = DeviceWorker("cpu", gather_s=10.0)
    (batches, run_batch), results = _recorder(), {}

    start = time.perf_counter()
    _caller(worker, "alone", run_batch, 0.0, results).join(30)
    assert batches == [["alone"]] and time.perf_counter() - start < 5

    # Another caller announces a request but leaves without queueing one (a refused input, say).
    gave_up, leave = threading.Event(), threading.Event()

    def announce_only():
        with worker.arriving("f5tts"):
            gave_up.set()
            leave.wait(30)

    other = threading.Thread(target=announce_only)
    other.start()
    assert gave_up.wait(10)
    start = time.perf_counter()
    with worker.arriving("f5tts"):
        first = worker.submit_batchable("next", "f5", run_batch, max_batch=8, group="f5tts")
        assert until(lambda: worker.queued == 0, timeout_s=10)  # the worker has taken it off its queue...
        with worker.arriving("f5tts"):
            # ...and holds it for the announced request: a request queued now still joins its batch.
            second = worker.submit_batchable("later", "f5", run_batch, max_batch=8, group="f5tts")
            leave.set()
            assert first.result(30) == "next" and second.result(30) == "later"
    other.join(30)
    assert batches == [["alone"], ["next", "later"]]
    assert time.perf_counter() - start < 5  # released when the caller that gave up left, not after gather_s


def test_the_wait_for_arrivals_is_bounded():
    worker = DeviceWorker("cpu", gather_s=0.2)
    (batches, run_batch), results = _recorder(), {}

    both = threading.Barrier(2)
    threads = [_caller(worker, "prompt", run_batch, 0.0, results, both),
               _caller(worker, "slow", run_batch, 1.5, results, both)]
    for thread in threads:
        thread.join(30)
    assert batches == [["prompt"], ["slow"]]  # "prompt" went alone after gather_s, not after 1.5 s


class _Shapes:
    """The two things F5Warmup asks of an F5Accelerator in graphs mode; ``fails`` is a shape whose capture raises."""

    def __init__(self, events: list[str], fails: tuple[int, int] | None = None):
        self.events, self.fails = events, fails

    def shapes(self):
        return [(1, 256), (2, 256), (1, 512), (2, 512), (1, 1024)]

    def capture(self, b, n):
        if (b, n) == self.fails:
            raise RuntimeError(f"capture of {b}x{n} failed")
        self.events.append(f"capture {b}x{n}")


def _warm_up_under_traffic(slice_s: float, fails: tuple[int, int] | None = None):
    """A warm-up started while three requests wait in the queue; returns (events, status)."""
    from engines.f5.accel.f5_warmup import F5Warmup

    events: list[str] = []
    worker = DeviceWorker("cpu")
    release = _blocked(worker)
    warmup = F5Warmup(_Shapes(events, fails), worker, "graphs", None, {}, slice_s=slice_s)
    warmup.start()
    requests = [worker.submit(lambda i=i: events.append(f"request {i}")) for i in range(3)]
    release.set()
    for f in requests:
        f.result(10)
    deadline = time.monotonic() + 10
    while warmup.status["state"] == "capturing" and time.monotonic() < deadline:
        time.sleep(0.01)
    return events, warmup.status


def test_captures_and_requests_take_turns_during_warm_up():
    """One shape per slice: each capture job goes next after one request, so neither the requests
    nor the warm-up wait behind the whole queue of the other."""
    events, status = _warm_up_under_traffic(slice_s=0.0)
    assert events == ["capture 1x256", "request 0", "capture 2x256", "request 1", "capture 1x512", "request 2",
                      "capture 2x512", "capture 1x1024"]
    assert status["state"] == "ready" and status["shapes_ready"] == 5


def test_a_capture_job_takes_shapes_until_its_slice_is_used():
    events, status = _warm_up_under_traffic(slice_s=60.0)
    assert events == [f"capture {b}x{n}" for b, n in _Shapes([]).shapes()] + ["request 0", "request 1", "request 2"]
    assert status["state"] == "ready"


def test_a_failed_capture_leaves_that_shape_eager_and_the_warm_up_goes_on():
    events, status = _warm_up_under_traffic(slice_s=0.0, fails=(2, 256))
    captured = [e for e in events if e.startswith("capture")]
    assert captured == ["capture 1x256", "capture 1x512", "capture 2x512", "capture 1x1024"], "each shape tried once"
    assert status["state"] == "partial" and status["shapes_ready"] == 4
    assert "2x256" in status["capture_error"]


def test_an_exclusive_job_waits_for_one_batch_at_most():
    """However many jobs are queued, a capture queued now runs after the batch that is running."""
    worker = DeviceWorker("cpu")
    release = _blocked(worker)
    order = []
    requests = [worker.submit(lambda i=i: order.append(f"request {i}")) for i in range(4)]
    capture = worker.submit(lambda: order.append("capture"), label="capture", exclusive=True)
    release.set()
    for f in requests + [capture]:
        f.result(10)
    assert order == ["capture", "request 0", "request 1", "request 2", "request 3"]


def _long_job_with_turns(worker: DeviceWorker, order: list, pieces: int = 3):
    """A job that offers the worker a turn after each of its pieces; held until the returned event."""
    from engines.worker import yield_point

    started, go_on = threading.Event(), threading.Event()

    def run():
        started.set()
        assert go_on.wait(10)
        for i in range(pieces):
            order.append(f"long {i}")
            yield_point()

    future = worker.submit(run, label="long")
    assert started.wait(10)
    return future, go_on


def test_an_interleaving_job_runs_inside_a_long_job_that_offers_turns():
    """An XTTS decode slice (``interleave``) waits for one turn of a long F5 batch, not all of it;
    plain jobs keep their place in line."""
    worker = DeviceWorker("cpu", turn_s=0.0)
    order = []
    long, go_on = _long_job_with_turns(worker, order)
    plain = worker.submit(lambda: order.append("plain"))
    slices = [worker.submit(lambda i=i: order.append(f"slice {i}"), interleave=True) for i in range(2)]
    go_on.set()
    for future in [long, plain, *slices]:
        future.result(10)
    assert order == ["long 0", "slice 0", "long 1", "slice 1", "long 2", "plain"]


def test_a_hurry_cuts_the_running_jobs_turn_short_once():
    """Someone waits on a queued interleave job (a stream's first audio): the long job gives way at
    its next turn offer, though its turn is long; after that job ran, its turn is long again."""
    worker = DeviceWorker("cpu", turn_s=60.0, hurried_turn_s=0.0)
    order = []
    long, go_on = _long_job_with_turns(worker, order)
    hurried = worker.submit(lambda: order.append("slice 0"), interleave=True)
    worker.hurry()
    later = worker.submit(lambda: order.append("slice 1"), interleave=True)
    go_on.set()
    for future in (long, hurried, later):
        future.result(10)
    assert order == ["long 0", "slice 0", "long 1", "long 2", "slice 1"]


def test_a_long_job_keeps_the_device_for_its_turn():
    worker = DeviceWorker("cpu", turn_s=60.0)
    order = []
    long, go_on = _long_job_with_turns(worker, order)
    interleaving = worker.submit(lambda: order.append("slice"), interleave=True)
    go_on.set()
    long.result(10)
    interleaving.result(10)
    assert order == ["long 0", "long 1", "long 2", "slice"], "within its turn it gives way to nothing"


def test_the_status_counts_each_kind_of_jobs_own_time_on_the_worker():
    """``busy_s`` adds up each job's time by its label's first word; a job that ran inside another
    job's turn offer counts for itself, not for the job it ran in."""
    from engines.worker import yield_point

    worker = DeviceWorker("cpu", turn_s=0.0)
    inner_queued = threading.Event()

    def outer():
        assert inner_queued.wait(10)
        yield_point()  # the queued interleave job runs here, inline

    running = worker.submit(outer, label="outer batch")
    inner = worker.submit(lambda: time.sleep(0.3), label="inner slice", interleave=True)
    inner_queued.set()
    running.result(10)
    inner.result(10)
    busy = worker.status()["busy_s"]
    assert set(busy) == {"outer", "inner"}
    assert busy["inner"] >= 0.3
    assert busy["outer"] < busy["inner"], "the inner job's time is not the outer job's too"


def test_a_job_someone_listens_for_goes_before_older_short_jobs_in_a_long_jobs_turns():
    """A voice's conditioning for a stream (``call(..., interleave=True, hurry=True)``) runs at the
    long job's next turn offer, before an XTTS slice queued earlier, and its turn is the short one."""
    worker = DeviceWorker("cpu", turn_s=60.0, hurried_turn_s=0.0)
    order = []
    long, go_on = _long_job_with_turns(worker, order)
    older = worker.submit(lambda: order.append("slice"), interleave=True)
    with ThreadPoolExecutor(1) as pool:
        listened = pool.submit(worker.call, lambda: order.append("conditioning"), "xtts conditioning",
                               interleave=True, hurry=True)
        assert until(lambda: worker.queued == 2, 10)
        go_on.set()
        listened.result(10)
    for future in (long, older):
        future.result(10)
    assert order == ["long 0", "conditioning", "long 1", "long 2", "slice"]


def test_an_urgent_job_leaves_the_line_before_older_ones_when_the_worker_is_free():
    worker = DeviceWorker("cpu")
    order, held = [], threading.Event()
    blocker = worker.submit(lambda: held.wait(10), label="blocker")
    futures = [worker.submit(lambda i=i: order.append(f"plain {i}")) for i in range(2)]
    futures.append(worker.submit(lambda: order.append("urgent"), interleave=True, urgent=True))
    held.set()
    for future in (blocker, *futures):
        future.result(10)
    assert order == ["urgent", "plain 0", "plain 1"]
