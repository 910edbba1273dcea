from __future__ import annotations

import dataclasses

import pytest

from engines import (
    DEFAULT_PROFILE,
    PROFILES_BY_ENGINE,
    InputError,
    is_profile_compatible,
    map_quality_profile_for_fallback,
    suggest_alternative_profile,
)
from engines.profiles import F5_PROFILES, PROFILE_COUNTERPART, XTTS_PROFILES


def test_profile_names_per_engine():
    assert set(F5_PROFILES) == {"f5tts_fast", "f5tts_balanced", "f5tts_ultra_quality", "f5tts_ultra_natural"}
    assert set(XTTS_PROFILES) == {"xtts_fast", "xtts_balanced", "xtts_ultra_quality", "xtts_expressive"}


def test_balanced_is_upstream_default():
    import f5_tts.infer.utils_infer as upstream

    balanced = F5_PROFILES["f5tts_balanced"]
    assert (balanced.nfe_step, balanced.cfg_strength, balanced.sway_sampling_coef, balanced.speed,
            balanced.cross_fade) == (upstream.nfe_step, upstream.cfg_strength, upstream.sway_sampling_coef,
                                     upstream.speed, upstream.cross_fade_duration)


def test_profiles_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        F5_PROFILES["f5tts_fast"].nfe_step = 1


@pytest.mark.parametrize("f5,xtts", [("f5tts_ultra_natural", "xtts_expressive"),
                                     ("f5tts_ultra_quality", "xtts_ultra_quality"),
                                     ("f5tts_balanced", "xtts_balanced"), ("f5tts_fast", "xtts_fast")])
def test_mapping_is_bidirectional(f5, xtts):
    assert map_quality_profile_for_fallback(f5, "xtts") == (xtts, True)
    assert map_quality_profile_for_fallback(xtts, "f5tts") == (f5, True)
    assert map_quality_profile_for_fallback(f5, "f5tts") == (f5, False)
    assert PROFILE_COUNTERPART[PROFILE_COUNTERPART[f5]] == f5


def test_compatibility_and_suggestions():
    assert is_profile_compatible("xtts_fast", "xtts") and not is_profile_compatible("xtts_fast", "f5tts")
    assert suggest_alternative_profile("xtts_expressive", "f5tts") == "f5tts_ultra_natural"
    assert suggest_alternative_profile("f5tts_fast", "f5tts") == "f5tts_fast"


def test_default_profile_when_none_or_no_counterpart(monkeypatch):
    assert map_quality_profile_for_fallback(None, "xtts") == (DEFAULT_PROFILE["xtts"], False)
    monkeypatch.delitem(PROFILE_COUNTERPART, "f5tts_fast")
    assert suggest_alternative_profile("f5tts_fast", "xtts") == DEFAULT_PROFILE["xtts"]


def test_unknown_profile_and_engine_list_valid_names():
    with pytest.raises(InputError, match="valid profiles: .*f5tts_fast"):
        map_quality_profile_for_fallback("turbo", "xtts")
    with pytest.raises(InputError, match="valid engines: f5tts, xtts"):
        map_quality_profile_for_fallback("f5tts_fast", "bark")


def test_every_engine_has_a_default_among_its_profiles():
    for engine, profiles in PROFILES_BY_ENGINE.items():
        assert DEFAULT_PROFILE[engine] in profiles
