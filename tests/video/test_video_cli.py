"""``python -m engines dub-video``: the command as a user runs it, and every bad input's own error.

Bad inputs run with every model variable pointing at nothing: each error is found before
a model would load (only Silero VAD, which ships in its package, hears the no-speech file).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engines.__main__ import main
from tests.dubbing_support import make_video
from devtools.tiny_pipeline_models import pipeline_models
from tests.video.video_source import session_source

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return session_source(tmp_path_factory)


@pytest.fixture
def no_models(monkeypatch, tmp_path):
    """Every model variable names a folder that does not exist."""
    for name in ("VOICE_STUDIO_ASR_MODEL", "VOICE_STUDIO_SPEAKER_MODEL", "VOICE_STUDIO_TRANSLATION_MODEL",
                 "VOICE_STUDIO_SEPARATOR_MODEL", "F5TTS_CKPT", "XTTS_MODEL"):
        monkeypatch.setenv(name, str(tmp_path / "no-such-model"))
    monkeypatch.setenv("VOICE_STUDIO_OUTPUT_DIR", str(tmp_path / "outputs"))
    monkeypatch.setenv("VOICE_STUDIO_VOICES_DIR", str(tmp_path / "voices"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


def run_cli(capsys, *args: str) -> tuple[int, str, list[str]]:
    code = main(["dub-video", *args])
    out, err = capsys.readouterr()
    return code, out, [line for line in err.splitlines() if line.startswith("error:")]


def _bad(capsys, args, match, **env):
    code, out, errors = run_cli(capsys, *args)
    assert code == 2, (code, errors)
    assert len(errors) == 1 and out == ""
    assert match in errors[0], errors[0]
    return errors[0]


def test_every_bad_input_gets_its_own_error(capsys, no_models, source, monkeypatch):
    tmp = no_models
    out = ["--out", str(tmp / "track.wav")]
    video = str(source.video)
    _bad(capsys, ["--video", str(tmp / "gone.mp4"), "--language", "pt-BR", *out], "'gone.mp4') is missing")
    (tmp / "notes.mp4").write_text("these are not moving pictures\n" * 40)
    _bad(capsys, ["--video", str(tmp / "notes.mp4"), "--language", "pt-BR", *out], "not a video or audio file")
    silent = make_video(tmp / "silent.mp4", seconds=2.0, audio=False)
    _bad(capsys, ["--video", str(silent), "--language", "pt-BR", *out], "no audio stream")
    tone = make_video(tmp / "tone.mp4", seconds=3.0, audio=True)
    _bad(capsys, ["--video", str(tone), "--language", "pt-BR", *out], "no speech was found")
    _bad(capsys, ["--video", video, "--language", "xx", *out], "unknown language 'xx'")
    _bad(capsys, ["--video", video, "--language", "pt-BR", "--source-language", "elvish", *out],
         "unknown source language 'elvish'")
    _bad(capsys, ["--video", video, "--language", "pt-BR", "--speakers", "0", *out], "speakers must be from 1 to")
    _bad(capsys, ["--video", video, "--language", "pt-BR", "--translation", str(tmp / "none.srt"), *out],
         "translation file 'none.srt' is missing")
    (tmp / "garbled.srt").write_bytes(b"1\n00:00:01,000 --> 00:00:02,000\n\xff\xfe\x00\x00garbled\n\n2\nnot a time\nx\n")
    _bad(capsys, ["--video", video, "--language", "pt-BR", "--translation", str(tmp / "garbled.srt"), *out],
         "translation file 'garbled.srt'")
    _bad(capsys, ["--video", str(source.wav), "--language", "pt-BR", *out, "--out-video", str(tmp / "o.mp4")],
         "--out-video needs a video")
    _bad(capsys, ["--video", video, "--language", "pt-BR", "--out", str(tmp / "track.ogg")], "--out must name")
    monkeypatch.setenv("VOICE_STUDIO_MAX_VIDEO_S", "5")
    _bad(capsys, ["--video", video, "--language", "pt-BR", *out], "the limit is 5.0 s (VOICE_STUDIO_MAX_VIDEO_S)")
    monkeypatch.setenv("VOICE_STUDIO_MAX_VIDEO_MB", "1")
    (tmp / "big.mp4").write_bytes(os.urandom(3 * 2**20 // 2))
    _bad(capsys, ["--video", str(tmp / "big.mp4"), "--language", "pt-BR", *out], "the limit is 1 MB")
    assert not (tmp / "track.wav").exists()


def test_a_translation_file_is_spoken_as_given(tmp_path, source, tiny_env, tmp_path_factory):
    """The command as a user types it, in its own process: the given lines are what is spoken."""
    env = {**os.environ, **tiny_env, **pipeline_models(tmp_path_factory), "VOICE_STUDIO_VOICES_DIR": str(tmp_path / "v")}
    given = ["Um dois tres.", "Quatro cinco seis.", "Sete oito nove.", "Dez onze doze."]
    translation = tmp_path / "pt.srt"
    translation.write_text("".join(f"{i}\n00:00:0{i},000 --> 00:00:0{i},900\n{text}\n\n"
                                   for i, text in enumerate(given, 1)), encoding="utf-8")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "engines", "dub-video", "--video", str(source.video),
                           "--language", "pt-BR", "--source-language", "en", "--speakers", "1",
                           "--translation", str(translation), "--out", str(out / "track.flac"),
                           "--out-video", str(out / "dub.mp4"), "--report", str(out / "report.json"),
                           "--transcript-out", str(out / "source.srt"), "--subtitles-out", str(out / "dubbed.srt"),
                           "--output-dir", str(tmp_path / "projects")],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    printed = json.loads(proc.stdout)
    assert set(printed["outputs"]) == {"track", "video", "report", "source_subtitles", "dubbed_subtitles"}
    assert printed["totals"]["rendered"] == 4 and printed["failed_lines"] == {}
    report = json.loads((out / "report.json").read_text())
    assert [line["text"] for line in report["lines"]] == given
    assert report["source_language"] == "en" and report["pipeline"]["translate"]["mode"] == "file"
    dubbed = (out / "dubbed.srt").read_text(encoding="utf-8")
    assert all(text in dubbed for text in given)
    assert (out / "track.flac").stat().st_size > 0 and (out / "dub.mp4").stat().st_size > 0
    assert (out / "source.srt").read_text(encoding="utf-8").count("-->") == 4
