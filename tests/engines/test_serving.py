"""Serving contracts on the real engines (tiny models, CPU): loaded means ready, Unload waits for
running work and never fails a request, a warming engine serves at once, seeds are per request,
a preset's F5 reference is an ordinary request, and a broken device is said in health.

Where a test needs time to pass inside a job (a slow request, a long compile), it wraps the
real method so that it first waits on an event; the engines still do the real work.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from engines import EngineManager, NoEngineAvailableError, Settings, SynthesisRequest
from engines.f5.engine import F5Engine
from engines.worker import DeviceWorker
from engines.xtts.engine import XttsEngine
from webui.http.routes import health_routes
from tests.waiting import until

pytestmark = pytest.mark.slow

TRANSCRIPT = "This is my voice, recorded for a test."


def clone(reference, engine="f5tts", **kw) -> SynthesisRequest:
    base = dict(text="Hello there, this is a short test.", language="en", engine=engine,
                reference_audio=str(reference), reference_text=TRANSCRIPT, seed=3)
    return SynthesisRequest(**{**base, **kw})


def dub(engine="f5tts", **kw) -> SynthesisRequest:
    base = dict(text="Hello there, this is a short test.", language="en", engine=engine,
                voice_preset="female_generic", seed=3)
    return SynthesisRequest(**{**base, **kw})


class WatchedLock:
    """A lock that says when a thread has to wait for it (``contended``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.contended = threading.Event()

    def __enter__(self) -> "WatchedLock":
        if not self._lock.acquire(blocking=False):
            self.contended.set()
            self._lock.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self._lock.release()


def own_manager(tiny_env, **env) -> EngineManager:
    """Fresh engines on a worker of their own, so nothing here touches the session's engines."""
    settings = Settings.from_env({**tiny_env, **env})
    engines = {"f5tts": F5Engine(settings.f5, "cpu", cache_dir=settings.cache_dir, accel=settings.accel),
               "xtts": XttsEngine(settings.xtts, "cpu", accel=settings.accel)}
    return EngineManager(settings, engines=engines, worker=DeviceWorker("cpu"))


def test_loaded_means_ready(tiny_env, reference_wav, monkeypatch):
    """While an engine is being made ready it is never reported loaded, and no request runs on it."""
    fresh = own_manager(tiny_env)
    f5 = fresh.engines["f5tts"]
    activating, release = threading.Event(), threading.Event()
    real_activate = f5._activate

    def slow_activate(staged):
        activating.set()
        assert release.wait(30)
        real_activate(staged)

    monkeypatch.setattr(f5, "_activate", slow_activate)
    load_lock = fresh._load_locks["f5tts"] = WatchedLock()
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(fresh.synthesize, clone(reference_wav, allow_fallback=False))
        assert activating.wait(30)
        second = pool.submit(fresh.synthesize, clone(reference_wav, allow_fallback=False, seed=4))
        assert load_lock.contended.wait(30)  # the second request waits for the load...
        # ...half-way through which the engine is not loaded, not available, and has served nothing.
        assert not f5.is_loaded and f5.model is None
        assert fresh.engine_health("f5tts").status == "loading"
        assert not first.done() and not second.done()
        release.set()
        results = [first.result(120), second.result(120)]
    assert f5.is_loaded and fresh.engine_health("f5tts").status == "available"
    assert [r.metadata["tts_engine_used"] for r in results] == ["f5tts", "f5tts"]


def test_unload_waits_for_running_work_and_the_next_request_loads_again(tiny_env, reference_wav, monkeypatch):
    """One decode at a time (a request is one job); tests/accel/test_xtts_batching.py checks the same of
    decodes in the continuous batch."""
    fresh = own_manager(tiny_env, VOICE_STUDIO_XTTS_BATCH="0")
    assert fresh.ensure_loaded("xtts") is None
    xtts = fresh.engines["xtts"]
    running, release = threading.Event(), threading.Event()
    real_synthesize = xtts.synthesize

    def slow_synthesize(job):
        running.set()
        assert release.wait(30)
        return real_synthesize(job)

    monkeypatch.setattr(xtts, "synthesize", slow_synthesize)
    with ThreadPoolExecutor(3) as pool:
        request = pool.submit(fresh.synthesize, dub("xtts", allow_fallback=False))
        assert running.wait(30)
        unload = pool.submit(fresh.unload, "xtts")
        assert until(lambda: fresh.worker.queued == 1)  # the unload's job waits behind the running request
        assert not unload.done(), "Unload must wait for the request that is running"
        assert xtts.is_loaded, "the model stays while a request uses it"
        queued_after = pool.submit(fresh.synthesize, dub("xtts", allow_fallback=False, seed=5))
        assert until(lambda: fresh.worker.queued == 2)  # a request queued behind the unload
        release.set()
        served = request.result(120)
        # The request queued behind it may already be loading the engine again.
        assert unload.result(120)["status"] in ("not_loaded", "loading", "available")
        later = queued_after.result(120)
    for result in (served, later):
        meta = result.metadata
        assert (meta["tts_engine_used"], meta["engine_fallback"], meta["fallback_reason"]) == ("xtts", False, None)
    assert xtts.is_loaded, "a request queued behind the Unload loaded the engine again"


def test_a_load_while_a_queued_request_reloads_does_not_deadlock(tiny_env):
    """After an Unload, a queued request reloads the engine on the worker while another thread asks
    for a Load (holding the load locks and waiting for the worker): both finish."""
    fresh = own_manager(tiny_env)
    assert fresh.ensure_loaded("xtts") is None
    release = threading.Event()
    blocking = threading.Event()
    fresh.worker.submit(lambda: blocking.set() or release.wait(30), label="blocker")
    xtts = fresh.engines["xtts"]
    reached, real_render = threading.Event(), xtts.render_scheduled

    def render_scheduled(job, worker):
        reached.set()
        return real_render(job, worker)

    xtts.render_scheduled = render_scheduled
    assert blocking.wait(30)
    with ThreadPoolExecutor(3) as pool:
        unload = pool.submit(fresh.unload, "xtts")
        assert until(lambda: fresh.worker.queued == 1)  # the unload's job waits behind the blocker
        request = pool.submit(fresh.synthesize, dub("xtts", allow_fallback=False))
        assert reached.wait(30)  # the request has reached the engine that is being unloaded
        release.set()
        unload.result(60)
        load = pool.submit(fresh.load, "xtts")
        assert request.result(120).metadata["tts_engine_used"] == "xtts"
        assert load.result(120)["status"] == "available"


def test_a_warming_engine_serves_at_once(tiny_env, reference_wav, monkeypatch):
    """A compile running in the background (as on CUDA) blocks neither requests nor the other engine;
    the capture that waits for it runs after it, and the metadata says what state the engine was in."""
    fresh = own_manager(tiny_env)
    f5 = fresh.engines["f5tts"]
    finish_compile = threading.Event()
    captured = []

    def start_warmup(worker):  # the same mechanism F5Warmup uses on CUDA, with a compile that waits
        f5.warmup = {"mode": "auto", "state": "compiling"}

        def compile_step():
            assert finish_compile.wait(60)
            worker.submit(lambda: captured.append("graph") or f5.warmup.update(state="ready"), exclusive=True)

        worker.background(compile_step, label="compile")

    monkeypatch.setattr(f5, "start_warmup", start_warmup)
    try:
        during = fresh.synthesize(clone(reference_wav, allow_fallback=False))
        other = fresh.synthesize(dub("xtts", allow_fallback=False))
        health = fresh.engine_health("f5tts")
        assert during.metadata["tts_engine_used"] == "f5tts" and during.metadata["warmup_state"] == "compiling"
        assert other.metadata["tts_engine_used"] == "xtts" and not captured
        assert health.status == "available" and health.details["warmup"]["state"] == "compiling"
    finally:
        finish_compile.set()
    fresh.worker.submit(lambda: None).result(30)
    for _ in range(100):
        if captured:
            break
        threading.Event().wait(0.05)
    assert captured == ["graph"]
    after = fresh.synthesize(clone(reference_wav, allow_fallback=False))
    assert after.metadata["warmup_state"] == "ready"


@pytest.mark.parametrize("engine", ["f5tts", "xtts"])
def test_a_seed_gives_the_same_audio_alone_and_beside_other_requests(engine, manager, reference_wav):
    """Random draws come from the request's own generator, so another request running at the same
    time (the other engine, or another F5 request batched into the same forward) changes nothing."""
    request = clone(reference_wav, engine=engine, seed=1234, allow_fallback=False)
    alone = manager.synthesize(request)
    again = manager.synthesize(request)
    np.testing.assert_array_equal(alone.audio, again.audio)
    others = [clone(reference_wav, engine="xtts", seed=7, text="Another request, running at the same time."),
              clone(reference_wav, engine="f5tts", seed=8, text="A third one, with different words in it."),
              dub("f5tts", seed=9, text="And a fourth, dubbed with a preset voice.")]
    start = threading.Barrier(len(others) + 1)

    def run(r):
        start.wait(30)
        return manager.synthesize(r)

    with ThreadPoolExecutor(len(others) + 1) as pool:
        futures = [pool.submit(run, r) for r in [request, *others]]
        results = [f.result(180) for f in futures]
    if engine == "xtts" and manager.engines["xtts"].schedules_itself():
        # Decoded beside the other XTTS request, its steps ran at another batch size: the same
        # tokens, rounded differently in the last bits (README, "Same seed, same audio, batched?";
        # bit for bit with VOICE_STUDIO_XTTS_BATCH=off or fixed, tests/accel/test_xtts_batch.py).
        assert results[0].metadata["decode_tokens"] == alone.metadata["decode_tokens"]
        np.testing.assert_allclose(results[0].audio, alone.audio, rtol=0, atol=1e-5)
    else:
        np.testing.assert_array_equal(results[0].audio, alone.audio)
    assert results[0].metadata["seed"] == 1234


def test_a_presets_f5_reference_is_an_ordinary_request(tiny_env, monkeypatch, tmp_path):
    """Rendered once by XTTS through the fallback loop and the sanity guard; its time is counted;
    a render that fails the guard is neither used nor cached."""
    from engines import manager as manager_module

    fresh = own_manager(tiny_env, VOICE_STUDIO_CACHE_DIR=str(tmp_path))
    assert not fresh.voices.render_dir.exists()
    real_problem = manager_module.audio_problem
    monkeypatch.setattr(manager_module, "audio_problem",
                        lambda audio, rate, text, *a, **k: "engine returned silence (injected)"
                        if text.startswith("Good evening") else real_problem(audio, rate, text, *a, **k))
    # male_generic's sentence starts "Good evening"; its render fails the guard: no clip, F5 cannot serve.
    failed = fresh.synthesize(dub("f5tts", voice_preset="male_generic"))
    assert failed.metadata["tts_engine_used"] == "xtts" and failed.metadata["engine_fallback"] is True
    assert "male_generic has no F5-TTS reference" in failed.metadata["fallback_reason"]
    assert not any(fresh.voices.render_dir.glob("male_generic-*.wav"))
    monkeypatch.setattr(manager_module, "audio_problem", real_problem)
    served = fresh.synthesize(dub("f5tts", voice_preset="male_generic"))
    meta = served.metadata
    assert (meta["tts_engine_used"], meta["engine_fallback"]) == ("f5tts", False)
    assert meta["preset_reference"] == "rendered_by_xtts"
    assert meta["synth_s"] > 0 and "preset_render_s" not in meta, "the render's time is part of synth_s"
    assert len(list(fresh.voices.render_dir.glob("male_generic-*.wav"))) == 1
    cached = fresh.synthesize(dub("f5tts", voice_preset="male_generic", seed=4))
    assert cached.metadata["preset_reference"] == "rendered_by_xtts"


def test_a_broken_device_is_unhealthy_and_fails_fast(tiny_env, reference_wav, monkeypatch):
    """The failure is injected into a request's job (one decode at a time); tests/accel/test_xtts_batching.py
    injects it into a step of the continuous batch."""
    broken = threading.Event()

    def probe():
        if broken.is_set():
            raise RuntimeError("CUDA error: an illegal memory access was encountered")

    settings = Settings.from_env({**tiny_env, "VOICE_STUDIO_XTTS_BATCH": "0"})
    engines = {"f5tts": F5Engine(settings.f5, "cpu", cache_dir=settings.cache_dir),
               "xtts": XttsEngine(settings.xtts, "cpu")}
    fresh = EngineManager(settings, engines=engines, worker=DeviceWorker("cuda", probe=probe))
    assert fresh.synthesize(dub("xtts")).metadata["tts_engine_used"] == "xtts"
    real = engines["xtts"].synthesize

    def sticky_failure(job):
        broken.set()
        monkeypatch.setattr(engines["xtts"], "synthesize", real)
        raise RuntimeError("CUDA error: operation not permitted when stream is capturing (injected)")

    monkeypatch.setattr(engines["xtts"], "synthesize", sticky_failure)
    with pytest.raises(NoEngineAvailableError) as caught:
        fresh.synthesize(dub("xtts", allow_fallback=False))
    assert "stream is capturing" in caught.value.reasons["xtts"]
    health = fresh.health()
    assert health["status"] == "unhealthy"
    for name in ("f5tts", "xtts"):
        assert health["engines"][name]["status"] == "unavailable"
        assert "restart the process" in health["engines"][name]["error"]
    route = health_routes(fresh)[0].endpoint
    assert route().status_code == 503
    with pytest.raises(NoEngineAvailableError) as again:
        fresh.synthesize(dub("f5tts"))
    assert all("restart the process" in why for why in again.value.reasons.values())
