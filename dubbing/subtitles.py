"""Subtitles in and out: SRT, WebVTT, ASS/SSA (through ``pysubs2``) and plain scripts.

``parse_subtitles(data)`` turns an uploaded file's bytes into ``Cue``s (times in
milliseconds, the spoken text on one line, the speaker) or raises ``InputError`` with a
specific message. pysubs2 reads what it can and folds what it cannot into the previous
cue's text, so SRT and WebVTT files are first checked block by block here, which is how
a malformed line gets its line number. Speakers come from the ASS actor field, a WebVTT
``<v Name>`` span, a ``[Name]`` or a ``Name:`` prefix.

A plain script (no timing at all) has one cue per line; its cues carry no times and are
placed one after another when rendered.

``write_subtitles`` writes cues back in any of the formats (the adjusted subtitles).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pysubs2

from engines.errors import InputError
from engines.settings import number_setting
from engines.text.checks import clean_text, has_speakable_content

ENV_MAX_CUES = "VOICE_STUDIO_MAX_CUES"
ENV_MAX_CUE_CHARS = "VOICE_STUDIO_MAX_CUE_CHARS"
DEFAULT_MAX_CUES = 2000
DEFAULT_MAX_CUE_CHARS = 1000
MAX_SUBTITLE_BYTES = 5 * 2**20
FORMATS = ("srt", "vtt", "ass", "ssa", "script")

_SRT_TIME = r"\d{1,3}:\d{2}:\d{2}[,.]\d{1,3}"
_VTT_TIME = r"(?:\d{1,3}:)?\d{2}:\d{2}\.\d{3}"
SRT_TIMING = re.compile(rf"^\s*({_SRT_TIME})\s*-->\s*({_SRT_TIME})\s*$")
VTT_TIMING = re.compile(rf"^\s*({_VTT_TIME})\s+-->\s+({_VTT_TIME})(?:\s+.*)?$")
_ANY_TIMING = re.compile(r"\d{1,2}:\d{2}[,.:]\d{2,3}\s*-->|\d:\d{2}:\d{2}[,.]\d{1,3}\s*-->")
_TIME_START = re.compile(r"^\s*\d{1,3}:\d{2}[:.,]")
_VTT_VOICE = re.compile(r"^\s*<v(?:\.[\w.-]+)?\s+([^>]{1,60})>")
_BRACKET_SPEAKER = re.compile(r"^\[([^\]\n]{1,40})\]\s*(.*)$", re.S)
# A name of up to four words (letters, then letters/digits), a colon, then the line.
_PREFIX_SPEAKER = re.compile(r"^([^\W\d_][^\W_]*(?:[ .'-][^\W\d_][^\W_]*){0,3})\s*:\s+(.+)$", re.S)
_ASS_DIALOGUE_TIMES = re.compile(r"^Dialogue:\s*[^,]*,\s*(\d+:\d{2}:\d{2}[.:]\d{1,3}),\s*(\d+:\d{2}:\d{2}[.:]\d{1,3}),")


@dataclass(frozen=True)
class Cue:
    """One line to speak. Times are None for a plain script (placed when rendered)."""

    index: int                 # 1-based, among the spoken cues
    start_ms: int | None
    end_ms: int | None
    text: str                  # what is spoken, on one line
    speaker: str | None = None
    source_line: int = 0       # where the cue starts in the file

    @property
    def timed(self) -> bool:
        return self.start_ms is not None


@dataclass(frozen=True)
class ParsedSubtitles:
    format: str
    cues: tuple[Cue, ...]
    skipped: tuple[dict, ...] = ()      # empty cues: {"cue", "line", "reason"}
    overlaps: tuple[dict, ...] = ()     # {"cue", "previous", "overlap_ms"}

    @property
    def speakers(self) -> list[str]:
        seen: list[str] = []
        for cue in self.cues:
            if cue.speaker and cue.speaker not in seen:
                seen.append(cue.speaker)
        return seen


@dataclass(frozen=True)
class _Block:
    line: int          # line number of the timing line (1-based)
    start_ms: int
    end_ms: int
    raw_text: str = ""
    voice: str | None = None


@dataclass(frozen=True)
class Limits:
    max_cues: int = DEFAULT_MAX_CUES
    max_cue_chars: int = DEFAULT_MAX_CUE_CHARS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Limits":
        env = os.environ if environ is None else environ
        return cls(number_setting(env, ENV_MAX_CUES, DEFAULT_MAX_CUES, low=1, high=100_000),
                   number_setting(env, ENV_MAX_CUE_CHARS, DEFAULT_MAX_CUE_CHARS, low=10, high=100_000))


# --- reading -----------------------------------------------------------------------------
def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1252; anything else is not a subtitle file."""
    if len(data) > MAX_SUBTITLE_BYTES:
        raise InputError(f"subtitle file is {len(data) / 2**20:.1f} MB; the limit is {MAX_SUBTITLE_BYTES // 2**20} MB")
    if b"\x00" in data[:4096]:
        raise InputError("subtitle file is not text (binary data found): upload an .srt, .vtt, .ass/.ssa or .txt file")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding).replace("\r\n", "\n").replace("\r", "\n")
        except UnicodeDecodeError:
            continue
    raise InputError("subtitle file is neither UTF-8 nor Windows-1252 text")


def detect_format(text: str) -> str:
    head = text.lstrip()[:4096]
    if head.startswith("WEBVTT"):
        return "vtt"
    if "[Script Info]" in head or re.search(r"^\[Events\]", text, re.M):
        return "ass"
    if _ANY_TIMING.search(text):
        return "srt"
    return "script"


def parse_subtitles(data: bytes | str, limits: Limits | None = None) -> ParsedSubtitles:
    """Cues from an uploaded file; raises ``InputError`` naming the line or cue that is wrong."""
    limits = limits or Limits.from_env()
    text = decode(data) if isinstance(data, bytes) else data.replace("\r\n", "\n")
    fmt = detect_format(text)
    if fmt == "script":
        return _finish(fmt, _script_cues(text), limits)
    if fmt == "ass":
        blocks, fmt = _ass_blocks(text)
    else:
        blocks = _timed_blocks(text, fmt)
        events = [e for e in pysubs2.SSAFile.from_string(text, format_=fmt) if not e.is_comment]
        if len(events) != len(blocks) or any(e.start != b.start_ms for e, b in zip(events, blocks)):
            raise InputError(f"subtitle file could not be read consistently ({len(blocks)} cues found by line, "
                             f"{len(events)} by the {fmt.upper()} reader): check for stray timing lines")
        blocks = [_Block(b.line, b.start_ms, b.end_ms, e.plaintext, b.voice) for b, e in zip(blocks, events)]
    return _finish(fmt, blocks, limits)


def _timed_blocks(text: str, fmt: str) -> list[_Block]:
    """SRT / WebVTT checked block by block (blocks are separated by blank lines)."""
    timing = SRT_TIMING if fmt == "srt" else VTT_TIMING
    example = "00:00:01,000 --> 00:00:02,500" if fmt == "srt" else "00:00:01.000 --> 00:00:02.500"
    blocks: list[_Block] = []
    for first_line, lines in _paragraphs(text):
        if fmt == "vtt" and lines[0].startswith(("WEBVTT", "NOTE", "STYLE", "REGION")):
            continue  # the WEBVTT header and its metadata, comments, styles
        at = 0
        looks_timed = _TIME_START.match(lines[0]) is not None  # a timing line with a typo is not an identifier
        if len(lines) > 1 and not looks_timed and (fmt == "vtt" or lines[0].strip().isdigit()):
            at = 1  # a cue number (SRT) or cue identifier (WebVTT)
        match = timing.match(lines[at])
        if match is None:
            raise InputError(f"malformed subtitles at line {first_line + at}: expected a timing line like "
                             f"'{example}', got {_quote(lines[at])}")
        body = lines[at + 1:]
        voice = _VTT_VOICE.match(body[0]) if fmt == "vtt" and body else None
        blocks.append(_Block(first_line + at, _ms(match.group(1)), _ms(match.group(2)), "\n".join(body),
                             voice.group(1).strip() if voice else None))
    return blocks


def _ass_blocks(text: str) -> tuple[list[_Block], str]:
    lines = text.split("\n")
    for number, line in enumerate(lines, 1):
        if line.startswith("Dialogue:") and not _ASS_DIALOGUE_TIMES.match(line):
            raise InputError(f"malformed subtitles at line {number}: a Dialogue line needs "
                             f"'Dialogue: layer,0:00:01.00,0:00:02.50,...', got {_quote(line)}")
    try:
        subs = pysubs2.SSAFile.from_string(text)
    except (ValueError, KeyError, IndexError) as exc:
        raise InputError(f"malformed ASS/SSA subtitles: {exc}") from exc
    dialogue_lines = [n for n, line in enumerate(lines, 1) if line.startswith("Dialogue:")]
    events = [e for e in subs.events if e.type == "Dialogue"]
    blocks = [_Block(line_no, e.start, e.end, e.plaintext, e.name.strip() or None)
              for line_no, e in zip(dialogue_lines, events)]
    return blocks, subs.format if subs.format in ("ass", "ssa") else "ass"


def _script_cues(text: str) -> list[_Block | tuple[int, str]]:
    return [(number, line) for number, line in enumerate(text.split("\n"), 1) if line.strip()]


def _finish(fmt: str, items: Sequence, limits: Limits) -> ParsedSubtitles:
    cues: list[Cue] = []
    skipped: list[dict] = []
    overlaps: list[dict] = []
    previous: Cue | None = None
    for number, item in enumerate(items, 1):
        if isinstance(item, tuple):  # a script line
            line, raw = item
            start = end = None
            voice = None
        else:
            line, raw, start, end, voice = item.line, item.raw_text, item.start_ms, item.end_ms, item.voice
        where = f"cue {number} (line {line})"
        if start is not None:
            if end < start:
                raise InputError(f"{where} ends ({format_time(end)}) before it starts ({format_time(start)})")
            if end == start:
                raise InputError(f"{where} has a 0-length slot: it starts and ends at {format_time(start)}")
        speaker, spoken = split_speaker(raw, voice)
        if not spoken or not has_speakable_content(spoken):
            skipped.append({"cue": number, "line": line, "reason": "empty cue: nothing to speak"})
            continue
        if len(spoken) > limits.max_cue_chars:
            raise InputError(f"{where} has {len(spoken):,} characters; the limit is {limits.max_cue_chars:,} "
                             f"({ENV_MAX_CUE_CHARS})")
        cue = Cue(len(cues) + 1, start, end, spoken, speaker, line)
        if previous is not None and start is not None:
            if start < previous.start_ms:
                raise InputError(f"timestamps out of order: {where} starts at {format_time(start)}, before the "
                                 f"cue above it (line {previous.source_line}) at {format_time(previous.start_ms)}")
            if start < previous.end_ms:
                overlaps.append({"cue": cue.index, "previous": previous.index,
                                 "overlap_ms": min(previous.end_ms, end) - start})
        cues.append(cue)
        if len(cues) > limits.max_cues:
            raise InputError(f"more than {limits.max_cues:,} cues; the limit is {ENV_MAX_CUES}={limits.max_cues}")
        previous = cue
    if not cues:
        raise InputError("no cues with text found: the file has nothing to speak")
    return ParsedSubtitles(fmt, tuple(cues), tuple(skipped), tuple(overlaps))


def split_speaker(raw: str, voice: str | None = None) -> tuple[str | None, str]:
    """(speaker, spoken text): an actor/voice given by the format, else ``[Name]`` or ``Name:``."""
    text = raw.strip()
    if voice is None:
        match = _BRACKET_SPEAKER.match(text) or _PREFIX_SPEAKER.match(text)
        if match:
            voice, text = match.group(1).strip(), match.group(2)
    return (voice or None), clean_text(re.sub(r"<[^>]{0,80}>", " ", text))


# --- times -------------------------------------------------------------------------------
def _ms(stamp: str) -> int:
    parts = re.split(r"[:,.]", stamp.strip())
    *hms, frac = parts
    hms = [0] * (3 - len(hms)) + [int(x) for x in hms]
    return ((hms[0] * 60 + hms[1]) * 60 + hms[2]) * 1000 + int(frac.ljust(3, "0")[:3])


def format_time(ms: int | None, sep: str = ",") -> str:
    if ms is None:
        return "--"
    ms = int(round(ms))
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{sep}{millis:03d}"


def parse_time(value: str) -> int:
    """``HH:MM:SS.mmm`` (or ``MM:SS.mmm``, or plain seconds) to milliseconds; raises ``InputError``."""
    text = str(value).strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return int(round(float(text) * 1000))
    if not re.fullmatch(r"(\d{1,3}:)?\d{1,2}:\d{1,2}([.,]\d{1,3})?", text):
        raise InputError(f"time {text!r} is not HH:MM:SS.mmm")
    if not re.search(r"[.,]", text):
        text += ".000"
    return _ms(text)


def _quote(line: str, limit: int = 60) -> str:
    line = line.strip()
    return repr(line if len(line) <= limit else line[: limit - 1] + "…")


def _paragraphs(text: str):
    """(first line number, lines) for each run of non-blank lines."""
    current: list[str] = []
    start = 0
    for number, line in enumerate(text.split("\n"), 1):
        if line.strip():
            if not current:
                start = number
            current.append(line)
        elif current:
            yield start, current
            current = []
    if current:
        yield start, current


# --- writing -----------------------------------------------------------------------------
@dataclass(frozen=True)
class TimedLine:
    start_ms: int
    end_ms: int
    text: str
    speaker: str | None = None
    extra: dict = field(default_factory=dict)


def write_subtitles(lines: Sequence[TimedLine], fmt: str) -> str:
    """The lines as an SRT, WebVTT or ASS/SSA file (a script becomes SRT)."""
    fmt = "srt" if fmt == "script" else fmt
    subs = pysubs2.SSAFile()
    for line in lines:
        if fmt in ("ass", "ssa"):
            subs.append(pysubs2.SSAEvent(start=line.start_ms, end=line.end_ms, text=line.text,
                                         name=line.speaker or ""))
        else:
            text = f"{line.speaker}: {line.text}" if line.speaker else line.text
            subs.append(pysubs2.SSAEvent(start=line.start_ms, end=line.end_ms, text=text))
    return subs.to_string(fmt)


def suffix_for(fmt: str) -> str:
    return {"script": ".srt", "ssa": ".ssa", "ass": ".ass", "vtt": ".vtt"}.get(fmt, ".srt")
