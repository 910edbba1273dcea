"""XTTS's vocoder lane through the manager (tiny models, CPU): HiFi-GAN for ended rows and stream
windows runs on a thread beside the device worker (``VOICE_STUDIO_XTTS_VOCODE=lane``, the
default) and gives the audio the worker gives (``worker``) bit for bit; a failure there fails its
own request alone; an unload waits for the lane's queued work. Where the same batch must run
under both settings, the worker is held while the requests queue their rows one after the other,
so both runs decode the same rows in the same slots."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pytest

from engines import NoEngineAvailableError, Settings
from engines.errors import EngineUnloaded, InputError
from engines.xtts import batching as xtts_batching
from engines.xtts.accel.xtts_windows import StreamWindows
from engines.xtts.chunking import text_chunks
from tests.accel.test_xtts_batching import dub, long_env, own_manager, wait_for  # noqa: F401 (long_env: a fixture)

WAIT_S = 120
BROKEN_SPEED = 1.25  # the request whose vocoder work a test breaks
TWO_CHUNKS = " ".join(["This is the first sentence of a longer text, and it goes on for quite a while, long enough "
                       "that the tokenizer's limit of two hundred and fifty characters splits the text in two.",
                       "And here comes the second sentence, which is also rather long, so that both never fit one chunk."])


@pytest.fixture(scope="module")
def managers(long_env):  # noqa: F811
    """The same tiny models twice: HiFi-GAN in the vocoder lane, and on the worker."""
    made = {mode: own_manager(long_env, VOICE_STUDIO_XTTS_VOCODE=mode) for mode in ("lane", "worker")}
    for manager in made.values():
        assert manager.ensure_loaded("xtts") is None
    return made


def loaded(manager):
    return manager.engines["xtts"]._loaded


def forced_length(monkeypatch, tokens: int, by_seed: dict[int, int] | None = None) -> None:
    """Every row decodes exactly ``tokens`` tokens (``by_seed``: its request's own count). Random
    weights may stop a decode at once, and an empty clip fails the manager's sanity check."""
    real_row = xtts_batching.row_request

    def row_request(engine, loaded, job, *rest):
        length = (by_seed or {}).get(job.seed, tokens)
        return replace(real_row(engine, loaded, job, *rest), max_new_tokens=length, min_new_tokens=length)

    monkeypatch.setattr(xtts_batching, "row_request", row_request)


def render_together(manager, requests):
    """The requests' rows queued one request after the other while the worker is held, then decoded
    together: the same batch, slot for slot, whichever thread vocodes."""
    batch = loaded(manager).batch
    holding, release = threading.Event(), threading.Event()
    manager.worker.submit(lambda: holding.set() or release.wait(WAIT_S), label="hold the worker")
    assert holding.wait(WAIT_S)
    with ThreadPoolExecutor(len(requests)) as pool:
        futures = []
        for count, request in enumerate(requests, start=1):
            futures.append(pool.submit(manager.synthesize, request))
            wait_for(lambda: batch.status()["waiting"] == count, f"request {count}'s row in the line")
        release.set()
        return [future.result(WAIT_S) for future in futures]


def test_whole_clips_through_the_lane_are_the_workers_bit_for_bit(managers, monkeypatch):
    forced_length(monkeypatch, 30, by_seed={3: 30, 4: 17, 5: 44, 6: 9})  # each row ends at its own step
    requests = [dub(seed=seed, text=text) for seed, text in
                ((3, "Hello there, this is a short test."), (4, "A second voice speaks here."),
                 (5, "And a third one, a little longer than the others."), (6, "Short."))]
    runs_before = loaded(managers["lane"]).lane.status()["runs"]
    through_lane = render_together(managers["lane"], requests)
    on_worker = render_together(managers["worker"], requests)
    for lane_result, worker_result in zip(through_lane, on_worker):
        assert lane_result.metadata["tts_engine_used"] == "xtts"
        assert lane_result.metadata["decode_batch_peak"] == len(requests), "the four decoded together"
        assert lane_result.audio.tobytes() == worker_result.audio.tobytes()
    assert loaded(managers["lane"]).lane.status()["runs"] >= runs_before + len(requests), "the lane vocoded them"
    assert loaded(managers["worker"]).lane is None
    health = {mode: m.engine_health("xtts").details["decode_batch"] for mode, m in managers.items()}
    assert health["lane"]["vocode"] == "lane" and health["lane"]["vocoder_lane"]["closed"] is False
    assert health["lane"]["stream_lane"]["closed"] is False
    assert health["worker"]["vocode"] == "worker" and "vocoder_lane" not in health["worker"]
    assert "stream_lane" not in health["worker"]


def test_a_stream_through_the_lane_gives_the_workers_pieces(managers, monkeypatch):
    forced_length(monkeypatch, 45)
    assert len(text_chunks(loaded(managers["lane"]).model.tokenizer, TWO_CHUNKS, "en")) == 2
    lanes = loaded(managers["lane"])
    runs_before = (lanes.lane.status()["runs"], lanes.stream_lane.status()["runs"])
    pieces = {mode: list(manager.stream(dub(seed=7, text=TWO_CHUNKS))) for mode, manager in managers.items()}
    assert len(pieces["lane"]) >= 6, "two chunks of several pieces each"
    assert lanes.stream_lane.status()["runs"] >= runs_before[1] + len(pieces["lane"]), "the stream lane made them"
    assert lanes.lane.status()["runs"] == runs_before[0], "no stream piece waited in the whole clips' lane"
    assert [p.tobytes() for p in pieces["lane"]] == [p.tobytes() for p in pieces["worker"]]
    assert np.concatenate(pieces["lane"]).tobytes() == np.concatenate(pieces["worker"]).tobytes()


def test_a_failed_vocode_in_the_lane_fails_its_request_alone(managers, monkeypatch):
    manager = managers["lane"]
    forced_length(monkeypatch, 30)
    acc, lane = loaded(manager).accelerator, loaded(manager).lane
    real_vocode, failed_on = acc._vocode, []

    def vocode(latents, speaker, speed, side_thread=False):
        if speed == BROKEN_SPEED:
            failed_on.append(threading.current_thread().name)
            raise RuntimeError("HiFi-GAN broke on this row (injected)")
        return real_vocode(latents, speaker, speed, side_thread=side_thread)

    monkeypatch.setattr(acc, "_vocode", vocode)
    failures_before = lane.status()["failures"]
    requests = [dub(seed=3), dub(seed=4, speed=BROKEN_SPEED), dub(seed=5), dub(seed=6, text="Short.")]
    with ThreadPoolExecutor(len(requests)) as pool:
        futures = [pool.submit(manager.synthesize, request) for request in requests]
        with pytest.raises(NoEngineAvailableError) as caught:
            futures[1].result(WAIT_S)
        served = [futures[i].result(WAIT_S) for i in (0, 2, 3)]
    assert "HiFi-GAN broke on this row" in caught.value.reasons["xtts"]
    assert failed_on == ["side-lane-xtts vocoder lane"]
    for result in served:
        assert result.metadata["tts_engine_used"] == "xtts" and np.isfinite(result.audio).all()
    assert lane.status()["failures"] == failures_before + 1
    wait_for(lambda: loaded(manager).batch.status()["finishing"] == 0, "the lane's work to settle")
    assert manager.synthesize(dub(seed=8)).metadata["tts_engine_used"] == "xtts", "the lane goes on"


def test_a_failed_stream_window_fails_that_stream_alone(managers, monkeypatch):
    manager = managers["lane"]
    forced_length(monkeypatch, 45)
    real_render, rendered, threads = StreamWindows.render, {}, set()

    def render(windows, window):
        threads.add(threading.current_thread().name)
        rendered[id(windows)] = rendered.get(id(windows), 0) + 1
        if windows.speed == BROKEN_SPEED and rendered[id(windows)] == 2:
            raise RuntimeError("a stream window broke (injected)")
        return real_render(windows, window)

    monkeypatch.setattr(StreamWindows, "render", render)
    broken = iter(manager.stream(dub(seed=3, speed=BROKEN_SPEED)))
    first = next(broken)  # the first window rendered; the second breaks
    with ThreadPoolExecutor(2) as pool:
        other_stream = pool.submit(lambda: list(manager.stream(dub(seed=4))))
        whole = pool.submit(manager.synthesize, dub(seed=5))
        with pytest.raises(RuntimeError, match="a stream window broke"):
            for _ in broken:
                pass
        other = other_stream.result(WAIT_S)
        clip = whole.result(WAIT_S)
    assert len(first) > 0 and len(other) >= 3 and np.isfinite(np.concatenate(other)).all()
    assert threads == {"side-lane-xtts stream lane"}, "streams' windows render in their own lane"
    assert clip.metadata["tts_engine_used"] == "xtts" and np.isfinite(clip.audio).all()
    wait_for(lambda: loaded(manager).batch.status()["in_flight"] == 0, "the broken stream's row to leave")


def test_an_unload_waits_for_the_lanes_queued_vocodes_then_closes_it(tiny_env, monkeypatch):
    fresh = own_manager(tiny_env)
    assert fresh.ensure_loaded("xtts") is None
    xtts = fresh.engines["xtts"]
    batch, acc, lane, stream_lane = (xtts._loaded.batch, xtts._loaded.accelerator, xtts._loaded.lane,
                                     xtts._loaded.stream_lane)
    vocoding, go_on = threading.Event(), threading.Event()
    real_vocode = acc._vocode

    def held(*args, **kwargs):  # the first vocode waits in the lane until the unload is queued
        if not vocoding.is_set():
            vocoding.set()
            assert go_on.wait(WAIT_S)
        return real_vocode(*args, **kwargs)

    monkeypatch.setattr(acc, "_vocode", held)
    with ThreadPoolExecutor(2) as pool:
        running = pool.submit(fresh.synthesize, dub())
        assert vocoding.wait(WAIT_S)
        wait_for(lambda: batch.status()["finishing"] == 1, "the row to leave the batch, its vocode in the lane")
        unload = pool.submit(fresh.unload, "xtts")
        wait_for(lambda: batch.status()["draining"], "the unload to wait for the batch")
        assert not unload.done(), "the unload waits for the lane's work"
        go_on.set()
        served = running.result(WAIT_S)
        unload.result(WAIT_S)
    assert served.metadata["tts_engine_used"] == "xtts" and np.isfinite(served.audio).all()
    assert not xtts.is_loaded and lane.status()["closed"] and lane.queued == 0
    assert stream_lane.status()["closed"] and stream_lane.queued == 0
    for closed in (lane, stream_lane):
        with pytest.raises(EngineUnloaded):
            closed.submit(lambda: None)


def test_the_vocode_setting_from_the_environment():
    def vocode(value=None):
        env = {} if value is None else {"VOICE_STUDIO_XTTS_VOCODE": value}
        return Settings.from_env(env).xtts.vocode

    assert vocode() == "lane" and vocode("") == "lane" and vocode("lane") == "lane"
    assert vocode("worker") == "worker" and vocode(" Worker ") == "worker"
    with pytest.raises(InputError, match="VOICE_STUDIO_XTTS_VOCODE='gpu': use lane or worker"):
        vocode("gpu")
