"""The Studio tab's table wording and parsing, without a browser."""

from __future__ import annotations

import pytest

from dubbing.project import Line, Project, Settings
from engines.errors import InputError
from webui.tabs.studio.table import COLUMNS, fit_text, parse_selection, project_rows, status_text, table_edits


def project() -> Project:
    settings = Settings(language="en", default_voice="female_generic", engine="f5tts",
                        speaker_voices={"Maria": "male_generic"})
    result = {"fit_method": "overrun", "speed_factor": 1.35, "overrun_s": 0.48, "tts_engine_used": "xtts",
              "engine_fallback": True, "fallback_reason": "F5-TTS does not serve language de", "duration_s": 1.0}
    lines = [Line(1, 1000, 2500, "hello.", "Maria", status="done", result=result, source_text="olá.",
                  takes=[{"take": 1}, {"take": 2}], take=2),
             Line(2, 3000, 4000, "bye.", None, voice="custom_voice")]
    return Project("20261125T000000Z-00000000", "p", "2026-11-25T00:00:00", "srt", settings, lines)


def test_rows_show_times_voices_fit_and_fallback():
    rows = project_rows(project(), live={2: ("rendering", "fitting take")})
    assert len(rows[0]) == len(COLUMNS)
    assert rows[0][:7] == [1, "00:00:01.000", "00:00:02.500", "Maria", "male_generic", "hello.", "olá."]
    assert rows[0][7:] == ["▰▰▰▰ done", "overrun ×1.35 +480 ms",
                           "XTTS (fallback: F5-TTS does not serve language de)", "2/2"]
    assert rows[1][4] == "custom_voice" and rows[1][7] == "▰▰▱▱ fitting take" and rows[1][8] == ""
    assert rows[1][6] == "" and rows[1][10] == ""
    assert project_rows(project(), current={1: False})[0][7] == "changed: render again"
    assert status_text("error", "no engine") == "error: no engine"
    assert fit_text({"fit_method": "engine", "speed_factor": 1.184, "overrun_s": 0.0}) == "engine ×1.18"


def test_edited_rows_become_edits():
    rows = project_rows(project())
    rows[1][5] = "changed."
    rows[1][6] = "mudou."
    edits = table_edits(rows)
    assert edits[1] == {"index": 2, "start": "00:00:03.000", "end": "00:00:04.000", "speaker": "", "voice":
                        "custom_voice", "text": "changed.", "source_text": "mudou."}
    with pytest.raises(InputError, match="is not a line number"):
        table_edits([["x"] + rows[0][1:]])


@pytest.mark.parametrize("text, expected", [("3", [3]), ("1, 3-5", [1, 3, 4, 5]), ("5-5 2", [2, 5]), ("", [])])
def test_selection(text, expected):
    assert parse_selection(text, 9) == expected


@pytest.mark.parametrize("text, message", [("0", "outside lines 1 to 9"), ("4-12", "outside"), ("5-3", "outside"),
                                           ("two", "not a number or a range")])
def test_bad_selection(text, message):
    with pytest.raises(InputError, match=message):
        parse_selection(text, 9)
