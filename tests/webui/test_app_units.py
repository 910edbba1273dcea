"""Pure pieces of the web app: badge wording, app settings, request building."""

from __future__ import annotations

import pytest

from webui.serving.labels import short_reason
from webui.tabs.badges import fallback_text, render_badges
from webui.serving.config import AppConfig, ConfigError

FALLBACK = {
    "tts_engine_requested": "f5tts", "tts_engine_used": "xtts", "engine_fallback": True,
    "fallback_reason": "checkpoint vocab mismatch (2546 vs 33)", "quality_profile_requested": "f5tts_ultra_natural",
    "quality_profile_used": "xtts_expressive", "quality_profile_mapped": True, "language": "pt-BR",
    "voice": "female_generic", "duration_s": 2.25, "seed": 3,
}


def test_fallback_badges_read_at_a_glance():
    html = render_badges(FALLBACK)
    assert "Engine: XTTS" in html
    assert "Fallback: F5-TTS → XTTS — checkpoint vocab mismatch (2546 vs 33)" in html
    assert "Profile: f5tts_ultra_natural → xtts_expressive" in html
    assert 'data-badge="fallback"' in html and 'data-badge="mapped"' in html


def test_no_fallback_no_amber_badge():
    metadata = {**FALLBACK, "tts_engine_used": "f5tts", "engine_fallback": False, "fallback_reason": None,
                "quality_profile_used": "f5tts_balanced", "quality_profile_mapped": False}
    html = render_badges(metadata)
    assert fallback_text(metadata) is None and "Fallback" not in html
    assert "Engine: F5-TTS" in html and "Profile: f5tts_balanced" in html
    assert render_badges(None) == ""


def test_reasons_are_escaped_and_cut():
    html = render_badges({**FALLBACK, "fallback_reason": "<script>x</script> " + "y" * 500})
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert len(short_reason("z" * 500)) == 240


ASR_REASON = ("F5-TTS needs the reference transcript, and speech recognition is unavailable: Speech recognition "
              "(Whisper) weights missing (hf://openai/whisper-large-v3-turbo: config.json, preprocessor_config.json, "
              "tokenizer_config.json, model.safetensors or pytorch_model.bin): set VOICE_STUDIO_ASR_MODEL")


@pytest.mark.parametrize("reason, fix", [
    (ASR_REASON, "set VOICE_STUDIO_ASR_MODEL"),
    ("checkpoint f5.safetensors is not a readable safetensors file (truncated or corrupt): " + "header " * 60
     + ": set F5TTS_CKPT to a readable checkpoint", "set F5TTS_CKPT to a readable checkpoint"),
    ("F5-TTS checkpoint missing (hf://firstpixel/F5-TTS-pt-br/pt-br/model_last.safetensors): set F5TTS_CKPT; "
     + "Vocos vocoder missing (hf://charactr/vocos-mel-24khz): set F5TTS_VOCODER; " * 4
     + "or run `python -m engines download` while the Hugging Face Hub answers", "set F5TTS_VOCODER"),
])
def test_a_long_reason_keeps_its_fix(reason, fix):
    """Cut in the middle of the problem, never before what to set: the badge and the toast read the same."""
    short = short_reason(reason)
    assert short.endswith(reason[reason.rindex(fix):]) or short == reason
    assert fix in short and short.startswith(reason.split(" ", 3)[0])
    metadata = {**FALLBACK, "fallback_reason": reason}
    assert fallback_text(metadata).endswith(short) and fix in render_badges(metadata)


def test_app_config_defaults_are_safe():
    config = AppConfig.from_env({})
    assert (config.server_name, config.server_port) == ("127.0.0.1", 7860)
    assert config.analytics_enabled is False and config.auth is None
    assert config.max_file_size == "50mb"


def test_app_config_from_env():
    config = AppConfig.from_env({"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "8000",
                                 "VOICE_STUDIO_AUTH": "ana:s3cret:with-colon", "GRADIO_ANALYTICS_ENABLED": "True",
                                 "VOICE_STUDIO_QUEUE_SIZE": "4", "VOICE_STUDIO_MAX_UPLOAD_MB": "5"})
    assert config.server_port == 8000 and config.auth == (("ana", "s3cret:with-colon"),)
    assert config.analytics_enabled and config.queue_size == 4 and config.max_file_size == "5mb"


@pytest.mark.parametrize("env, message", [
    ({"VOICE_STUDIO_AUTH": "nopassword"}, "VOICE_STUDIO_AUTH must be user:password"),
    ({"VOICE_STUDIO_AUTH": ":pw"}, "VOICE_STUDIO_AUTH must be user:password"),
    ({"GRADIO_SERVER_PORT": "http"}, "GRADIO_SERVER_PORT='http' is not an integer"),
    ({"VOICE_STUDIO_QUEUE_SIZE": "0"}, "VOICE_STUDIO_QUEUE_SIZE=0 is out of range"),
])
def test_bad_app_settings_name_the_variable(env, message):
    with pytest.raises(ConfigError, match=message):
        AppConfig.from_env(env)


def test_requests_from_form_values():
    from webui.tabs.cloning import clone_request
    from webui.tabs.dubbing import dub_request

    request = dub_request("hi", "en", "male_generic", "xtts", "", speed=None, seed=5.0, allow_fallback=False)
    assert request.quality_profile is None and request.seed == 5 and request.allow_fallback is False
    assert request.voice_preset == "male_generic" and not request.is_cloning
    cloning = clone_request(None, "  ", "hi", "en", "f5tts", None)
    assert cloning.is_cloning and cloning.reference_audio == "" and cloning.reference_text is None


@pytest.mark.parametrize("value, message", [("fast", "seed 'fast' is not a number"), (float("nan"), "not a finite"),
                                            (1.5, "seed 1.5 must be a whole number")])
def test_bad_seeds_are_named(value, message):
    import gradio as gr

    from webui.tabs.speech import optional_seed

    with pytest.raises(gr.Error, match=message):
        optional_seed(value)
    assert optional_seed("") is None and optional_seed(7.0) == 7


def test_spaces_gpu_wraps_only_when_spaces_is_installed(monkeypatch):
    import importlib.machinery
    import sys
    import types

    from webui.serving import gpu

    def synthesize():
        return "ran"

    monkeypatch.setitem(sys.modules, "spaces", None)  # not installed
    monkeypatch.setattr(gpu, "spaces_available", lambda: False)
    assert gpu.gpu_bound(synthesize) is synthesize

    calls = []
    fake = types.ModuleType("spaces")
    fake.__spec__ = importlib.machinery.ModuleSpec("spaces", None)
    fake.GPU = lambda duration: (lambda fn: calls.append(duration) or (lambda: "on gpu: " + fn()))
    monkeypatch.setitem(sys.modules, "spaces", fake)
    monkeypatch.setattr(gpu, "spaces_available", lambda: True)
    wrapped = gpu.gpu_bound(synthesize)
    assert wrapped() == "on gpu: ran" and calls == [gpu.GPU_DURATION_S]


def test_the_app_builds_without_loading_a_model(tmp_path):
    """build_app wires the four tabs and the public API names; no engine is loaded."""
    from engines import EngineManager, Settings
    from history import OutputHistory
    from webui import AppConfig, build_app

    manager = EngineManager(Settings.from_env({"VOICE_STUDIO_DEVICE": "cpu", "HF_HUB_OFFLINE": "1"}))
    demo = build_app(manager, AppConfig(), OutputHistory(tmp_path / "outputs"))
    names = {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert names == {"dub", "clone", "engine_status", "history", "history_search", "history_delete", "history_clear",
                     "dub_subtitles", "dub_video", "verify_engine", "studio_lines", "studio_retime",
                     "studio_split", "studio_merge", "studio_pick_take", "studio_new_take", "studio_render"}
    assert not any(engine.is_loaded for engine in manager.engines.values())
