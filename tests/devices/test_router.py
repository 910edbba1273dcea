"""Several devices of one host, simulated as CPU workers (``VOICE_STUDIO_DEVICES=cpu:N,cpu:M``)
on the tiny models: a request goes to the less loaded device, placement holds, a device that
fails leaves the others serving, health shows each device, a Studio render spreads its lines.

Each test names devices of its own (cpu:10, cpu:11, ...): a device's worker is shared by the
whole process, and a test that breaks one must not break another test's.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from dubbing.project import ProjectStore
from dubbing.service import DubOptions, Studio
from engines import EngineManager, NoEngineAvailableError, SynthesisRequest
from engines.devices import DeviceRouter, manager_from_env
from tests.dubbing_support import srt

pytestmark = pytest.mark.slow

WAIT_S = 60


def router(tiny_env, devices: str, placement: str = "") -> DeviceRouter:
    env = {**os.environ, **tiny_env, "VOICE_STUDIO_DEVICES": devices, "VOICE_STUDIO_PLACEMENT": placement}
    manager = manager_from_env(environ=env)
    assert isinstance(manager, DeviceRouter)
    return manager


def dub(text: str = "Hello from one of several devices.", seed: int = 3, **kw) -> SynthesisRequest:
    return SynthesisRequest(**{"text": text, "language": "en", "engine": "xtts", "voice_preset": "female_generic",
                               "seed": seed, **kw})


def in_flight(manager: DeviceRouter) -> dict[str, int]:
    return {device["device"]: device["in_flight"] for device in manager.health()["devices"]}


def wait_for(condition, what: str):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def gate(manager: DeviceRouter, label: str) -> threading.Event:
    """Hold ``label``'s worker busy until the returned event is set."""
    release, started = threading.Event(), threading.Event()
    manager.devices[label].worker.submit(lambda: (started.set(), release.wait(WAIT_S)), label="gate")
    assert started.wait(WAIT_S)
    return release


class Sender:
    """A request on its own thread; ``result`` or ``error`` once it ends."""

    def __init__(self, manager: EngineManager, request: SynthesisRequest):
        self.result = self.error = None
        self.thread = threading.Thread(target=self._run, args=(manager, request))
        self.thread.start()

    def _run(self, manager, request):
        try:
            self.result = manager.synthesize(request)
        except Exception as exc:  # the test reads it
            self.error = exc

    def join(self):
        self.thread.join(WAIT_S)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error
        return self.result


def test_one_device_is_the_plain_manager(tiny_env):
    for devices in ("", "auto", "cpu:3"):  # unset; auto on a machine without CUDA; one named device
        manager = manager_from_env(environ={**os.environ, **tiny_env, "VOICE_STUDIO_DEVICES": devices})
        assert type(manager) is EngineManager and manager.concurrency == 2
        assert manager.worker.label == (devices if devices == "cpu:3" else "cpu")
        assert "devices" not in manager.health()


def test_a_request_goes_to_the_less_loaded_device(tiny_env):
    manager = router(tiny_env, "cpu:10,cpu:11")
    assert manager.concurrency == 4
    manager.load("xtts")
    gates = [gate(manager, "cpu:10"), gate(manager, "cpu:11")]  # both busy: requests stay in flight
    try:
        first = Sender(manager, dub(seed=1))
        busy = wait_for(lambda: [d for d, n in in_flight(manager).items() if n == 1], "the first request")[0]
        second = Sender(manager, dub(seed=2))
        wait_for(lambda: in_flight(manager) == {"cpu:10": 1, "cpu:11": 1}, "the second request on the other device")
    finally:
        for release in gates:
            release.set()
    first_device, second_device = first.join().metadata["device"], second.join().metadata["device"]
    assert first_device == busy and second_device != busy and {first_device, second_device} == {"cpu:10", "cpu:11"}
    assert in_flight(manager) == {"cpu:10": 0, "cpu:11": 0}


def test_placement_health_and_unload_per_device(tiny_env, reference_wav):
    manager = router(tiny_env, "cpu:12,cpu:13", "f5tts=cpu:13;xtts=cpu:12")
    clone = SynthesisRequest(text="A clone on the second device.", language="en", engine="f5tts",
                             reference_audio=str(reference_wav), reference_text="a short reference clip.", seed=4)
    assert manager.synthesize(clone).metadata["device"] == "cpu:13"
    assert manager.synthesize(dub(allow_fallback=False)).metadata["device"] == "cpu:12"
    health = manager.health()
    assert health["placement"] == {"f5tts": ["cpu:13"], "xtts": ["cpu:12"]}
    assert {d["device"]: d["engines"] for d in health["devices"]} == {"cpu:12": {"xtts": "available"},
                                                                      "cpu:13": {"f5tts": "available"}}
    f5 = health["engines"]["f5tts"]
    assert f5["status"] == "available" and f5["device"] == "cpu:13" and list(f5["details"]["devices"]) == ["cpu:13"]
    assert manager.unload("f5tts")["status"] == "not_loaded"
    assert manager.synthesize(clone).metadata["device"] == "cpu:13"  # loads again where it is placed
    stream = manager.stream(dub(allow_fallback=False))
    assert sum(len(chunk) for chunk in stream) > 0 and stream.result.metadata["device"] == "cpu:12"
    assert in_flight(manager) == {"cpu:12": 0, "cpu:13": 0}


def test_a_device_that_fails_leaves_the_others_serving(tiny_env, monkeypatch):
    manager = router(tiny_env, "cpu:14,cpu:15")
    broken = manager.devices["cpu:14"].engines["xtts"]

    def refuse(device):  # fault injection: this device's copy cannot load
        raise RuntimeError("injected: out of device memory")

    monkeypatch.setattr(broken, "_load", refuse)
    health = manager.load("xtts")
    assert health["status"] == "available" and health["details"]["devices_up"] == 1
    assert health["details"]["devices"]["cpu:14"]["status"] == "unavailable"
    assert "injected: out of device memory" in health["details"]["devices"]["cpu:14"]["error"]
    senders = [Sender(manager, dub(seed=i, allow_fallback=False)) for i in range(3)]
    assert {s.join().metadata["device"] for s in senders} == {"cpu:15"}

    manager.devices["cpu:15"].worker.mark_poisoned("injected: the device stopped")
    with pytest.raises(NoEngineAvailableError) as caught:
        manager.synthesize(dub(allow_fallback=False))
    assert "cpu:14" in caught.value.reasons["xtts"] and "injected: the device stopped" in caught.value.reasons["xtts"]
    overall = manager.health()
    assert overall["engines"]["xtts"]["status"] == "unavailable"
    assert {d["device"]: d["worker"]["poisoned"] for d in overall["devices"]}["cpu:15"] == "injected: the device stopped"


def test_a_studio_render_spreads_its_lines_over_the_devices(tiny_env, tmp_path):
    manager = router(tiny_env, "cpu:16,cpu:17")
    studio = Studio(manager, ProjectStore(tmp_path / "projects"), threads=4)
    cues = [(1.0 + 3 * i, 3.0 + 3 * i, f"line number {i} of a short project.") for i in range(4)]
    options = DubOptions(language="en", voice="female_generic", engine="xtts", seed=5, fit="natural")
    project, _, summary = studio.dub(srt(cues), options)
    assert summary.failed == {} and summary.rendered == [1, 2, 3, 4]
    saved = studio.store.open(project.id)  # what the project keeps on disk
    devices = [studio.store.load_take(saved, line.result["take_key"])[1]["device"] for line in saved.lines]
    assert set(devices) == {"cpu:16", "cpu:17"}


def test_a_model_switch_is_refused_over_several_devices_and_they_keep_serving(tiny_env):
    """A switch would swap one worker's weights while the others keep theirs: refused with what to do."""
    from engines import InputError
    from engines.f5.models import F5ModelChoice

    manager = router(tiny_env, "cpu:40,cpu:41")
    with pytest.raises(InputError, match="set F5TTS_MODEL .* and restart"):
        manager.switch_model("f5tts", F5ModelChoice(model="v1"))
    assert manager.synthesize(dub(engine="f5tts", seed=4)).audio.size > 0
