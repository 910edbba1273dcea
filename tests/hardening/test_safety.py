"""No pickle from outside is loaded unsafely.

Each malicious file here would run code when unpickled (it writes a marker file). Given
as a checkpoint, a vocoder or an XTTS model, it is refused with a specific error, the
engine is reported unavailable with that reason, and the marker never appears. A
control test proves the payloads are live. A source check holds every ``torch.load``
in our code to ``weights_only=True``.
"""

from __future__ import annotations

import ast
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from engines import CheckpointError, EngineManager, Settings
from engines.weights.checkpoints import read_checkpoint_file

REPO = Path(__file__).resolve().parents[2]


class RunsShell:
    """Unpickling this runs ``touch MARKER`` through os.system."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


class RunsPython:
    """Unpickling this runs Python through builtins.exec."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


def plant(path: Path, kind: str, marker: Path, wrap=lambda payload: payload) -> Path:
    """Write a malicious file in one of the formats a .pt/.pth/.bin can come in."""
    if kind == "torch_zip":
        torch.save(wrap(RunsShell(marker)), path)
    elif kind == "torch_legacy":
        torch.save(wrap(RunsShell(marker)), path, _use_new_zipfile_serialization=False)
    elif kind == "raw_pickle":
        path.write_bytes(pickle.dumps(wrap(RunsPython(marker)), protocol=2))
    else:
        raise ValueError(kind)
    return path


KINDS = ("torch_zip", "torch_legacy", "raw_pickle")


@pytest.mark.parametrize("kind", KINDS)
def test_the_payloads_are_live(kind, tmp_path):
    """Control: loaded unsafely, each file does run its code (our own harmless payload)."""
    marker = tmp_path / "ran"
    path = plant(tmp_path / "evil.pt", kind, marker)
    if kind == "raw_pickle":
        pickle.loads(path.read_bytes())  # noqa: S301 - the point of the control
    else:
        torch.load(path, weights_only=False)  # noqa: S614 - the point of the control
    assert marker.exists()


@pytest.mark.parametrize("kind", KINDS)
def test_malicious_f5_checkpoint_is_refused(kind, tiny_env, tmp_path):
    marker = tmp_path / "pwned"
    evil = plant(tmp_path / "model_last.pt", kind, marker, wrap=lambda p: {"ema_model_state_dict": {"x": p}})

    with pytest.raises(CheckpointError) as caught:
        read_checkpoint_file(evil)
    assert str(caught.value) == (
        "checkpoint model_last.pt holds objects that are not plain tensors and was refused (only weights are "
        f"loaded, never arbitrary pickles): it references {'exec' if kind == 'raw_pickle' else 'posix.system'}")
    assert not marker.exists()

    manager = EngineManager(Settings.from_env({**tiny_env, "F5TTS_CKPT": str(evil)}))
    reason = manager.ensure_loaded("f5tts")
    assert reason == str(caught.value)
    health = manager.engine_health("f5tts")
    assert (health.status, health.error) == ("unavailable", reason)
    assert not manager.engines["f5tts"].is_loaded
    assert not marker.exists()


def test_malicious_vocoder_is_refused(tiny, tiny_env, tmp_path):
    marker = tmp_path / "pwned"
    vocos = tmp_path / "vocos"
    vocos.mkdir()
    shutil.copyfile(tiny.vocos_dir / "config.yaml", vocos / "config.yaml")
    plant(vocos / "pytorch_model.bin", "torch_zip", marker)
    manager = EngineManager(Settings.from_env({**tiny_env, "F5TTS_VOCODER": str(vocos)}))
    reason = manager.ensure_loaded("f5tts")
    assert reason is not None and "Vocos vocoder 'vocos' could not be loaded" in reason
    assert str(tmp_path) not in reason  # the folder's name, never its server path
    assert "set F5TTS_VOCODER" in reason
    assert manager.engine_health("f5tts").status == "unavailable"
    assert not marker.exists()


@pytest.mark.parametrize("evil_file", ["model.pth", "speakers_xtts.pth"])
def test_malicious_xtts_files_are_refused(evil_file, tiny, tiny_env, tmp_path):
    marker = tmp_path / "pwned"
    model_dir = tmp_path / "xtts"
    model_dir.mkdir()
    for name in ("config.json", "vocab.json", "model.pth", "speakers_xtts.pth"):
        if name == evil_file:
            wrap = (lambda p: {"model": {"x": p}}) if name == "model.pth" else (lambda p: {"Ana Florence": p})
            plant(model_dir / name, "torch_zip", marker, wrap=wrap)
        else:
            os.link(tiny.xtts_dir / name, model_dir / name)  # the real files, without copying 90 MB
    manager = EngineManager(Settings.from_env({**tiny_env, "XTTS_MODEL": str(model_dir)}))
    reason = manager.ensure_loaded("xtts")
    assert reason == (
        "XTTS-v2 model 'xtts' holds a .pth file with objects that are not plain tensors and was refused "
        "(only weights are loaded, never arbitrary pickles): it references posix.system: "
        "set XTTS_MODEL to a directory with trusted config.json, model.pth, vocab.json")
    assert manager.engine_health("xtts").status == "unavailable"
    assert not marker.exists()


def test_refusals_never_advise_loading_unsafely(tiny_env, tmp_path):
    """torch's own error text says "re-running with weights_only=False will likely succeed" and
    suggests allowlisting the global: a user must never be told that about an untrusted file."""
    marker = tmp_path / "pwned"
    reasons = []
    for kind in KINDS:
        evil = plant(tmp_path / f"{kind}.pt", kind, marker)
        with pytest.raises(CheckpointError) as caught:
            read_checkpoint_file(evil)
        reasons.append(str(caught.value))
    for reason in reasons:
        assert "weights_only" not in reason and "safe_globals" not in reason and "trust" not in reason.lower()
    assert not marker.exists()


# --- every torch.load in our code is weights-only -------------------------------------------------
OUR_PACKAGES = ("engines", "history")
ALWAYS_UNSAFE = ("pickle.load", "pickle.loads", "pickle.Unpickler", "dill.load", "dill.loads", "joblib.load")


def _keyword_is(node: ast.Call, name: str, value: bool) -> bool:
    found = {k.arg: k.value for k in node.keywords}.get(name)
    return isinstance(found, ast.Constant) and found.value is value


def find_unsafe_loads(source: str, label: str) -> tuple[int, list[str]]:
    """(number of torch.load calls, problems) for one Python source."""
    torch_loads, problems = 0, []
    for node in ast.walk(ast.parse(source, filename=label)):
        if isinstance(node, ast.ImportFrom) and node.module in ("torch", "pickle", "dill", "joblib"):
            # `from torch import load` would hide a call from the checks below.
            if any(alias.name in ("load", "loads", "Unpickler") for alias in node.names):
                problems.append(f"{label}:{node.lineno}: from {node.module} import load")
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
            continue
        name = f"{func.value.id}.{func.attr}"
        if name == "torch.load":
            torch_loads += 1
            if not _keyword_is(node, "weights_only", True):
                problems.append(f"{label}:{node.lineno}: torch.load without weights_only=True")
        elif name in ALWAYS_UNSAFE:
            problems.append(f"{label}:{node.lineno}: {name} can run code from the file")
        elif name in ("np.load", "numpy.load") and _keyword_is(node, "allow_pickle", True):
            problems.append(f"{label}:{node.lineno}: {name} with allow_pickle=True")
    return torch_loads, problems


def test_every_torch_load_in_our_code_is_weights_only():
    sources = [p for package in OUR_PACKAGES for p in sorted((REPO / package).rglob("*.py"))]
    assert len(sources) > 10
    total, problems = 0, []
    for path in sources:
        count, found = find_unsafe_loads(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))
        total += count
        problems += found
    assert total >= 1, "the check found no torch.load at all: is it still looking at the right code?"
    assert problems == []


def test_the_source_check_is_not_vacuous():
    bad = ("import torch, pickle\n"
           "from torch import load\n"
           "a = torch.load(p)\n"
           "b = torch.load(p, weights_only=False)\n"
           "c = pickle.loads(d)\n"
           "d = np.load(p, allow_pickle=True)\n"
           "ok = torch.load(p, map_location='cpu', weights_only=True)\n"
           "ok2 = np.load(p)\n")
    count, problems = find_unsafe_loads(bad, "bad.py")
    assert count == 3
    assert [p.split(":")[1] for p in problems] == ["2", "3", "4", "5", "6"]
