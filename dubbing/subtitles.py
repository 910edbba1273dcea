"""Subtitles in and out: SRT, WebVTT, ASS/SSA (through ``pysubs2``) and plain scripts.

``parse_subtitles(data, suffix=..., encoding=...)`` turns an uploaded file's bytes into
``Cue``s (times in milliseconds, the spoken text on one line, the speaker) or raises
``InputError`` with a specific message. Three modules do the reading:
``subtitle_encoding`` (bytes to text: a byte order mark, UTF-8, a chosen encoding or a
sure detection), ``subtitle_formats`` (which format, then cue blocks checked line by line
and read by pysubs2) and ``subtitle_text`` (what a cue says out loud: no markup, no
drawings, WebVTT's entities decoded). Speakers come from the ASS actor field, a WebVTT
``<v Name>`` span, a ``[Name]`` or a ``Name:`` prefix. A cue left with no words is skipped
and listed with its reason.

A plain script (no timing at all, from a ``.txt`` file) has one cue per line; its cues
carry no times and are placed one after another when rendered.

``write_subtitles`` writes cues back in any of the formats (the adjusted subtitles).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pysubs2

from engines.errors import InputError
from engines.settings import number_setting
from engines.text.checks import clean_text, has_speakable_content

from .media import DEFAULT_MAX_VIDEO_S, max_video_seconds
from .subtitle_encoding import AUTO, decode_subtitles
from .subtitle_formats import Block, ass_blocks, choose_format, stamp_ms, timed_blocks
from .subtitle_text import spoken_markup_free

logger = logging.getLogger("voice_studio.dubbing")

ENV_MAX_CUES = "VOICE_STUDIO_MAX_CUES"
ENV_MAX_CUE_CHARS = "VOICE_STUDIO_MAX_CUE_CHARS"
ENV_MAX_TRACK_S = "VOICE_STUDIO_MAX_TRACK_S"
MAX_TRACK_S_CEILING = 86400    # a 16-bit mono WAV at 24 kHz holds about 24.8 h
DEFAULT_MAX_CUES = 2000
DEFAULT_MAX_CUE_CHARS = 1000
FORMATS = ("srt", "vtt", "ass", "ssa", "script")

_BRACKET_SPEAKER = re.compile(r"^\[([^\]\n]{1,40})\]\s*(.*)$", re.S)
# A name of up to four words (letters, then letters/digits), a colon, then the line.
_PREFIX_SPEAKER = re.compile(r"^([^\W\d_][^\W_]*(?:[ .'-][^\W\d_][^\W_]*){0,3})\s*:\s+(.+)$", re.S)


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
    skipped: tuple[dict, ...] = ()      # cues with nothing to speak: {"cue", "line", "reason"}
    overlaps: tuple[dict, ...] = ()     # {"cue", "previous", "overlap_ms"}
    encoding: str | None = None         # how the bytes were read (utf-8, windows-1250...); None for text

    @property
    def speakers(self) -> list[str]:
        seen: list[str] = []
        for cue in self.cues:
            if cue.speaker and cue.speaker not in seen:
                seen.append(cue.speaker)
        return seen


@dataclass(frozen=True)
class Limits:
    max_cues: int = DEFAULT_MAX_CUES
    max_cue_chars: int = DEFAULT_MAX_CUE_CHARS
    max_track_s: float = DEFAULT_MAX_VIDEO_S   # no cue may end later; default: the longest video

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Limits":
        env = os.environ if environ is None else environ
        video_s = max_video_seconds(env)
        return cls(number_setting(env, ENV_MAX_CUES, DEFAULT_MAX_CUES, low=1, high=100_000),
                   number_setting(env, ENV_MAX_CUE_CHARS, DEFAULT_MAX_CUE_CHARS, low=10, high=100_000),
                   number_setting(env, ENV_MAX_TRACK_S, min(video_s, MAX_TRACK_S_CEILING), low=1,
                                  high=MAX_TRACK_S_CEILING, kind=float))

    def check_end(self, end_ms: int | None, where: str) -> None:
        """Refuse a line that ends past the longest track, before anything is rendered or mixed."""
        if end_ms is not None and end_ms > self.max_track_s * 1000:
            raise InputError(f"{where} ends at {format_time(end_ms)}, past the longest track allowed "
                             f"({format_time(int(self.max_track_s * 1000))}, {ENV_MAX_TRACK_S}={self.max_track_s:g})")


# --- reading -----------------------------------------------------------------------------
def parse_subtitles(data: bytes | str, limits: Limits | None = None, *, suffix: str | None = None,
                    encoding: str | None = AUTO) -> ParsedSubtitles:
    """Cues from an uploaded file; raises ``InputError`` naming the line or cue that is wrong.

    ``suffix`` is the uploaded file's (``.srt``...; None lets the content decide); ``encoding``
    is ``auto`` or the name of the file's encoding.
    """
    limits = limits or Limits.from_env()
    if isinstance(data, bytes):
        decoded = decode_subtitles(data, encoding)
        text, used = decoded.text, decoded.encoding
        if decoded.how == "detected":
            logger.info("subtitle encoding detected", extra={"encoding": used})
    else:
        text, used = data.replace("\r\n", "\n"), None
    if not text.strip():
        raise InputError("subtitle file is empty: no cues with text found, nothing to speak")
    fmt = choose_format(text, suffix)
    if fmt == "script":
        return _finish(fmt, _script_cues(text), limits, used)
    if fmt == "ass":
        blocks, fmt = ass_blocks(text)
    else:
        blocks = timed_blocks(text, fmt)
    return _finish(fmt, blocks, limits, used)


def _script_cues(text: str) -> list[Block | tuple[int, str]]:
    return [(number, line) for number, line in enumerate(text.split("\n"), 1) if line.strip()]


def _finish(fmt: str, items: Sequence, limits: Limits, encoding: str | None) -> ParsedSubtitles:
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
            limits.check_end(end, where)
        words = spoken_markup_free(raw, fmt)
        speaker, spoken = split_speaker(words.text, voice)
        if not spoken or not has_speakable_content(spoken):
            reason = "only a drawing ({\\p1}...), no words: nothing to speak" if words.had_drawing \
                else "empty cue: nothing to speak"
            skipped.append({"cue": number, "line": line, "reason": reason})
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
    return ParsedSubtitles(fmt, tuple(cues), tuple(skipped), tuple(overlaps), encoding)


def split_speaker(text: str, voice: str | None = None) -> tuple[str | None, str]:
    """(speaker, spoken text) of a cue's words: an actor/voice given by the format, else ``[Name]`` or ``Name:``."""
    text = text.strip()
    if voice is None:
        match = _BRACKET_SPEAKER.match(text) or _PREFIX_SPEAKER.match(text)
        if match:
            voice, text = match.group(1).strip(), match.group(2)
    return (voice or None), clean_text(text)


# --- times -------------------------------------------------------------------------------
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
    return stamp_ms(text)


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
