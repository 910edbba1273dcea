"""Knobs (engines/knobs.py): bounds and messages, how they go into a profile, and the metadata."""

from __future__ import annotations

import os

import pytest

from engines import EngineManager, InputError, Settings, SynthesisRequest
from engines.knobs import KNOBS, VOICE_KNOBS, KnobError, apply_knobs, check_knobs, knobs_of_engine
from engines.profiles import F5_PROFILES, XTTS_PROFILES, get_profile
from engines.report import EngineChoice, SynthesisReport


@pytest.mark.parametrize("name,value,message", [
    ("nfe_step", 3, "nfe_step 3 is out of range; use 4 to 64"),
    ("nfe_step", 65, "nfe_step 65 is out of range; use 4 to 64"),
    ("nfe_step", 8.5, "nfe_step must be a whole number (4 to 64), not 8.5"),
    ("cfg_strength", -0.1, "cfg_strength -0.1 is out of range; use 0 to 5"),
    ("sway_sampling_coef", -1.5, "sway_sampling_coef -1.5 is out of range; use -1 to 1"),
    ("cross_fade_duration", 2, "cross_fade_duration 2 is out of range; use 0 to 1"),
    ("remove_silence", "yes", "remove_silence must be true or false, not 'yes'"),
    ("temperature", 0, "temperature 0 is out of range; use 0.01 to 2"),
    ("temperature", float("nan"), "temperature nan is out of range; use 0.01 to 2"),
    ("top_p", 1.5, "top_p 1.5 is out of range; use 0.01 to 1"),
    ("top_k", 0, "top_k 0 is out of range; use 1 to 1024"),
    ("repetition_penalty", 0.5, "repetition_penalty 0.5 is out of range; use 1 to 20"),
    ("length_penalty", 3, "length_penalty 3 is out of range; use 0.5 to 2"),
    ("temperature", "0.5", "temperature must be a number (0.01 to 2), not '0.5'"),
    ("temperature", True, "temperature must be a number (0.01 to 2), not True"),
])
def test_a_bad_value_is_refused_naming_the_knob_and_its_range(name, value, message):
    with pytest.raises(KnobError) as caught:
        check_knobs({name: value})
    assert str(caught.value) == message
    assert caught.value.param == name


def test_an_unknown_knob_is_refused_with_the_list_of_knobs():
    with pytest.raises(KnobError, match=r"unknown knob 'steps'; knobs: nfe_step, cfg_strength"):
        check_knobs({"steps": 8})
    with pytest.raises(KnobError, match="unknown knob 'speed'"):  # a request's speed is its own field
        check_knobs({"speed": 1.2})
    assert check_knobs({"speed": 1.2}, VOICE_KNOBS) == {"speed": 1.2}
    with pytest.raises(KnobError, match="unknown knob 'seed'"):  # a voice never fixes the seed
        check_knobs({"seed": 1}, VOICE_KNOBS)


def test_edges_are_accepted_and_typed_none_means_the_profiles():
    checked = check_knobs({"nfe_step": 4.0, "top_k": 1024, "cfg_strength": 0, "remove_silence": False,
                           "temperature": None})
    assert checked == {"nfe_step": 4, "top_k": 1024, "cfg_strength": 0.0, "remove_silence": False}
    assert type(checked["nfe_step"]) is int and type(checked["cfg_strength"]) is float


def test_every_profile_value_is_within_its_knobs_range():
    for profile in [*F5_PROFILES.values(), *XTTS_PROFILES.values()]:
        for knob in knobs_of_engine("f5tts" if profile.name.startswith("f5") else "xtts"):
            assert knob.check(getattr(profile, knob.field)) == getattr(profile, knob.field), (profile.name, knob.name)


def test_apply_puts_the_knobs_of_the_serving_engine_in_and_reports_what_changed():
    profile = get_profile("f5tts_fast")
    applied = apply_knobs(profile, "f5tts", {"nfe_step": 8, "cfg_strength": 2.0, "temperature": 0.5}, {},
                          speed=None, seed=None)
    assert applied.profile.nfe_step == 8 and applied.profile.name == "f5tts_fast"
    assert applied.changed == {"nfe_step": 8}  # cfg 2.0 is the profile's own value
    assert applied.ignored == ("temperature",) and applied.speed == profile.speed


def test_the_request_wins_over_the_voice_and_the_voice_over_the_profile():
    profile = get_profile("xtts_balanced")
    voice = {"temperature": 0.3, "top_k": 10, "speed": 1.25, "nfe_step": 8}
    applied = apply_knobs(profile, "xtts", {"temperature": 0.9}, voice, speed=None, seed=7)
    assert (applied.profile.temperature, applied.profile.top_k, applied.speed) == (0.9, 10, 1.25)
    assert applied.changed == {"temperature": 0.9, "top_k": 10, "speed": 1.25, "seed": 7}
    assert applied.from_voice == ("top_k", "speed") and applied.ignored == ()
    assert apply_knobs(profile, "xtts", {}, voice, speed=0.8, seed=None).speed == 0.8


def test_no_knob_changes_nothing():
    profile = get_profile("f5tts_balanced")
    applied = apply_knobs(profile, "f5tts", {}, {}, speed=None, seed=None)
    assert applied.profile == profile and applied.changed == {} and applied.ignored == ()


def _report(**kw) -> SynthesisReport:
    choice = EngineChoice("f5tts", "f5tts", None, "f5tts_balanced", False, 3)
    return SynthesisReport(choice=choice, language="en", voice="female_generic", voice_kind="preset", mode="dub",
                           sample_rate=24000, duration_s=1.0, chunks=1, speed=1.0, device="cpu", text_chars=5,
                           load_s=0.0, synth_s=0.5, details={"accelerated": True}, **kw)


def test_the_metadata_lists_changed_knobs_after_attempts_and_keeps_every_other_key_in_place():
    plain = _report().to_dict()
    changed = _report(knobs_changed={"nfe_step": 8}, knobs_from_voice=("nfe_step",),
                      knobs_ignored=("temperature",)).to_dict()
    keys = list(plain)
    assert plain["knobs_changed"] == {} and keys[keys.index("attempts") + 1] == "knobs_changed"
    assert [k for k in keys if k != "knobs_changed"] == [
        "tts_engine_requested", "tts_engine_used", "engine_fallback", "fallback_reason",
        "quality_profile_requested", "quality_profile_used", "quality_profile_mapped", "language", "voice",
        "voice_kind", "mode", "sample_rate", "duration_s", "chunks", "seed", "speed", "device", "text_chars",
        "load_s", "synth_s", "rtf", "attempts", "accelerated"]
    assert "knobs_from_voice" not in plain and "knobs_ignored" not in plain
    assert changed["knobs_changed"] == {"nfe_step": 8}
    assert changed["knobs_from_voice"] == ["nfe_step"] and changed["knobs_ignored"] == ["temperature"]


@pytest.fixture
def fresh_manager(tiny_env):
    manager = EngineManager(Settings.from_env({**os.environ, **tiny_env}))
    yield manager
    assert not any(engine.is_loaded for engine in manager.engines.values()), "validation must load nothing"


def test_the_manager_refuses_a_bad_knob_before_loading(fresh_manager):
    request = SynthesisRequest(text="Hello.", language="en", voice_preset="female_generic",
                               knobs={"nfe_step": 100})
    with pytest.raises(InputError, match="nfe_step 100 is out of range; use 4 to 64"):
        fresh_manager.validate(request)
    valid = fresh_manager.validate(SynthesisRequest(text="Hello.", language="en", knobs={"top_k": 5.0}))
    assert valid.request.knobs == {"top_k": 5}


def test_every_knob_names_a_field_of_its_engines_profile():
    for knob in KNOBS.values():
        profile = F5_PROFILES["f5tts_balanced"] if knob.engine == "f5tts" else XTTS_PROFILES["xtts_balanced"]
        assert hasattr(profile, knob.field), knob.name
