"""VOICE_STUDIO_DEVICES and VOICE_STUDIO_PLACEMENT as plain data: every device list and
placement a user may write, and every mistake named before anything loads."""

from __future__ import annotations

import pytest

from engines import InputError
from engines.devices import DeviceSlot, plan_from_env
from engines.devices.placement import parse_devices

ENGINES = ("f5tts", "xtts")


def _plan(devices: str, placement: str = "", visible_cuda: int = 2):
    env = {"VOICE_STUDIO_DEVICES": devices, "VOICE_STUDIO_PLACEMENT": placement}
    return plan_from_env(env, ENGINES, visible_cuda=visible_cuda)


def test_unset_means_one_device_as_before():
    assert plan_from_env({}, ENGINES, visible_cuda=4) is None


@pytest.mark.parametrize("value, visible, labels", [
    ("auto", 2, ["cuda:0", "cuda:1"]),
    ("AUTO", 3, ["cuda:0", "cuda:1", "cuda:2"]),
    ("auto", 0, ["cpu"]),
    ("cuda:1", 2, ["cuda:1"]),
    ("cuda:1, cuda:0", 2, ["cuda:1", "cuda:0"]),
    ("cpu,cpu", 0, ["cpu:0", "cpu:1"]),
    ("cpu:4,cpu:7", 0, ["cpu:4", "cpu:7"]),
])
def test_device_lists(value, visible, labels):
    assert [slot.label for slot in parse_devices(value, visible)] == labels


def test_slots_say_what_the_engines_are_told():
    assert parse_devices("cuda:1,cpu", 2) == (DeviceSlot("cuda:1", "cuda", 1), DeviceSlot("cpu:0", "cpu", None))


@pytest.mark.parametrize("value, visible, words", [
    ("cuda:2", 2, "names cuda:2, but 2 CUDA cards visible (cuda:0 to cuda:1)"),
    ("cuda:0", 0, "names cuda:0, but 0 CUDA cards visible"),
    ("cuda", 2, "name each card by its index"),
    ("cuda:0,cuda:0", 2, "lists cuda:0 twice"),
    ("cuda:0,,cuda:1", 2, "has an empty entry"),
    ("gpu0", 2, "'gpu0' is not a device"),
    ("cpu:x", 0, "'cpu:x' is not a device"),
    (",".join(["cpu"] * 65), 0, "at most 64"),
    ("cpu," * 1200, 0, "at most 2000"),
])
def test_device_mistakes_are_named(value, visible, words):
    with pytest.raises(InputError, match="VOICE_STUDIO_DEVICES") as caught:
        parse_devices(value, visible)
    assert words in str(caught.value)


def test_every_engine_on_every_device_by_default():
    plan = _plan("cuda:0,cuda:1")
    assert plan.describe() == {"f5tts": ["cuda:0", "cuda:1"], "xtts": ["cuda:0", "cuda:1"]}
    assert plan.engines_on("cuda:1") == ("f5tts", "xtts")


def test_placement_names_each_engines_devices_in_the_devices_order():
    plan = _plan("cuda:0,cuda:1", "f5tts=cuda:1,cuda:0; xtts=cuda:1")
    assert plan.describe() == {"f5tts": ["cuda:0", "cuda:1"], "xtts": ["cuda:1"]}
    assert plan.engines_on("cuda:0") == ("f5tts",)
    assert [slot.label for slot in plan.devices_of("xtts")] == ["cuda:1"]


def test_an_engine_left_out_of_the_placement_runs_everywhere():
    plan = _plan("cpu,cpu", "xtts=cpu:0", visible_cuda=0)
    assert plan.describe() == {"f5tts": ["cpu:0", "cpu:1"], "xtts": ["cpu:0"]}


@pytest.mark.parametrize("placement, words", [
    ("kokoro=cuda:0", "names engine 'kokoro'; engines: f5tts, xtts"),
    ("f5tts=cuda:3", "puts f5tts on cuda:3, which VOICE_STUDIO_DEVICES does not list (cuda:0, cuda:1)"),
    ("f5tts", "is not engine=devices"),
    ("xtts=", "xtts has no device"),
    ("xtts=cuda:0;xtts=cuda:1", "places xtts twice"),
])
def test_placement_mistakes_are_named(placement, words):
    with pytest.raises(InputError, match="VOICE_STUDIO_PLACEMENT") as caught:
        _plan("cuda:0,cuda:1", placement)
    assert words in str(caught.value)


def test_a_placement_without_devices_is_refused():
    with pytest.raises(InputError, match="VOICE_STUDIO_PLACEMENT needs VOICE_STUDIO_DEVICES"):
        plan_from_env({"VOICE_STUDIO_PLACEMENT": "xtts=cuda:0"}, ENGINES, visible_cuda=2)
