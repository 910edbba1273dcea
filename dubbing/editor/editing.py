"""Editing a project's lines as a timeline does: a new slot, a line split in two, two lines merged.

Pure functions on a ``Project`` in memory (``Studio`` checks, applies and saves them), so
the timeline, the table, the API and the CLI share one meaning. Each leaves the lines it
touched stale (their inputs changed, so "Render changed" renders them again) and keeps
the lines numbered 1..N in order. Takes already rendered stay on disk.
"""

from __future__ import annotations

from engines.errors import InputError

from ..project import Line, Project
from ..subtitles import format_time

MIN_SLOT_MS = 100          # the shortest slot a line can be given (or split into)


def _stamp(ms: int) -> str:
    return format_time(ms, ".")


def _timed(project: Project, what: str) -> None:
    if not project.timed:
        raise InputError(f"{what} needs timed lines; a script's lines have no times (edit its text in the table)")


def line_of(project: Project, index: int) -> Line:
    """Line ``index`` of ``project``, or ``InputError`` naming the valid numbers."""
    try:
        return project.line(int(index))
    except (KeyError, ValueError, TypeError) as exc:
        raise InputError(f"no line {index!r}; lines are numbered 1 to {len(project.lines)}") from exc


def _renumber(project: Project) -> None:
    for number, line in enumerate(project.lines, start=1):
        line.index = number


def _unrendered(line: Line) -> None:
    """Its words changed: its audio no longer says them, so it leaves the track until rendered again
    (its takes stay listed). A retimed line keeps its audio, marked stale, until then."""
    line.status, line.error = "pending", None


def retime(project: Project, index: int, start_ms: int, end_ms: int) -> bool:
    """Give line ``index`` the slot ``start_ms``-``end_ms``; returns whether it changed."""
    _timed(project, "changing a slot")
    line = line_of(project, index)
    start_ms, end_ms = int(round(start_ms)), int(round(end_ms))
    if start_ms < 0:
        raise InputError(f"line {line.index}: a slot cannot start before 0 ({_stamp(0)})")
    if end_ms - start_ms < MIN_SLOT_MS:
        raise InputError(f"line {line.index}: the slot {_stamp(start_ms)}-{_stamp(end_ms)} is shorter than "
                         f"{MIN_SLOT_MS} ms")
    if (start_ms, end_ms) == (line.start_ms, line.end_ms):
        return False
    line.start_ms, line.end_ms = start_ms, end_ms
    return True


def _split_words(text: str, fraction: float) -> tuple[str, str]:
    words = text.split()
    cut = min(len(words) - 1, max(1, round(len(words) * fraction)))
    return " ".join(words[:cut]), " ".join(words[cut:])


def split(project: Project, index: int, at_ms: int) -> tuple[Line, Line]:
    """Line ``index`` cut in two at ``at_ms``: its words (and source words) shared out in proportion
    to the time on each side, at a word boundary; returns the two lines."""
    _timed(project, "splitting a line")
    line = line_of(project, index)
    at_ms = int(round(at_ms))
    if not line.start_ms + MIN_SLOT_MS <= at_ms <= line.end_ms - MIN_SLOT_MS:
        raise InputError(f"line {line.index} runs {_stamp(line.start_ms)}-{_stamp(line.end_ms)}: put the playhead "
                         f"inside it, at least {MIN_SLOT_MS} ms from either end, to split it (it is at {_stamp(at_ms)})")
    if len(line.text.split()) < 2:
        raise InputError(f"line {line.index} has a single word: there is nothing to split")
    fraction = (at_ms - line.start_ms) / (line.end_ms - line.start_ms)
    first_text, second_text = _split_words(line.text, fraction)
    first_source = second_source = line.source_text
    if line.source_text and len(line.source_text.split()) >= 2:
        first_source, second_source = _split_words(line.source_text, fraction)
    second = Line(line.index + 1, at_ms, line.end_ms, second_text, line.speaker, line.voice,
                  source_text=second_source, seed=line.seed)
    line.end_ms, line.text, line.source_text = at_ms, first_text, first_source
    _unrendered(line)
    project.lines.insert(project.lines.index(line) + 1, second)
    _renumber(project)
    return line, second


def merge(project: Project, index: int) -> Line:
    """Line ``index`` and the line after it, said by the same speaker, as one line; returns it."""
    line = line_of(project, index)
    position = project.lines.index(line)
    if position + 1 >= len(project.lines):
        raise InputError(f"line {line.index} is the last line: there is no next line to merge it with")
    after = project.lines[position + 1]
    if (line.speaker or None) != (after.speaker or None):
        raise InputError(f"lines {line.index} and {after.index} are said by different speakers "
                         f"({line.speaker or 'none'}, {after.speaker or 'none'}): only one speaker's lines merge")
    line.text = f"{line.text} {after.text}"
    if line.source_text or after.source_text:
        line.source_text = " ".join(t for t in (line.source_text, after.source_text) if t)
    if project.timed:
        line.start_ms, line.end_ms = min(line.start_ms, after.start_ms), max(line.end_ms, after.end_ms)
    _unrendered(line)
    project.lines.remove(after)
    _renumber(project)
    return line
