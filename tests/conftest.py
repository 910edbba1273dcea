"""Shared fixtures: tiny real-format models, built once per test session."""

from __future__ import annotations

import os

# Before any library import: no network, no prompts, no analytics.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["COQUI_TOS_AGREED"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("VOICE_STUDIO_DEVICE", "cpu")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from devtools.tiny_models import TinyModels, build_all  # noqa: E402

ENV_VARS = ("F5TTS_CKPT", "F5TTS_VOCAB", "F5TTS_ARCH", "F5TTS_LANGUAGES", "F5TTS_VOCODER", "F5TTS_MODEL",
            "F5TTS_PATCHED_COPY", "XTTS_MODEL", "VOICE_STUDIO_CACHE_DIR", "VOICE_STUDIO_PRESETS_DIR",
            "VOICE_STUDIO_MAX_TEXT_CHARS", "VOICE_STUDIO_HEALTH_PATHS")


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> TinyModels:
    return build_all(tmp_path_factory.mktemp("tiny_models"))


@pytest.fixture(scope="session")
def tiny_env(tiny, tmp_path_factory) -> dict[str, str]:
    """The environment a user would set to run on the tiny models (plus a private cache dir)."""
    return {**tiny.env(), "VOICE_STUDIO_CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
            "VOICE_STUDIO_DEVICE": "cpu", "HF_HUB_OFFLINE": "1", "COQUI_TOS_AGREED": "1"}


@pytest.fixture
def clean_env(monkeypatch):
    """No Voice Studio variables set, whatever the developer's shell has."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def use_env(clean_env, tiny_env):
    """Point the engines at the tiny models through the public environment variables."""
    for key, value in tiny_env.items():
        clean_env.setenv(key, value)
    return clean_env


@pytest.fixture(scope="session")
def manager(tiny_env):
    """One manager on the tiny models, engines loaded on first use and kept for the session."""
    from engines import EngineManager, Settings

    return EngineManager(Settings.from_env({**os.environ, **tiny_env}))


@pytest.fixture(scope="session")
def reference_wav(tmp_path_factory) -> Path:
    """A 3 s voiced-like clip (harmonics with an envelope), 22.05 kHz stereo: resampled and downmixed."""
    import numpy as np
    import soundfile as sf

    rate = 22050
    t = np.arange(int(3.0 * rate)) / rate
    tone = sum(np.sin(2 * np.pi * f * t) / (i + 1) for i, f in enumerate((140, 280, 420, 560)))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    mono = (0.3 * tone * envelope / np.abs(tone).max()).astype(np.float32)
    path = tmp_path_factory.mktemp("refs") / "reference.wav"
    sf.write(path, np.stack([mono, mono * 0.8], axis=1), rate)
    return path
