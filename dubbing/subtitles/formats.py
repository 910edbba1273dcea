"""Reading the timed formats into cue blocks: which format a file is, SRT and WebVTT block by block, ASS/SSA.

``choose_format`` trusts a file's own signature (``WEBVTT``, ``[Script Info]``) and else
its suffix: a file named ``.srt``, ``.vtt`` or ``.ass`` must read as one, and only ``.txt``
may be a plain script. ``timed_blocks`` checks SRT and WebVTT block by block, so a
malformed line gets its line number, and hands pysubs2 the cues alone: WebVTT's header,
``NOTE``/``STYLE``/``REGION`` blocks and cue identifiers never reach its reader, which would
fold them into the cue before. Cues that follow one another with no blank line between
them (YouTube's WebVTT) are split at their timing lines, as players split them.
``ass_blocks`` reads ASS/SSA with pysubs2 and turns any error its reader raises into the
line it was reading and what the reader said.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import pysubs2
from pysubs2.exceptions import Pysubs2Error
from pysubs2.formats import get_format_class

from engines.errors import InputError

_SRT_TIME = r"\d{1,3}:\d{2}:\d{2}[,.]\d{1,3}"
_VTT_TIME = r"(?:\d{1,3}:)?\d{2}:\d{2}\.\d{3}"
# SRT's timing line may end with a position: "X1:63 X2:223 Y1:43 Y2:58" (players accept and ignore it).
SRT_TIMING = re.compile(rf"^\s*({_SRT_TIME})\s*-->\s*({_SRT_TIME})(?:\s+[XY][12]:\s*-?\d+)*\s*$", re.I)
VTT_TIMING = re.compile(rf"^\s*({_VTT_TIME})\s+-->\s+({_VTT_TIME})(?:\s+.*)?$")
TIMING_EXAMPLES = {"srt": "00:00:01,000 --> 00:00:02,500", "vtt": "00:00:01.000 --> 00:00:02.500"}
_ANY_TIMING = re.compile(r"\d{1,2}:\d{2}[,.:]\d{2,3}\s*-->|\d:\d{2}:\d{2}[,.]\d{1,3}\s*-->")
_TIME_START = re.compile(r"^\s*\d{1,3}:\d{2}[:.,]")
_VTT_VOICE = re.compile(r"^\s*<v(?:\.[\w.-]+)?\s+([^>]{1,60})>")
_VTT_NOT_A_CUE = re.compile(r"^(WEBVTT|NOTE|STYLE|REGION)(\s|$)")
# WebVTT's karaoke timestamps inside a cue (<00:00:01.500>): pysubs2 would take a line holding two for a timing line.
_VTT_INLINE_TIME = re.compile(rf"<{_VTT_TIME}>")
_ASS_DIALOGUE_TIMES = re.compile(r"^Dialogue:\s*[^,]*,\s*(\d+:\d{2}:\d{2}[.:]\d{1,3}),\s*(\d+:\d{2}:\d{2}[.:]\d{1,3}),")
# What pysubs2's readers raise on a file they cannot read: their own errors, and Python's from parsing fields.
READER_ERRORS = (Pysubs2Error, ValueError, KeyError, IndexError)
# pysubs2 tries each section heading and tag it meets against the rest of the line or cue: on a long line of
# "[aaaa..." or a cue of "<a<a<a..." with nothing closing them, that is quadratic work. ASS lines that are not
# events are short, so a long one is refused; a "<" with no ">" after it cannot open a tag, so pysubs2 sees a
# NUL there instead (decoded text holds none) and the "<" is put back in what it reads.
MAX_ASS_HEADER_LINE = 4096
_OPEN_ANGLE = "\x00"
SUBTITLE_SUFFIXES = (".srt", ".vtt", ".ass", ".ssa", ".txt")


@dataclass(frozen=True)
class Block:
    line: int          # line number of the timing line (the Dialogue line in ASS), 1-based
    start_ms: int
    end_ms: int
    raw_text: str = ""
    voice: str | None = None


def detect_format(text: str) -> str:
    """``vtt``, ``ass``, ``srt`` or ``script``, from the content alone."""
    head = text.lstrip()[:4096]
    if head.startswith("WEBVTT"):
        return "vtt"
    if "[Script Info]" in head or re.search(r"^\[Events\]", text, re.M):
        return "ass"
    if _ANY_TIMING.search(text):
        return "srt"
    return "script"


def choose_format(text: str, suffix: str | None) -> str:
    """The format to read ``text`` as, given the uploaded file's suffix (None: the content alone decides)."""
    found = detect_format(text)
    if suffix is None or suffix.lower() == ".txt" or found in ("vtt", "ass"):
        return found  # a file that names its own format is read as that format
    suffix = suffix.lower()
    if suffix == ".vtt":
        raise InputError(f"not a WebVTT file: a .vtt file begins with the line 'WEBVTT', this one with "
                         f"{quote(text.lstrip().split(chr(10), 1)[0])}")
    if suffix in (".ass", ".ssa"):
        raise InputError("not an ASS/SSA file: no [Script Info] or [Events] section found")
    if suffix != ".srt" and found == "script":
        what = f"a {suffix!r} file" if suffix else "a file without a suffix"
        raise InputError(f"{what} is not read as subtitles: upload .srt, .vtt, .ass/.ssa, or a .txt script")
    return "srt"  # a .srt file (or another suffix holding SRT timings) is read strictly as SRT


# --- SRT and WebVTT ------------------------------------------------------------------------
def timed_blocks(text: str, fmt: str) -> list[Block]:
    """SRT or WebVTT cues, checked block by block; their text as pysubs2 reads it."""
    timing = SRT_TIMING if fmt == "srt" else VTT_TIMING
    cues: list[tuple[int, re.Match, list[str]]] = []   # (line, timing match, payload lines)
    for first_line, lines, after_spaces in paragraphs(text):
        if fmt == "vtt" and _VTT_NOT_A_CUE.match(lines[0]):
            arrows = [i for i, line in enumerate(lines) if "-->" in line]
            if not arrows:
                continue  # the header and its metadata, a comment, a style sheet, a region
            first_line, lines = first_line + arrows[0], lines[arrows[0]:]  # a cue with no blank line before it
        elif fmt == "vtt" and cues and after_spaces and not any("-->" in line for line in lines):
            cues[-1][2].extend(lines)  # a line of spaces does not end a WebVTT cue (YouTube writes them)
            continue
        at = 0
        looks_timed = _TIME_START.match(lines[0]) is not None or "-->" in lines[0]  # a timing typo is no identifier
        if len(lines) > 1 and not looks_timed and (fmt == "vtt" or lines[0].strip().isdigit()):
            at = 1  # a cue number (SRT) or cue identifier (WebVTT)
        starts = [at] + [i for i in range(at + 1, len(lines)) if "-->" in lines[i]]
        for number, start in enumerate(starts):
            match = timing.match(lines[start])
            if match is None:
                raise InputError(f"malformed subtitles at line {first_line + start}: expected a timing line like "
                                 f"'{TIMING_EXAMPLES[fmt]}' ({fmt.upper().replace('VTT', 'WebVTT')}), "
                                 f"got {quote(lines[start])}")
            payload = lines[start + 1:starts[number + 1] if number + 1 < len(starts) else len(lines)]
            if fmt == "srt" and number + 1 < len(starts) and payload and payload[-1].strip().isdigit():
                payload = payload[:-1]  # the next cue's number, with no blank line before it
            cues.append((first_line + start, match, payload))
    return _read_payloads(cues, fmt)


def _read_payloads(cues: list[tuple[int, re.Match, list[str]]], fmt: str) -> list[Block]:
    """pysubs2 reads the cues alone (timing line, payload, blank line): one event per cue."""
    document: list[str] = []
    origin: list[int] = []   # for each line of the document, the file's line where its cue starts
    for line, match, payload in cues:
        kept = [_VTT_INLINE_TIME.sub("", text) if fmt == "vtt" else text for text in payload if text.strip()]
        cue_text = "\n".join(kept)
        closed = cue_text.rfind(">") + 1
        kept = (cue_text[:closed] + cue_text[closed:].replace("<", _OPEN_ANGLE)).split("\n") if kept else []
        document += [match.group(0).strip(), *kept, ""]
        origin += [line] * (len(kept) + 2)
    events = [e for e in read_with_pysubs2("\n".join(document), fmt, origin)[0] if not e.is_comment]
    starts = [stamp_ms(match.group(1)) for _, match, _ in cues]
    if len(events) != len(cues) or any(e.start != start for e, start in zip(events, starts)):
        raise InputError(f"subtitle file could not be read consistently ({len(cues)} cues found by line, "
                         f"{len(events)} by the {fmt.upper()} reader): check for stray timing lines")
    blocks = []
    for (line, match, payload), event in zip(cues, events):
        voice = _VTT_VOICE.match(payload[0]) if fmt == "vtt" and payload else None
        blocks.append(Block(line, stamp_ms(match.group(1)), stamp_ms(match.group(2)),
                            event.text.replace(_OPEN_ANGLE, "<"), voice.group(1).strip() if voice else None))
    return blocks


# --- ASS/SSA --------------------------------------------------------------------------------
def ass_blocks(text: str) -> tuple[list[Block], str]:
    """The Dialogue events of an ASS/SSA file (its raw SubStation text), and ``ass`` or ``ssa``."""
    for number, line in enumerate(text.split("\n"), 1):
        if line.startswith("Dialogue:") and not _ASS_DIALOGUE_TIMES.match(line):
            raise InputError(f"malformed subtitles at line {number}: a Dialogue line needs "
                             f"'Dialogue: layer,0:00:01.00,0:00:02.50,...', got {quote(line)}")
        if len(line) > MAX_ASS_HEADER_LINE and not line.lstrip().startswith(("Dialogue:", "Comment:")):
            raise InputError(f"malformed subtitles at line {number}: {len(line):,} characters on a line that is "
                             f"not a Dialogue or Comment event; such lines hold at most {MAX_ASS_HEADER_LINE:,}")
    # The format is named, not guessed: pysubs2 guesses from the styles section, which players do not need.
    fmt = "ssa" if re.search(r"^\s*\[V4 Styles\]", text, re.M | re.I) else "ass"
    events, lines = read_with_pysubs2(text, fmt)
    blocks = [Block(line, e.start, e.end, e.text, e.name.strip() or None)
              for e, line in zip(events, lines) if e.type == "Dialogue"]
    return blocks, fmt


class _NumberedLines(io.StringIO):
    """A text stream that counts the lines a reader has taken, so a reader's error gets its line."""

    number = 0

    def __next__(self) -> str:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def readline(self, size: int = -1) -> str:
        line = super().readline(size)
        self.number += bool(line)
        return line


class _NumberedEvents(list):
    """pysubs2 appends each event as it reads its line: record which line that was."""

    def __init__(self, stream: _NumberedLines):
        super().__init__()
        self.stream, self.lines = stream, []

    def append(self, event) -> None:
        self.lines.append(self.stream.number)
        super().append(event)


def read_with_pysubs2(text: str, fmt: str, origin: list[int] | None = None) -> tuple[list, list[int]]:
    """pysubs2's events for ``text`` read as ``fmt`` and the line each came from; ``InputError`` names the line.

    ``origin`` maps the lines of ``text`` to the uploaded file's, where ``text`` was rebuilt from it.
    """
    stream = _NumberedLines(text)
    subs = pysubs2.SSAFile()
    subs.format = fmt
    subs.events = events = _NumberedEvents(stream)
    try:
        get_format_class(fmt).from_file(subs, stream, fmt)
    except READER_ERRORS as exc:
        lines = text.split("\n")
        at = min(max(stream.number, 1), len(lines))
        where = origin[at - 1] if origin and at <= len(origin) else at
        said = str(exc) or type(exc).__name__
        raise InputError(f"malformed subtitles at line {where}: {said}, in {quote(lines[at - 1])}") from exc
    return list(events), events.lines


# --- shared -----------------------------------------------------------------------------------
def stamp_ms(stamp: str) -> int:
    """``HH:MM:SS,mmm`` / ``MM:SS.mmm`` (hours optional, any of : , . before the fraction) to milliseconds."""
    parts = re.split(r"[:,.]", stamp.strip())
    *hms, frac = parts
    hms = [0] * (3 - len(hms)) + [int(x) for x in hms]
    return ((hms[0] * 60 + hms[1]) * 60 + hms[2]) * 1000 + int(frac.ljust(3, "0")[:3])


def quote(line: str, limit: int = 60) -> str:
    line = line.strip()
    return repr(line if len(line) <= limit else line[: limit - 1] + "…")


def paragraphs(text: str):
    """(first line number, lines, whether only lines of spaces came before) for each run of non-blank lines."""
    current: list[str] = []
    start, spaces_only, after_spaces = 0, True, False
    for number, line in enumerate(text.split("\n"), 1):
        if line.strip():
            if not current:
                start, after_spaces = number, spaces_only and number > 1
            current.append(line)
            spaces_only = True
        else:
            if current:
                yield start, current, after_spaces
                current = []
            spaces_only = spaces_only and line != ""
    if current:
        yield start, current, after_spaces
