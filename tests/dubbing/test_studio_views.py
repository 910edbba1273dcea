"""What the Studio page says, without a browser: a video job's notes, the progress bar, the message."""

from __future__ import annotations

from pathlib import Path

from dubbing.project import Line, Project, Settings
from dubbing.render import LineEvent
from dubbing.video.state import JobState
from webui.tabs.studio.feedback import message_html
from webui.tabs.studio.progress import LineProgress, progress_html
from webui.tabs.studio.views import notes_text


def project(report=None) -> Project:
    settings = Settings(language="en", default_voice="female_generic", engine="f5tts")
    lines = [Line(1, 0, 2000, "one."), Line(2, 2500, 3000, "two."), Line(3, None, None, "three.")]
    return Project("20261201T000000Z-00000000", "p", "2026-12-01", "srt", settings, lines, report=report)


def test_a_stopped_video_job_says_where_it_stopped_and_the_report_says_what_separation_did(tmp_path: Path):
    job = JobState(tmp_path, {}, "key", {"extract": {}, "speech": {}, "separate": {}})
    report = {"source_language": "en", "speakers": ["S1", "S2"], "separation": {"status": "skipped"},
              "notes": ["no source separation: no weights; set VOICE_STUDIO_SEPARATOR_MODEL to a Demucs model"]}
    text = notes_text(project(report), job)
    assert "stopped before stage 4 of 9 (transcribe)" in text and "after extract, speech, separate" in text
    assert "separation: skipped" in text and "VOICE_STUDIO_SEPARATOR_MODEL" in text
    assert notes_text(project(), None) == ""


def test_the_bar_counts_lines_and_seconds_as_they_finish():
    tracker = LineProgress(project(), [1, 2])
    assert tracker.live == {1: ("queued", ""), 2: ("queued", "")}
    assert not tracker.add(LineEvent(1, "rendering", "natural take"))
    assert tracker.live[1] == ("rendering", "natural take")
    assert tracker.add(LineEvent(1, "done")) and not tracker.add(LineEvent(3, "done"))   # 3 was not asked for
    html = tracker.html()
    assert "1 of 2 lines" in html and "2.0 of 2.5 s of speech" in html and 'value="500"' in html
    assert 'data-state="idle"' in progress_html("up to date", 2, 2, running=False)


def test_messages_are_escaped_and_errors_are_alerts():
    error = message_html("bad <b>file</b>", "Bad input")
    assert 'role="alert"' in error and "&lt;b&gt;file&lt;/b&gt;" in error and "<strong>Bad input:</strong>" in error
    assert 'role="alert"' not in message_html("done", kind="done") and message_html("") == ""
