"""``OutputHistory``: atomic saves, failures recorded, newest first, unique names, caps, crashes.

The store takes the engines' request/result objects as they are; most tests here use
real ``SynthesisRequest``/``SynthesisResult`` objects with made-up audio (no model
needed), and the crash tests drive the store from a killed subprocess.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engines import SynthesisRequest, SynthesisResult
from history import HistoryEntry, HistoryError, OutputHistory
from history import store as store_module

REPO = Path(__file__).resolve().parents[2]


def make_result(seconds: float = 0.5, tag: str = "x", rate: int = 24000) -> SynthesisResult:
    audio = (0.3 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * rate)) / rate)).astype(np.float32)
    metadata = {"tts_engine_requested": "f5tts", "tts_engine_used": "xtts", "engine_fallback": True,
                "fallback_reason": "f5tts ran out of GPU memory during synthesis", "tag": tag,
                "duration_s": np.float32(seconds), "rtf": np.float64(0.25), "sample_rate": rate}
    return SynthesisResult(audio, rate, metadata)


def make_request(text: str = "Olá, mundo!") -> SynthesisRequest:
    return SynthesisRequest(text=text, language="pt-BR", engine="f5tts", voice_preset="female_generic",
                            quality_profile="f5tts_ultra_natural", seed=42)


# --- saving and reading back ------------------------------------------------------------------
def test_save_result_writes_audio_and_a_complete_sidecar(tmp_path):
    history = OutputHistory(tmp_path / "outputs")
    result = make_result(0.75, tag="first")
    entry = history.save_result(make_request(), result)

    assert isinstance(entry, HistoryEntry) and entry.status == "ok" and entry.ok and entry.error is None
    assert entry.audio_path == tmp_path / "outputs" / f"{entry.id}.wav"
    audio, rate = sf.read(entry.audio_path, dtype="float32")
    assert rate == 24000 and len(audio) == len(result.audio)
    assert np.abs(audio - result.audio).max() < 1e-3  # 16-bit PCM
    # The sidecar: full metadata (numpy scalars as plain JSON), the text, the request.
    sidecar = json.loads((tmp_path / "outputs" / f"{entry.id}.json").read_text(encoding="utf-8"))
    assert sidecar["text"] == "Olá, mundo!" and sidecar["status"] == "ok"
    assert sidecar["metadata"]["fallback_reason"] == "f5tts ran out of GPU memory during synthesis"
    assert sidecar["metadata"]["duration_s"] == pytest.approx(0.75)
    assert sidecar["request"] == {
        "text": "Olá, mundo!", "language": "pt-BR", "engine": "f5tts", "voice_preset": "female_generic",
        "reference_audio": None, "reference_text": None, "quality_profile": "f5tts_ultra_natural", "speed": None,
        "seed": 42, "allow_fallback": True, "target_duration_s": None, "text_normalization": True, "knobs": None}
    assert sidecar["audio_bytes"] == entry.audio_path.stat().st_size
    # What save returns is what the history lists, and the created time is UTC.
    assert history.list() == [entry]
    assert entry.created.tzinfo is not None and entry.created <= datetime.now(timezone.utc)
    assert history.get(entry.id) == entry
    # Only the entry's two files: no temp files left behind.
    assert sorted(p.name for p in (tmp_path / "outputs").iterdir()) == [f"{entry.id}.json", f"{entry.id}.wav"]


def test_sidecars_are_strict_json(tmp_path):
    result = SynthesisResult(np.zeros(2400, np.float32), 24000,
                             {"rtf": float("nan"), "nested": {"x": np.float32("inf")}, "path": tmp_path, "set": {1}})
    entry = OutputHistory(tmp_path).save_result(make_request(), result)
    raw = (tmp_path / f"{entry.id}.json").read_text(encoding="utf-8")
    sidecar = json.loads(raw, parse_constant=lambda name: pytest.fail(f"{name} in a sidecar"))
    assert sidecar["metadata"] == {"rtf": None, "nested": {"x": None}, "path": str(tmp_path), "set": [1]}
    assert entry.metadata == sidecar["metadata"]


def test_save_failure_records_the_error_without_audio(tmp_path):
    history = OutputHistory(tmp_path)
    entry = history.save_failure(make_request("Falhou."), "no engine could serve the request (f5tts: ...; xtts: ...)")
    assert entry.status == "error" and not entry.ok and entry.audio_path is None
    assert entry.error == "no engine could serve the request (f5tts: ...; xtts: ...)"
    assert entry.text == "Falhou." and entry.request["engine"] == "f5tts"
    assert entry.metadata == {"tts_engine_requested": "f5tts", "quality_profile_requested": "f5tts_ultra_natural",
                              "language": "pt-BR", "mode": "dub"}
    assert history.list() == [entry]
    assert [p.suffix for p in tmp_path.iterdir()] == [".json"]
    # A clone request that failed for want of an upload is still a clone.
    no_upload = SynthesisRequest(text="x", language="en", reference_audio="", reference_text="y")
    assert history.save_failure(no_upload, "no reference audio").metadata["mode"] == "clone"


def test_a_huge_failed_text_is_kept_only_in_part(tmp_path):
    entry = OutputHistory(tmp_path).save_failure(make_request("a" * 200_000), "text is 200,000 characters")
    assert len(entry.text) == store_module.MAX_FAILURE_TEXT_CHARS == len(entry.request["text"])


def test_list_is_newest_first_with_limit_and_survives_a_restart(tmp_path):
    history = OutputHistory(tmp_path)
    saved = [history.save_result(make_request(f"take {i}"), make_result(0.1, tag=str(i))) for i in range(4)]
    saved.append(history.save_failure(make_request("take 4"), "boom"))
    newest_first = list(reversed(saved))
    assert history.list() == newest_first
    assert history.list(limit=2) == newest_first[:2]
    assert history.list(limit=0) == []
    # A new process (a restart) sees exactly the same history.
    assert OutputHistory(tmp_path).list() == newest_first


def test_list_of_a_folder_that_does_not_exist_yet_is_empty(tmp_path):
    history = OutputHistory(tmp_path / "not" / "yet")
    assert history.list() == [] and not (tmp_path / "not").exists()
    history.save_failure(make_request(), "x")
    assert len(history.list()) == 1


def test_get_refuses_ids_that_are_not_entry_ids(tmp_path):
    history = OutputHistory(tmp_path)
    (tmp_path.parent / "secret.json").write_text("{}")
    for bad in ("../secret", "/etc/passwd", "", "20261125T150605.123456Z-000001-zzzzzzzz", None):
        assert history.get(bad) is None


# --- unique names -------------------------------------------------------------------------------
class _FrozenClock:
    """Every save in the same microsecond: the worst case for time-based names."""

    @staticmethod
    def now(tz=None):
        return datetime(2026, 11, 25, 12, 0, 0, 0, tzinfo=timezone.utc)


def test_names_are_unique_in_the_same_instant_across_threads(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "datetime", _FrozenClock)
    history = OutputHistory(tmp_path)
    ids: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        for i in range(15):
            entry = history.save_result(make_request(f"thread {n} take {i}"), make_result(0.05, tag=f"{n}-{i}"))
            with lock:
                ids.append(entry.id)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == len(set(ids)) == 120
    listed = history.list()
    assert len(listed) == 120
    # Every entry is its own: the text, the metadata tag and the audio file agree.
    for entry in listed:
        n, i = entry.text.removeprefix("thread ").split(" take ")
        assert entry.metadata["tag"] == f"{n}-{i}" and entry.audio_path.name == f"{entry.id}.wav"
    assert len({e.audio_path for e in listed}) == 120


def test_names_are_unique_across_processes_in_the_same_second(tmp_path):
    script = ("import sys, types, numpy as np\nfrom history import OutputHistory\n"
              "h = OutputHistory(sys.argv[1])\n"
              "for i in range(40):\n"
              "    h.save_result(types.SimpleNamespace(text=f'{sys.argv[2]} {i}'),"
              " types.SimpleNamespace(audio=np.zeros(240, np.float32), sample_rate=24000, metadata={}))\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), f"proc{n}"], cwd=REPO) for n in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    listed = OutputHistory(tmp_path).list()
    assert len(listed) == 120 and len({e.id for e in listed}) == 120
    assert sorted(e.text for e in listed) == sorted(f"proc{n} {i}" for n in range(3) for i in range(40))


# --- caps -----------------------------------------------------------------------------------------
def test_no_cap_by_default(tmp_path):
    history = OutputHistory.from_env({"VOICE_STUDIO_OUTPUT_DIR": str(tmp_path)})
    assert (history.max_entries, history.max_bytes) == (None, None)
    for i in range(25):
        history.save_result(make_request(f"take {i}"), make_result(0.02))
    assert len(history.list()) == 25


def test_entry_cap_removes_the_oldest_first(tmp_path):
    history = OutputHistory(tmp_path, max_entries=3)
    saved = [history.save_result(make_request(f"take {i}"), make_result(0.05)) for i in range(4)]
    saved.append(history.save_failure(make_request("take 4"), "boom"))
    assert history.list() == list(reversed(saved[-3:]))
    for gone in saved[:2]:
        assert not (tmp_path / f"{gone.id}.json").exists() and not gone.audio_path.exists()
    assert len(list(tmp_path.iterdir())) == 3 + 2  # two results with audio, one failure


def test_size_cap_removes_the_oldest_first_and_keeps_the_newest(tmp_path):
    one = OutputHistory(tmp_path / "probe").save_result(make_request(), make_result(1.0))
    entry_bytes = one.audio_path.stat().st_size + one.audio_path.with_suffix(".json").stat().st_size
    history = OutputHistory(tmp_path / "out", max_bytes=int(2.5 * entry_bytes))
    saved = [history.save_result(make_request(), make_result(1.0)) for _ in range(5)]
    assert [e.id for e in history.list()] == [e.id for e in reversed(saved[-2:])]
    # One entry bigger than the whole cap is still kept (it is the newest).
    big = history.save_result(make_request(), make_result(8.0))
    assert [e.id for e in history.list()] == [big.id]


def test_from_env_reads_the_caps_and_explains_bad_values(tmp_path):
    history = OutputHistory.from_env({"VOICE_STUDIO_OUTPUT_DIR": str(tmp_path), "VOICE_STUDIO_HISTORY_MAX_ENTRIES": "7",
                                      "VOICE_STUDIO_HISTORY_MAX_MB": "1.5"})
    assert (history.root, history.max_entries, history.max_bytes) == (tmp_path, 7, int(1.5 * 2**20))
    assert OutputHistory.from_env({}).root == Path("outputs")
    with pytest.raises(HistoryError, match="VOICE_STUDIO_HISTORY_MAX_ENTRIES='many' is not an integer; unset it"):
        OutputHistory.from_env({"VOICE_STUDIO_HISTORY_MAX_ENTRIES": "many"})
    with pytest.raises(HistoryError, match=r"VOICE_STUDIO_HISTORY_MAX_MB=0 is out of range \(0.01 to any\); unset it"):
        OutputHistory.from_env({"VOICE_STUDIO_HISTORY_MAX_MB": "0"})
    with pytest.raises(HistoryError, match="VOICE_STUDIO_HISTORY_MAX_MB=nan is not a finite number"):
        OutputHistory.from_env({"VOICE_STUDIO_HISTORY_MAX_MB": "nan"})


# --- half-written and corrupt entries --------------------------------------------------------------
def test_list_skips_half_written_and_corrupt_entries(tmp_path, caplog):
    history = OutputHistory(tmp_path)
    good = history.save_result(make_request("good"), make_result(0.2))
    failed = history.save_failure(make_request("failed"), "boom")
    stamp = "20261125T120000.000000Z-00000{}-0123abcd"
    # What a killed writer can leave: a hidden temp file, and audio whose sidecar never came.
    (tmp_path / f".{stamp.format(1)}.wav.abc123.tmp").write_bytes(b"RIFF" + b"\0" * 100)
    (tmp_path / f"{stamp.format(2)}.wav").write_bytes(good.audio_path.read_bytes())
    # What outside damage can leave: garbage, a cut sidecar, a sidecar whose audio was cut or deleted.
    (tmp_path / f"{stamp.format(3)}.json").write_text("{not json")
    sidecar = (tmp_path / f"{good.id}.json").read_text()
    (tmp_path / f"{stamp.format(4)}.json").write_text(sidecar[: len(sidecar) // 2])
    for n, audio in ((5, good.audio_path.read_bytes()[:1000]), (6, None)):
        record = json.loads(sidecar) | {"id": stamp.format(n), "audio_file": f"{stamp.format(n)}.wav"}
        (tmp_path / f"{stamp.format(n)}.json").write_text(json.dumps(record))
        if audio is not None:
            (tmp_path / f"{stamp.format(n)}.wav").write_bytes(audio)
    (tmp_path / f"{stamp.format(7)}.json").write_text(json.dumps({"format": "something else"}))
    (tmp_path / f"{stamp.format(8)}.json").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "notes.json").write_text("{}")  # not ours: ignored

    with caplog.at_level(logging.WARNING, logger="voice_studio.history"):
        assert history.list() == [failed, good]
    skipped = [r for r in caplog.records if r.getMessage() == "history entry skipped"]
    assert len(skipped) == 6 and all(hasattr(r, "sidecar") and hasattr(r, "reason") for r in skipped)


def test_remove_stale_clears_old_debris_only(tmp_path):
    history = OutputHistory(tmp_path)
    good = history.save_result(make_request(), make_result(0.1))
    old_tmp = tmp_path / f".{good.id}.wav.x1.tmp"
    orphan = tmp_path / "20261125T120000.000000Z-000002-0123abcd.wav"
    fresh_tmp = tmp_path / ".20261125T120000.000000Z-000003-0123abcd.json.x2.tmp"
    for path in (old_tmp, orphan, fresh_tmp):
        path.write_bytes(b"partial")
    an_hour_ago = time.time() - 2 * store_module.STALE_SECONDS
    for path in (old_tmp, orphan):
        os.utime(path, (an_hour_ago, an_hour_ago))
    assert history.remove_stale() == 2
    assert fresh_tmp.exists() and not old_tmp.exists() and not orphan.exists()
    assert history.list() == [good] and good.audio_path.exists()


# --- a writer killed mid-write -------------------------------------------------------------------
WRITER = r"""
import sys, types
import numpy as np
from history import OutputHistory

store = OutputHistory(sys.argv[1])
samples, blob = int(sys.argv[2]), int(sys.argv[3])
audio = (0.3 * np.sin(np.arange(samples) * 0.05)).astype(np.float32)
for i in range(1000):
    request = types.SimpleNamespace(text=f"take {i}", language="en", engine="f5tts")
    result = types.SimpleNamespace(audio=audio, sample_rate=24000, metadata={"take": i, "blob": "x" * blob})
    store.save_result(request, result)
    print(i, flush=True)
"""
# (samples, metadata blob chars): a long audio file, or a big sidecar, so the kill lands mid-write.
KILL_TARGETS = {"audio": (12_000_000, 10), "sidecar": (2_400, 40_000_000)}


def kill_writer_mid_write(root: Path, target: str, attempts: int = 5) -> tuple[int, list[str]]:
    """SIGKILL a process while it writes an output through the store.

    Waits until one entry is complete, then until a temp file of ``target`` (the audio
    or the sidecar) is being written, and kills the process. Returns how many saves it
    reported finished and the temp files the kill left behind (proof it died mid-write).
    """
    samples, blob = KILL_TARGETS[target]
    marker = ".wav." if target == "audio" else ".json."
    for _ in range(attempts):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(samples), str(blob)], cwd=REPO,
                                stdout=subprocess.PIPE, text=True)
        try:
            finished = int(proc.stdout.readline() or -1) + 1  # blocks until the first entry is complete
            assert finished == 1, "the writer died before finishing one entry"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if any(marker in name and name.endswith(".tmp") for name in os.listdir(root)):
                    proc.send_signal(signal.SIGKILL)
                    break
                time.sleep(0.0005)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
            rest = proc.stdout.read()
            proc.stdout.close()
        finished += len(rest.split())
        left = sorted(name for name in os.listdir(root) if name.endswith(".tmp"))
        if any(marker in name for name in left):
            return finished, left
    pytest.fail(f"could not kill the writer while it wrote the {target} in {attempts} attempts")


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(KILL_TARGETS))
def test_killed_mid_write_lists_no_half_file(tmp_path, target):
    finished, left = kill_writer_mid_write(tmp_path, target)
    assert left, "the kill must leave a half-written temp file behind"

    history = OutputHistory(tmp_path)
    listed = history.list()
    # Every save that finished is listed; the one cut short is not (it may have just made it).
    assert finished <= len(listed) <= finished + 1
    samples = KILL_TARGETS[target][0]
    for entry in listed:
        assert not entry.audio_path.name.startswith(".")
        assert sf.info(entry.audio_path).frames == samples  # whole files only
    half = [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
    assert half and not any(entry.id in name for entry in listed for name in half)

    # The debris is cleared once stale, and the folder keeps working.
    assert history.remove_stale(max_age_s=0) >= 1
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
    assert history.list() == listed
    entry = history.save_result(make_request("after the crash"), make_result(0.1))
    assert history.list()[0] == entry
