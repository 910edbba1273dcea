"""Subtitle files through ``python -m engines dub-subtitles``: what is spoken, what is refused, what is logged."""

from __future__ import annotations

import json

import pytest

from engines.__main__ import main
from engines.f5.engine import F5Engine
from tests.dubbing import subtitle_fixtures as fx
from tests.dubbing_support import presets_dir

pytestmark = pytest.mark.slow


@pytest.fixture
def dub_env(use_env, reference_wav, tmp_path):
    use_env.setenv("VOICE_STUDIO_PRESETS_DIR", str(presets_dir(reference_wav, tmp_path / "presets")))
    use_env.setenv("VOICE_STUDIO_OUTPUT_DIR", str(tmp_path / "outputs"))
    return use_env


def dub(tmp_path, capsys, name: str, data: bytes, *options: str, log_level: str = "warning"):
    """Run the command on a file holding ``data``; (exit code, the report or None, stderr)."""
    source, report = tmp_path / name, tmp_path / f"{name}.report.json"
    source.write_bytes(data)
    code = main(["--log-level", log_level, "dub-subtitles", "--subtitles", str(source), *options, "--language", "en",
                 "--seed", "1", "--out", str(tmp_path / f"{name}.wav"), "--report", str(report)])
    err = capsys.readouterr().err
    return code, (json.loads(report.read_text()) if code == 0 else None), err


def spoken(report: dict) -> list[str]:
    return [line["text"] for line in report["lines"]]


def test_an_ass_file_without_styles_is_voiced_and_its_drawings_skipped(dub_env, tmp_path, capsys):
    code, report, err = dub(tmp_path, capsys, "signs.ass", fx.drawings_ass(styles=False))
    assert code == 0, err
    assert spoken(report) == fx.DRAWINGS_SPOKEN
    assert [s["cue"] for s in report["skipped"]] == [1, 4] and all("drawing" in s["reason"] for s in report["skipped"])
    assert report["totals"]["rendered"] == 3 and "Traceback" not in err


def test_an_unclear_encoding_is_refused_by_name_then_read_as_chosen(dub_env, tmp_path, capsys):
    data = fx.encoded_srt(fx.CROATIAN_LINES, "cp1250", extra=" X1:63 X2:223 Y1:43 Y2:58")
    code, _, err = dub(tmp_path, capsys, "hr.srt", data)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    for part in ("encoding is unclear", "windows-1250", "windows-1252", "--encoding"):
        assert part in err
    code, report, err = dub(tmp_path, capsys, "hr.srt", data, "--encoding", "windows-1250")
    assert code == 0, err
    assert spoken(report) == fx.CROATIAN_LINES and report["subtitle_encoding"] == "windows-1250"


def test_a_utf16_youtube_vtt_speaks_only_its_captions(dub_env, tmp_path, capsys):
    vtt = ("WEBVTT\nKind: captions\n\nNOTE made by hand\n\nintro\n00:00:00.200 --> 00:00:01.000\n"
           "Fish &amp; chips &lrm;now\n00:00:01.000 --> 00:00:02.000 align:start position:0%\n"
           "yeah<00:00:01.500><c> what</c>\n\nNOTE the end\n")
    code, report, err = dub(tmp_path, capsys, "yt.vtt", fx.with_bom(vtt, "utf-16-le"))
    assert code == 0, err
    assert spoken(report) == ["Fish & chips now", "yeah what"]


@pytest.mark.parametrize("name, data, extra, message", [
    ("style.ass", fx.ass(head="[Script Info]\n\n[V4+ Styles]\nStyle: Default,Arial,big\n\n", styles=False), (),
     "malformed subtitles at line 4: could not convert string to float: 'big'"),
    ("one.srt", b"1", (), "malformed subtitles at line 1"),
    ("nohead.vtt", b"00:01.000 --> 00:02.000\nHello.\n", (), "not a WebVTT file"),
    ("gb.srt", fx.encoded_srt(fx.GB2312_LINES, "gb2312"), ("--encoding", "klingon"), "unknown encoding 'klingon'"),
])
def test_bad_subtitle_files_exit_2_with_one_error_line(dub_env, tmp_path, capsys, name, data, extra, message):
    source = tmp_path / name
    source.write_bytes(data)
    code = main(["dub-subtitles", "--subtitles", str(source), *extra, "--language", "en",
                 "--out", str(tmp_path / "t.wav")])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.startswith("error: ") and message in captured.err and captured.err.count("\n") == 1
    assert "Traceback" not in captured.err


def test_a_fallback_is_one_line_and_its_traceback_waits_for_debug(dub_env, tmp_path, capsys, monkeypatch):
    def broken(self, *args, **kwargs):
        raise RuntimeError("injected F5 failure")

    monkeypatch.setattr(F5Engine, "synthesize_batch", broken)
    monkeypatch.setattr(F5Engine, "synthesize", broken)
    data = fx.srt_text(["hello there."]).encode()
    code, report, err = dub(tmp_path, capsys, "one.srt", data)
    assert code == 0, err
    assert report["lines"][0]["tts_engine_used"] == "xtts" and report["lines"][0]["engine_fallback"] is True
    about = [line for line in err.splitlines() if "injected F5 failure" in line]
    assert about and all(" WARNING voice_studio.engines: engine fallback " in line for line in about), err
    assert "Traceback" not in err and "synthesis failed" not in err

    code, _, err = dub(tmp_path, capsys, "two.srt", data, log_level="debug")
    assert code == 0
    assert "Traceback (most recent call last)" in err and "RuntimeError: injected F5 failure" in err
