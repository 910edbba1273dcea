"""The engines hand synthesis to their accelerators (engines/f5/accel, engines/xtts/accel)
unless VOICE_STUDIO_ACCEL=off.

On CPU the accelerators run eagerly (no graphs, no compile), the same code the GPU runs
minus the captures; their equivalence with upstream is checked in tests/accel/test_accel_*.py
and on the GPU by bench/. ``off`` runs upstream's own inference.
"""

from __future__ import annotations

import numpy as np
import pytest

from engines import EngineManager, Settings, SynthesisRequest


def _request(engine: str, reference_wav) -> SynthesisRequest:
    return SynthesisRequest(text="Hello there, a short accelerated test.", language="en", engine=engine,
                            reference_audio=str(reference_wav), reference_text="This is my voice, recorded for a test.",
                            seed=5, allow_fallback=False)


@pytest.fixture(scope="module")
def upstream_manager(tiny_env):
    return EngineManager(Settings.from_env({**tiny_env, "VOICE_STUDIO_ACCEL": "off"}))


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["f5tts", "xtts"])
def test_engine_path_uses_the_accelerator(engine, manager, reference_wav, monkeypatch):
    manager.ensure_loaded(engine)
    accelerator = manager.engines[engine].accelerator
    assert accelerator is not None, "the accelerator is attached on CPU too"
    calls = []
    method = "render" if engine == "f5tts" else "prompt"  # XTTS: every decode's prefill, batched or not
    original = getattr(accelerator, method)
    monkeypatch.setattr(accelerator, method, lambda *a, **k: calls.append(1) or original(*a, **k))
    result = manager.synthesize(_request(engine, reference_wav))
    assert calls and result.metadata["tts_engine_used"] == engine and result.metadata["accelerated"] is True
    assert np.isfinite(result.audio).all() and result.duration_s > 0.2


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["f5tts", "xtts"])
def test_accel_off_runs_upstream_inference(engine, upstream_manager, reference_wav):
    result = upstream_manager.synthesize(_request(engine, reference_wav))
    assert upstream_manager.engines[engine].accelerator is None
    assert result.metadata["tts_engine_used"] == engine and result.metadata["accelerated"] is False
    assert np.isfinite(result.audio).all() and result.duration_s > 0.2


def test_health_says_which_kernel_attends_in_the_xtts_decode(manager):
    """FlashAttention on a GPU that has it; SDPA elsewhere (here, the CPU)."""
    manager.ensure_loaded("xtts")
    assert manager.health()["engines"]["xtts"]["details"]["decode_attention"] == "sdpa"


LENGTH_TEXTS = ("Olá.", "Olá, tudo bem? Isto é um teste curto.",
                "Um texto mais longo, em várias partes, para que o F5 o divida em pedaços e os junte depois. " * 3)


@pytest.mark.slow
@pytest.mark.parametrize("accelerated", [True, False])
@pytest.mark.parametrize("speed", [None, 1.2])
def test_f5_tells_its_natural_length_before_rendering(accelerated, speed, manager, upstream_manager):
    """The length F5-TTS's rule predicts is, to the sample, the length it renders (one chunk and several)."""
    chosen = manager if accelerated else upstream_manager
    for text in LENGTH_TEXTS:
        request = SynthesisRequest(text=text, language="pt-BR", engine="f5tts", voice_preset="female_generic",
                                   seed=3, speed=speed, allow_fallback=False)
        predicted = chosen.natural_seconds(request)
        assert predicted == chosen.synthesize(request).duration_s, text


def test_xtts_does_not_tell_its_length_before_rendering(manager):
    request = SynthesisRequest(text="Hello there.", language="en", engine="xtts", voice_preset="male_generic")
    assert manager.natural_seconds(request) is None
