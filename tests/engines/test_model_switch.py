"""The F5-TTS model picker on the real engine (two tiny checkpoints, CPU): a switch under traffic fails
no request, a request in flight finishes on the model it started on, every result and health say
which checkpoint ran, and a bad pick is refused before the running model is touched.

Where a test needs a request to stay in flight, it wraps the engine's real method so that it first
waits on an event; the engines still do the real work.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from devtools.tiny_models import build_f5_model, ema_state_dict, write_f5_variant
from engines import EngineManager, InputError, Settings, SynthesisRequest
from engines.errors import WeightsMissingError
from engines.f5.engine import F5Engine
from engines.f5.models import F5ModelChoice, model_choices
from engines.worker import DeviceWorker
from engines.xtts.engine import XttsEngine

pytestmark = pytest.mark.slow

TRANSCRIPT = "This is my voice, recorded for a test."
CLIENTS = 3
WAIT_S = 120


@pytest.fixture(scope="module")
def second_checkpoint(tiny, tmp_path_factory):
    """Another tiny F5 checkpoint (other weights, another key layout), for the same tiny architecture."""
    model = build_f5_model(tiny.f5_vocab, seed=1)
    return write_f5_variant(ema_state_dict(model), tmp_path_factory.mktemp("f5_b") / "f5_b.safetensors", "ema")


def fresh_manager(tiny_env) -> EngineManager:
    settings = Settings.from_env(tiny_env)
    engines = {"f5tts": F5Engine(settings.f5, "cpu", cache_dir=settings.cache_dir, accel=settings.accel),
               "xtts": XttsEngine(settings.xtts, "cpu", accel=settings.accel)}
    return EngineManager(settings, engines=engines, worker=DeviceWorker("cpu"))


def clone(reference, seed: int) -> SynthesisRequest:
    return SynthesisRequest(text="Hello there, a short test.", language="en", engine="f5tts",
                            reference_audio=str(reference), reference_text=TRANSCRIPT, seed=seed,
                            quality_profile="f5tts_fast", allow_fallback=False)


def test_a_switch_under_traffic_fails_no_request(tiny_env, tiny, reference_wav, second_checkpoint):
    manager = fresh_manager(tiny_env)
    first = manager.synthesize(clone(reference_wav, 0))
    a, b = tiny.f5_ckpt.name, second_checkpoint.name
    assert (first.metadata["model"], first.metadata["checkpoint"]) == ("custom", a)
    done: list[tuple[float, float, str]] = []  # (started, finished, checkpoint) of every request
    failures: list[str] = []
    stop = threading.Event()
    progressed = threading.Condition()

    def client(index: int) -> None:
        seed = 100 * index
        while not stop.is_set():
            seed += 1
            started = time.monotonic()
            try:
                result = manager.synthesize(clone(reference_wav, seed))
            except Exception as exc:  # every failure is collected and asserted on below
                failures.append(f"client {index}: {type(exc).__name__}: {exc}")
                continue
            with progressed:
                done.append((started, time.monotonic(), result.metadata["checkpoint"]))
                progressed.notify_all()

    def wait_for(count: int, checkpoint: str) -> None:
        with progressed:
            assert progressed.wait_for(lambda: sum(c == checkpoint for _, _, c in done) >= count or failures,
                                       WAIT_S), f"no {count} results on {checkpoint}"

    switches: list[tuple[float, float, str]] = []

    def switch(choice: F5ModelChoice, checkpoint: str) -> None:
        started = time.monotonic()
        health = manager.switch_model("f5tts", choice)
        switches.append((started, time.monotonic(), checkpoint))
        assert health["status"] == "available" and health["model"] == checkpoint
        assert health["details"]["served_model"] == {"model": "custom", "checkpoint": checkpoint}

    with ThreadPoolExecutor(CLIENTS) as pool:
        clients = [pool.submit(client, i) for i in range(CLIENTS)]
        try:
            wait_for(2, a)
            switch(F5ModelChoice("custom", checkpoint=str(second_checkpoint)), b)
            wait_for(3, b)
            switch(F5ModelChoice("custom", checkpoint=str(tiny.f5_ckpt)), a)
            with progressed:
                count = len(done)
            wait_for(sum(c == a for _, _, c in done[:count]) + 3, a)
        finally:
            stop.set()
            for future in clients:
                future.result(WAIT_S)
    assert failures == []
    # A request that started after a switch returned ran on that switch's checkpoint, unless the next
    # switch began before it finished: a request still on its way to the device when the old model is
    # unloaded runs on the next one, which its result then names.
    (_, to_b, _), (back_started, to_a, _) = switches
    for started, finished, checkpoint in done:
        if to_b < started and finished < back_started:
            assert checkpoint == b
        if started > to_a:
            assert checkpoint == a
    assert {c for _, _, c in done} == {a, b}


def test_a_request_in_flight_finishes_on_the_old_model(tiny_env, tiny, reference_wav, second_checkpoint,
                                                       monkeypatch):
    manager = fresh_manager(tiny_env)
    assert manager.ensure_loaded("f5tts") is None
    f5 = manager.engines["f5tts"]
    running, release, waiting = threading.Event(), threading.Event(), threading.Event()
    real = f5.synthesize_batch

    def held(jobs):
        running.set()
        assert release.wait(WAIT_S)
        return real(jobs)

    monkeypatch.setattr(f5, "synthesize_batch", held)
    steps: list[str] = []

    def progress(fraction: float, message: str) -> None:
        steps.append(message)
        if "waiting for the requests in flight" in message:
            waiting.set()

    with ThreadPoolExecutor(2) as pool:
        request = pool.submit(manager.synthesize, clone(reference_wav, 5))
        assert running.wait(WAIT_S)
        switching = pool.submit(manager.switch_model, "f5tts",
                                F5ModelChoice("custom", checkpoint=str(second_checkpoint)), progress)
        assert waiting.wait(WAIT_S)  # the new weights are read; the unload waits behind the request
        assert f5.served_model()["checkpoint"] == tiny.f5_ckpt.name
        release.set()
        in_flight = request.result(WAIT_S)
        health = switching.result(WAIT_S)
    assert in_flight.metadata["checkpoint"] == tiny.f5_ckpt.name
    assert health["model"] == second_checkpoint.name and health["status"] == "available"
    assert [m.split(", ", 1)[0] for m in steps] == [f"switching F5-TTS: step {i} of 4" for i in (1, 2, 3, 4)]
    after = manager.synthesize(clone(reference_wav, 6))
    assert after.metadata["checkpoint"] == second_checkpoint.name
    assert "F5TTS_ARCH=tiny_dit.json" in health["details"]["assumed_settings"]


def test_a_bad_pick_is_refused_before_the_model_is_touched(tiny_env, tiny, tmp_path):
    manager = fresh_manager(tiny_env)
    assert manager.ensure_loaded("f5tts") is None
    f5 = manager.engines["f5tts"]
    loaded = f5.model
    not_a_checkpoint = tmp_path / "notes.safetensors"
    not_a_checkpoint.write_bytes(b"this is not a safetensors file")
    cases = [
        (F5ModelChoice("F5TTS_v9"), InputError, "model 'F5TTS_v9' is unknown"),
        (F5ModelChoice("custom"), InputError, "needs its checkpoint"),
        (F5ModelChoice("custom", checkpoint=str(tiny.f5_vocab)), InputError, "is not a checkpoint file"),
        (F5ModelChoice("custom", checkpoint=str(tmp_path / "gone.safetensors")), InputError, "does not exist"),
        (F5ModelChoice("custom", checkpoint=str(tiny.f5_ckpt), architecture="F5TTS_v7"), InputError,
         "architecture 'F5TTS_v7' is unknown"),
        (F5ModelChoice("custom", checkpoint=str(tiny.f5_ckpt), languages="xx-nowhere"), InputError, "xx-nowhere"),
        # Known, but its weights are not here and the Hub is off (tests run offline): the fix is named.
        (F5ModelChoice("SWivid/F5-TTS"), WeightsMissingError, "python -m engines download"),
        # The real architecture does not fit the tiny weights: said before the running model goes.
        (F5ModelChoice("custom", checkpoint=str(tiny.f5_ckpt), architecture="F5TTS_v1_Base"), Exception,
         "F5TTS_v1_Base"),
        (F5ModelChoice("custom", checkpoint=str(not_a_checkpoint)), Exception, "notes.safetensors"),
    ]
    for choice, error, words in cases:
        with pytest.raises(error) as caught:
            manager.switch_model("f5tts", choice)
        assert words in str(caught.value), choice
        assert str(tmp_path) not in str(caught.value) and str(tiny.f5_ckpt.parent) not in str(caught.value)
        assert f5.model is loaded and manager.engine_health("f5tts").status == "available"
    with pytest.raises(InputError, match="no model picker"):
        manager.switch_model("xtts", F5ModelChoice("custom", checkpoint=str(tiny.f5_ckpt)))
    assert [value for _, value in model_choices()] == ["firstpixel/F5-TTS-pt-br", "SWivid/F5-TTS",
                                                        "SWivid/F5-TTS:F5TTS_Base", "custom"]
