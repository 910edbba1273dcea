"""Subtitle files the way other projects' test suites and real players see them, built in code.

Each builder returns the file's bytes: ASS with and without a styles section and with
vector drawings, WebVTT with entities, NOTE blocks, identifiers and YouTube's cues that
follow one another with no blank line, SRT with coordinates, and legacy encodings
(GB2312, Windows-1250, Windows-1252, UTF-16/32 with a byte order mark) written with
Python's codecs.
"""

from __future__ import annotations

import codecs

ASS_STYLES = (
    "[V4+ Styles]\n"
    "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, "
    "Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, "
    "MarginR, MarginV, Encoding\n"
    "Style: Default,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,2,2,10,10,10,1\n\n"
)
ASS_EVENTS = "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
DRAWING = r"{\p1}m 0 0 l 100 0 100 100 0 100{\p0}"


def long_drawing(points: int = 400) -> str:
    """A karaoke box or sign: thousands of characters of drawing commands."""
    return "{\\an7\\pos(10,10)\\p1}m 0 0 " + " ".join(f"l {i * 7 % 640} {i * 13 % 360}" for i in range(points))


def dialogue(start: str, end: str, text: str, name: str = "") -> str:
    return f"Dialogue: 0,{start},{end},Default,{name},0,0,0,,{text}\n"


def ass(*events: str, styles: bool = True, head: str = "[Script Info]\nScriptType: v4.00+\n\n") -> bytes:
    return (head + (ASS_STYLES if styles else "") + ASS_EVENTS + "".join(events)).encode("utf-8")


def drawings_ass(styles: bool = True) -> bytes:
    """A drawing-only cue, a sign drawn then named, a long drawing before words, an unclosed drawing, tags."""
    return ass(dialogue("0:00:00.20", "0:00:00.90", DRAWING),
               dialogue("0:00:01.00", "0:00:01.90", r"{\an8}{\p1}m 0 0 l 10 0 10 10{\p0}Tokyo Tower"),
               dialogue("0:00:02.00", "0:00:02.90", long_drawing() + r"{\p0}{\i1}words after{\i0}"),
               dialogue("0:00:03.00", "0:00:03.50", r"{\p2}m 0 0 b 1 2 3 4 5 6"),
               dialogue("0:00:03.60", "0:00:04.50", r"{\pos(10,20)\blur2}Hello\Nworld\hthere", name="Maria"),
               styles=styles)


DRAWINGS_SPOKEN = ["Tokyo Tower", "words after", "Hello world there"]


def srt_text(lines: list[str], extra: str = "") -> str:
    """An SRT file's text (CRLF, as Windows editors write it); ``extra`` follows each timing line."""
    return "".join(f"{i}\r\n00:00:{i:02d},000 --> 00:00:{i:02d},800{extra}\r\n{text}\r\n\r\n"
                   for i, text in enumerate(lines, 1))


# "ÓîÖæÊØ…" when read as Windows-1252. Detection needs a few lines: two short ones read as well as EUC-KR.
GB2312_LINES = ["宇宙守护者来了。", "我们必须马上离开这里。", "你好，朋友。", "警察已经到了吗？还没有。", "我不知道钥匙在哪里。",
                "明天早上见，好吗？", "没有人可以知道这件事。", "你为什么要跑？", "因为他们从昨天晚上就一直在追我。",
                "对不起，妈妈。我不是故意的。"]
CROATIAN_LINES = ["Đino je došao kući.", "Čekaj, što se događa?"]            # "Ðino" read as Windows-1252
PORTUGUESE_LINES = ["Você não sabe o que está acontecendo.", "Não, eu não sei. É verdade."]
POLISH_LINES = ["Zażółć gęślą jaźń.", "Dzień dobry, jak się masz?"]


def encoded_srt(lines: list[str], codec: str, extra: str = "") -> bytes:
    return srt_text(lines, extra).encode(codec)


def with_bom(text: str, codec: str) -> bytes:
    """Notepad's "Unicode" files: UTF-16/32 with a byte order mark."""
    boms = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE,
            "utf-32-le": codecs.BOM_UTF32_LE, "utf-32-be": codecs.BOM_UTF32_BE, "utf-8": codecs.BOM_UTF8}
    return boms[codec] + text.encode(codec)


VTT_ENTITIES = ("WEBVTT\n\n"
                "00:00:01.000 --> 00:00:01.900\nSome text &amp; other stuff &gt; more &lt; less\n\n"
                "00:00:02.000 --> 00:00:02.900\n&lrm;Shalom&rlm; &nbsp;friend, &quot;quoted&quot; &#233;t&eacute;\n")
VTT_ENTITIES_SPOKEN = ["Some text & other stuff > more < less", 'Shalom friend, "quoted" été']

VTT_NOTES = ("WEBVTT - Translation of that film I like\n\n"
             "NOTE\nThis translation was done by Kyle so that\nsome friends can watch it.\n\n"
             "1\n00:00:01.000 --> 00:00:01.900\nTake a cup of tea.\n\n"
             "second caption\n00:00:02.000 --> 00:00:02.900\nIt is not warm.\n\n"
             "NOTE This last line may not translate well.\n\n"
             "third\n00:00:03.000 --> 00:00:03.900\nIt tastes like tea.\n")
VTT_NOTES_SPOKEN = ["Take a cup of tea.", "It is not warm.", "It tastes like tea."]

# youtube-dl's captions: a header with a style sheet, cues with no blank line between them, inline timestamps.
VTT_YOUTUBE = ("WEBVTT\nKind: captions\nLanguage: en\nStyle:\n"
               "::cue(c.colorCCCCCC) { color: rgb(204,204,204);\n }\n##\n\n\n"
               "00:00:00.400 --> 00:00:01.000 align:start position:0%\nyeah\n\n\n"
               "00:00:01.000 --> 00:00:02.000 align:start position:0%\nyeah\n<c.colorCCCCCC>what</c>\n"
               "00:00:02.000 --> 00:00:03.000 align:start position:0%\n"
               "this<00:00:02.199><c> will</c><c.colorE5E5E5><00:00:02.379><c> happen</c></c>\n"
               "00:00:03.000 --> 00:00:03.900 align:start position:0%\n \n"
               "it<00:00:03.200><c> is</c> over\n")
VTT_YOUTUBE_SPOKEN = ["yeah", "yeah what", "this will happen", "it is over"]

SRT_COORDINATES = srt_text(["Positioned at the top.", "And the bottom."], extra="  X1:63 X2:223 Y1:43 Y2:58")
SRT_COORDINATES_SPOKEN = ["Positioned at the top.", "And the bottom."]
