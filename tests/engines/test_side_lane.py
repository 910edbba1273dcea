"""The side lane beside the device worker, with plain Python callables (no model): work runs in
order on its own thread, failures go to their own futures, exclusive jobs (graph captures) and
lane work never overlap, and closing lets the queued work finish. Every wait is bounded and
every "not yet" is proven by a handshake, never by sleeping."""

from __future__ import annotations

import threading

import pytest
import torch
import torch.nn.functional as F

from engines.gpu.side_lane import SideLane, SideLaneClosed
from engines.gpu.thread_convs import ThreadCudnn, thread_cudnn
from engines.worker import DeviceWorker
from tests.waiting import until

WAIT_S = 10


def held(log: list, tag: str):
    """A callable that logs its start and end and is held until the returned ``go_on`` is set."""
    started, go_on = threading.Event(), threading.Event()

    def run():
        log.append(f"{tag} start")
        started.set()
        assert go_on.wait(WAIT_S)
        log.append(f"{tag} end")
        return tag

    return run, started, go_on


def held_lane_work(lane: SideLane, log: list, tag: str):
    """Lane work held until the returned ``go_on`` is set (``held``)."""
    run, started, go_on = held(log, tag)
    return lane.submit(run, label=tag), started, go_on


def held_worker_job(worker: DeviceWorker, log: list, tag: str, exclusive: bool):
    """A worker job held until the returned ``go_on`` is set (``held``)."""
    run, started, go_on = held(log, tag)
    return worker.submit(run, label=tag, exclusive=exclusive), started, go_on


@pytest.fixture
def beside():
    """A CPU worker and a lane beside it; the lane is closed after the test."""
    worker = DeviceWorker("cpu")
    lane = SideLane("cpu", worker=worker)
    yield worker, lane
    lane.close(timeout=WAIT_S)


def test_work_runs_in_order_on_one_thread_beside_the_worker_and_a_failure_stays_its_own():
    worker = DeviceWorker("cpu")
    lane = SideLane("cpu", worker=worker, label="test lane")
    threads, order = set(), []

    def job(i):
        def run():
            threads.add(threading.current_thread().name)
            order.append(i)
            if i == 2:
                raise ValueError("work 2 broke (injected)")
            return i * 10
        return run

    futures = [lane.submit(job(i), label=f"work {i}") for i in range(5)]
    with pytest.raises(ValueError, match="work 2 broke"):
        futures[2].result(WAIT_S)
    assert [f.result(WAIT_S) for i, f in enumerate(futures) if i != 2] == [0, 10, 30, 40]
    assert order == list(range(5)) and threads == {"side-lane-test lane"}
    assert until(lambda: lane.queued == 0, WAIT_S)
    assert lane.status()["failures"] == 1 and worker.status()["side_work"] == 0
    assert lane.close(timeout=WAIT_S)


def test_status_says_how_long_work_waited_in_the_lane(beside):
    _worker, lane = beside
    log: list[str] = []
    first, in_lane, go_on = held_lane_work(lane, log, "clip 0")
    assert in_lane.wait(WAIT_S)
    queued = [lane.submit(lambda i=i: log.append(f"clip {i}"), label=f"clip {i}") for i in (1, 2)]
    assert lane.status()["waited_s"]["count"] == 1  # only the running one has started
    go_on.set()
    for future in [first, *queued]:
        future.result(WAIT_S)
    waits = lane.status()["waited_s"]
    assert waits["count"] == 3 and 0 <= waits["p50"] <= waits["p95"] <= waits["max"]
    assert SideLane("cpu").status()["waited_s"] is None  # nothing ran yet


def test_an_exclusive_job_does_not_start_while_lane_work_runs(beside):
    """A capture queued while the lane runs waits for it; ordinary jobs queued behind the capture
    go first meanwhile (proof that the worker looked at the capture and held it back)."""
    worker, lane = beside
    log: list[str] = []
    vocode, in_lane, finish_lane = held_lane_work(lane, log, "lane")
    assert in_lane.wait(WAIT_S)
    capture = worker.submit(lambda: log.append("capture"), label="capture", exclusive=True)
    request = worker.submit(lambda: log.append("request"), label="request")
    request.result(WAIT_S)
    assert not capture.done() and log == ["lane start", "request"]
    finish_lane.set()
    capture.result(WAIT_S)
    assert vocode.result(WAIT_S) == "lane"
    assert log == ["lane start", "request", "lane end", "capture"]


def test_lane_work_does_not_start_while_an_exclusive_job_runs(beside):
    worker, lane = beside
    log: list[str] = []
    capture, capturing, finish_capture = held_worker_job(worker, log, "capture", exclusive=True)
    assert capturing.wait(WAIT_S)
    vocode = lane.submit(lambda: log.append("lane"), label="lane")
    assert until(lambda: worker.status()["side_work_waiting"] == 1, WAIT_S), "the lane waits at the gate"
    assert log == ["capture start"] and not vocode.done()
    finish_capture.set()
    vocode.result(WAIT_S)
    capture.result(WAIT_S)
    assert log == ["capture start", "capture end", "lane"]


def test_a_due_capture_goes_before_the_next_lane_work(beside):
    """A steady line of lane work cannot starve a capture: once the capture is due, the next lane
    work waits for it."""
    worker, lane = beside
    log: list[str] = []
    first, in_lane, finish_first = held_lane_work(lane, log, "lane 1")
    assert in_lane.wait(WAIT_S)
    capture = worker.submit(lambda: log.append("capture"), label="capture", exclusive=True)
    second = lane.submit(lambda: log.append("lane 2"), label="lane 2")
    finish_first.set()
    for future in (first, capture, second):
        future.result(WAIT_S)
    assert log == ["lane 1 start", "lane 1 end", "capture", "lane 2"]


def test_a_compile_does_not_hold_the_lane_back_behind_a_capture(beside):
    """While a background compile holds every capture back, a queued capture is not due: the lane
    goes on (it would otherwise wait for the whole compile)."""
    worker, lane = beside
    compiling, finish_compile = threading.Event(), threading.Event()
    worker.background(lambda: (compiling.set(), finish_compile.wait(WAIT_S)), label="compile")
    assert compiling.wait(WAIT_S)
    capture = worker.submit(lambda: "captured", label="capture", exclusive=True)
    assert lane.submit(lambda: "vocoded").result(WAIT_S) == "vocoded" and not capture.done()
    finish_compile.set()
    assert capture.result(WAIT_S) == "captured"


def test_close_on_the_worker_lets_the_queued_work_finish_before_a_due_capture():
    """An unload (a job on the worker) closes the lane while a capture is due: the lane's queued work
    may not wait for that capture, which cannot start before the unload ends."""
    worker = DeviceWorker("cpu")
    lane = SideLane("cpu", worker=worker)
    log: list[str] = []
    first, in_lane, finish_first = held_lane_work(lane, log, "lane 1")
    assert in_lane.wait(WAIT_S)
    capture = worker.submit(lambda: log.append("capture"), label="capture", exclusive=True)
    second = lane.submit(lambda: log.append("lane 2"), label="lane 2")
    closing = threading.Event()

    def unload():
        closing.set()
        return lane.close(RuntimeError("unloaded"), timeout=WAIT_S)

    unloaded = worker.submit(unload, label="unload")
    assert closing.wait(WAIT_S)
    finish_first.set()
    assert unloaded.result(WAIT_S) is True, "the queued work finished within the close"
    capture.result(WAIT_S)
    second.result(WAIT_S)
    assert log == ["lane 1 start", "lane 1 end", "lane 2", "capture"]


def test_close_lets_queued_work_finish_and_refuses_later_work_with_the_reason():
    worker = DeviceWorker("cpu")
    lane = SideLane("cpu", worker=worker)
    log: list[str] = []
    first, in_lane, finish_first = held_lane_work(lane, log, "lane 1")
    assert in_lane.wait(WAIT_S)
    queued = [lane.submit(lambda i=i: log.append(f"queued {i}") or i, label=f"queued {i}") for i in range(3)]
    closed = threading.Event()
    closer = threading.Thread(target=lambda: lane.close(RuntimeError("the model was unloaded")) and closed.set())
    closer.start()
    assert until(lambda: lane.status()["closed"], WAIT_S)
    with pytest.raises(RuntimeError, match="the model was unloaded"):
        lane.submit(lambda: None)
    assert not closed.is_set(), "close waits for the queued work"
    finish_first.set()
    assert closed.wait(WAIT_S)
    closer.join(WAIT_S)
    assert [f.result(0) for f in queued] == [0, 1, 2]
    assert log == ["lane 1 start", "lane 1 end", "queued 0", "queued 1", "queued 2"]
    never_started = SideLane("cpu")
    assert never_started.close()
    with pytest.raises(SideLaneClosed, match="closed"):
        never_started.submit(lambda: None)


def test_a_close_that_times_out_says_so_and_the_work_still_finishes():
    lane = SideLane("cpu")
    log: list[str] = []
    stuck, in_lane, go_on = held_lane_work(lane, log, "stuck")
    assert in_lane.wait(WAIT_S)
    assert lane.close(timeout=0.2) is False
    go_on.set()
    assert stuck.result(WAIT_S) == "stuck"


def test_cancelled_work_that_has_not_started_is_skipped():
    lane = SideLane("cpu")
    log: list[str] = []
    first, in_lane, go_on = held_lane_work(lane, log, "first")
    assert in_lane.wait(WAIT_S)
    skipped = lane.submit(lambda: log.append("skipped"))
    after = lane.submit(lambda: log.append("after"))
    assert skipped.cancel()
    go_on.set()
    after.result(WAIT_S)
    assert log == ["first start", "first end", "after"] and until(lambda: lane.queued == 0, WAIT_S)
    lane.close(timeout=WAIT_S)


# --- convolutions that choose cuDNN for their own thread ----------------------------------------
_rng = torch.Generator().manual_seed(0)


def _randn(*shape):
    return torch.randn(*shape, generator=_rng)


X1, W1, B1 = _randn(2, 6, 40), _randn(4, 3, 5), _randn(4)
X2, W2, B2 = _randn(1, 8, 20), _randn(8, 4, 16), _randn(4)
X3, W3, B3 = _randn(1, 6, 9), _randn(6, 2, 4), _randn(6)
X4, W4, B4 = _randn(1, 2, 9, 9), _randn(3, 2, 3, 3), _randn(3)
CONVS = {
    "conv1d_keywords": lambda: F.conv1d(X1, W1, B1, stride=2, padding=3, dilation=2, groups=2),
    "conv1d_positional": lambda: F.conv1d(X1, W1, B1, 2, (3,), 2, 2),
    "conv1d_no_bias": lambda: F.conv1d(X1, W1, None, padding=1, groups=2),
    "conv1d_same": lambda: F.conv1d(X1, W1, B1, padding="same", groups=2),
    "conv_transpose1d_keywords": lambda: F.conv_transpose1d(X2, W2, B2, stride=8, padding=4),
    "conv_transpose1d_positional": lambda: F.conv_transpose1d(X3, W3, B3, 2, 1, 1, 3, 1),
    "conv2d": lambda: F.conv2d(X4, W4, B4, stride=(1, 2), padding=1),
    # unbatched input ([channels, frames]), as XTTS's HiFi-GAN passes it
    "conv1d_unbatched": lambda: F.conv1d(X1[0], W1, B1, padding=3, groups=2),
    "conv_transpose1d_unbatched": lambda: F.conv_transpose1d(X2[0], W2, B2, stride=8, padding=4),
}


@pytest.mark.parametrize("call", CONVS.values(), ids=CONVS.keys())
def test_thread_cudnn_gives_the_public_convolutions_results(call):
    expected = call()
    with ThreadCudnn(False):
        got = call()
    assert torch.equal(got, expected)


def test_thread_cudnn_is_this_threads_alone_and_nothing_off_cuda():
    seen: list[str] = []

    class Counting(ThreadCudnn):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if func is F.conv1d:
                seen.append(threading.current_thread().name)
            return super().__torch_function__(func, types, args, kwargs)

    inside, done = threading.Event(), threading.Event()

    def lane():
        with Counting(False):
            inside.set()
            assert done.wait(WAIT_S)
            F.conv1d(torch.randn(1, 2, 8), torch.randn(2, 2, 3))

    thread = threading.Thread(target=lane, name="lane")
    thread.start()
    assert inside.wait(WAIT_S)
    F.conv1d(torch.randn(1, 2, 8), torch.randn(2, 2, 3))  # this thread: not seen by the lane's mode
    done.set()
    thread.join(WAIT_S)
    assert seen == ["lane"]
    assert not isinstance(thread_cudnn("cpu", False), ThreadCudnn)
