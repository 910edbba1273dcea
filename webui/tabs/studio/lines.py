"""One line at a time: choosing it (a row, a clip), its takes, and the timeline's edits.

Every timeline action is a table edit through the Studio service (``retime_line``,
``split_line``, ``merge_lines``), and each also has its own API endpoint, so the API
and the command line stay the source of truth. An edit saves the project at once and
leaves the lines it touched stale: "Render changed" renders them, and them alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from dubbing.project import Project
from engines import InputError

from . import table
from .feedback import guarded, keeps_work, message_html
from .outputs import options_from_form
from .views import Context, job_of, line_panel, project_view, take_audio

ACTIONS = ("retime", "split", "merge")


def line_rows(studio, project: Project) -> list[dict[str, Any]]:
    """The lines as the API returns them."""
    currency = studio.currency(project)
    return [{"index": line.index, "start": None if line.start_ms is None else line.start_ms / 1000,
             "end": None if line.end_ms is None else line.end_ms / 1000, "speaker": line.speaker,
             "voice": project.voice_for(line), "text": line.text, "source_text": line.source_text,
             "status": line.status, "stale": not currency[line.index], "take": line.take,
             "takes": [t["take"] for t in line.takes]} for line in project.lines]


def make_line_handlers(ctx: Context) -> dict[str, Callable]:
    p, studio = ctx.page, ctx.studio

    def audio_of(project: Project, key: str | None):
        return take_audio(ctx, project, key)

    def panel(project: Project, index: int) -> dict:
        return line_panel(ctx, project, index)

    def opened(project_id) -> Project:
        if not project_id:
            raise InputError("create or open a project first")
        return studio.open(project_id)

    def one_line(project: Project, selection) -> int:
        chosen = table.parse_selection(selection, len(project.lines))
        if len(chosen) != 1:
            raise InputError("select one line (click its row or its clip on the timeline)")
        return chosen[0]

    @keeps_work(p.message)
    def select_row(project_id, evt: gr.SelectData):
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        project = opened(project_id)
        if row is None or not 0 <= int(row) < len(project.lines):
            return {}
        return panel(project, project.lines[int(row)].index)

    @keeps_work(p.message)
    def select_clip(project_id, evt: gr.EventData):
        project = opened(project_id)
        try:
            index = int((evt._data if isinstance(evt._data, dict) else {}).get("index"))
        except (TypeError, ValueError) as exc:
            raise InputError("the timeline sent no line number") from exc
        return panel(project, index) if any(line.index == index for line in project.lines) else {}

    @keeps_work(p.message)
    def hear_take(project_id, selection, take):
        if not project_id or take in (None, ""):
            return {}
        project = studio.open(project_id)
        line = project.line(one_line(project, selection))
        found = next((t for t in line.takes if t["take"] == int(take)), None)
        return {p.take_audio: audio_of(project, found["result"]["final_key"]) if found else None}

    @keeps_work(p.message)
    def use_take(project_id, selection, take, formats):
        project = opened(project_id)
        ctx.runs.check_idle(project.id)
        if take in (None, ""):
            raise InputError("pick one of the line's takes first")
        index = one_line(project, selection)
        with studio.lock(project.id):
            studio.pick_take(project, index, int(take))
            if job_of(ctx, project) is None:
                studio.export(project, tuple(formats or ()))
        if job_of(ctx, project) is not None:
            ctx.dubber.rerun(project.id, "mix")
        project = studio.open(project.id)
        note = f"line {index} uses take {take}"
        return {**project_view(ctx, project, note, form=False, message=message_html(note + ": the track is updated",
                                                                                      kind="done")),
                **panel(project, index)}

    @keeps_work(p.message)
    def timeline_edit(project_id, rows, language, voice, engine, profile, speaker_voices, fit, keep_original,
                      keep_original_track, evt: gr.EventData):
        data = evt._data if isinstance(evt._data, dict) else {}
        action = data.get("action")
        if action not in ACTIONS:
            raise InputError(f"unknown timeline action {action!r}")
        project = opened(project_id)
        ctx.runs.check_idle(project.id)
        with studio.lock(project.id):
            studio.update_lines(project, table.table_edits(rows))   # what was typed in the table is kept
            studio.apply_options(project, options_from_form(language, voice, engine, profile, speaker_voices, fit,
                                                            keep_original, keep_original_track))
            note = apply_action(studio, project, action, data)
        return project_view(ctx, project, note, form=False, message=message_html(note, kind="note"))

    return {"select_row": select_row, "select_clip": select_clip, "hear_take": hear_take, "use_take": use_take,
            "timeline_edit": timeline_edit}


def apply_action(studio, project: Project, action: str, data: dict) -> str:
    """One timeline edit through the service; returns what it did, for the page."""
    index = data.get("index")
    if action == "retime":
        studio.retime_line(project, index, data.get("start"), data.get("end"))
        return f"line {index} moved to its new slot: press Render changed to render it again"
    if action == "split":
        first, second = studio.split_line(project, index, data.get("at"))
        return f"line {index} split into lines {first} and {second}: press Render changed to render them"
    merged = studio.merge_lines(project, index)
    return f"lines {index} and {int(index) + 1} merged into line {merged}: press Render changed to render it"


def register_api(ctx: Context) -> None:
    """The timeline's actions, takes and renders as API endpoints (``/studio_*``)."""
    studio = ctx.studio

    def edited(project_id: str, action: str, **data) -> list[dict]:
        project = studio.open(project_id)
        ctx.runs.check_idle(project.id)
        with studio.lock(project.id):
            apply_action(studio, project, action, data)
        return line_rows(studio, project)

    @guarded
    def studio_lines(project_id: str) -> list[dict]:
        """A project's lines: times (s), speaker, voice, text, source text, status, stale, the take used."""
        return line_rows(studio, studio.open(project_id))

    @guarded
    def studio_retime(project_id: str, line: int, start: float, end: float) -> list[dict]:
        """Give a line a new slot (seconds); it renders again at the next studio_render."""
        return edited(project_id, "retime", index=line, start=start, end=end)

    @guarded
    def studio_split(project_id: str, line: int, at: float) -> list[dict]:
        """Split a line in two at ``at`` seconds, its words shared out by time."""
        return edited(project_id, "split", index=line, at=at)

    @guarded
    def studio_merge(project_id: str, line: int) -> list[dict]:
        """Merge a line with the next one (the same speaker's)."""
        return edited(project_id, "merge", index=line)

    @guarded
    def studio_pick_take(project_id: str, line: int, take: int) -> list[dict]:
        """Use one of a line's kept takes (the track has it from the next studio_render)."""
        project = studio.open(project_id)
        ctx.runs.check_idle(project.id)
        with studio.lock(project.id):
            studio.pick_take(project, line, take)
        return line_rows(studio, project)

    @guarded
    def studio_new_take(project_id: str, line: int) -> list[dict]:
        """Give a line a fresh seed: the next studio_render makes a new take (the others are kept)."""
        project = studio.open(project_id)
        ctx.runs.check_idle(project.id)
        with studio.lock(project.id):
            studio.new_take(project, line)
        return line_rows(studio, project)

    @guarded
    def studio_render(project_id: str, lines: str = "changed") -> dict:
        """Render ``changed`` lines (or ``all``, or numbers such as "3, 5-7"), export; returns the report."""
        project = studio.open(project_id)
        ctx.runs.check_idle(project.id)
        wanted = (lines or "changed").strip().lower()
        indices = (studio.stale_lines(project) if wanted == "changed" else None if wanted == "all"
                   else table.parse_selection(lines, len(project.lines)))
        with studio.lock(project.id):
            summary = studio.render(project, indices)
            if job_of(ctx, project) is None:
                return studio.export(project, summary=summary).report
        return ctx.dubber.rerun(project.id, "mix").report

    for fn in (studio_lines, studio_retime, studio_split, studio_merge, studio_pick_take, studio_new_take,
               studio_render):
        gr.api(fn, api_name=fn.__name__, concurrency_id="studio", concurrency_limit=1)
