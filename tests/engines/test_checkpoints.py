"""Checkpoint normalisation on every layout seen in the wild, on the real F5-TTS model."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from engines.weights.checkpoints import (
    build_cfm,
    check_against_model,
    normalize_f5_state_dict,
    patched_copy_path,
    read_checkpoint_file,
)
from engines.errors import CheckpointError, WeightsMissingError
from engines.f5.engine import F5Engine
from engines.worker import shared_worker
from engines.settings import Settings
from engines.weights.sources import FileSource
from devtools.tiny_models import TINY_DIT, write_f5_variant, write_vocab

LAYOUTS = ["ema_model", "ema", "bare", "module", "pt_ema", "pt_training"]


@pytest.fixture(scope="session")
def ema_state(tiny):
    return load_file(str(tiny.f5_ckpt))


@pytest.fixture(scope="session")
def expected_weights(ema_state):
    return {k.removeprefix("ema_model."): v for k, v in ema_state.items() if k.startswith("ema_model.")}


def _settings(env: dict, **overrides) -> Settings:
    return Settings.from_env({**env, **overrides})


CPU_WORKER = shared_worker("cpu")  # engines load through the device's worker thread


def _f5(env: dict, **overrides) -> F5Engine:
    settings = _settings(env, **overrides)
    return F5Engine(settings.f5, "cpu", cache_dir=settings.cache_dir)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_loads_into_the_real_model_with_identical_weights(layout, ema_state, expected_weights,
                                                                        tiny_env, tmp_path):
    suffix = ".pt" if layout.startswith("pt_") else ".safetensors"
    path = write_f5_variant(ema_state, tmp_path / f"ckpt{suffix}", layout)
    engine = _f5(tiny_env, F5TTS_CKPT=str(path))
    engine.load(CPU_WORKER)
    loaded = engine.model.state_dict()
    assert set(loaded) == set(expected_weights)
    for key, value in expected_weights.items():
        torch.testing.assert_close(loaded[key], value)
    assert engine.load_details["patched_copy"] is None
    assert list(tmp_path.iterdir()) == [path], "normalisation must not write anything to disk"


def test_model_prefix_and_mel_buffers_and_bookkeeping_are_handled(expected_weights):
    raw = {f"model.{k}": v for k, v in expected_weights.items()}
    raw.update({"initted": torch.tensor(True), "step": torch.tensor(3),
                "model.mel_spec.mel_stft.mel_scale.fb": torch.zeros(2),
                "model.mel_spec.mel_stft.spectrogram.window": torch.zeros(2)})
    normalized = normalize_f5_state_dict(raw)
    assert set(normalized) == set(expected_weights)
    assert "initted" in raw and len(raw) == len(expected_weights) + 4, "the input is left untouched"


def test_upstream_loader_fails_on_ema_prefix_where_ours_succeeds(ema_state, tiny, tmp_path):
    """The bug this exists for: upstream's load_checkpoint cannot read `ema.`-prefixed keys."""
    from f5_tts.infer.utils_infer import load_checkpoint

    path = write_f5_variant(ema_state, tmp_path / "ema.safetensors", "ema")
    model, _ = build_cfm(TINY_DIT, str(tiny.f5_vocab))
    with pytest.raises(RuntimeError, match="Missing key"):
        load_checkpoint(model, str(path), "cpu", dtype=torch.float32, use_ema=True)
    model.load_state_dict(normalize_f5_state_dict(read_checkpoint_file(path)), strict=True)


def test_patch_overhead_is_well_under_a_second(tiny):
    raw = read_checkpoint_file(tiny.f5_ckpt)
    start = time.perf_counter()
    normalize_f5_state_dict(raw)
    assert time.perf_counter() - start < 0.1


def test_vocab_mismatch_names_both_sizes_and_the_variable(tiny_env, tmp_path):
    vocab = write_vocab(tmp_path / "vocab.txt", [" "] + list("abcdefghij"))
    engine = _f5(tiny_env, F5TTS_VOCAB=str(vocab))
    with pytest.raises(CheckpointError) as caught:
        engine.load(CPU_WORKER)
    message = str(caught.value)
    assert "vocab has 11 entries, checkpoint expects 34" in message
    assert "F5TTS_VOCAB" in message and "Missing key" not in message


def test_architecture_mismatch_is_a_named_error_not_a_key_dump(tiny_env, tmp_path):
    wider = tmp_path / "wider.json"
    wider.write_text(__import__("json").dumps({**TINY_DIT, "dim": 96}))
    with pytest.raises(CheckpointError, match=r"has shape .* expects .*F5TTS_ARCH"):
        _f5(tiny_env, F5TTS_ARCH=str(wider)).load(CPU_WORKER)
    deeper = tmp_path / "deeper.json"
    deeper.write_text(__import__("json").dumps({**TINY_DIT, "depth": 3}))
    with pytest.raises(CheckpointError, match=r"lacks \d+ tensors .* F5TTS_ARCH"):
        _f5(tiny_env, F5TTS_ARCH=str(deeper)).load(CPU_WORKER)


def test_check_against_model_flags_foreign_checkpoints(tiny):
    model, vocab_size = build_cfm(TINY_DIT, str(tiny.f5_vocab))
    foreign = {f"encoder.layer{i}.weight": torch.zeros(1) for i in range(60)}
    with pytest.raises(CheckpointError, match="is this an F5-TTS checkpoint"):
        check_against_model(foreign, model.state_dict(), vocab_size, "tiny")


@pytest.mark.parametrize("corruption,match", [
    ("truncated", "not a readable safetensors file"),
    ("random_bytes", "not a readable safetensors file"),
    ("random_bytes_pt", "not a readable PyTorch file"),
    ("empty", "is empty"),
    ("missing", "does not exist"),
])
def test_corrupt_files_give_specific_errors(corruption, match, tiny, tiny_env, tmp_path):
    data = Path(tiny.f5_ckpt).read_bytes()
    path = tmp_path / ("ckpt.pt" if corruption.endswith("_pt") else "ckpt.safetensors")
    if corruption == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif corruption.startswith("random_bytes"):
        path.write_bytes(torch.randint(0, 256, (4096,), dtype=torch.uint8).numpy().tobytes())
    elif corruption == "empty":
        path.write_bytes(b"")
    engine = _f5(tiny_env, F5TTS_CKPT=str(path))
    with pytest.raises((CheckpointError, WeightsMissingError), match=match if corruption != "missing" else "F5TTS_CKPT"):
        engine.load(CPU_WORKER)


def test_offline_missing_download_names_the_variable(tiny_env):
    engine = _f5(tiny_env, F5TTS_CKPT="hf://nobody/not-a-model/model.safetensors")
    with pytest.raises(WeightsMissingError) as caught:
        engine.load(CPU_WORKER)
    assert "could not be downloaded" in str(caught.value)
    assert "set F5TTS_CKPT" in str(caught.value)


def test_patched_copy_is_written_once_atomically_and_reused(ema_state, tiny_env, tmp_path):
    source = write_f5_variant(ema_state, tmp_path / "src.safetensors", "ema")
    env = dict(F5TTS_CKPT=str(source), F5TTS_PATCHED_COPY="1", VOICE_STUDIO_CACHE_DIR=str(tmp_path / "cache"),
               VOICE_STUDIO_HEALTH_PATHS="1")  # the operator asked for full paths in health
    engine = _f5(tiny_env, **env)
    engine.load(CPU_WORKER)
    copy = Path(engine.load_details["patched_copy"])
    assert copy == patched_copy_path(source, tmp_path / "cache" / "patched") and copy.is_file()
    assert set(load_file(str(copy))) == {k.removeprefix("ema_model.") for k in ema_state if k.startswith("ema_model.")}
    assert not list(copy.parent.glob("*.tmp")), "no temp file left behind"
    mtime = copy.stat().st_mtime_ns
    again = _f5(tiny_env, **env)
    again.load(CPU_WORKER)
    assert copy.stat().st_mtime_ns == mtime, "reused while the source is unchanged"


def test_patched_copy_falls_back_to_memory_when_it_cannot_write(ema_state, tiny_env, tmp_path):
    source = write_f5_variant(ema_state, tmp_path / "src.safetensors", "ema")
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where the cache folder should be")
    engine = _f5(tiny_env, F5TTS_CKPT=str(source), F5TTS_PATCHED_COPY="1", VOICE_STUDIO_CACHE_DIR=str(blocker))
    engine.load(CPU_WORKER)
    assert engine.is_loaded and engine.load_details["patched_copy"] is None


def test_safetensors_are_read_without_pickle(tiny, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("torch.load must not be used for safetensors")

    monkeypatch.setattr(torch, "load", refuse)
    assert read_checkpoint_file(tiny.f5_ckpt)


def test_file_source_hf_spec_round_trip():
    source = FileSource.from_spec("hf://owner/repo/sub/model.safetensors", "F5-TTS checkpoint", "F5TTS_CKPT")
    assert (source.repo_id, source.filename) == ("owner/repo", "sub/model.safetensors")
    assert dataclasses.replace(source).spec == "hf://owner/repo/sub/model.safetensors"
