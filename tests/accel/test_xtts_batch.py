"""XTTS decodes in one continuous batch (tiny random XTTS-v2 on the CPU, the accelerator eager).

Rows join and leave the batch at the host checks between steps; each must decode exactly the
tokens it decodes alone (``XttsAccelerator.decode``, one request at a time) with its own
settings and seed, whatever its batch mates, whenever it joined and whichever slot it ended
up in. The batch runs in slices on a real ``DeviceWorker``: other work goes between them.
"""

from __future__ import annotations

import os
import threading
from dataclasses import replace

import pytest
import torch

os.environ.setdefault("COQUI_TOS_AGREED", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

pytest.importorskip("TTS")

from engines.xtts.accel.xtts import XttsAccelerator, XttsAccelOptions  # noqa: E402
from engines.xtts.accel.xtts_batch import BatchOptions, ContinuousBatch, RowRequest  # noqa: E402
from engines.xtts.accel.xtts_sampling import SamplingParams  # noqa: E402
from engines.worker import DeviceWorker  # noqa: E402
from devtools.tiny_models import spread_gpt_weights, tiny_xtts_model  # noqa: E402

TEXT = "hello world, this is a test of the tiny model."
MAX_TOKENS = 80


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    xtts = tiny_xtts_model(tmp_path_factory.mktemp("xtts_batch"), TEXT, layers=2, max_audio_tokens=MAX_TOKENS + 3)
    spread_gpt_weights(xtts)
    xtts.eval()
    return xtts


@pytest.fixture(scope="module")
def every_step(model):
    """The host checks after every step: rows can join and leave at any step."""
    return XttsAccelerator(model, "cpu", options=XttsAccelOptions(sync_every=1))


@pytest.fixture(scope="module")
def acc(model):
    return XttsAccelerator(model, "cpu", options=XttsAccelOptions(sync_every=4))


class Recorder:
    """A sink that keeps what it is shown: the token count at each check, the latents at the end.
    ``gate``: called on the worker at each check (a test holds the batch there)."""

    def __init__(self, gate=None):
        self.counts: list[int] = []
        self.gate = gate

    def update(self, n, latents, done):
        self.counts.append(n)
        if self.gate is not None:
            self.gate(n, done)
        return latents[:n].clone() if done else None


def conditioning(model, scale=1.0):
    generator = torch.Generator().manual_seed(1)
    return torch.randn(1, 32, model.gpt.model_dim, generator=generator) * 0.5 * scale


def row(acc, model, index, params, length=None, sink=None, scale=None):
    """Request ``index``: its own conditioning, settings and seed; forced to ``length`` tokens if given."""
    return RowRequest(text_ids=acc.text_ids(TEXT, "en"), cond_latents=conditioning(model, scale or 1 + index / 10),
                      params=params, sink=sink or Recorder(), seed=100 + index, max_new_tokens=length,
                      min_new_tokens=length or 0)


def alone(acc, request):
    """What one-at-a-time decoding makes of ``request``: its tokens and latents."""
    out = acc.decode(request.text_ids, request.cond_latents, request.params, max_new_tokens=request.max_new_tokens,
                     min_new_tokens=request.min_new_tokens, seed=request.seed)
    return out.codes.tolist(), out.latents


SETTINGS = [SamplingParams(greedy=True), SamplingParams(),
            SamplingParams(temperature=0.3, top_k=5, top_p=1.0, repetition_penalty=1.0),
            SamplingParams(temperature=1.5, top_k=0, top_p=0.5, repetition_penalty=10.0),
            SamplingParams(greedy=True, repetition_penalty=1.0)]


def test_rows_join_and_leave_at_any_step_and_decode_what_they_decode_alone(every_step, model):
    worker = DeviceWorker("cpu")
    batch = ContinuousBatch(every_step, BatchOptions(slots=3, slice_steps=16))
    lengths = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    requests = [row(every_step, model, i, SETTINGS[i % len(SETTINGS)], length) for i, length in enumerate(lengths)]
    results = [f.result(120) for f in batch.submit_all(requests, worker)]
    for request, result, length in zip(requests, results, lengths):
        codes, latents = alone(every_step, request)
        assert result.codes == codes and len(codes) == length
        torch.testing.assert_close(result.value, latents, rtol=1e-4, atol=1e-4)
        joined, left = result.steps
        assert left - joined == length - 1, "a row leaves the step its budget is reached"
    joins = sorted(r.steps[0] for r in results)
    leaves = sorted(r.steps[1] for r in results)
    assert joins[:3] == [0, 0, 0], "three slots: three rows start together"
    assert joins[3:] == leaves[:7], "each later row takes a slot the step it frees"
    assert joins[3:6] == [1, 2, 3], "rows joined at consecutive steps"
    assert max(r.peak_rows for r in results) == 3 and batch.status()["in_flight"] == 0


def test_each_row_keeps_its_own_settings_and_seed(acc, model):
    """Greedy and sampled rows side by side, each with its own temperature, top-k, top-p, penalty,
    length (forced or up to its stop token) and draws: each decodes what it decodes alone."""
    worker = DeviceWorker("cpu")
    batch = ContinuousBatch(acc, BatchOptions(slots=8))
    requests = [row(acc, model, i, params, length) for i, (params, length)
                in enumerate(zip(SETTINGS * 2, [30, None, 17, None, 45, 5, None, 60, 12, None]))]
    results = [f.result(120) for f in batch.submit_all(requests, worker)]
    for request, result in zip(requests, results):
        assert result.codes == alone(acc, request)[0]
    assert len({tuple(r.codes) for r in results}) == len(results), "different settings, different tokens"


def test_a_seed_repeats_and_batch_mates_change_no_token(acc, model):
    """The same rows twice give the same tokens and latents, bit for bit; each row alone in the batch
    (a step of one row) gives the same tokens as among others (a step of four), greedy and sampled."""
    worker = DeviceWorker("cpu")
    batch = ContinuousBatch(acc, BatchOptions(slots=4))
    requests = [row(acc, model, i, SamplingParams(greedy=i % 2 == 0), 40) for i in range(8)]
    together = [f.result(120) for f in batch.submit_all(requests, worker)]
    again = [f.result(120) for f in batch.submit_all(requests, worker)]
    by_itself = [batch.submit(request, worker).result(120) for request in requests]
    assert [r.codes for r in again] == [r.codes for r in together]
    assert all(torch.equal(a.value, b.value) for a, b in zip(again, together))
    assert {r.peak_rows for r in together} == {4} and {r.peak_rows for r in by_itself} == {1}
    same = [a.codes == b.codes for a, b in zip(together, by_itself)]
    print(f"tokens identical alone vs batched: greedy {sum(same[0::2])}/4, sampled {sum(same[1::2])}/4")
    assert all(same)


def test_at_a_fixed_step_size_a_row_is_bit_identical_alone_and_batched(acc, model):
    """``VOICE_STUDIO_XTTS_BATCH=fixed``: every step runs at the full batch size, so a row alone and a
    row among others (in another slot, moved when others leave) are the same numbers."""
    worker = DeviceWorker("cpu")
    batch = ContinuousBatch(acc, BatchOptions(slots=4, buckets=(4,)))
    requests = [row(acc, model, i, SamplingParams(greedy=i % 2 == 0), length)
                for i, length in enumerate([40, None, 25, 33, None, 17, 40, 29])]
    together = [f.result(120) for f in batch.submit_all(requests, worker)]
    by_itself = [batch.submit(request, worker).result(120) for request in requests]
    assert {r.peak_rows for r in together} == {4} and {r.peak_rows for r in by_itself} == {1}
    for a, b in zip(together, by_itself):
        assert a.codes == b.codes and torch.equal(a.value, b.value)


def test_a_cancelled_row_leaves_at_the_next_check_and_its_slot_is_reused(acc, model):
    worker = DeviceWorker("cpu")
    batch = ContinuousBatch(acc, BatchOptions(slots=1))
    started, go_on = threading.Event(), threading.Event()

    def hold(n, done):
        started.set()
        assert go_on.wait(60)

    long = batch.submit(row(acc, model, 0, SamplingParams(), MAX_TOKENS - 10, Recorder(hold)), worker)
    assert started.wait(60)
    never = batch.submit(row(acc, model, 1, SamplingParams(), 20), worker)
    waiting_request = row(acc, model, 2, SamplingParams(greedy=True), 20)
    waiting = batch.submit(waiting_request, worker)
    assert never.cancel() and long.cancel(), "a row's future stays cancellable until it ends"
    go_on.set()
    result = waiting.result(120)
    assert result.codes == alone(acc, waiting_request)[0]
    assert long.cancelled() and never.cancelled()
    assert result.steps[0] <= 2 * acc.options.sync_every, "it took the slot at the check after the cancel"
    status = batch.status()
    assert status["in_flight"] == 0 and status["waiting"] == 0
    assert status["rows"] == 2, "the cancelled waiting row never ran"
    queued = status["queued_s"]  # each admitted row's wait from submit to its prefill
    assert queued["rows"] == 2 and queued["max"] >= round(result.queued_s, 4) > 0
    assert 0 <= queued["p50"] <= queued["p95"] <= queued["max"]


def test_a_failing_row_fails_alone_with_its_reason(acc, model):
    worker = DeviceWorker("cpu")
    batch = ContinuousBatch(acc, BatchOptions(slots=4))

    class BrokenVocoder(Recorder):
        def update(self, n, latents, done):
            if done:
                raise ValueError("the vocoder broke on this row (injected)")
            return super().update(n, latents, done)

    good = [row(acc, model, i, SamplingParams(), 25) for i in range(2)]
    bad_prompt = RowRequest(text_ids=acc.text_ids(TEXT, "en"), cond_latents=torch.zeros(1, 32, 7),
                            params=SamplingParams(), sink=Recorder(), seed=1)
    bad_sink = row(acc, model, 3, SamplingParams(), 15, BrokenVocoder())
    futures = batch.submit_all([good[0], bad_prompt, bad_sink, good[1]], worker)
    with pytest.raises(RuntimeError):  # torch.cat of latents 7 wide with 64-wide text embeddings
        futures[1].result(120)
    with pytest.raises(ValueError, match="vocoder broke"):
        futures[2].result(120)
    for request, future in zip(good, (futures[0], futures[3])):
        assert future.result(120).codes == alone(acc, request)[0]
    assert worker.poisoned is None and batch.status()["in_flight"] == 0


def test_other_work_runs_between_slices_of_a_long_decode(acc, model):
    """A job queued (an F5 batch, say) and a short decode submitted while a long decode runs both
    finish before it: the job after at most one slice of it, the short one joining at the next check."""
    worker = DeviceWorker("cpu")
    slice_steps = 8
    batch = ContinuousBatch(acc, BatchOptions(slots=4, slice_steps=slice_steps))
    held, go_on = threading.Event(), threading.Event()
    long_sink = Recorder(lambda n, done: held.set() or go_on.wait(60))
    long_request = row(acc, model, 0, SamplingParams(), MAX_TOKENS - 10, long_sink)
    long = batch.submit(long_request, worker)
    assert held.wait(60)
    held_at = long_sink.counts[-1]
    seen_by_job = []
    job = worker.submit(lambda: seen_by_job.append((long_sink.counts[-1], long.done())), label="other work")
    short = batch.submit(row(acc, model, 1, SamplingParams(), 6), worker)
    go_on.set()
    job.result(120)
    short_result = short.result(120)
    long_result = long.result(120)
    (progress, long_done), = seen_by_job
    assert not long_done and progress <= held_at + slice_steps, "the job waited for one slice at most"
    assert short_result.steps[1] < long_result.steps[1], "the short decode ended first"
    assert short_result.steps[0] <= held_at + acc.options.sync_every, "it joined at the next check"
    assert long_result.codes == alone(acc, long_request)[0]
    assert batch.status()["slices"] >= (MAX_TOKENS - 10) // slice_steps


def test_batch_settings_from_the_environment(acc):
    from engines.settings import Settings
    from engines.xtts.batching import batch_options

    def options(**env):
        return batch_options(Settings.from_env(env).xtts, acc)

    assert options() == BatchOptions(slots=4, buckets=(1, 2, 4, 8, 16), slice_steps=128)
    assert options(VOICE_STUDIO_XTTS_BATCH="fixed", VOICE_STUDIO_XTTS_MAX_BATCH="6").buckets == (6,)
    assert options(VOICE_STUDIO_XTTS_MAX_BATCH="12", VOICE_STUDIO_XTTS_SLICE_STEPS="32").slots == 12
    assert options(VOICE_STUDIO_XTTS_BATCH="0") is None and options(VOICE_STUDIO_XTTS_BATCH="off") is None
    assert ContinuousBatch(acc, options(VOICE_STUDIO_XTTS_MAX_BATCH="6")).decoder.buckets == (1, 2, 4, 6)


class LaneRecorder(Recorder):
    """``Recorder`` whose end is handed to a side lane (its latents copied first, as the XTTS sinks
    do): the row's result is that work's future. ``fail``: the work raises there."""

    def __init__(self, lane, fail: bool = False):
        super().__init__()
        self.lane, self.fail = lane, fail

    def update(self, n, latents, done):
        kept = super().update(n, latents, done)
        if not done:
            return None

        def work():
            if self.fail:
                raise ValueError("the lane broke this row (injected)")
            return kept

        return self.lane.submit(work, label="row end")


def test_a_sink_that_hands_its_work_to_a_lane_frees_its_slot_at_once(acc, model):
    """While the lane is busy, every row still leaves the batch when it ends (two slots, four rows:
    the last two could only decode in the slots the first two freed); the results come when the
    lane has done their work, each as an inline sink would give it, and a failure there fails its
    row alone."""
    from engines.gpu.side_lane import SideLane
    from tests.waiting import until

    worker = DeviceWorker("cpu")
    lane = SideLane("cpu", worker=worker)
    busy, go_on = threading.Event(), threading.Event()
    lane.submit(lambda: busy.set() or go_on.wait(60), label="busy")
    assert busy.wait(60)
    lengths = [10, 14, 6, 9]
    handed = [row(acc, model, i, SamplingParams(), length, LaneRecorder(lane, fail=i == 1))
              for i, length in enumerate(lengths)]
    inline = [replace(request, sink=Recorder()) for request in handed]
    batch = ContinuousBatch(acc, BatchOptions(slots=2))
    futures = batch.submit_all(handed, worker)
    assert until(lambda: batch.status()["finishing"] == 4, 60), "every row left while the lane was busy"
    assert not any(f.done() for f in futures) and batch.status()["in_flight"] == 0
    go_on.set()
    with pytest.raises(ValueError, match="the lane broke this row"):
        futures[1].result(60)
    expected = [f.result(60) for f in ContinuousBatch(acc, BatchOptions(slots=2)).submit_all(inline, worker)]
    for i in (0, 2, 3):
        got = futures[i].result(60)
        assert (got.codes, got.steps, got.peak_rows) == (expected[i].codes, expected[i].steps, expected[i].peak_rows)
        assert torch.equal(got.value, expected[i].value) and got.sink_s >= 0.0
    assert until(lambda: batch.status()["finishing"] == 0, 60)
    lane.close(timeout=60)


def test_a_listened_for_rows_slice_goes_before_older_jobs_when_the_worker_is_free(acc, model):
    """A stream's first row (``hurry``) that starts the batch queues its slice as urgent: once the
    job running ends, the slice runs before the plain jobs queued earlier."""
    worker = DeviceWorker("cpu")
    batch = ContinuousBatch(acc, BatchOptions(slots=2))
    order, held = [], threading.Event()
    blocker = worker.submit(lambda: held.wait(30), label="blocker")
    plain = worker.submit(lambda: order.append("plain"), label="f5tts synthesis")
    listened = batch.submit(row(acc, model, 0, SamplingParams(greedy=True), 3,
                                sink=Recorder(gate=lambda n, done: order.append("row") if done else None)),
                            worker, hurry=True)
    held.set()
    assert listened.result(120).codes and plain.result(30) is None and blocker.result(30)
    assert order == ["row", "plain"]
