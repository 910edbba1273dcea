"""No server path reaches a user: health, load errors, fallback reasons, history, CLI error lines.

Real failures on real files: a vocoder config that YAML cannot parse (PyYAML's message names
the file with its folder) and an XTTS ``speakers_xtts.pth`` that is a folder (the OS error
names the full path). Only ``VOICE_STUDIO_HEALTH_PATHS=1`` shows full model paths, in health.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from engines import EngineManager, NoEngineAvailableError, Settings, SynthesisRequest
from engines.weights.checkpoints import read_checkpoint_file
from engines.errors import CheckpointError, InputError, WeightsMissingError
from engines.settings import resolve_architecture
from engines.weights.sources import DirSource, FileSource, without_paths
from history import OutputHistory
from tests.engines.test_cli import run_cli


@pytest.fixture(scope="module")
def temp_root(tmp_path_factory) -> str:
    """Every folder these tests make lies under it; it must appear in no message."""
    return str(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def broken(tiny, tmp_path_factory) -> dict[str, str]:
    """A vocoder whose config.yaml does not parse and an XTTS dir whose speakers file is a folder."""
    root = tmp_path_factory.mktemp("broken_models")
    vocos = root / "vocos"
    vocos.mkdir()
    (vocos / "config.yaml").write_text("feature_extractor: [unclosed\n")
    shutil.copyfile(tiny.vocos_dir / "pytorch_model.bin", vocos / "pytorch_model.bin")
    xtts = root / "xtts"
    xtts.mkdir()
    for name in ("config.json", "model.pth", "vocab.json"):
        os.link(tiny.xtts_dir / name, xtts / name)  # the real files, without copying 90 MB
    (xtts / "speakers_xtts.pth").mkdir()
    return {"F5TTS_VOCODER": str(vocos), "XTTS_MODEL": str(xtts)}


def _manager(tiny_env, **overrides) -> EngineManager:
    return EngineManager(Settings.from_env({**os.environ, **tiny_env, **overrides}))


def _dub() -> SynthesisRequest:
    return SynthesisRequest(text="Olá, isto é um teste.", language="pt-BR", engine="f5tts",
                            voice_preset="male_generic", seed=3)


@pytest.mark.parametrize("text,expected", [
    ("Is a directory: '/tmp/pytest-1/xtts/speakers_xtts.pth'", "Is a directory: 'speakers_xtts.pth'"),
    ('in "/srv/models/vocos/config.yaml", line 1', 'in "config.yaml", line 1'),
    ("hf://coqui/XTTS-v2 and https://huggingface.co/a/b stay", "hf://coqui/XTTS-v2 and https://huggingface.co/a/b stay"),
    ("relative F5TTS_v1_Base/vocab.txt stays", "relative F5TTS_v1_Base/vocab.txt stays"),
])
def test_without_paths_keeps_only_the_last_part(text, expected):
    assert without_paths(text) == expected


def test_missing_local_files_are_named_by_file_and_variable(tmp_path, temp_root):
    errors = []
    for call in (
        lambda: FileSource.from_spec(str(tmp_path / "gone.safetensors"), "F5-TTS checkpoint", "F5TTS_CKPT").resolve(),
        lambda: DirSource.from_spec(str(tmp_path), "XTTS-v2 model", "XTTS_MODEL", required=("model.pth",)).resolve(),
        lambda: read_checkpoint_file(tmp_path / "gone.pt"),
        lambda: resolve_architecture(str(tmp_path / "arch.json")),
    ):
        with pytest.raises((WeightsMissingError, CheckpointError, InputError)) as caught:
            call()
        errors.append(str(caught.value))
    assert "gone.safetensors" in errors[0] and "set F5TTS_CKPT" in errors[0]
    assert "lacks model.pth" in errors[1] and "set XTTS_MODEL" in errors[1]
    assert "gone.pt" in errors[2] and "arch.json" in errors[3]
    assert not [e for e in errors if temp_root in e], errors


def test_health_shows_model_names_and_full_paths_only_when_asked(manager, tiny, tiny_env, temp_root):
    for name in manager.engines:
        assert manager.ensure_loaded(name) is None
    health = manager.health()
    assert temp_root not in json.dumps(health)
    assert health["engines"]["f5tts"]["model"] == tiny.f5_ckpt.name
    assert health["engines"]["f5tts"]["details"]["checkpoint"] == tiny.f5_ckpt.name
    assert health["engines"]["xtts"]["model"] == tiny.xtts_dir.name
    assert health["engines"]["xtts"]["details"]["model_dir"] == tiny.xtts_dir.name

    operator = _manager(tiny_env, VOICE_STUDIO_HEALTH_PATHS="1").health()
    assert operator["engines"]["f5tts"]["model"] == str(tiny.f5_ckpt)
    assert operator["engines"]["xtts"]["model"] == str(tiny.xtts_dir)


@pytest.mark.slow
def test_load_errors_fallback_reasons_and_history_hold_no_paths(tiny_env, broken, tmp_path, temp_root):
    history = OutputHistory(tmp_path / "history")
    f5_broken = _manager(tiny_env, F5TTS_VOCODER=broken["F5TTS_VOCODER"])
    result = f5_broken.synthesize(_dub())
    reason = result.metadata["fallback_reason"]
    assert result.metadata["tts_engine_used"] == "xtts"
    assert "config.yaml" in reason and "set F5TTS_VOCODER" in reason and temp_root not in reason
    history.save_result(_dub(), result)

    both_broken = _manager(tiny_env, **broken)
    with pytest.raises(NoEngineAvailableError) as caught:
        both_broken.synthesize(_dub())
    message = str(caught.value)
    assert "speakers_xtts.pth" in message and "set XTTS_MODEL" in message and "set F5TTS_VOCODER" in message
    history.save_failure(_dub(), message)

    shown = json.dumps([{"metadata": e.metadata, "error": e.error} for e in history.list()])
    health = json.dumps(both_broken.health())
    assert "fallback_reason" in shown and "speakers_xtts.pth" in health
    assert temp_root not in shown and temp_root not in health


@pytest.mark.slow
def test_cli_error_lines_and_status_hold_no_paths(tiny_env, broken, tmp_path, temp_root):
    env = {**tiny_env, **broken}
    proc = run_cli(["synth", "--text", "Olá.", "--language", "pt-BR", "--out", str(tmp_path / "o.wav")], env)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 1 and len(errors) == 1
    assert "set F5TTS_VOCODER" in errors[0] and "set XTTS_MODEL" in errors[0] and temp_root not in errors[0]

    status = run_cli(["status"], env)
    assert temp_root not in status.stdout and Path(broken["XTTS_MODEL"]).name in status.stdout
