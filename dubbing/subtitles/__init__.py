"""Subtitle files: reading them (``files``: SRT, WebVTT, ASS/SSA through ``pysubs2``, plain
scripts), their bytes to text (``encoding``), which format and which blocks (``formats``),
what a cue says out loud (``text``), and writing them back.

    from dubbing.subtitles import parse_subtitles, write_subtitles
"""

from .files import (
    Cue,
    Limits,
    ParsedSubtitles,
    TimedLine,
    format_time,
    parse_subtitles,
    parse_time,
    split_speaker,
    suffix_for,
    write_subtitles,
)

__all__ = ["Cue", "Limits", "ParsedSubtitles", "TimedLine", "format_time", "parse_subtitles", "parse_time",
           "split_speaker", "suffix_for", "write_subtitles"]
