"""The Studio's progress bar: how many lines, and how many seconds of speech, are done.

``LineProgress`` follows a render's ``LineEvent``s (from the Studio or from a video dub's
render stage): each line's live status for the table, and the counts for the bar.
``progress_html`` draws the bar (lines and seconds, or a video stage's fraction).
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from dubbing.project import Project
from dubbing.render import LineEvent

FINISHED = ("done", "error", "unchanged", "cancelled")


def progress_html(label: str, done: int = 0, total: int = 0, done_s: float = 0.0, total_s: float = 0.0,
                  fraction: float | None = None, running: bool = True) -> str:
    """The bar: lines and seconds of speech, or (``fraction``) a stage's share done."""
    if fraction is None:
        fraction = done / total if total else 0.0
    parts = [html.escape(label)]
    if total:
        parts.append(f"{done} of {total} lines")
    if total_s:
        parts.append(f"{done_s:.1f} of {total_s:.1f} s of speech")
    state = "running" if running else "idle"
    return (f'<div class="vs-studio-progress" data-state="{state}" data-done="{done}" data-total="{total}">'
            f'<progress max="1000" value="{round(1000 * max(0.0, min(1.0, fraction)))}"></progress>'
            f'<span class="vs-studio-progress-text">{" · ".join(parts)}</span></div>')


class LineProgress:
    """The lines a render was asked for, and how far it got with them."""

    def __init__(self, project: Project, indices: Iterable[int] | None):
        wanted = set(indices) if indices is not None else {line.index for line in project.lines}
        self.seconds = {line.index: line.slot_s or 0.0 for line in project.lines if line.index in wanted}
        self.live: dict[int, tuple[str, str]] = {index: ("queued", "") for index in self.seconds}
        self.done = 0
        self.done_s = 0.0
        self.failed = 0

    def add(self, event: LineEvent) -> bool:
        """Take one event in; True when a line finished (its row then shows its result)."""
        if event.index not in self.seconds:
            return False
        if event.status in FINISHED:
            if self.live.pop(event.index, None) is not None:
                self.done += 1
                self.done_s += self.seconds[event.index]
                self.failed += event.status == "error"
            return True
        self.live[event.index] = (event.status, event.message)
        return False

    def html(self, label: str = "rendering", running: bool = True) -> str:
        return progress_html(label, self.done, len(self.seconds), self.done_s, sum(self.seconds.values()),
                             running=running)
