"""``python -m bench.quality`` on the tiny engines, a tiny Whisper and a tiny WavLM (--quick)."""

from __future__ import annotations

import json

import pytest

from bench.quality import TEXTS_DIR, main, read_texts
from engines.quality.asr import ASR_VARIABLE
from devtools.tiny_speech import speech_models


@pytest.fixture(scope="session")
def speech(tmp_path_factory):
    return speech_models(tmp_path_factory)


def test_shipped_text_lists():
    texts = read_texts(TEXTS_DIR, None)
    assert sorted(texts) == ["en", "pt-BR"] and all(len(sentences) == 20 for sentences in texts.values())
    assert all(any(ch.isdigit() for ch in " ".join(sentences)) for sentences in texts.values())


@pytest.mark.slow
def test_quick_run_writes_json_and_markdown(use_env, speech, tmp_path, capsys):
    out = tmp_path / "quality.json"
    code = main(["--quick", "--languages", "en", "--parallel", "4", "--out", str(out),
                 "--asr-model", str(speech.whisper), "--speaker-model", str(speech.wavlm)])
    assert code == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    rows = {(row["engine"], row["profile"], row["language"]): row for row in report["rows"]}
    assert set(rows) == {("f5tts", "f5tts_balanced", "en"), ("xtts", "xtts_balanced", "en")}
    for row in rows.values():
        assert row["clips"] == 2 and row["failed"] == 0
        assert row["wer"] >= 0 and row["cer"] >= 0 and -1 <= row["speaker_similarity"] <= 1 and row["rtf"] > 0
        assert row["utmos"] is None
        assert all(item["transcript"] is not None and item["duration_s"] > 0 for item in row["items"])
    assert report["config"]["asr_model"] == str(speech.whisper)
    assert report["config"]["utmos"].startswith(("not installed", "unavailable", "available"))
    assert any(item.get("normalized_text") for item in rows[("f5tts", "f5tts_balanced", "en")]["items"])
    table = out.with_suffix(".md").read_text(encoding="utf-8")
    assert "| f5tts | f5tts_balanced | en | 2 | 0 |" in table and table == capsys.readouterr().out


def test_without_asr_it_stops_before_synthesising_and_names_the_variable(use_env, tmp_path, capsys):
    out = tmp_path / "quality.json"
    assert main(["--quick", "--out", str(out), "--asr-model", "hf://nobody-here/missing"]) == 1
    assert ASR_VARIABLE in capsys.readouterr().err and not out.exists()
