"""Faults, each injected, each ending in the fallback with its reason or in a clear
error, and each followed by the next request being served.

Scenarios: the engine load raises; CUDA out of memory during synthesis; a corrupt
checkpoint (real corrupt files); both engines down (manager and CLI); the output folder
not writable; the process killed while writing an output.

Mocks only inject the fault (a raising ``_load`` / ``synthesize``, a failing write); the
engines themselves are the real ones on the tiny checkpoints. Fresh managers share the
session's loaded XTTS engine, so a fallback costs one tiny synthesis and no reload.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from engines import EngineManager, NoEngineAvailableError, Settings, SynthesisRequest
from engines import manager as manager_module
from engines.__main__ import EXIT_NO_ENGINE, main as cli_main
from engines.f5.engine import F5Engine
from engines.xtts.engine import XttsEngine
from history import HistoryError, OutputHistory
from history import store as store_module
from tests.history.test_history_store import kill_writer_mid_write

TRANSCRIPT = "This is my voice, recorded for a test."


def clone(reference: Path, engine: str = "f5tts", **kw) -> SynthesisRequest:
    base = dict(text="Hello there, this is a short test.", language="en", engine=engine,
                reference_audio=str(reference), reference_text=TRANSCRIPT, seed=3)
    return SynthesisRequest(**{**base, **kw})


def dub(engine: str = "f5tts", **kw) -> SynthesisRequest:
    base = dict(text="Hello there, this is a short test.", language="en", engine=engine,
                voice_preset="female_generic", seed=3)
    return SynthesisRequest(**{**base, **kw})


def fresh_manager(manager, tiny_env, fresh: str = "f5tts", **env) -> EngineManager:
    """A manager whose ``fresh`` engine is new (unloaded, built from ``env``); the other is the session's."""
    settings = Settings.from_env({**tiny_env, **env})
    engines = dict(manager.engines)
    if fresh == "f5tts":
        engines["f5tts"] = F5Engine(settings.f5, settings.device, cache_dir=settings.cache_dir)
    else:
        engines["xtts"] = XttsEngine(settings.xtts, settings.device)
    return EngineManager(settings, engines=engines)


def served_without_fallback(result, engine: str) -> bool:
    meta = result.metadata
    return (meta["tts_engine_used"], meta["engine_fallback"], meta["fallback_reason"]) == (engine, False, None) \
        and np.isfinite(result.audio).all() and result.audio.size > 0


# --- 1. the engine load raises -----------------------------------------------------------------
LOAD_FAULTS = {
    "runtime_error": (RuntimeError("CUDA driver initialisation failed (injected)"),
                      "load failed (RuntimeError: CUDA driver initialisation failed (injected))"),
    "oom_while_loading": (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.50 GiB (injected)"),
                          "load failed (OutOfMemoryError: CUDA out of memory. Tried to allocate 2.50 GiB (injected))"),
    "broken_install": (ImportError("cannot import name 'CFM' from 'f5_tts.model' (injected)"),
                       "load failed (ImportError: cannot import name 'CFM' from 'f5_tts.model' (injected))"),
}


@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(LOAD_FAULTS))
def test_engine_load_raises(fault, manager, tiny_env, reference_wav, monkeypatch):
    exc, reason = LOAD_FAULTS[fault]
    faulty = fresh_manager(manager, tiny_env)
    f5 = faulty.engines["f5tts"]
    real_load, calls = f5._load, []

    def failing_load(device):
        calls.append(device)
        raise exc

    monkeypatch.setattr(f5, "_load", failing_load)
    # The error: no fallback allowed, so the reason is the whole answer.
    with pytest.raises(NoEngineAvailableError) as caught:
        faulty.synthesize(clone(reference_wav, allow_fallback=False))
    assert caught.value.reasons == {"f5tts": reason}
    health = faulty.health()
    assert health["status"] == "degraded"
    assert (health["engines"]["f5tts"]["status"], health["engines"]["f5tts"]["error"]) == ("unavailable", reason)
    assert not f5.is_loaded and f5.model is None
    if fault == "runtime_error":
        # The fallback: XTTS serves, and says why.
        result = faulty.synthesize(dub())
        meta = result.metadata
        assert (meta["tts_engine_used"], meta["engine_fallback"], meta["fallback_reason"]) == ("xtts", True, reason)
    assert len(calls) == 1, "a failed load is remembered, not retried on every request"
    # The fault clears; an explicit load retries and the next request is served by F5 itself.
    monkeypatch.setattr(f5, "_load", real_load)
    assert faulty.load("f5tts")["status"] == "available"
    assert served_without_fallback(faulty.synthesize(clone(reference_wav)), "f5tts")


# --- 2. CUDA out of memory during synthesis ----------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("engine", ["f5tts", "xtts"])
def test_cuda_oom_during_synthesis_falls_back_then_the_engine_serves_again(engine, manager, reference_wav,
                                                                           monkeypatch, caplog):
    target = manager.engines[engine]
    manager.ensure_loaded(engine)
    # Where the engine renders: one job per request, or (XTTS's continuous batch) its own scheduling.
    method = "render_scheduled" if target.schedules_itself() else "synthesize"
    real_synthesize, freed = getattr(target, method), []

    def oom_once(job, *args):
        monkeypatch.setattr(target, method, real_synthesize)  # only this call fails
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 3.00 GiB (injected)")

    real_free = manager_module.free_gpu_cache
    monkeypatch.setattr(manager_module, "free_gpu_cache", lambda: freed.append(1) or real_free())
    monkeypatch.setattr(target, method, oom_once)
    other = "xtts" if engine == "f5tts" else "f5tts"
    with caplog.at_level(logging.INFO, logger="voice_studio.engines"):
        result = manager.synthesize(clone(reference_wav, engine=engine))
    meta = result.metadata
    assert (meta["tts_engine_used"], meta["engine_fallback"]) == (other, True)
    assert meta["fallback_reason"] == f"{target.display_name} ran out of GPU memory during synthesis"
    assert freed == [1], "the GPU cache is emptied after an OOM"
    assert [r.reason for r in caplog.records if r.getMessage() == "synthesis failed"] == [meta["fallback_reason"]]
    # Not left broken: still loaded, reported available, and it serves the next request itself.
    assert target.is_loaded and manager.engine_health(engine).status == "available"
    assert served_without_fallback(manager.synthesize(clone(reference_wav, engine=engine)), engine)


def test_cuda_oom_without_fallback_is_a_clear_error_and_the_next_request_is_served(manager, reference_wav,
                                                                                 monkeypatch):
    f5 = manager.engines["f5tts"]
    manager.ensure_loaded("f5tts")
    real_synthesize = f5.synthesize

    def oom_once(job):
        monkeypatch.setattr(f5, "synthesize", real_synthesize)
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")

    monkeypatch.setattr(f5, "synthesize", oom_once)
    with pytest.raises(NoEngineAvailableError) as caught:
        manager.synthesize(clone(reference_wav, allow_fallback=False))
    assert str(caught.value) == ("no engine could serve the request "
                                 "(F5-TTS: F5-TTS ran out of GPU memory during synthesis)")
    assert served_without_fallback(manager.synthesize(clone(reference_wav, allow_fallback=False)), "f5tts")


# --- 3. a corrupt checkpoint (real corrupt files) ------------------------------------------------
def _corrupt(kind: str, good: Path, directory: Path) -> Path:
    data = good.read_bytes()
    if kind == "truncated_safetensors":
        path = directory / "model_last.safetensors"
        path.write_bytes(data[: len(data) * 2 // 3])
    elif kind == "random_bytes_safetensors":
        path = directory / "model_last.safetensors"
        path.write_bytes(np.random.default_rng(1).bytes(len(data)))
    else:  # random_bytes_pt
        path = directory / "model_last.pt"
        path.write_bytes(np.random.default_rng(2).bytes(256 * 1024))
    return path


CORRUPTIONS = {
    "truncated_safetensors": "checkpoint model_last.safetensors is not a readable safetensors file (truncated or corrupt)",
    "random_bytes_safetensors": "checkpoint model_last.safetensors is not a readable safetensors file (truncated or corrupt)",
    "random_bytes_pt": "checkpoint model_last.pt is not a readable PyTorch file (truncated or corrupt)",
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_corrupt_checkpoint(kind, manager, tiny, tiny_env, reference_wav, tmp_path):
    bad = _corrupt(kind, tiny.f5_ckpt, tmp_path)
    faulty = fresh_manager(manager, tiny_env, F5TTS_CKPT=str(bad))
    with pytest.raises(NoEngineAvailableError) as caught:
        faulty.synthesize(clone(reference_wav, allow_fallback=False))
    assert CORRUPTIONS[kind] in caught.value.reasons["f5tts"]
    assert faulty.engine_health("f5tts").status == "unavailable"
    if kind == "random_bytes_pt":
        # The fallback, with the checkpoint problem as its reason.
        result = faulty.synthesize(dub(quality_profile="f5tts_ultra_natural"))
        meta = result.metadata
        assert (meta["tts_engine_used"], meta["engine_fallback"]) == ("xtts", True)
        assert CORRUPTIONS[kind] in meta["fallback_reason"]
        assert meta["quality_profile_used"] == "xtts_expressive"
    # Someone puts a good file in place: a retry loads it, no restart needed.
    if bad.suffix == ".safetensors":
        shutil.copyfile(tiny.f5_ckpt, bad)
        assert faulty.load("f5tts")["status"] == "available"
        assert served_without_fallback(faulty.synthesize(clone(reference_wav)), "f5tts")


# --- 4. both engines down ------------------------------------------------------------------------
@pytest.fixture
def both_down_env(tiny, tiny_env, tmp_path) -> dict[str, str]:
    """F5: random bytes for a checkpoint. XTTS: a model dir whose model.pth is cut short."""
    bad_ckpt = _corrupt("random_bytes_pt", tiny.f5_ckpt, tmp_path)
    xtts_dir = tmp_path / "xtts_broken"
    xtts_dir.mkdir()
    for name in ("config.json", "vocab.json", "speakers_xtts.pth"):
        shutil.copyfile(tiny.xtts_dir / name, xtts_dir / name)
    with open(tiny.xtts_dir / "model.pth", "rb") as src:
        (xtts_dir / "model.pth").write_bytes(src.read(4 * 2**20))
    return {**tiny_env, "F5TTS_CKPT": str(bad_ckpt), "XTTS_MODEL": str(xtts_dir)}


F5_DOWN = "checkpoint model_last.pt is not a readable PyTorch file (truncated or corrupt)"
XTTS_DOWN = "could not be loaded"


def test_both_engines_down_is_one_clear_error_listing_each_reason(both_down_env, reference_wav, tiny, tmp_path):
    down = EngineManager(Settings.from_env(both_down_env))
    for _ in range(2):  # and the same clear answer for the next request: no crash, no hang
        with pytest.raises(NoEngineAvailableError) as caught:
            down.synthesize(clone(reference_wav))
        reasons = caught.value.reasons
        assert list(reasons) == ["f5tts", "xtts"]
        assert F5_DOWN in reasons["f5tts"]
        assert XTTS_DOWN in reasons["xtts"] and "set XTTS_MODEL" in reasons["xtts"]
        assert str(caught.value).startswith("no engine could serve the request (F5-TTS: ")
    health = down.health()
    assert health["status"] == "unhealthy"
    assert all(h["status"] == "unavailable" and h["error"] for h in health["engines"].values())
    # Fixing one engine brings the app back without a restart: a good .pt under the same name.
    from safetensors.torch import load_file

    torch.save({"ema_model_state_dict": load_file(str(tiny.f5_ckpt))}, tmp_path / "fixed.pt")
    os.replace(tmp_path / "fixed.pt", both_down_env["F5TTS_CKPT"])
    assert down.load("f5tts")["status"] == "available"
    assert served_without_fallback(down.synthesize(clone(reference_wav)), "f5tts")


def test_both_engines_down_through_the_cli_exits_1(both_down_env, monkeypatch, capsys, tmp_path):
    for key, value in both_down_env.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "x.wav"
    code = cli_main(["synth", "--text", "Hello there.", "--language", "en", "--out", str(out)])
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert code == EXIT_NO_ENGINE == 1
    assert len(errors) == 1 and errors[0].startswith("error: no engine could serve the request (F5-TTS: ")
    assert F5_DOWN in errors[0] and "; XTTS-v2: " in errors[0] and XTTS_DOWN in errors[0]
    assert captured.out == "" and not out.exists()


# --- 5. the output folder is not writable --------------------------------------------------------
def _file_in_the_way(tmp_path: Path) -> Path:
    blocker = tmp_path / "outputs"
    blocker.write_text("a file where the folder should be")
    return blocker


def _under_a_file(tmp_path: Path) -> Path:
    (tmp_path / "a_file").write_text("")
    return tmp_path / "a_file" / "outputs"


UNWRITABLE = {
    "file_in_the_way": (_file_in_the_way, "(File exists)"),
    "parent_is_a_file": (_under_a_file, "(Not a directory)"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(UNWRITABLE))
def test_output_folder_not_writable_is_a_clear_history_error(case, manager, reference_wav, tmp_path):
    make, reason = UNWRITABLE[case]
    root = make(tmp_path)
    history = OutputHistory(root)
    request = clone(reference_wav)
    result = manager.synthesize(request)
    expected = f"output folder {root} is not writable {reason}: set VOICE_STUDIO_OUTPUT_DIR to a writable folder"
    with pytest.raises(HistoryError) as caught:
        history.save_result(request, result)
    assert str(caught.value) == expected
    with pytest.raises(HistoryError):
        history.save_failure(request, "some error")
    # The audio is still in hand (the caller decides to return it), and nothing half-written is left.
    assert result.audio.size > 0 and np.isfinite(result.audio).all()
    assert history.list() == []
    if root.is_dir():
        root.chmod(0o700)
        assert not list(root.iterdir())
    # The next request, once the folder is usable, is served and saved.
    good = OutputHistory(tmp_path / "elsewhere")
    entry = good.save_result(request, manager.synthesize(request))
    assert good.list() == [entry]


def _save_as_nobody(root: Path) -> str:
    """As root, permissions do not stop writes: try the save in a forked child that became ``nobody``."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no exec, so it needs no access to the interpreter's folders
        message = "saved"
        try:
            os.close(read_end)
            os.setgid(65534)
            os.setuid(65534)
            OutputHistory(root).save_failure(SynthesisRequest(text="hello", language="en"), "x")
        except HistoryError as exc:
            message = str(exc)
        except BaseException as exc:  # reported to the parent, which fails the test with it
            message = f"unexpected {type(exc).__name__}: {exc}"
        finally:
            os.write(write_end, message.encode())
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode()
    os.waitpid(pid, 0)
    return message


def test_read_only_output_folder_is_a_clear_history_error():
    base = Path(tempfile.mkdtemp(prefix="vs-readonly-"))  # outside pytest's 0700 tree, so nobody can reach it
    root = base / "outputs"
    try:
        base.chmod(0o755)
        root.mkdir(mode=0o755)
        expected = (f"output folder {root} is not writable (Permission denied): "
                    "set VOICE_STUDIO_OUTPUT_DIR to a writable folder")
        if os.geteuid() == 0:
            assert _save_as_nobody(root) == expected
        else:
            root.chmod(0o555)
            with pytest.raises(HistoryError) as caught:
                OutputHistory(root).save_failure(SynthesisRequest(text="hello", language="en"), "x")
            assert str(caught.value) == expected
        assert list(root.iterdir()) == []
    finally:
        if root.exists():
            root.chmod(0o755)
        shutil.rmtree(base)


def test_disk_full_mid_write_is_a_clear_history_error_and_leaves_nothing(manager, reference_wav, tmp_path,
                                                                        monkeypatch):
    history = OutputHistory(tmp_path)
    request = clone(reference_wav)
    result = manager.synthesize(request)
    real_write = store_module._write_wav

    def disk_full(handle, audio, sample_rate):
        handle.write(b"RIFF" + b"\0" * 4096)  # part of the file made it to disk
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(store_module, "_write_wav", disk_full)
    with pytest.raises(HistoryError) as caught:
        history.save_result(request, result)
    message = str(caught.value)
    assert message.startswith(f"output folder {tmp_path} is not writable (No space left on device): ")
    assert "VOICE_STUDIO_HISTORY_MAX_MB" in message and "VOICE_STUDIO_OUTPUT_DIR" in message
    assert list(tmp_path.iterdir()) == [] and history.list() == []
    # Space comes back: the next result is saved.
    monkeypatch.setattr(store_module, "_write_wav", real_write)
    entry = history.save_result(request, result)
    assert history.list() == [entry]


# --- 6. the process is killed while writing an output --------------------------------------------
def test_killed_while_writing_then_restarted_serves_and_saves_the_next_request(manager, reference_wav, tmp_path):
    finished, left = kill_writer_mid_write(tmp_path, "audio")
    assert left
    # The restart: a new store on the same folder, listing only whole entries.
    history = OutputHistory(tmp_path)
    before = history.list()
    assert finished <= len(before) <= finished + 1
    assert all(entry.audio_path.stat().st_size > 0 for entry in before)
    request = clone(reference_wav)
    entry = history.save_result(request, manager.synthesize(request))
    listed = history.list()
    assert listed[0] == entry and listed[1:] == before
    assert entry.metadata["tts_engine_used"] == "f5tts" and entry.text == request.text
