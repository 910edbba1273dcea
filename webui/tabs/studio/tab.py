"""The Studio tab: subtitles or a video in, a timed multi-speaker voice track (and an MP4) out, line by line.

Start from subtitles (Create project) or from a video (Dub the video: transcribed,
translated, each speaker's voice cloned); either way the lines land in an editable table
under a timeline with one lane per speaker. Render changed renders the lines edited since
(a cell, a dragged clip edge, a split or a merge), the table filling in line by line;
every line keeps up to five takes to choose from. Projects live in the output folder, so
a reload or a restart reopens them (and resumes a video dub where it stopped). The one-call
APIs: ``/dub_subtitles``, ``/dub_video``; the editing ones: ``/studio_*`` (``lines.py``).

Modules: ``page`` (the components), ``views`` (a project as page updates), ``projects``,
``rendering``, ``video``, ``lines`` (the handlers), ``jobs`` (work in a thread), ``table``,
``progress``, ``feedback``, ``outputs``, ``timeline_view`` with ``vendor`` (the timeline).
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from dubbing import Studio
from dubbing.project import ProjectStore
from dubbing.video import VideoDubber
from engines import EngineManager

from .jobs import Runs
from .lines import make_line_handlers, register_api
from .page import Page, build_page
from .projects import make_project_handlers
from .rendering import make_render_handlers
from .video import make_video_handlers
from .views import Context

QUIET = dict(api_visibility="private", show_progress="hidden")
LONG = dict(QUIET, concurrency_id="studio", concurrency_limit=1)     # one render or dub at a time
NOW = dict(QUIET, concurrency_limit=None)                            # answers while a render runs


def wire(ctx: Context, handlers: dict) -> None:
    p: Page = ctx.page
    h = handlers
    shown = p.shown
    p.create_button.click(h["create"], inputs=[p.subtitles, p.video, *p.form, p.encoding], outputs=shown, **NOW)
    p.open_button.click(h["open_project"], inputs=p.projects, outputs=shown, **NOW)
    render_inputs = [p.project_id, p.table, p.selection, *p.form, p.formats]
    p.render_changed.click(h["render_changed"], inputs=render_inputs, outputs=shown, **LONG)
    p.render_all.click(h["render_all"], inputs=render_inputs, outputs=shown, **LONG)
    p.render_selected.click(h["render_selected"], inputs=render_inputs, outputs=shown, **LONG)
    p.new_take.click(h["new_take"], inputs=render_inputs, outputs=shown, **LONG)
    p.cancel.click(h["cancel"], inputs=p.project_id, outputs=shown, **NOW)
    p.table.select(h["select_row"], inputs=p.project_id, outputs=shown, **NOW)
    p.timeline.click(h["select_clip"], inputs=p.project_id, outputs=shown, **NOW)
    p.timeline.edit(h["timeline_edit"], inputs=[p.project_id, p.table, *p.form], outputs=shown, **NOW)
    p.takes.input(h["hear_take"], inputs=[p.project_id, p.selection, p.takes], outputs=shown, **NOW)
    p.use_take.click(h["use_take"], inputs=[p.project_id, p.selection, p.takes, p.formats], outputs=shown, **LONG)
    video_form = [p.media, p.dub_language, p.source_language, p.speakers, p.translation, p.translation_file,
                  p.video_engine, p.video_profile]
    p.dub_button.click(h["dub_video"], inputs=video_form, outputs=shown, **LONG)
    p.resume_button.click(h["resume_video"], inputs=p.project_id, outputs=shown, **LONG)


def api_endpoints(ctx: Context, handlers: dict) -> None:
    """``/dub_subtitles`` and ``/dub_video``: the whole job in one call (their outputs hidden on the page)."""
    p = ctx.page
    with gr.Group(visible=False):
        track, subtitles = gr.File(label="Track"), gr.File(label="Adjusted subtitles")
        video, report = gr.File(label="Video"), gr.JSON(label="Report")
        dub_subtitles = gr.Button()
        source, dubbed = gr.File(label="Source subtitles"), gr.File(label="Dubbed subtitles")
        seed = gr.Textbox(label="Seed", value="")
        dub_video = gr.Button()
    dub_subtitles.click(handlers["dub_subtitles"],
                        inputs=[p.subtitles, p.language, p.voice, p.engine, p.profile, p.speaker_voices, p.video,
                                p.fit, p.keep_original, p.encoding, p.keep_original_track],
                        outputs=[track, report, subtitles, video], api_name="dub_subtitles",
                        concurrency_id="studio", concurrency_limit=1)
    dub_video.click(handlers["dub_video_api"],
                    inputs=[p.media, p.dub_language, p.source_language, p.speakers, p.translation,
                            p.translation_file, p.video_engine, p.video_profile, seed],
                    outputs=[track, report, source, dubbed, video], api_name="dub_video",
                    concurrency_id="studio", concurrency_limit=1)
    register_api(ctx)


def build_studio_tab(manager: EngineManager, recorder=None, output_dir: Path | None = None) -> gr.Tab:
    studio = Studio(manager, ProjectStore.in_output_dir(output_dir)) if output_dir else Studio.from_env(manager)
    with gr.Tab("Studio", id="studio") as tab:
        page = build_page(manager)
        ctx = Context(studio, VideoDubber(studio), Runs(), recorder, page)
        handlers = {**make_project_handlers(ctx), **make_render_handlers(ctx), **make_video_handlers(ctx),
                    **make_line_handlers(ctx)}
        wire(ctx, handlers)
        api_endpoints(ctx, handlers)
        tab.select(handlers["refresh_projects"], inputs=page.projects, outputs=page.projects, **NOW)
    return tab
