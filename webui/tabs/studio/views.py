"""A project as the page shows it: the update dicts every Studio handler returns.

``Context`` is what the handlers share (the Studio service, the video dubber, the runs in
progress, the History recorder, the page). ``project_view`` is the whole project: table,
summary, timeline, outputs, the project list (its labels count the rendered lines), and
the forms' settings; ``live_view`` is the cheap update sent while lines render.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from dubbing import Studio
from dubbing.project import Project
from dubbing.video import VideoDubber
from dubbing.video.state import STAGES, JobState

from . import table
from .feedback import message_html
from .progress import progress_html
from .jobs import Runs
from .outputs import saved_outputs, speaker_map_text
from .page import Page
from .timeline_view import timeline_value


@dataclass
class Context:
    studio: Studio
    dubber: VideoDubber
    runs: Runs
    recorder: Any
    page: Page


def project_list(ctx: Context, selected: str | None = None) -> gr.Dropdown:
    choices = table.project_choices(ctx.studio.store.list())
    ids = [value for _, value in choices]
    return gr.Dropdown(choices=choices, value=selected if selected in ids else (ids[0] if ids else None))


def job_of(ctx: Context, project: Project) -> JobState | None:
    """The video job behind ``project``, or None for a project made from subtitles."""
    try:
        return JobState.load(ctx.studio.store.folder(project.id))
    except (OSError, ValueError, KeyError):
        return None


def notes_text(project: Project, job: JobState | None) -> str:
    """What a video project's pipeline found and where it stands (markdown)."""
    if job is None:
        return ""
    parts = []
    if job.next_stage is not None:
        done = [stage for stage in STAGES if stage in job.results]
        parts.append(f"**Video dub stopped before stage {STAGES.index(job.next_stage) + 1} of {len(STAGES)} "
                     f"({job.next_stage})**, after {', '.join(done) or 'none'}: press **Resume the open project's "
                     "video dub** to go on from there (the lines already rendered are kept).")
    report = project.report or {}
    if report.get("source_language"):
        speakers = ", ".join(report.get("speakers") or []) or "none"
        parts.append(f"Source language: {report['source_language']} · speakers: {speakers} · separation: "
                     f"{(report.get('separation') or {}).get('status', 'not run')}")
    parts += [f"Note: {note}" for note in report.get("notes") or []]
    return "\n\n".join(parts)


def form_values(ctx: Context, project: Project) -> dict:
    """The subtitle form set to the project's settings (a render applies the form, so it must match)."""
    p, s = ctx.page, project.settings
    return {p.speaker_voices: speaker_map_text(project), p.language: s.language, p.voice: s.default_voice,
            p.engine: s.engine, p.profile: s.quality_profile, p.fit: s.fit, p.keep_original: s.keep_original_audio,
            p.keep_original_track: s.keep_original_track}


def project_view(ctx: Context, project: Project, note: str = "", outputs: dict | None = None, form: bool = True,
                 message: str = "", progress: str | None = None) -> dict:
    """Everything the page shows of ``project``; ``outputs``: fresh exports, else the saved ones.

    ``form``: a project being opened (created, opened, dubbed): the form takes its settings and the
    selected line of another project is cleared."""
    p = ctx.page
    currency = ctx.studio.currency(project)
    shown = outputs if outputs is not None else saved_outputs(ctx.studio, project)
    job = job_of(ctx, project)
    view = {
        p.project_id: project.id, p.table: table.project_rows(project, current=currency),
        p.summary: table.project_summary(project, note, "video dub" if job is not None else None),
        p.notes: notes_text(project, job), p.timeline: timeline_value(ctx.studio, project, shown["track"], currency),
        p.track: shown["track"], p.preview: gr.Video(value=shown["video"], visible=shown["video"] is not None),
        p.downloads: shown["downloads"], p.report: shown["report"], p.projects: project_list(ctx, project.id),
        p.message: message, p.progress: progress if progress is not None else idle_progress(project, currency),
    }
    if form:
        view.update(form_values(ctx, project))
        view.update({p.selection: "", p.line_audio: None, p.take_audio: None,
                     p.takes: gr.Radio(choices=[], value=None)})
    return view


def idle_progress(project: Project, currency: dict[int, bool]) -> str:
    done = sum(1 for ok in currency.values() if ok)
    seconds = [line.slot_s or 0.0 for line in project.lines]
    done_s = sum(s for line, s in zip(project.lines, seconds) if currency.get(line.index))
    label = "up to date" if done == len(project.lines) else f"{len(project.lines) - done} line(s) to render"
    return progress_html(label, done, len(project.lines), done_s, sum(seconds), running=False)


def live_view(ctx: Context, project: Project, live: dict[int, tuple[str, str]], progress: str) -> dict:
    """While rendering: the table (each finished line's status, fit and engine) and the progress bar."""
    return {ctx.page.table: table.project_rows(project, live), ctx.page.progress: progress}


def done_message(text: str) -> str:
    return message_html(text, kind="done")


def take_choices(line) -> list[tuple[str, int]]:
    """The line's kept takes, newest first, as the takes list shows them."""
    choices = []
    for take in reversed(line.takes):
        result, settings = take["result"], take["settings"]
        words = settings["text"] if len(settings["text"]) <= 40 else settings["text"][:39] + "…"
        mark = " · in the track" if take["take"] == line.take and line.status == "done" else ""
        choices.append((f"take {take['take']} · seed {settings['seed']} · {result.get('fit_method')} · "
                        f"{result.get('duration_s', 0):.2f} s · “{words}”{mark}", take["take"]))
    return choices


def take_audio(ctx: Context, project: Project, key: str | None):
    take = ctx.studio.store.load_take(project, key) if key else None
    return (24000, take[0]) if take is not None else None


def line_panel(ctx: Context, project: Project, index: int) -> dict:
    """The selected line: its audio, its number in the selection box, and its takes."""
    p, line = ctx.page, project.line(index)
    key = line.result["final_key"] if line.status == "done" and line.result else None
    return {p.line_audio: take_audio(ctx, project, key), p.selection: str(index),
            p.takes: gr.Radio(choices=take_choices(line), value=line.take if line.takes else None),
            p.take_audio: take_audio(ctx, project, key)}
