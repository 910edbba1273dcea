"""The Studio tab's line table: a project as rows, edited rows back as edits, line selections.

Pure functions (no Gradio), so the table's wording is tested without a browser.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from dubbing.project import Project
from dubbing.subtitles import format_time
from engines.errors import InputError

from ..serving.labels import engine_label, short_reason

COLUMNS = ["#", "start", "end", "speaker", "voice", "text", "status", "fit", "engine"]
DATATYPES = ["number", "str", "str", "str", "str", "str", "str", "str", "str"]
EDITABLE = ("start", "end", "speaker", "voice", "text")
STATIC_COLUMNS = [0, 6, 7, 8]
MAX_SELECTION = 100_000

# A small bar per line: how far along the ladder its render is.
_BARS = {"queued": "▱▱▱▱", "natural take": "▰▱▱▱", "fitting take": "▰▰▱▱", "time-stretch": "▰▰▰▱",
         "done": "▰▰▰▰"}


def fit_text(result: Mapping[str, Any] | None) -> str:
    """E.g. ``engine ×1.18`` or ``overrun ×1.35 +480 ms``."""
    if not result:
        return ""
    text = f"{result['fit_method']} ×{result['speed_factor']:.2f}"
    if result.get("overrun_s"):
        text += f" +{round(result['overrun_s'] * 1000)} ms"
    return text


def engine_text(result: Mapping[str, Any] | None) -> str:
    if not result:
        return ""
    used = engine_label(result.get("tts_engine_used"))
    if result.get("engine_fallback"):
        return f"{used} (fallback: {short_reason(result.get('fallback_reason'), 80)})"
    return used


def status_text(status: str, detail: str = "") -> str:
    if status == "rendering":
        return f"{_BARS.get(detail, '▰▱▱▱')} {detail or 'rendering'}"
    if status == "done":
        return f"{_BARS['done']} done"
    if status == "queued":
        return f"{_BARS['queued']} queued"
    if status == "error":
        return f"error: {detail}" if detail else "error"
    return status


def project_rows(project: Project, live: Mapping[int, tuple[str, str]] | None = None,
                 current: Mapping[int, bool] | None = None) -> list[list[Any]]:
    """One row per line. ``live``: statuses of a render in progress; ``current``: False marks a changed line."""
    live = live or {}
    rows = []
    for line in project.lines:
        if line.index in live:
            status = status_text(*live[line.index])
        elif line.status == "done" and current is not None and not current.get(line.index, True):
            status = "changed: render again"
        else:
            status = status_text(line.status, line.error or "")
        start, end = line.start_ms, line.end_ms
        if not project.timed and line.result and project.report:
            placed = {entry["index"]: entry for entry in project.report.get("lines", [])}.get(line.index, {})
            if placed.get("placed_start") is not None:
                start = round(placed["placed_start"] * 1000)
                end = start + round(line.result["duration_s"] * 1000)
        result = line.result if line.status == "done" else None
        rows.append([line.index, format_time(start, "."), format_time(end, "."), line.speaker or "",
                     project.voice_for(line), line.text, status, fit_text(result), engine_text(result)])
    return rows


def table_edits(value: Any) -> list[dict[str, Any]]:
    """The editable columns of the table's value (a pandas DataFrame or a list of rows) as edit dicts."""
    if value is None:
        return []
    if hasattr(value, "to_dict"):
        records = value.to_dict(orient="records")
    elif isinstance(value, Mapping) and "data" in value:
        records = [dict(zip(value.get("headers", COLUMNS), row)) for row in value["data"]]
    else:
        records = [dict(zip(COLUMNS, row)) for row in value]
    edits = []
    for record in records:
        number = record.get("#")
        if number in (None, ""):
            continue
        try:
            index = int(float(number))
        except (TypeError, ValueError) as exc:
            raise InputError(f"row number {number!r} is not a line number") from exc
        edits.append({"index": index, **{key: "" if record.get(key) is None else str(record.get(key))
                                         for key in EDITABLE}})
    return edits


def parse_selection(text: str | None, count: int) -> list[int]:
    """``"3, 5-7"`` -> [3, 5, 6, 7]; every number must be a line of the project."""
    chosen: list[int] = []
    for part in re.split(r"[,\s]+", (text or "").strip()):
        if not part:
            continue
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if match is None:
            raise InputError(f"line selection {part!r} is not a number or a range like 5-7")
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        if first > last or first < 1 or last > count:
            raise InputError(f"line selection {part!r} is outside lines 1 to {count}")
        if last - first > MAX_SELECTION:
            raise InputError(f"line selection {part!r} is too large")
        chosen.extend(range(first, last + 1))
    return sorted(set(chosen))


def project_summary(project: Project, extra: str = "") -> str:
    done = sum(line.status == "done" for line in project.lines)
    failed = sum(line.status == "error" for line in project.lines)
    speakers = ", ".join(project.speakers()) or "none"
    parts = [f"**{project.name}** · `{project.id}` · {project.format.upper()} · {len(project.lines)} lines "
             f"({done} rendered{f', {failed} failed' if failed else ''}) · speakers: {speakers}"]
    if project.skipped:
        parts.append(f"{len(project.skipped)} empty cue(s) skipped (lines "
                     + ", ".join(str(s['line']) for s in project.skipped[:10]) + ")")
    if project.video:
        parts.append(f"video {project.video['duration_s']:.1f} s ({project.video['video_codec']})")
    if extra:
        parts.append(extra)
    return " · ".join(parts)


def project_choices(summaries: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    return [(f"{s['name']} · {s['created_at'][:16].replace('T', ' ')} · {s['rendered']}/{s['lines']} lines", s["id"])
            for s in summaries]
