"""Where weights come from: defaults, the registry, environment overrides."""

from __future__ import annotations

import pytest

from engines import InputError, Settings
from engines.settings import KNOWN_F5_CHECKPOINTS, resolve_architecture, resolve_device


def test_defaults_are_the_pt_br_fine_tune_vocos_and_xtts_v2():
    settings = Settings.from_env({})
    f5 = settings.f5
    assert f5.checkpoint.spec == "hf://firstpixel/F5-TTS-pt-br/pt-br/model_last.safetensors"
    assert f5.arch_spec == "F5TTS_Base" and f5.languages == ("pt-BR",)
    assert f5.vocab.local_path is not None and f5.vocab.local_path.name == "vocab.txt"  # packaged default
    assert f5.vocoder.spec == "hf://charactr/vocos-mel-24khz"
    assert settings.xtts.model_dir.spec == "hf://coqui/XTTS-v2"
    assert f5.license == "CC-BY-NC-4.0" and settings.device == "auto"


def test_registry_binds_v1_architecture_languages_and_vocab():
    known = KNOWN_F5_CHECKPOINTS["SWivid/F5-TTS"]
    f5 = Settings.from_env({"F5TTS_CKPT": known.spec}).f5
    assert f5.arch_spec == "F5TTS_v1_Base" and f5.languages == ("en", "zh-CN")
    assert f5.vocab.spec == "hf://SWivid/F5-TTS/F5TTS_v1_Base/vocab.txt"
    assert Settings.from_env({"F5TTS_MODEL": "SWivid/F5-TTS"}).f5.arch_spec == "F5TTS_v1_Base"


def test_environment_overrides_every_source(tmp_path):
    env = {"F5TTS_CKPT": str(tmp_path / "m.pt"), "F5TTS_VOCAB": "hf://me/voc/vocab.txt",
           "F5TTS_ARCH": "F5TTS_v1_Base", "F5TTS_LANGUAGES": "pt, en", "F5TTS_VOCODER": str(tmp_path / "voc"),
           "XTTS_MODEL": str(tmp_path / "xtts"), "VOICE_STUDIO_DEVICE": "CPU"}
    settings = Settings.from_env(env)
    assert settings.f5.checkpoint.local_path == tmp_path / "m.pt"
    assert (settings.f5.vocab.repo_id, settings.f5.vocab.filename) == ("me/voc", "vocab.txt")
    assert settings.f5.languages == ("pt-BR", "en") and settings.f5.arch_spec == "F5TTS_v1_Base"
    assert settings.f5.vocoder.local_dir == tmp_path / "voc" and settings.xtts.model_dir.local_dir == tmp_path / "xtts"
    assert settings.device == "cpu" and settings.f5.known is None
    assert settings.accel == "auto" and Settings.from_env({"VOICE_STUDIO_ACCEL": "Graphs"}).accel == "graphs"


def test_named_architectures_come_from_f5_tts_configs():
    v0, v1 = resolve_architecture("F5TTS_Base"), resolve_architecture("F5TTS_v1_Base")
    assert v0.dit_kwargs["text_mask_padding"] is False and v0.dit_kwargs["pe_attn_head"] == 1
    assert v1.dit_kwargs["text_mask_padding"] is True and v1.dit_kwargs["pe_attn_head"] is None
    assert v0.dit_kwargs["dim"] == v1.dit_kwargs["dim"] == 1024 and v0.dit_kwargs["depth"] == 22


@pytest.mark.parametrize("env,match", [
    ({"VOICE_STUDIO_DEVICE": "tpu"}, "use auto, cuda or cpu"),
    ({"F5TTS_MODEL": "nope"}, "known: firstpixel/F5-TTS-pt-br"),
    ({"F5TTS_LANGUAGES": "xx"}, "unknown language"),
    ({"F5TTS_CKPT": "hf://onlyowner"}, "hf://owner/repo"),
    ({"VOICE_STUDIO_MAX_TEXT_CHARS": "0"}, "out of range"),
    ({"VOICE_STUDIO_ACCEL": "turbo"}, "use auto, graphs, compile, off"),
])
def test_bad_settings_are_named(env, match):
    with pytest.raises(InputError, match=match):
        Settings.from_env(env)


def test_bad_arch_spec(tmp_path):
    with pytest.raises(InputError, match="neither F5TTS_Base nor F5TTS_v1_Base"):
        resolve_architecture(str(tmp_path / "missing.json"))


def test_device_auto_picks_cpu_without_cuda():
    import torch

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")


def test_a_custom_checkpoint_says_what_it_assumed_and_how_to_set_it(tmp_path):
    f5 = Settings.from_env({"F5TTS_CKPT": str(tmp_path / "mine.safetensors")}).f5
    assert f5.known is None and f5.assumed_from == "firstpixel/F5-TTS-pt-br"
    assert dict(f5.assumed) == {"F5TTS_ARCH": "F5TTS_Base", "F5TTS_VOCAB": "f5-tts's packaged vocab.txt",
                                "F5TTS_LANGUAGES": "pt-BR"}
    note = f5.assumed_note
    assert "F5TTS_ARCH=F5TTS_Base" in note and "set F5TTS_ARCH, F5TTS_LANGUAGES, F5TTS_VOCAB" in note

    partly = Settings.from_env({"F5TTS_CKPT": "hf://me/mine/model.safetensors", "F5TTS_MODEL": "SWivid/F5-TTS",
                                "F5TTS_ARCH": "F5TTS_v1_Base"}).f5
    assert dict(partly.assumed) == {"F5TTS_VOCAB": "hf://SWivid/F5-TTS/F5TTS_v1_Base/vocab.txt",
                                    "F5TTS_LANGUAGES": "en,zh-CN"}


def test_known_or_fully_described_checkpoints_assume_nothing(tmp_path):
    for env in ({}, {"F5TTS_MODEL": "SWivid/F5-TTS"},
                {"F5TTS_CKPT": str(tmp_path / "m.pt"), "F5TTS_ARCH": "F5TTS_v1_Base", "F5TTS_VOCAB": str(tmp_path / "v"),
                 "F5TTS_LANGUAGES": "en"}):
        f5 = Settings.from_env(env).f5
        assert f5.assumed == () and f5.assumed_note is None


def test_the_load_log_and_health_say_what_a_custom_checkpoint_assumed(tiny_env, caplog):
    import logging

    from engines import EngineManager

    env = {k: v for k, v in tiny_env.items() if k != "F5TTS_LANGUAGES"}  # the tiny checkpoint, languages unset
    manager = EngineManager(Settings.from_env(env))
    with caplog.at_level(logging.INFO, logger="engines.base"):
        assert manager.ensure_loaded("f5tts") is None
    note = manager.health()["engines"]["f5tts"]["details"]["assumed_settings"]
    assert "F5TTS_LANGUAGES=pt-BR" in note and "set F5TTS_LANGUAGES" in note
    loaded = [r for r in caplog.records if r.getMessage() == "engine loaded"]
    assert loaded and loaded[0].assumed_settings == note
