"""Projects from the page: Create project (from subtitles), Open, the project list, ``/dub_subtitles``."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from dubbing.subtitles.encoding import AUTO
from engines import InputError

from .feedback import guarded, keeps_work
from .outputs import options_from_form, record_history, subtitle_upload, upload_path
from .views import Context, project_list, project_view


def make_project_handlers(ctx: Context) -> dict[str, Callable]:
    p, studio = ctx.page, ctx.studio

    def refresh_projects(selected: str | None = None) -> gr.Dropdown:
        return project_list(ctx, selected)

    @keeps_work(p.message)
    def create(subtitles, video, language, voice, engine, profile, speaker_voices, fit, keep_original,
               keep_original_track, encoding=AUTO):
        data, suffix, name = subtitle_upload(subtitles)
        options = options_from_form(language, voice, engine, profile, speaker_voices, fit, keep_original,
                                    keep_original_track)
        project = studio.create_project(data, options, name, upload_path(video), suffix, encoding or AUTO)
        return project_view(ctx, project)

    @keeps_work(p.message)
    def open_project(project_id):
        if not project_id:
            raise InputError("pick a saved project first")
        return project_view(ctx, studio.open(project_id))

    @guarded
    def dub_subtitles(subtitles, language, voice_preset, engine, quality_profile, speaker_voices=None,
                      video=None, fit="fit", keep_original_audio=False, encoding=AUTO, keep_original_track=False,
                      progress=gr.Progress()):
        """Subtitles in; (track file, report, adjusted subtitles file, MP4 or None) out. ``encoding``: the
        subtitle file's, or ``auto``; ``keep_original_track``: the video's sound as the MP4's second track."""
        data, suffix, name = subtitle_upload(subtitles)
        options = options_from_form(language, voice_preset, engine, quality_profile, speaker_voices, fit,
                                    keep_original_audio, keep_original_track)

        def on_line(event):
            if event.total:
                progress(event.done / event.total, desc=f"{event.done} of {event.total} lines")

        project, exported, _ = studio.dub(data, options, upload_path(video), name, on_line=on_line,
                                          source_suffix=suffix, encoding=encoding or AUTO)
        record_history(ctx.recorder, project, exported.report, exported.files["track_wav"])
        files = exported.files
        return (str(files["track_wav"]), exported.report, str(files["subtitles"]),
                str(files["video"]) if "video" in files else None)

    return {"refresh_projects": refresh_projects, "create": create, "open_project": open_project,
            "dub_subtitles": dub_subtitles}
