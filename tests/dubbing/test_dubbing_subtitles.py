"""Subtitles in and out: round trips through SRT, WebVTT and ASS, speakers, scripts, and the bad-input corpus."""

from __future__ import annotations

import pytest

from dubbing.subtitles import Limits, TimedLine, format_time, parse_subtitles, parse_time, write_subtitles
from engines.errors import InputError

SRT = """\
1
00:00:01,000 --> 00:00:02,537
Maria: <i>Olá</i>, tudo bem?

2
00:00:03,000 --> 00:00:04,250
[João] Tudo ótimo,
e você?

3
00:00:04,100 --> 00:00:06,009
Sem falante aqui.
"""

VTT = """\
WEBVTT
Kind: captions

NOTE a comment block

intro
00:00:01.000 --> 00:00:02.537 align:start
<v Maria>Olá, tudo bem?

00:00:03.000 --> 00:00:04.250
João: Tudo ótimo, e você?

00:04.100 --> 00:06.009
Sem falante aqui.
"""

ASS = """\
[Script Info]
ScriptType: v4.00+

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, \
Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, \
MarginV, Encoding
Style: Default,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,2,2,10,10,10,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:01.00,0:00:02.54,Default,Maria,0,0,0,,{\\i1}Olá{\\i0}, tudo bem?
Comment: 0,0:00:02.00,0:00:03.00,Default,,0,0,0,,not spoken
Dialogue: 0,0:00:03.00,0:00:04.25,Default,João,0,0,0,,Tudo ótimo,\\Ne você?
Dialogue: 0,0:00:04.10,0:00:06.01,Default,,0,0,0,,Sem falante aqui.
"""

EXPECTED = [("Maria", "Olá, tudo bem?"), ("João", "Tudo ótimo, e você?"), (None, "Sem falante aqui.")]


def summary(parsed):
    return [(c.start_ms, c.end_ms, c.speaker, c.text) for c in parsed.cues]


@pytest.mark.parametrize("text, fmt, starts", [
    (SRT, "srt", [(1000, 2537), (3000, 4250), (4100, 6009)]),
    (VTT, "vtt", [(1000, 2537), (3000, 4250), (4100, 6009)]),
    (ASS, "ass", [(1000, 2540), (3000, 4250), (4100, 6010)]),  # ASS keeps centiseconds
])
def test_each_format_reads_times_speakers_and_text(text, fmt, starts):
    parsed = parse_subtitles(text.encode("utf-8"))
    assert parsed.format == fmt
    assert [(c.start_ms, c.end_ms) for c in parsed.cues] == starts
    assert [(c.speaker, c.text) for c in parsed.cues] == EXPECTED
    assert parsed.speakers == ["Maria", "João"]
    assert parsed.overlaps == ({"cue": 3, "previous": 2, "overlap_ms": 150},)


@pytest.mark.parametrize("source", [SRT, VTT, ASS])
@pytest.mark.parametrize("target", ["srt", "vtt", "ass"])
def test_round_trip_keeps_times_speakers_and_text(source, target):
    first = parse_subtitles(source)
    written = write_subtitles([TimedLine(c.start_ms, c.end_ms, c.text, c.speaker) for c in first.cues], target)
    again = parse_subtitles(written)
    assert again.format == target
    tolerance = 10 if target == "ass" else 0  # ASS stores centiseconds
    for a, b in zip(summary(first), summary(again), strict=True):
        assert abs(a[0] - b[0]) <= tolerance and abs(a[1] - b[1]) <= tolerance
        assert a[2:] == b[2:]


def test_bom_crlf_and_windows_1252_are_read():
    data = ("\ufeff" + SRT).replace("\n", "\r\n").encode("utf-8")
    assert summary(parse_subtitles(data)) == summary(parse_subtitles(SRT))
    latin = "1\r\n00:00:01,000 --> 00:00:02,000\r\nAção já.\r\n".encode("cp1252")
    assert parse_subtitles(latin, encoding="windows-1252").cues[0].text == "Ação já."
    with pytest.raises(InputError, match="encoding is unclear"):  # Windows-1250 reads it too, as "Açăo"
        parse_subtitles(latin)


def test_plain_script_has_one_untimed_cue_per_line():
    parsed = parse_subtitles("Maria: Bom dia.\n\n[João] Bom dia, Maria.\nE então?\n")
    assert parsed.format == "script"
    assert [(c.start_ms, c.speaker, c.text) for c in parsed.cues] == [
        (None, "Maria", "Bom dia."), (None, "João", "Bom dia, Maria."), (None, None, "E então?")]


def test_empty_cue_is_skipped_and_reported():
    parsed = parse_subtitles("1\n00:00:01,000 --> 00:00:02,000\nUm.\n\n2\n00:00:03,000 --> 00:00:04,000\n\n\n"
                             "3\n00:00:05,000 --> 00:00:06,000\n<i></i>\n\n4\n00:00:07,000 --> 00:00:08,000\nDois.\n")
    assert [c.text for c in parsed.cues] == ["Um.", "Dois."]
    assert [c.index for c in parsed.cues] == [1, 2]
    assert [(s["cue"], s["line"]) for s in parsed.skipped] == [(2, 6), (3, 10)]
    assert all("empty cue" in s["reason"] for s in parsed.skipped)


BAD = [
    ("1\n00:00:01,000 --> 00:00:02,000\nOk.\n\n2\n00:00:03,000 -> 00:00:04\nBad.\n",
     "malformed subtitles at line 6: expected a timing line"),
    ("WEBVTT\n\n00:01.000 --> 00:02.000\nOk.\n\n00:03.000 -> 00:04.000\nBad.\n",
     "malformed subtitles at line 6"),
    (ASS.replace("0:00:03.00,0:00:04.25", "0:00:0x.00,0:00:04.25"), "malformed subtitles at line 12"),
    ("1\n00:00:05,000 --> 00:00:06,000\nOk.\n\n2\n00:00:03,000 --> 00:00:04,000\nEarlier.\n",
     "timestamps out of order: cue 2 (line 6) starts at 00:00:03,000, before the cue above it (line 2)"),
    ("1\n00:00:05,000 --> 00:00:04,000\nBackwards.\n", "cue 1 (line 2) ends (00:00:04,000) before it starts"),
    ("1\n00:00:05,000 --> 00:00:05,000\nNo time.\n", "cue 1 (line 2) has a 0-length slot"),
    ("1\n00:00:01,000 --> 00:00:02,000\n" + "a" * 1001 + "\n", "cue 1 (line 2) has 1,001 characters; the limit is 1,000"),
    ("1\n00:00:01,000 --> 00:00:02,000\n\n", "no cues with text found"),
    (b"\x00\x01binary", "not text"),
]


@pytest.mark.parametrize("data, message", BAD)
def test_bad_subtitles_get_a_specific_message(data, message):
    with pytest.raises(InputError) as err:
        parse_subtitles(data, Limits())
    assert message in str(err.value)


def test_more_cues_than_the_limit_is_refused(monkeypatch):
    monkeypatch.setenv("VOICE_STUDIO_MAX_CUES", "3")
    text = "".join(f"{i}\n00:00:{i:02d},000 --> 00:00:{i:02d},500\nLine {i}.\n\n" for i in range(1, 5))
    with pytest.raises(InputError, match="more than 3 cues; the limit is VOICE_STUDIO_MAX_CUES=3"):
        parse_subtitles(text)
    monkeypatch.setenv("VOICE_STUDIO_MAX_CUES", "4")
    assert len(parse_subtitles(text).cues) == 4


def test_times_format_and_parse():
    assert format_time(3_723_004) == "01:02:03,004"
    assert parse_time("01:02:03.004") == parse_time("1:02:03,004") == 3_723_004
    assert parse_time("02:03.5") == 123_500 and parse_time("1.25") == 1250
    with pytest.raises(InputError, match="not HH:MM:SS.mmm"):
        parse_time("soon")
