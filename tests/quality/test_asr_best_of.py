"""Best of N: f5tts_ultra_quality renders 3 takes and keeps the one a (tiny) Whisper hears best."""

from __future__ import annotations

import numpy as np
import pytest

from engines import EngineManager, SynthesisRequest
from engines.quality.asr import ASR_VARIABLE, Transcriber
from engines.profiles import F5_PROFILES
from devtools.tiny_speech import speech_models


@pytest.fixture(scope="session")
def speech(tmp_path_factory):
    return speech_models(tmp_path_factory)


def manager_with_asr(manager, spec: str) -> EngineManager:
    fresh = EngineManager(manager.settings, engines=manager.engines)
    fresh.asr = Transcriber.from_env("cpu", None, fresh.on_device, environ={ASR_VARIABLE: spec})
    return fresh


def ultra(reference_wav, seed=11) -> SynthesisRequest:
    return SynthesisRequest(text="hello there, this is a take.", language="en", engine="f5tts",
                            reference_audio=str(reference_wav), reference_text="a short clip.",
                            quality_profile="f5tts_ultra_quality", seed=seed, allow_fallback=False)


def test_only_ultra_quality_renders_several_takes():
    assert {name: p.best_of for name, p in F5_PROFILES.items()} == {
        "f5tts_fast": 1, "f5tts_balanced": 1, "f5tts_ultra_quality": 3, "f5tts_ultra_natural": 1}


@pytest.mark.slow
def test_three_takes_ranked_by_cer_the_lowest_kept(manager, speech, reference_wav):
    asr_manager = manager_with_asr(manager, str(speech.whisper))
    first = asr_manager.synthesize(ultra(reference_wav))
    best_of = first.metadata["best_of"]
    seeds = [c["seed"] for c in best_of["candidates"]]
    assert seeds == [11, 12, 13] and first.metadata["seed"] == 11
    lowest = min(best_of["candidates"], key=lambda c: c["cer"])
    assert best_of["chosen_cer"] == lowest["cer"] and best_of["chosen_seed"] in seeds
    assert [c["cer"] for c in best_of["candidates"] if c["seed"] == best_of["chosen_seed"]] == [lowest["cer"]]
    again = asr_manager.synthesize(ultra(reference_wav))  # reproducible from the request's seed
    assert again.metadata["best_of"] == best_of and np.array_equal(again.audio, first.audio)


def test_without_asr_one_take_and_the_reason(manager, reference_wav):
    offline = manager_with_asr(manager, "hf://nobody-here/whisper-missing")
    meta = offline.synthesize(ultra(reference_wav)).metadata
    assert meta["tts_engine_used"] == "f5tts" and ASR_VARIABLE in meta["best_of"]["skipped"]
