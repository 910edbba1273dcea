"""The history's store and the History tab's handlers, without a running app.

- A damaged sidecar (valid JSON, a field of the wrong type) is listed and marked, and
  the tab renders every entry around it.
- Entries are deleted one by one or all at once; the list pages past 200 entries.
- A listing parses only sidecars it has not seen: a new result costs one read, not all.
- A sidecar names no server path: an uploaded reference is kept by name and sha256.
- One atomic-write helper and one number parser serve the store, the web config and
  the checkpoint copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from engines import SynthesisRequest, SynthesisResult
from history import HistoryError, OutputHistory

REPO = Path(__file__).resolve().parents[2]


def result(seconds: float = 0.2) -> SynthesisResult:
    audio = (0.3 * np.sin(np.arange(int(seconds * 24000)) * 0.05)).astype(np.float32)
    return SynthesisResult(audio, 24000, {"tts_engine_requested": "f5tts", "tts_engine_used": "f5tts",
                                          "engine_fallback": False, "quality_profile_used": "f5tts_fast",
                                          "language": "en", "voice": "female_generic", "mode": "dub",
                                          "duration_s": seconds, "seed": 7})


def request(text: str = "hello.", **fields) -> SynthesisRequest:
    return SynthesisRequest(text=text, language="en", voice_preset="female_generic", **fields)


def damaged_copy(history: OutputHistory, good_id: str, stamp: str = "20200101T000000.000000Z-000001-0badc0de") -> str:
    """A hand-edited sidecar: valid JSON, but durations that are text, and a number where text belongs."""
    record = json.loads((history.root / f"{good_id}.json").read_text(encoding="utf-8"))
    record.update(id=stamp, audio_file=f"{stamp}.wav", duration_s="long")
    record["metadata"].update(duration_s="abc", mode=5)
    (history.root / f"{stamp}.json").write_text(json.dumps(record), encoding="utf-8")
    shutil.copy(history.root / f"{good_id}.wav", history.root / f"{stamp}.wav")
    return stamp


def render_history(history: OutputHistory, summaries: list[dict]) -> list:
    """Run the History tab's render function (as Gradio does on a refresh); return the blocks it made."""
    import gradio as gr

    from webui.tabs.history.tab import build_history_tab

    with gr.Blocks() as demo:
        build_history_tab(history)
    show = demo.renderables[0]
    with gr.Blocks() as rendered:
        show.fn({"entries": summaries, "total": len(summaries), "offset": 0, "limit": 20})
    return list(rendered.blocks.values())


# --- a damaged sidecar -------------------------------------------------------------------------------
def test_a_damaged_sidecar_is_listed_marked_and_the_rest_renders(tmp_path, monkeypatch):
    import gradio as gr

    from webui.tabs.history.tab import list_history

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    history = OutputHistory(tmp_path / "outputs")
    first = history.save_result(request("first."), result())
    bad_id = damaged_copy(history, first.id)
    last = history.save_result(request("last."), result())

    summaries = list_history(history, 20)
    assert [s["id"] for s in summaries] == [last.id, first.id, bad_id]
    blocks = render_history(history, summaries)  # the History tab's own render: no exception
    html = {b.elem_id: b.value for b in blocks if isinstance(b, gr.HTML)}
    assert "Engine: F5-TTS" in html[f"history-{last.id}"] and "Engine: F5-TTS" in html[f"history-{first.id}"]
    assert "This entry is damaged" in html[f"history-{bad_id}"] and "metadata.duration_s is &#x27;abc&#x27;" \
        in html[f"history-{bad_id}"]
    plays = [b for b in blocks if isinstance(b, gr.Button) and "vs-history-play" in (b.elem_classes or [])]
    assert len(plays) == 3  # the damaged entry still plays
    from webui.tabs.history.tab import _player_for

    played = _player_for(history, summaries[2])()
    assert played.value["path"].endswith(".wav") and str(history.root) not in played.value["path"]

    bad = history.get(bad_id)
    assert bad.problem == ("damaged sidecar: metadata.mode is 5, not text; metadata.duration_s is 'abc', not a "
                           "number; duration_s is 'long', not a number")
    assert "duration_s" not in bad.metadata and bad.metadata["tts_engine_used"] == "f5tts"
    assert summaries[2]["problem"] == bad.problem and summaries[0]["problem"] is None


# --- delete, clear, pages --------------------------------------------------------------------------
def test_delete_removes_one_entry_and_its_audio(tmp_path):
    import gradio as gr

    from webui.tabs.history.tab import delete_entry

    history = OutputHistory(tmp_path)
    keep, gone = history.save_result(request("keep."), result()), history.save_result(request("gone."), result())
    assert delete_entry(history, gone.id) == {"deleted": 1, "id": gone.id}
    assert history.list() == [keep] and not gone.audio_path.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{keep.id}.json", f"{keep.id}.wav"]
    for unknown in (gone.id, "../outputs", "", None):
        with pytest.raises(gr.Error, match="no history entry with id"):
            delete_entry(history, unknown)


def test_clear_needs_confirmation_then_removes_everything(tmp_path):
    import gradio as gr

    from webui.tabs.history.tab import clear_history

    history = OutputHistory(tmp_path)
    for i in range(3):
        history.save_result(request(f"take {i}."), result())
    history.save_failure(request("failed."), "boom")
    for refused in (False, None, "no", "", 1):
        with pytest.raises(gr.Error, match="pass confirm=true to delete every entry"):
            clear_history(history, refused)
    assert len(history.list()) == 4
    assert clear_history(history, True) == {"deleted": 4}
    assert history.list() == [] and list(tmp_path.iterdir()) == []


def test_pages_go_past_two_hundred_entries(tmp_path):
    import gradio as gr

    from webui.tabs.history.tab import MAX_LIMIT, list_history

    history = OutputHistory(tmp_path)
    saved = [history.save_failure(request(f"take {i}."), f"error {i}") for i in range(230)]
    newest_first = [e.id for e in reversed(saved)]
    assert [s["id"] for s in list_history(history, MAX_LIMIT)] == newest_first[:200]
    assert [s["id"] for s in list_history(history, MAX_LIMIT, 200)] == newest_first[200:]
    assert [s["id"] for s in list_history(history, 20, 220)] == newest_first[220:]
    assert list_history(history, 20, 500) == []
    assert history.page(limit=5, offset=10) == (history.list()[10:15], 230)
    for bad, message in ((-1, "offset -1 is out of range"), ("x", "offset 'x' is not a number"),
                         (2.5, "offset 2.5 is not a whole number")):
        with pytest.raises(gr.Error, match=message):
            list_history(history, 20, bad)


# --- the index: no re-reading ------------------------------------------------------------------------
@pytest.fixture
def sidecar_reads(monkeypatch) -> list[str]:
    """Every read of a history sidecar (a .json file), whichever code reads it."""
    reads: list[str] = []
    real = Path.read_bytes

    def counting(self: Path) -> bytes:
        if self.suffix == ".json":
            reads.append(self.name)
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", counting)
    return reads


def test_a_new_result_does_not_reread_every_sidecar(tmp_path, sidecar_reads):
    writer = OutputHistory(tmp_path)
    for i in range(30):
        writer.save_result(request(f"take {i}."), result(0.05))
    reader = OutputHistory(tmp_path)  # the app's instance, after a restart
    assert len(reader.list()) == 30 and len(sidecar_reads) == 30  # the first listing reads each once
    sidecar_reads.clear()
    assert len(reader.list()) == 30 and sidecar_reads == []  # nothing changed: nothing read
    mine = reader.save_result(request("a new result."), result(0.05))
    assert reader.list()[0] == mine and sidecar_reads == []  # its own result: already known
    theirs = writer.save_result(request("from another process."), result(0.05))
    assert reader.list()[0] == theirs and sidecar_reads == [f"{theirs.id}.json"]  # one new file: one read
    sidecar_reads.clear()
    reader.delete(mine.id)
    (tmp_path / f"{theirs.id}.wav").unlink()  # damage from outside is still seen, without a read
    assert len(reader.list()) == 30 and sidecar_reads == []


# --- no server paths in sidecars ------------------------------------------------------------------
def test_a_sidecar_keeps_the_reference_by_name_and_hash_only(tmp_path, reference_wav):
    upload = tmp_path / "gradio" / "0123abcd" / "my voice.wav"
    upload.parent.mkdir(parents=True)
    shutil.copy(reference_wav, upload)
    history = OutputHistory(tmp_path / "outputs")
    clone = request("cloned.", reference_audio=str(upload), reference_text="a transcript.")
    saved = history.save_result(clone, result())
    failed = history.save_failure(clone, "no engine could serve the request")
    expected = {"file_name": "my voice.wav", "sha256": hashlib.sha256(upload.read_bytes()).hexdigest()}
    for entry in (saved, failed):
        raw = (history.root / f"{entry.id}.json").read_text(encoding="utf-8")
        assert str(tmp_path) not in raw and "/gradio/" not in raw
        assert entry.request["reference_audio"] == expected
    assert failed.metadata["mode"] == "clone"
    upload.unlink()  # a failure recorded after the upload was swept: the name, no hash
    assert history.save_failure(clone, "x").request["reference_audio"] == {"file_name": "my voice.wav",
                                                                           "sha256": None}


# --- one writer, one parser ------------------------------------------------------------------------
def test_the_patched_checkpoint_copy_is_written_durably(tmp_path, monkeypatch):
    import torch
    from safetensors.torch import load_file

    from engines.weights.checkpoints import write_patched_copy

    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    source = tmp_path / "model.safetensors"
    source.write_bytes(b"weights")
    copy = write_patched_copy({"w": torch.ones(2, 3).t()}, source, tmp_path / "cache")
    assert torch.equal(load_file(str(copy))["w"], torch.ones(3, 2))
    assert len(synced) >= 2, "the file and its folder are fsynced before the copy counts as written"
    assert [p.name for p in copy.parent.iterdir()] == [copy.name]


def test_history_caps_are_parsed_by_the_one_number_parser():
    with pytest.raises(HistoryError, match="VOICE_STUDIO_HISTORY_MAX_MB=inf is not a finite number"):
        OutputHistory.from_env({"VOICE_STUDIO_HISTORY_MAX_MB": "inf"})
    with pytest.raises(HistoryError, match=r"VOICE_STUDIO_HISTORY_MAX_ENTRIES=0 is out of range \(1 to any\)"):
        OutputHistory.from_env({"VOICE_STUDIO_HISTORY_MAX_ENTRIES": "0"})


@pytest.mark.parametrize("module", ["history/store.py", "history/index.py", "history/records.py",
                                    "webui/serving/config.py", "engines/weights/checkpoints.py"])
def test_no_module_keeps_its_own_writer_or_parser(module):
    source = (REPO / module).read_text(encoding="utf-8")
    assert not re.search(r"mkstemp\(|os\.replace\(|os\.fsync\(", source), f"{module} writes files by itself"
    assert not re.search(r"\b(int|float)\(raw\)", source), f"{module} parses settings by itself"
