"""Start from a video: the page's "Dub the video" and "Resume", and the API's ``/dub_video``.

The dub runs in a thread (``jobs.watch``) while the page shows each stage's progress,
the lines as soon as they are known (after the translation), each line as it renders,
and then the project like any other: editable, a changed line rendering alone. The
pipeline saves the project after every stage, so a reload, a restart or a crash
resumes at the first stage and the first line not finished (``dubber.resume``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from dubbing.render import Cancelled, LineEvent
from dubbing.video.api import dub_video, options_from_form
from dubbing.video.pipeline import StageEvent
from dubbing.video.state import STAGES
from engines import InputError

from .feedback import guarded, keeps_work, message_html
from .jobs import watch
from .outputs import record_history, upload_path
from .progress import LineProgress, progress_html
from .rendering import follow
from .views import Context, done_message, live_view, project_view

RELOAD_S = 1.0        # while lines render, the saved project is read back at most this often


def stage_label(event: StageEvent) -> str:
    text = f"stage {event.step} of {len(STAGES)}: {event.stage}"
    return f"{text}: {event.message}" if event.message else text


def run_job(ctx: Context, project_id: str, work: Callable) -> Iterator[dict]:
    """Follow a video job (``work(emit, cancel)``): stages on the bar, lines in the table as they come."""
    studio = ctx.studio
    state: dict[str, Any] = {"project": studio.open(project_id), "lines": None}

    def on_batch(batch: list) -> dict:
        update: dict = {}
        reload = False
        for event in batch:
            if event.line is not None and isinstance(event.line, LineEvent):
                if state["lines"] is None:
                    state["project"] = studio.open(project_id)
                    state["lines"] = LineProgress(state["project"], None)
                reload |= state["lines"].add(event.line)
            update[ctx.page.progress] = progress_html(stage_label(event), fraction=event.fraction)
            reload |= event.stage in ("translate", "voices") and event.fraction >= 1.0
        if reload:
            state["project"] = studio.open(project_id)
        tracker = state["lines"]
        if tracker is not None:
            update.update(live_view(ctx, state["project"], tracker.live, tracker.html("stage 8 of 9: render")))
        elif reload:
            update[ctx.page.table] = live_view(ctx, state["project"], {}, "")[ctx.page.table]
        return update

    try:
        result = yield from follow(watch(ctx.runs, project_id, work), on_batch)
    except Cancelled as exc:
        yield project_view(ctx, studio.open(project_id), "stopped", message=message_html(str(exc), "Stopped", "note"))
        return
    project = studio.open(project_id)
    record_history(ctx.recorder, project, result.report, result.files.get("track"))
    message = (message_html(f"{len(result.failed)} line(s) could not be rendered (see their status); every output "
                            "is written, those lines silent", "Some lines failed") if result.failed
               else done_message("dubbed: every line is rendered and the MP4 is ready" if "video" in result.files
                                 else "dubbed: every line is rendered and the track is ready"))
    yield project_view(ctx, project, "video dub finished", message=message)


def make_video_handlers(ctx: Context) -> dict[str, Callable]:
    p = ctx.page

    @keeps_work(p.message)
    def start(media, language, source_language, speakers, translation, translation_file, engine, profile):
        path = upload_path(media)
        if not path:
            raise InputError("upload the video (or an audio file) to dub first")
        options = options_from_form(language, source_language, speakers, translation, upload_path(translation_file),
                                    engine, profile)
        project, job = ctx.dubber.prepare(path, options)     # every check that needs no model, before any loads
        first = project_view(ctx, project, "dubbing the video", progress=progress_html("starting"))
        yield {**first, p.message: ""}
        yield from run_job(ctx, project.id, lambda emit, cancel: ctx.dubber.run(project, job, emit, cancel))

    @keeps_work(p.message)
    def resume(project_id):
        if not project_id:
            raise InputError("open the project to resume first (the saved projects list)")
        project, job = ctx.dubber.open(project_id)
        if job.finished:
            yield project_view(ctx, project, "", message=message_html("nothing to resume: every stage of this video "
                                                                      "dub is finished", kind="note"))
            return
        yield {p.progress: progress_html(f"resuming at {job.next_stage}"), p.message: ""}
        yield from run_job(ctx, project.id, lambda emit, cancel: ctx.dubber.run(project, job, emit, cancel))

    @guarded
    def api(video, language, source_language="auto", speakers="auto", translation="model", translation_file=None,
            engine="f5tts", quality_profile=None, seed=None, progress=gr.Progress()):
        """A video (or audio file) in; (dubbed track, report, source subtitles, dubbed subtitles, MP4 or None)
        out. ``translation``: model, file (then ``translation_file``) or none."""
        def on_progress(event: StageEvent) -> None:
            progress((event.step - 1 + event.fraction) / len(STAGES), desc=stage_label(event))

        out = dub_video(ctx.dubber, upload_path(video), language, source_language, speakers, translation,
                        upload_path(translation_file), engine, quality_profile, on_progress, seed=seed)
        with open(out.report, encoding="utf-8") as handle:
            report = json.load(handle)
        record_history(ctx.recorder, ctx.studio.open(out.project_id), report, out.track)
        return out.track, report, out.source_subtitles, out.dubbed_subtitles, out.video

    return {"dub_video": start, "resume_video": resume, "dub_video_api": api}
