"""Subtitle files from other projects' test suites and from players, read through the Studio service.

``Studio.create_project`` is the door every caller (CLI, API, Studio tab) goes through:
each case gives the uploaded file's bytes, its suffix and the encoding choice, and says
what is spoken or the message that refuses it. No line is rendered here.
"""

from __future__ import annotations

import os
import time

import pytest

from dubbing.project import ProjectStore
from dubbing.service import DubOptions, Studio
from dubbing.subtitles import parse_subtitles
from engines import EngineManager, InputError, Settings
from tests.dubbing import subtitle_fixtures as fx
from tests.dubbing_support import presets_dir


@pytest.fixture(scope="module")
def studio(tiny_env, reference_wav, tmp_path_factory):
    env = {**tiny_env, "VOICE_STUDIO_PRESETS_DIR": str(presets_dir(reference_wav, tmp_path_factory.mktemp("p")))}
    manager = EngineManager(Settings.from_env({**os.environ, **env}))
    return Studio(manager, ProjectStore(tmp_path_factory.mktemp("projects")), environ={})


OPTIONS = DubOptions(language="en", voice="female_generic", engine="f5tts", seed=1)


def create(studio, data: bytes, suffix: str | None, encoding: str = "auto"):
    return studio.create_project(data, OPTIONS, "case", source_suffix=suffix, encoding=encoding)


READ = [
    # 3. ASS without a [V4+ Styles] section: players draw it in the default style.
    ("ass without styles", ".ass", fx.ass(fx.dialogue("0:00:01.00", "0:00:02.00", "Hello there.", "Maria"),
                                          styles=False), "auto", ["Hello there."]),
    # 4. and 8. Drawings are not spoken, and a long one does not count against the cue limit.
    ("ass drawings", ".ass", fx.drawings_ass(), "auto", fx.DRAWINGS_SPOKEN),
    ("ass drawings, no styles", ".ass", fx.drawings_ass(styles=False), "auto", fx.DRAWINGS_SPOKEN),
    # 8. WebVTT: entities decoded, direction marks dropped; NOTE blocks and identifiers are not spoken.
    ("vtt entities", ".vtt", fx.VTT_ENTITIES.encode(), "auto", fx.VTT_ENTITIES_SPOKEN),
    ("vtt notes and identifiers", ".vtt", fx.VTT_NOTES.encode(), "auto", fx.VTT_NOTES_SPOKEN),
    ("youtube vtt", ".vtt", fx.VTT_YOUTUBE.encode(), "auto", fx.VTT_YOUTUBE_SPOKEN),
    ("srt with coordinates", ".srt", fx.SRT_COORDINATES.encode(), "auto", fx.SRT_COORDINATES_SPOKEN),
    # 8. Encodings: detected when sure, chosen by name otherwise; byte order marks read.
    ("gb2312", ".srt", fx.encoded_srt(fx.GB2312_LINES, "gb2312"), "auto", fx.GB2312_LINES),
    ("polish windows-1250", ".srt", fx.encoded_srt(fx.POLISH_LINES, "cp1250"), "auto", fx.POLISH_LINES),
    ("croatian, chosen", ".srt", fx.encoded_srt(fx.CROATIAN_LINES, "cp1250"), "windows-1250", fx.CROATIAN_LINES),
    ("portuguese, chosen", ".srt", fx.encoded_srt(fx.PORTUGUESE_LINES, "cp1252"), "windows-1252",
     fx.PORTUGUESE_LINES),
    ("gb2312, chosen by its label", ".srt", fx.encoded_srt(fx.GB2312_LINES, "gb2312"), "GB2312", fx.GB2312_LINES),
    ("utf-8 with bom", ".srt", fx.with_bom(fx.srt_text(fx.PORTUGUESE_LINES), "utf-8"), "auto", fx.PORTUGUESE_LINES),
    ("utf-8, chosen", ".srt", fx.srt_text(fx.PORTUGUESE_LINES).encode(), "utf-8", fx.PORTUGUESE_LINES),
    *[(f"{codec} with bom", ".srt", fx.with_bom(fx.srt_text(fx.PORTUGUESE_LINES), codec), "auto",
       fx.PORTUGUESE_LINES) for codec in ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")],
    ("utf-16 vtt with bom", ".vtt", fx.with_bom(fx.VTT_NOTES, "utf-16-le"), "auto", fx.VTT_NOTES_SPOKEN),
    ("utf-16 without bom, chosen", ".srt", fx.srt_text(fx.PORTUGUESE_LINES).encode("utf-16-le"), "utf-16-le",
     fx.PORTUGUESE_LINES),
    # 8. Only .txt is a script.
    ("a txt script", ".txt", b"1\n", "auto", ["1"]),
    ("srt content in a txt", ".txt", fx.SRT_COORDINATES.encode(), "auto", fx.SRT_COORDINATES_SPOKEN),
]


@pytest.mark.parametrize("case, suffix, data, encoding, spoken", READ, ids=[c[0] for c in READ])
def test_files_players_read_are_read_and_only_their_words_spoken(studio, case, suffix, data, encoding, spoken):
    project = create(studio, data, suffix, encoding)
    assert [line.text for line in project.lines] == spoken
    assert all(line.start_ms is not None for line in project.lines) or suffix == ".txt"


def test_drawings_are_skipped_with_a_reason_and_named_speakers_kept(studio):
    project = create(studio, fx.drawings_ass(), ".ass")
    assert [(s["cue"], s["line"]) for s in project.skipped] == [(1, 10), (4, 13)]
    assert all("drawing" in s["reason"] for s in project.skipped)
    assert [line.speaker for line in project.lines] == [None, None, "Maria"]
    plain = create(studio, fx.ass(fx.dialogue("0:00:01.00", "0:00:02.00", r"{\an8}"),
                                  fx.dialogue("0:00:02.00", "0:00:03.00", "Words.")), ".ass")
    assert [s["reason"] for s in plain.skipped] == ["empty cue: nothing to speak"]


REFUSED = [
    # 3. Every error the ASS reader raises becomes a message with the line and what is wrong.
    ("ass bad style number", ".ass",
     fx.ass(head="[Script Info]\n\n[V4+ Styles]\nStyle: Default,Arial,big,&H00FFFFFF\n\n",
            styles=False), "auto", ["malformed subtitles at line 4", "could not convert string to float: 'big'"]),
    ("ass empty colour", ".ass",
     fx.ass(head="[Script Info]\n\n[V4+ Styles]\nStyle: Default,Arial,20,\n\n", styles=False), "auto",
     ["malformed subtitles at line 4", "string index out of range", "Style: Default,Arial,20,"]),
    ("ass comment with a bad time", ".ass",
     fx.ass("Comment: 0,0:00:0x.00,0:00:02.00,Default,,0,0,0,,note\n",
            fx.dialogue("0:00:01.00", "0:00:02.00", "Hi.")), "auto",
     ["malformed subtitles at line 10", "Failed to parse timestamp: '0:00:0x.00'"]),
    ("ass indented dialogue with a bad time", ".ass",
     fx.ass("  Dialogue: 0,0:00:01.00,0:0x:02.00,Default,,0,0,0,,Hi.\n"), "auto",
     ["malformed subtitles at line 10", "Failed to parse timestamp"]),
    # 8. A file named .srt, .vtt or .ass must be one.
    ("a one-byte srt", ".srt", b"1", "auto", ["malformed subtitles at line 1", "(SRT)", "got '1'"]),
    ("text named srt", ".srt", b"Hello there.\nHow are you?\n", "auto", ["malformed subtitles at line 1", "(SRT)"]),
    ("vtt without its header", ".vtt", b"00:01.000 --> 00:02.000\nHello.\n", "auto",
     ["not a WebVTT file", "'WEBVTT'"]),
    ("text named vtt", ".vtt", b"Hello there.\n", "auto", ["not a WebVTT file"]),
    ("text named ass", ".ass", b"Hello there.\n", "auto", ["not an ASS/SSA file", "[Events]"]),
    ("text with another suffix", ".sub", b"Hello there.\n", "auto", ["'.sub' file", ".srt, .vtt, .ass/.ssa"]),
    ("an empty vtt", ".vtt", b"\xef\xbb\xbf \r\n", "auto", ["subtitle file is empty"]),
    # 8. Unclear encodings are refused by name, with how to choose.
    ("croatian windows-1250", ".srt", fx.encoded_srt(fx.CROATIAN_LINES, "cp1250"), "auto",
     ["encoding is unclear", "windows-1250", "windows-1252", "Đino", "Ðino", "--encoding", "Encoding field"]),
    ("portuguese windows-1252", ".srt", fx.encoded_srt(fx.PORTUGUESE_LINES, "cp1252"), "auto",
     ["encoding is unclear", "windows-1252", "não"]),
    ("utf-16 without bom", ".srt", fx.srt_text(fx.PORTUGUESE_LINES).encode("utf-16-le"), "auto",
     ["not text (binary data found)", "utf-16-le"]),
    ("not what was chosen", ".srt", fx.encoded_srt(fx.PORTUGUESE_LINES, "cp1252"), "utf-8",
     ["not valid utf-8 text", "line 3"]),
    ("an unknown encoding", ".srt", fx.SRT_COORDINATES.encode(), "klingon", ["unknown encoding 'klingon'",
                                                                             "windows-1252"]),
    ("a codec that is not a text encoding", ".srt", fx.SRT_COORDINATES.encode(), "base64",
     ["unknown encoding 'base64'"]),
]


@pytest.mark.parametrize("case, suffix, data, encoding, parts", REFUSED, ids=[c[0] for c in REFUSED])
def test_files_that_are_not_what_they_say_get_one_clear_message(studio, case, suffix, data, encoding, parts):
    with pytest.raises(InputError) as err:
        create(studio, data, suffix, encoding)
    message = str(err.value)
    for part in parts:
        assert part in message, message
    assert "\n" not in message and "Traceback" not in message


def test_a_drawing_is_not_text_for_the_cue_limit_but_words_are():
    words = "word " * 250
    data = fx.ass(fx.dialogue("0:00:01.00", "0:00:02.00", fx.long_drawing() + "{\\p0}" + words))
    with pytest.raises(InputError, match=r"cue 1 \(line 10\) has 1,249 characters; the limit is 1,000"):
        parse_subtitles(data, suffix=".ass")


def test_utf8_comes_first_and_detection_is_said():
    assert parse_subtitles("Ação já.\n".encode(), suffix=".txt").encoding == "utf-8"
    assert parse_subtitles(fx.encoded_srt(fx.GB2312_LINES, "gb2312"), suffix=".srt").encoding == "gb18030"
    assert parse_subtitles(fx.with_bom("Olá.\n", "utf-16-be"), suffix=".txt").encoding == "utf-16"


N = 300_000  # read with pysubs2's quadratic patterns, each case took minutes; bounded, each is under a second
HOSTILE = [
    ("tags that never close", ".srt", "1\n00:00:01,000 --> 00:00:02,000\n" + "<a" * (N // 2) + "\n", "characters"),
    ("tags that never close, webvtt", ".vtt", "WEBVTT\n\n00:01.000 --> 00:02.000\n" + "<a" * (N // 2) + "\n",
     "characters"),
    ("override blocks that never close", ".ass",
     fx.ass(fx.dialogue("0:00:01.00", "0:00:02.00", "{" * N)).decode(), "nothing to speak"),
    ("a section heading that never closes", ".ass", fx.ass().decode() + "[" + "a" * N + "\n",
     "not a Dialogue or Comment event"),
]


@pytest.mark.parametrize("case, suffix, text, message", HOSTILE, ids=[c[0] for c in HOSTILE])
def test_markup_that_never_closes_is_read_in_bounded_time(case, suffix, text, message):
    started = time.monotonic()
    with pytest.raises(InputError, match=message):
        parse_subtitles(text.encode(), suffix=suffix)
    assert time.monotonic() - started < 20
