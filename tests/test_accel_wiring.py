"""The engines hand synthesis to engines/accel when an accelerator is attached (CUDA in the app).

On CPU the accelerators run eagerly, so the wiring is checked here; their equivalence
with upstream is checked in tests/test_accel_*.py and on the GPU by bench/.
"""

from __future__ import annotations

import numpy as np
import pytest

from engines import EngineManager, Settings, SynthesisRequest


@pytest.fixture(scope="module")
def accelerated(tiny_env):
    from engines.accel import F5Accelerator, XttsAccelerator

    fresh = EngineManager(Settings.from_env(tiny_env))
    for name in ("f5tts", "xtts"):
        assert fresh.ensure_loaded(name) is None
    f5, xtts = fresh.engines["f5tts"], fresh.engines["xtts"]
    assert f5.accelerator is None and xtts.accelerator is None, "no accelerator on CPU by default"
    f5.accelerator = F5Accelerator(f5.model, f5.vocoder, "cpu")
    xtts.accelerator = XttsAccelerator(xtts.model, "cpu")
    return fresh


@pytest.mark.parametrize("engine", ["f5tts", "xtts"])
def test_engine_path_uses_the_accelerator(engine, accelerated, reference_wav, monkeypatch):
    accelerator = accelerated.engines[engine].accelerator
    calls = []
    method = "infer" if engine == "f5tts" else "inference"
    original = getattr(accelerator, method)
    monkeypatch.setattr(accelerator, method, lambda *a, **k: calls.append(1) or original(*a, **k))
    result = accelerated.synthesize(SynthesisRequest(
        text="Hello there, a short accelerated test.", language="en", engine=engine,
        reference_audio=str(reference_wav), reference_text="This is my voice, recorded for a test.", seed=5))
    assert calls and result.metadata["tts_engine_used"] == engine and result.metadata["accelerated"] is True
    assert np.isfinite(result.audio).all() and result.duration_s > 0.2
