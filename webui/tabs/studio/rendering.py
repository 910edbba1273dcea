"""Rendering from the page: Render changed / all / selected, a new take, Cancel.

Each render applies the table's edits and the form's settings, then renders in a thread
(``jobs.watch``) while the table shows every line as it finishes (status, fit, engine)
and the bar counts lines and seconds of speech. Cancel stops after the lines in flight;
what finished is kept and exported. A project made from a video renders through its
dubber (``rerun`` of the render stage, then the mix), so its MP4 and mix follow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from dubbing.render import LineEvent
from engines import InputError

from . import table
from .feedback import keeps_work, message_html
from .jobs import watch
from .outputs import options_from_form, record_history
from .progress import LineProgress, progress_html
from .views import Context, done_message, job_of, line_panel, live_view, project_view

WHICH = ("changed", "all", "selected")


def follow(gen: Iterator, on_batch: Callable[[list], Any]) -> Iterator:
    """Yield ``on_batch(batch)`` for each batch ``gen`` yields; return what ``gen`` returns."""
    while True:
        try:
            batch = next(gen)
        except StopIteration as stop:
            return stop.value
        yield on_batch(batch)


def render_note(summary) -> str:
    return (f"rendered {len(summary.rendered)}, unchanged {len(summary.unchanged)}"
            + (f", failed {len(summary.failed)}" if summary.failed else "")
            + (f", cancelled {len(summary.cancelled)}" if summary.cancelled else "")
            + f" in {summary.seconds:.1f} s")


def render_lines(ctx: Context, project, indices: list[int] | None, formats=()) -> Iterator[dict]:
    """Render ``indices`` (None: every line that changed) of an open project, showing each line as it
    finishes; then export, or mix again for a video project. Yields page updates."""
    studio, job = ctx.studio, job_of(ctx, project)
    tracker = LineProgress(project, indices)
    yield {ctx.page.message: "", **live_view(ctx, project, tracker.live, tracker.html("starting"))}

    def on_batch(batch: list) -> dict:
        for event in batch:
            line = event.line if hasattr(event, "line") else event
            if isinstance(line, LineEvent):
                tracker.add(line)
            elif event.stage != "render":   # a video project's mix after the render
                return {ctx.page.progress: progress_html(f"mixing: {event.message}", fraction=event.fraction)}
        return live_view(ctx, project, tracker.live, tracker.html())

    def work(emit, cancel):
        with studio.lock(project.id):
            summary = studio.render(project, indices, on_line=emit, cancel=cancel)
        if job is not None and not summary.cancelled:
            # the dub's soundtrack and MP4 follow the new lines (the render stage is as good as rerun)
            ctx.dubber.rerun(project.id, "mix", on_progress=emit, cancel=cancel)
        return summary

    summary = yield from follow(watch(ctx.runs, project.id, work), on_batch)
    project = studio.open(project.id)
    if job is None:
        with studio.lock(project.id):
            exported = studio.export(project, tuple(formats or ()), summary)
        track = exported.files["track_wav"]
        report = exported.report
    else:
        track = studio.store.out_path(project, project.outputs["track"]) if project.outputs.get("track") else None
        report = project.report
    if report is not None:
        record_history(ctx.recorder, project, report, track)
    message = ""
    if summary.failed:
        message = message_html(f"{len(summary.failed)} line(s) could not be rendered (see their status); the "
                               "others are in the track", "Some lines failed")
    elif summary.cancelled:
        message = message_html(f"cancelled: {len(summary.cancelled)} line(s) not rendered; what finished is kept "
                               "and in the track", "Stopped", "note")
    elif summary.rendered:
        message = done_message(f"{render_note(summary)}; the track and downloads are up to date")
    yield project_view(ctx, project, render_note(summary), form=False, message=message)


def make_render_handlers(ctx: Context) -> dict[str, Callable]:
    p = ctx.page

    def prepared(project_id, rows, language, voice, engine, profile, speaker_voices, fit, keep_original,
                 keep_original_track):
        """The open project with the table's edits and the form's settings applied (saved)."""
        if not project_id:
            raise InputError("create or open a project first")
        ctx.runs.check_idle(project_id)   # edits wait until the project's render is over
        project = ctx.studio.open(project_id)
        with ctx.studio.lock(project.id):
            ctx.studio.update_lines(project, table.table_edits(rows))
            ctx.studio.apply_options(project, options_from_form(language, voice, engine, profile, speaker_voices,
                                                                fit, keep_original, keep_original_track))
        return project

    def render_handler(which: str):
        @keeps_work(p.message)
        def render(project_id, rows, selection, language, voice, engine, profile, speaker_voices, fit,
                   keep_original, keep_original_track, formats):
            project = prepared(project_id, rows, language, voice, engine, profile, speaker_voices, fit, keep_original,
                               keep_original_track)
            indices = None
            if which == "selected":
                indices = table.parse_selection(selection, len(project.lines))
                if not indices:
                    raise InputError("no lines selected: click a row or type line numbers such as 3, 5-7")
            elif which == "changed":
                indices = ctx.studio.stale_lines(project)
                if not indices:
                    yield project_view(ctx, project, "nothing changed", form=False,
                                       message=message_html("every line is up to date: nothing to render", kind="note"))
                    return
            yield from render_lines(ctx, project, indices, formats)

        render.__name__ = f"render_{which}"
        return render

    @keeps_work(p.message)
    def new_take(project_id, rows, selection, language, voice, engine, profile, speaker_voices, fit, keep_original,
                 keep_original_track, formats):
        """The selected line again with a fresh seed: a new take, the earlier ones kept."""
        project = prepared(project_id, rows, language, voice, engine, profile, speaker_voices, fit, keep_original,
                           keep_original_track)
        chosen = table.parse_selection(selection, len(project.lines))
        if len(chosen) != 1:
            raise InputError("select one line (click its row) to render a new take of it")
        ctx.studio.new_take(project, chosen[0])
        yield from render_lines(ctx, project, chosen, formats)
        yield line_panel(ctx, ctx.studio.open(project.id), chosen[0])

    @keeps_work(p.message)
    def cancel(project_id):
        if ctx.runs.cancel(project_id):
            return {p.message: message_html("cancelling: the lines in flight finish, and what finished is kept",
                                             kind="note")}
        return {p.message: message_html("nothing is rendering", kind="note")}

    handlers = {f"render_{which}": render_handler(which) for which in WHICH}
    handlers.update(new_take=new_take, cancel=cancel)
    return handlers


