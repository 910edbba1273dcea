"""XTTS requests in the continuous decode batch, through the manager (tiny models, CPU).

Many users' XTTS requests decode together on the one device worker, which still runs other
work (F5 batches) between the batch's slices; streams hand out audio as it is made; a seed
gives the same audio; an Unload lets the decodes in flight end; a failed step is a broken
device. Where a test needs a decode to last, it forces the row's length (the real decode
runs) or holds the worker inside a check until the test has queued what it needs.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pytest

from engines import EngineManager, NoEngineAvailableError, Settings, SynthesisRequest
from engines.xtts import batching as xtts_batching
from engines.xtts.accel.xtts_batch import RowRequest
from engines.xtts.accel.xtts_sampling import SamplingParams
from engines.f5.engine import F5Engine
from engines.worker import DeviceWorker
from engines.xtts.engine import XttsEngine

TRANSCRIPT = "This is my voice, recorded for a test."
SLICE_STEPS = 8


def own_manager(tiny_env, worker=None, **env) -> EngineManager:
    """Fresh engines on a worker of their own (nothing here touches the session's engines)."""
    settings = Settings.from_env({**tiny_env, "VOICE_STUDIO_XTTS_SLICE_STEPS": str(SLICE_STEPS), **env})
    engines = {"f5tts": F5Engine(settings.f5, "cpu", cache_dir=settings.cache_dir, accel=settings.accel),
               "xtts": XttsEngine(settings.xtts, "cpu", accel=settings.accel)}
    return EngineManager(settings, engines=engines, worker=worker or DeviceWorker("cpu"))


@pytest.fixture(scope="module")
def long_env(tiny_env, tmp_path_factory):
    """The tiny models, with an XTTS that may decode 160 tokens (the session's stops at 47)."""
    from devtools.tiny_models import build_xtts_dir

    return {**tiny_env, "XTTS_MODEL": str(build_xtts_dir(tmp_path_factory.mktemp("xtts_long"), max_audio_tokens=160))}


@pytest.fixture(scope="module")
def batched(long_env):
    manager = own_manager(long_env)
    for name in manager.engines:
        assert manager.ensure_loaded(name) is None
    return manager


def dub(**kw) -> SynthesisRequest:
    base = dict(text="Hello there, this is a short test.", language="en", engine="xtts",
                voice_preset="male_generic", quality_profile="xtts_fast", seed=3, allow_fallback=False)
    return SynthesisRequest(**{**base, **kw})


def wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        threading.Event().wait(0.005)


class Held:
    """A sink that holds the worker at its row's first check until ``go_on`` is set."""

    def __init__(self):
        self.counts: list[int] = []
        self.held, self.go_on = threading.Event(), threading.Event()

    def update(self, n, latents, done):
        self.counts.append(n)
        self.held.set()
        assert self.go_on.wait(60)


def long_decode(manager, sink):
    """A decode forced to the model's whole token budget, queued straight into the engine's batch."""
    xtts = manager.engines["xtts"]
    loaded = xtts._loaded
    speaker = loaded.model.speaker_manager.speakers["Damien Black"]
    tokens = loaded.accelerator.max_gen
    request = RowRequest(text_ids=loaded.accelerator.text_ids("A long decode runs here.", "en"),
                         cond_latents=speaker["gpt_cond_latent"], params=SamplingParams(), sink=sink, seed=1,
                         max_new_tokens=tokens, min_new_tokens=tokens)
    return loaded.batch.submit(request, manager.worker), tokens


def test_an_f5_request_and_a_short_xtts_request_wait_one_slice_of_a_long_decode(batched, reference_wav,
                                                                                monkeypatch):
    f5, batch = batched.engines["f5tts"], batched.engines["xtts"]._loaded.batch
    sink = Held()
    long, tokens = long_decode(batched, sink)
    assert sink.held.wait(60)
    held_at = sink.counts[-1]
    real_batch, real_row, real_update = f5.synthesize_batch, xtts_batching.row_request, xtts_batching.WaveSink.update
    seen_by_f5, seen_by_short = [], []
    monkeypatch.setattr(f5, "synthesize_batch",  # what the long decode had done when the F5 batch ran
                        lambda jobs: seen_by_f5.append((sink.counts[-1], long.done())) or real_batch(jobs))
    monkeypatch.setattr(xtts_batching, "row_request",  # the short request: 10 tokens
                        lambda *a: replace(real_row(*a), max_new_tokens=10, min_new_tokens=10))

    def short_done(wave_sink, n, latents, done):  # whether the long decode had ended when the short one did
        if done:
            seen_by_short.append(long.done())
        return real_update(wave_sink, n, latents, done)

    monkeypatch.setattr(xtts_batching.WaveSink, "update", short_done)
    with ThreadPoolExecutor(2) as pool:
        f5_request = pool.submit(batched.synthesize, SynthesisRequest(
            text="Hello there, this is a short test.", language="en", engine="f5tts",
            reference_audio=str(reference_wav), reference_text=TRANSCRIPT, seed=3, allow_fallback=False))
        wait_for(lambda: batched.worker.queued >= 1, "the F5 job to be queued")
        short = pool.submit(batched.synthesize, dub(text="Hi there."))
        wait_for(lambda: batch.status()["waiting"] >= 1, "the short XTTS request to wait for a slot")
        steps_when_queued = batch.stats["steps"]
        sink.go_on.set()
        assert f5_request.result(120).metadata["tts_engine_used"] == "f5tts"
        short_meta = short.result(120).metadata
    assert short_meta["tts_engine_used"] == "xtts"
    assert short_meta["decode_batch_peak"] == 2, "the short request decoded beside the long one"
    (progress, long_done), = seen_by_f5
    assert not long_done and progress <= held_at + SLICE_STEPS, "the F5 batch waited one slice at most"
    assert seen_by_short == [False], "the short request ended while the long decode went on"
    result = long.result(120)
    assert len(result.codes) == tokens and result.steps[1] > steps_when_queued + SLICE_STEPS


def test_streams_under_batching_come_as_they_are_made_and_join_into_the_clip(batched, monkeypatch):
    """Two streams and a whole clip at once: each stream's first piece reaches its caller before the
    next is made, and each stream joins into the audio its request makes on its own."""
    tokens = 45
    real_row = xtts_batching.row_request
    monkeypatch.setattr(xtts_batching, "row_request",  # long enough for several pieces
                        lambda *a: replace(real_row(*a), max_new_tokens=tokens, min_new_tokens=tokens))
    alone = {seed: batched.synthesize(dub(seed=seed)).audio for seed in (3, 4, 5)}
    real_init = xtts_batching.StreamSink.__init__
    made, first_reached = [], threading.Event()

    def init(sink, windows, put, ended, **kw):
        def counted_put(item):  # in the vocoder lane: a piece made, handed to its caller's queue
            if len(item[0]):
                made.append(len(item[0]))
            put(item)
            if len(made) == 1 and len(item[0]):
                assert first_reached.wait(60), "the first piece never reached its caller"

        real_init(sink, windows, counted_put, ended, **kw)

    monkeypatch.setattr(xtts_batching.StreamSink, "__init__", init)
    with ThreadPoolExecutor(3) as pool:
        first = batched.stream(dub(seed=3))
        first_piece = next(iter(first))
        assert len(made) == 1 and len(first_piece) > 0, "handed out before the next piece was made"
        first_reached.set()
        second = pool.submit(lambda: list(batched.stream(dub(seed=4))))
        whole = pool.submit(batched.synthesize, dub(seed=5))
        streamed = {3: np.concatenate([first_piece, *first]), 4: np.concatenate(second.result(120))}
        np.testing.assert_allclose(whole.result(120).audio, alone[5], atol=1e-3)
    for seed, audio in streamed.items():
        assert audio.shape == alone[seed].shape
        np.testing.assert_allclose(audio, alone[seed], atol=1e-3)
    assert len(made) >= 6, "every stream came in several pieces"
    assert batched.synthesize(dub(seed=4)).audio.tobytes() == alone[4].tobytes(), "a seed repeats"


def test_an_unload_lets_the_decodes_in_flight_end_and_later_requests_load_again(tiny_env, monkeypatch):
    fresh = own_manager(tiny_env)
    assert fresh.ensure_loaded("xtts") is None
    xtts = fresh.engines["xtts"]
    batch = xtts._loaded.batch
    held, go_on, loaded_at_end = threading.Event(), threading.Event(), []
    real_update = xtts_batching.WaveSink.update

    def update(sink, n, latents, done):
        if not held.is_set():
            held.set()
            assert go_on.wait(60)
        if done:
            loaded_at_end.append(xtts.is_loaded)
        return real_update(sink, n, latents, done)

    monkeypatch.setattr(xtts_batching.WaveSink, "update", update)
    with ThreadPoolExecutor(3) as pool:
        running = pool.submit(fresh.synthesize, dub())
        assert held.wait(60)
        unload = pool.submit(fresh.unload, "xtts")
        wait_for(lambda: batch.status()["draining"], "the unload to wait for the batch")
        later = pool.submit(fresh.synthesize, dub(seed=5))
        go_on.set()
        served, after = running.result(120), later.result(120)
        unload.result(120)  # (its health may already say "loading": the later request loads it again)
    assert loaded_at_end[0], "the decode in flight ended before the engine was unloaded"
    for result in (served, after):
        meta = result.metadata
        assert (meta["tts_engine_used"], meta["engine_fallback"], meta["fallback_reason"]) == ("xtts", False, None)
    assert xtts.is_loaded and xtts._loaded.batch is not batch, "the request after the Unload loaded it again"


def test_a_failed_step_is_a_broken_device_said_in_health(tiny_env, monkeypatch):
    broken = threading.Event()

    def probe():
        if broken.is_set():
            raise RuntimeError("CUDA error: an illegal memory access was encountered")

    fresh = own_manager(tiny_env, worker=DeviceWorker("cuda", probe=probe))
    assert fresh.synthesize(dub()).metadata["tts_engine_used"] == "xtts"
    decoder = fresh.engines["xtts"]._loaded.batch.decoder

    def sticky_failure(steps):
        broken.set()
        raise RuntimeError("CUDA error: operation not permitted when stream is capturing (injected)")

    monkeypatch.setattr(decoder, "step", sticky_failure)
    with pytest.raises(NoEngineAvailableError) as caught:
        fresh.synthesize(dub())
    assert "stream is capturing" in caught.value.reasons["xtts"]
    health = fresh.health()
    assert health["status"] == "unhealthy"
    assert "restart the process" in health["engines"]["xtts"]["error"]
    with pytest.raises(NoEngineAvailableError) as again:
        fresh.synthesize(dub(seed=4))
    assert "restart the process" in again.value.reasons["xtts"]


def test_batching_off_decodes_one_request_at_a_time(tiny_env):
    fresh = own_manager(tiny_env, VOICE_STUDIO_XTTS_BATCH="0")
    xtts = fresh.engines["xtts"]
    assert not xtts.schedules_itself()
    result = fresh.synthesize(dub())
    assert result.metadata["tts_engine_used"] == "xtts" and xtts._loaded.batch is None
    assert "decode_batch" not in fresh.engine_health("xtts").details


def test_a_cloned_voice_is_conditioned_once_on_the_worker_then_read_from_memory(batched, reference_wav):
    def clone(seed):
        return SynthesisRequest(text="Hello there, this is a short test.", language="en", engine="xtts",
                                reference_audio=str(reference_wav), reference_text=TRANSCRIPT, seed=seed,
                                allow_fallback=False)

    xtts = batched.engines["xtts"]
    xtts.latents.clear()
    first, second = batched.synthesize(clone(3)), batched.synthesize(clone(4))
    assert (first.metadata["latents_source"], second.metadata["latents_source"]) == ("computed", "memory")
    for result in (first, second):
        assert result.metadata["tts_engine_used"] == "xtts" and np.isfinite(result.audio).all()
        assert result.metadata["decode_tokens"] > 0 and result.metadata["decode_batch_peak"] == 1


def long_f5_held(batched, reference_wav, monkeypatch, pool):
    """A long F5 request rendering on ``batched``'s worker, held at its first turn offer until the
    returned ``go_on`` is set; returns (its future, go_on)."""
    from engines.f5 import engine as f5tts

    real_yield, rendering, go_on = f5tts.yield_point, threading.Event(), threading.Event()

    def first_turn_held():
        if not rendering.is_set():
            rendering.set()
            assert go_on.wait(60)
        real_yield()

    monkeypatch.setattr(f5tts, "yield_point", first_turn_held)
    future = pool.submit(batched.synthesize, SynthesisRequest(
        text=" ".join(f"This is sentence number {i} of a longer text." for i in range(12)), language="en",
        engine="f5tts", reference_audio=str(reference_wav), reference_text=TRANSCRIPT, seed=3,
        quality_profile="f5tts_balanced", allow_fallback=False))
    assert rendering.wait(60)
    return future, go_on


def stream_beside_a_long_f5(batched, reference_wav, monkeypatch, request, queued, what: str):
    """``request`` streamed while a long F5 request renders in turns of an hour that a hurry cuts to
    nothing; F5 goes on once ``queued()`` holds. (The result, [whether F5 had ended when the
    stream's first latents came].)"""
    monkeypatch.setattr(batched.worker, "turn_s", 3600.0)
    monkeypatch.setattr(batched.worker, "hurried_turn_s", 0.0)
    real_update, f5_done_at_first_latents = xtts_batching.StreamSink.update, []
    with ThreadPoolExecutor(2) as pool:
        long_f5, go_on = long_f5_held(batched, reference_wav, monkeypatch, pool)

        def update(sink, n, latents, done):
            if not f5_done_at_first_latents:
                f5_done_at_first_latents.append(long_f5.done())
            return real_update(sink, n, latents, done)

        monkeypatch.setattr(xtts_batching.StreamSink, "update", update)

        def listen():
            stream = batched.stream(request)
            return list(stream), stream.result

        streamed = pool.submit(listen)
        wait_for(queued, what)
        go_on.set()
        pieces, result = streamed.result(120)
        assert long_f5.result(120).metadata["tts_engine_used"] == "f5tts"
    assert pieces and np.isfinite(np.concatenate(pieces)).all()
    return result, f5_done_at_first_latents


def test_a_streams_first_chunk_decodes_during_a_long_f5_turn(batched, reference_wav, monkeypatch):
    """A stream's first chunk hurries the worker: the F5 batch rendering gives way at its next turn
    offer though its turn is long, and the stream's first latents are made (and its first window
    planned) while F5 is still rendering."""
    batch = batched.engines["xtts"]._loaded.batch
    _, f5_done_at_first_latents = stream_beside_a_long_f5(
        batched, reference_wav, monkeypatch, dub(text="Hello there, this is a stream."),
        lambda: batch.status()["waiting"] >= 1, "the stream's first row to wait for the worker")
    assert f5_done_at_first_latents == [False], "the stream's first latents came while F5 was rendering"


def test_a_short_xtts_request_takes_turns_with_a_long_f5_batch(batched, reference_wav, monkeypatch):
    """A long F5 request offers the worker a turn between its ODE steps: an XTTS request that comes
    while it renders decodes in those turns and ends first, instead of waiting for all of it."""
    monkeypatch.setattr(batched.worker, "turn_s", 0.0)
    batch = batched.engines["xtts"]._loaded.batch
    real_row, real_update = xtts_batching.row_request, xtts_batching.WaveSink.update
    f5_done_when_xtts_ended = []
    monkeypatch.setattr(xtts_batching, "row_request",  # the XTTS request: 10 tokens
                        lambda *a: replace(real_row(*a), max_new_tokens=10, min_new_tokens=10))
    with ThreadPoolExecutor(2) as pool:
        long_f5, go_on = long_f5_held(batched, reference_wav, monkeypatch, pool)

        def xtts_ended(sink, n, latents, done):
            if done:
                f5_done_when_xtts_ended.append(long_f5.done())
            return real_update(sink, n, latents, done)

        monkeypatch.setattr(xtts_batching.WaveSink, "update", xtts_ended)
        short = pool.submit(batched.synthesize, dub(text="Hi there."))
        wait_for(lambda: batch.status()["waiting"] >= 1, "the XTTS request to wait for the worker")
        go_on.set()
        assert short.result(120).metadata["tts_engine_used"] == "xtts"
        assert long_f5.result(120).metadata["tts_engine_used"] == "f5tts"
    assert f5_done_when_xtts_ended == [False], "the XTTS request ended while the F5 batch was still rendering"


def test_a_new_voices_stream_is_conditioned_and_decoded_during_a_long_f5_turn(batched, reference_wav,
                                                                                monkeypatch):
    """A clone stream whose voice is new needs its latents computed on the worker first: that short
    job also runs in the long F5 batch's turn offers (and hurries it), so the stream's first latents
    still come while F5 is rendering, instead of after the whole batch."""
    batched.engines["xtts"].latents.clear()
    clone = SynthesisRequest(text="Hello there, this is a stream.", language="en", engine="xtts",
                             reference_audio=str(reference_wav), reference_text=TRANSCRIPT, seed=5,
                             allow_fallback=False)
    result, f5_done_at_first_latents = stream_beside_a_long_f5(
        batched, reference_wav, monkeypatch, clone, lambda: batched.worker.queued >= 1,
        "the voice's conditioning to wait for the worker")
    assert result.metadata["latents_source"] == "computed"
    assert f5_done_at_first_latents == [False], "the stream's first latents came while F5 was rendering"


def test_a_streams_result_says_where_its_first_audio_waited(batched, reference_wav):
    """The metadata of a streamed XTTS result splits the wait for its first audio into stages, which
    add up to no more than the wait the listener saw."""
    xtts = batched.engines["xtts"]
    xtts.latents.clear()
    clone = SynthesisRequest(text="Hello there, this is a stream.", language="en", engine="xtts",
                             reference_audio=str(reference_wav), reference_text=TRANSCRIPT, seed=6,
                             allow_fallback=False)
    for request in (clone, dub(text="Hello there, this is a stream.")):
        start = time.perf_counter()
        stream = batched.stream(request)  # returns once the first piece exists
        waited = time.perf_counter() - start
        pieces = list(stream)
        stages = stream.result.metadata["first_audio_s"]
        assert pieces and set(stages) == {"conditioning", "queued", "decode", "vocode"}
        assert all(seconds >= 0 for seconds in stages.values())
        assert sum(stages.values()) <= waited + 1e-3, (stages, waited)
        assert stages["queued"] > 0 and stages["decode"] + stages["vocode"] > 0
