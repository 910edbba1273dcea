"""F5's warm-up in ``compile`` mode on the real device worker (CPU, a tiny model).

On a CPU every graph capture fails (there is no CUDA): that is the fault these tests
use. What they check is what a GPU run depends on: the step a capture would record is
the compiled one from the first capture on, even when a request holds the worker while
the compile finishes (the worker then runs a queued capture ahead of older jobs), and
captures that fail leave the engine generating what it generated before.
"""

from __future__ import annotations

import threading
import time

import pytest
import torch

pytest.importorskip("f5_tts.infer.utils_infer")

from engines.f5.accel.f5 import F5AccelOptions, F5Accelerator  # noqa: E402
from engines.f5.accel.f5_block import StepKernels  # noqa: E402
from engines.f5.accel.f5_warmup import F5Warmup  # noqa: E402
from engines.worker import DeviceWorker  # noqa: E402
from devtools.tiny_models import build_f5_model, write_vocab  # noqa: E402

OPTIONS = F5AccelOptions(length_buckets=(64, 96), batch_sizes=(1, 2))


def _wait_until(condition, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        threading.Event().wait(0.02)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return build_f5_model(write_vocab(tmp_path_factory.mktemp("f5") / "vocab.txt")).eval()


def _mels(acc: F5Accelerator):
    ref = torch.sin(torch.arange(24000) / 24000 * 2 * torch.pi * 220).unsqueeze(0) * 0.05
    return acc.sample([acc.prepare(ref, "a reference. ", ["hello there.", "a second chunk, longer."], seed=4)],
                      nfe_step=4)[0]


def test_compile_mode_never_captures_the_eager_step_and_failed_captures_leave_it_serving(model):
    acc = F5Accelerator(model, None, "cpu", options=OPTIONS)
    expected = _mels(F5Accelerator(model, None, "cpu", options=F5AccelOptions(kernels=StepKernels.reference())))
    worker = DeviceWorker("cpu")
    warmup = F5Warmup(acc, worker, "compile", None, {}, compile_backend="eager")
    attempts = []
    capture = acc.capture

    def recorded(b, n, use_cfg=True):  # which step each capture records; on a CPU the capture then fails
        attempts.append(acc.forward is not acc.step)
        return capture(b, n, use_cfg)

    acc.capture = recorded
    warmup.start()
    # A request holds the worker until the compile thread has queued its work and ended.
    worker.call(lambda: _wait_until(lambda: worker.background_running == 0), label="long request")
    _wait_until(lambda: warmup.status["state"] in ("ready", "partial"))
    assert attempts == [True] * len(acc.shapes())
    assert warmup.status["state"] == "partial" and warmup.status["shapes_ready"] == 0
    assert "capture_error" in warmup.status and not acc.graphs
    got = worker.call(lambda: _mels(acc))  # the compiled step, eagerly: what the reference kernels give
    assert all(torch.equal(a, b) for a, b in zip(got, expected))


def test_graphs_mode_failed_captures_leave_the_engine_serving(model):
    acc = F5Accelerator(model, None, "cpu", options=OPTIONS)
    before = _mels(acc)
    worker = DeviceWorker("cpu")
    warmup = F5Warmup(acc, worker, "graphs", None, {})
    warmup.start()
    _wait_until(lambda: warmup.status["state"] in ("ready", "partial"))
    assert warmup.status["shapes_ready"] == 0 and not acc.graphs
    assert all(torch.equal(a, b) for a, b in zip(worker.call(lambda: _mels(acc)), before))
