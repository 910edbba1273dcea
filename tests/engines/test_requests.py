"""Requests refused in validation, before any engine loads: a wrong profile, an unserved language."""

from __future__ import annotations

import os

import pytest

from engines import EngineManager, InputError, Settings, SynthesisRequest


@pytest.fixture
def fresh_manager(tiny_env):
    """A manager of its own with nothing loaded (the session manager may have loaded engines)."""
    manager = EngineManager(Settings.from_env({**os.environ, **tiny_env}))
    yield manager
    assert not any(engine.is_loaded for engine in manager.engines.values()), "validation must load nothing"


def _dub(**kw) -> SynthesisRequest:
    base = dict(text="Hello there.", language="en", engine="f5tts", voice_preset="female_generic", seed=1)
    return SynthesisRequest(**{**base, **kw})


@pytest.mark.parametrize("engine,profile,suggestion", [
    ("f5tts", "xtts_fast", "f5tts_fast"),
    ("f5tts", "xtts_expressive", "f5tts_ultra_natural"),
    ("xtts", "f5tts_ultra_quality", "xtts_ultra_quality"),
    ("xtts", "f5tts_balanced", "xtts_balanced"),
])
def test_a_profile_of_the_other_engine_is_refused_with_a_suggestion(fresh_manager, engine, profile, suggestion):
    with pytest.raises(InputError) as caught:
        fresh_manager.validate(_dub(engine=engine, quality_profile=profile))
    message = str(caught.value)
    assert f"did you mean {suggestion}?" in message and profile in message


def test_the_engines_own_profile_and_no_profile_are_accepted(fresh_manager):
    assert fresh_manager.validate(_dub(engine="f5tts", quality_profile="f5tts_fast")).request.quality_profile
    assert fresh_manager.validate(_dub(engine="xtts", quality_profile=None)).language == "en"


def test_a_language_the_xtts_config_does_not_declare_is_refused_before_loading(fresh_manager):
    # The tiny XTTS declares en, pt, es, fr, de in its config.json: known without loading the model.
    assert "ja" not in fresh_manager.engines["xtts"].languages
    with pytest.raises(InputError, match="language ja cannot be served"):
        fresh_manager.validate(_dub(engine="xtts", language="ja", text="こんにちは"))
