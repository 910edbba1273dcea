"""The Studio tab: subtitles (and a video) in, a timed multi-speaker voice track out, line by line.

Upload subtitles, pick language, voice, engine, profile and the speaker→voice map, then
Create project: the lines appear in an editable table. Render all (or the lines you
select after an edit: only lines whose text, voice, engine, profile, seed or slot
changed render again), watch each line's progress in the table, Cancel at any time,
play a line, the track and the video. Projects live in the output folder, so a reload
or a restart reopens them from the project list (and each finished render is in the
History tab). ``/dub_subtitles`` does the whole thing in one API call.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gradio as gr

from dubbing import Studio
from dubbing.project import ProjectStore
from dubbing.subtitle_encoding import AUTO, ENCODING_CHOICES
from engines import EngineManager
from engines.voices.presets import DEFAULT_PRESET

from . import controls
from . import studio_actions as actions
from . import studio_table as table

logger = logging.getLogger("voice_studio.webui.studio")

SUBTITLE_TYPES = [".srt", ".vtt", ".ass", ".ssa", ".txt"]
VIDEO_TYPES = [".mp4", ".mov", ".mkv", ".webm", ".avi"]
FIT_CHOICES = [("Fit each line into its slot", "fit"), ("Natural pace (overruns reported)", "natural")]
EXPORT_CHOICES = [("FLAC", "flac"), ("MP3", "mp3")]


def voice_choices(manager: EngineManager) -> list[tuple[str, str]]:
    return [(f"{v.get('name') or v['id']} ({v['kind']})", v["id"]) for v in manager.voices.list()]


def make_handlers(studio: Studio, runs: actions.Runs, recorder=None) -> dict[str, Any]:
    """The tab's handlers as plain functions (the browser test and the API reach them through Gradio)."""

    def refresh_projects(selected: str | None = None):
        choices = table.project_choices(studio.store.list())
        ids = [value for _, value in choices]
        return gr.Dropdown(choices=choices, value=selected if selected in ids else (ids[0] if ids else None))

    def view(project, extra: str = "", outputs=None):
        current = {line.index: studio.renderer.is_current(project, line) for line in project.lines}
        track, video, downloads, report = outputs if outputs is not None else actions.saved_outputs(studio, project)
        return (project.id, table.project_rows(project, current=current), table.project_summary(project, extra),
                track, video, downloads, report)

    @actions.guarded
    def create(subtitles, video, language, voice, engine, profile, speaker_voices, fit, keep_original, encoding=AUTO):
        data, suffix, name = actions.subtitle_upload(subtitles)
        options = actions.options_from_form(language, voice, engine, profile, speaker_voices, fit, keep_original)
        project = studio.create_project(data, options, name, actions.upload_path(video), suffix, encoding or AUTO)
        return (*view(project), actions.speaker_map_text(project), refresh_projects(project.id))

    @actions.guarded
    def open_project(project_id):
        if not project_id:
            raise gr.Error("Pick a saved project first.", title="Bad input", print_exception=False)
        project = studio.open(project_id)
        s = project.settings
        return (*view(project), actions.speaker_map_text(project), s.language, s.default_voice, s.engine,
                s.quality_profile, s.fit, s.keep_original_audio)

    def render(project_id, rows, selection, language, voice, engine, profile, speaker_voices, fit, keep_original,
               formats, only_selected=False, progress=gr.Progress()):
        try:
            if not project_id:
                raise actions.InputError("create or open a project first")
            runs.check_idle(project_id)  # edits wait until the project's render is over
            project = studio.open(project_id)
            studio.update_lines(project, table.table_edits(rows))
            studio.apply_options(project, actions.options_from_form(language, voice, engine, profile,
                                                                    speaker_voices, fit, keep_original))
            indices = table.parse_selection(selection, len(project.lines)) if only_selected else None
            if only_selected and not indices:
                raise actions.InputError("no lines selected: click a row or type line numbers such as 3, 5-7")

            def update(live, done, total):
                progress(done / max(total, 1), desc=f"{done} of {total} lines")
                return (gr.skip(), table.project_rows(project, live), gr.skip(), gr.skip(), gr.skip(), gr.skip(),
                        gr.skip())

            summary = yield from actions.watch_render(studio, runs, project, indices, update)
            with studio.lock(project.id):
                exported = studio.export(project, tuple(formats or ()), summary)
            actions.record_history(recorder, project, exported)
            note = (f"rendered {len(summary.rendered)}, unchanged {len(summary.unchanged)}"
                    + (f", failed {len(summary.failed)}" if summary.failed else "")
                    + (f", cancelled {len(summary.cancelled)}" if summary.cancelled else "")
                    + f" in {summary.seconds:.1f} s")
            if summary.failed:
                gr.Warning(f"{len(summary.failed)} line(s) failed: see the status column")
            yield view(project, note, actions.output_values(exported, project))
        except actions.VoiceStudioError as exc:
            raise actions.ui_error(exc) from exc

    def render_selected(project_id, rows, selection, language, voice, engine, profile, speaker_voices, fit,
                        keep_original, formats, progress=gr.Progress()):
        yield from render(project_id, rows, selection, language, voice, engine, profile, speaker_voices, fit,
                          keep_original, formats, only_selected=True, progress=progress)

    @actions.guarded
    def cancel(project_id):
        runs.cancel(project_id)
        if not project_id:
            return gr.skip(), gr.skip()
        project = studio.open(project_id)
        return table.project_rows(project), table.project_summary(project, "render cancelled")

    @actions.guarded
    def select_line(project_id, evt: gr.SelectData):
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if not project_id or row is None:
            return gr.skip(), gr.skip()
        project = studio.open(project_id)
        if not 0 <= int(row) < len(project.lines):
            return gr.skip(), gr.skip()
        line = project.lines[int(row)]
        audio = None
        if line.status == "done" and line.result:
            take = studio.store.load_take(project, line.result["final_key"])
            audio = (24000, take[0]) if take is not None else None
        return audio, str(line.index)

    @actions.guarded
    def dub_subtitles(subtitles, language, voice_preset, engine, quality_profile, speaker_voices=None,
                      video=None, fit="fit", keep_original_audio=False, encoding=AUTO, progress=gr.Progress()):
        """Subtitles in; (track file, report, adjusted subtitles file, MP4 or None) out. ``encoding``: the
        subtitle file's, or ``auto``."""
        data, suffix, name = actions.subtitle_upload(subtitles)
        options = actions.options_from_form(language, voice_preset, engine, quality_profile, speaker_voices, fit,
                                            keep_original_audio)

        def on_line(event):
            if event.total:
                progress(event.done / event.total, desc=f"{event.done} of {event.total} lines")

        project, exported, _ = studio.dub(data, options, actions.upload_path(video), name, on_line=on_line,
                                          source_suffix=suffix, encoding=encoding or AUTO)
        actions.record_history(recorder, project, exported)
        files = exported.files
        return (str(files["track_wav"]), exported.report, str(files["subtitles"]),
                str(files["video"]) if "video" in files else None)

    return {"refresh_projects": refresh_projects, "create": create, "open_project": open_project,
            "render": render, "render_selected": render_selected, "cancel": cancel, "select_line": select_line,
            "dub_subtitles": dub_subtitles}


def build_studio_tab(manager: EngineManager, recorder=None, output_dir: Path | None = None) -> gr.Tab:
    studio = Studio(manager, ProjectStore.in_output_dir(output_dir)) if output_dir else Studio.from_env(manager)
    h = make_handlers(studio, actions.Runs(), recorder)
    with gr.Tab("Studio", id="studio") as tab:
        project_id = gr.State(None)
        with gr.Row():
            projects = gr.Dropdown(label="Saved projects (they survive a reload or a restart)", choices=[],
                                   elem_id="studio-projects", scale=4)
            open_button = gr.Button("Open", elem_id="studio-open", scale=1)
        with gr.Row():
            with gr.Column(scale=1):
                subtitles = gr.File(label="Subtitles: .srt, .vtt, .ass/.ssa, or a .txt script (one line per cue)",
                                    file_types=SUBTITLE_TYPES, elem_id="studio-subtitles")
                encoding = gr.Dropdown(ENCODING_CHOICES, value=AUTO, allow_custom_value=True,
                                       label="Encoding of the subtitle file (auto refuses a file it is unsure of)",
                                       elem_id="studio-encoding")
                video = gr.File(label="Video (optional)", file_types=VIDEO_TYPES, elem_id="studio-video")
                language, engine, profile = controls.engine_and_language(manager, "studio")
                voice = gr.Dropdown(voice_choices(manager), value=DEFAULT_PRESET, label="Default voice",
                                    allow_custom_value=True, elem_id="studio-voice")
                speaker_voices = gr.Textbox(label="Speaker → voice (one Name=voice per line; empty: default voice)",
                                            lines=3, elem_id="studio-speaker-voices")
                fit = gr.Radio(FIT_CHOICES, value="fit", label="Timing", elem_id="studio-fit")
                keep_original = gr.Checkbox(False, label="Keep the video's own sound under the voice (ducked)",
                                            elem_id="studio-keep-original")
                formats = gr.CheckboxGroup(EXPORT_CHOICES, value=[], label="Also export the track as",
                                           elem_id="studio-formats")
                create_button = gr.Button("Create project", variant="primary", elem_id="studio-create")
            with gr.Column(scale=2):
                summary = gr.Markdown("Upload subtitles and press **Create project**.", elem_id="studio-summary")
                lines = gr.Dataframe(headers=table.COLUMNS, datatype=table.DATATYPES, type="array",
                                     interactive=True, static_columns=table.STATIC_COLUMNS, wrap=True,
                                     column_widths=["4%", "11%", "11%", "9%", "11%", "28%", "10%", "9%", "7%"],
                                     max_height=480, elem_id="studio-lines")
                with gr.Row():
                    selection = gr.Textbox(label="Lines to render (click a row, or e.g. 3, 5-7)", scale=2,
                                           elem_id="studio-selection")
                    render_all = gr.Button("Render all", variant="primary", elem_id="studio-render-all")
                    render_some = gr.Button("Render selected", elem_id="studio-render-selected")
                    stop = gr.Button("Cancel", variant="stop", elem_id="studio-cancel")
                line_audio = gr.Audio(label="Selected line", interactive=False, elem_id="studio-line-audio")
                track = gr.Audio(label="Track", type="filepath", interactive=False, buttons=["download"],
                                 elem_id="studio-track")
                preview = gr.Video(label="Video with the new track", interactive=False, elem_id="studio-preview")
                downloads = gr.File(label="Downloads: track, stems (zip), adjusted subtitles, report, MP4",
                                    file_count="multiple", interactive=False, elem_id="studio-downloads")
                with gr.Accordion("Report", open=False):
                    report = gr.JSON(label="Report", elem_id="studio-report")
        with gr.Group(visible=False):  # the one-step API's outputs (/dub_subtitles)
            api_track, api_subtitles = gr.File(label="Track"), gr.File(label="Adjusted subtitles")
            api_video, api_report = gr.File(label="Video"), gr.JSON(label="Report")
            api_button = gr.Button()

        shown = [project_id, lines, summary, track, preview, downloads, report]
        form = [language, voice, engine, profile, speaker_voices, fit, keep_original]
        create_button.click(h["create"], inputs=[subtitles, video, *form, encoding],
                            outputs=[*shown, speaker_voices, projects], api_visibility="private")
        open_button.click(h["open_project"], inputs=projects,
                          outputs=[*shown, speaker_voices, language, voice, engine, profile, fit, keep_original],
                          api_visibility="private")
        render_inputs = [project_id, lines, selection, *form, formats]
        all_event = render_all.click(h["render"], inputs=render_inputs, outputs=shown, api_visibility="private",
                                     concurrency_id="studio", concurrency_limit=1)
        some_event = render_some.click(h["render_selected"], inputs=render_inputs, outputs=shown,
                                       api_visibility="private", concurrency_id="studio", concurrency_limit=1)
        stop.click(h["cancel"], inputs=project_id, outputs=[lines, summary], cancels=[all_event, some_event],
                   api_visibility="private", concurrency_limit=None)
        lines.select(h["select_line"], inputs=project_id, outputs=[line_audio, selection], api_visibility="private",
                     concurrency_limit=None)
        api_button.click(h["dub_subtitles"],
                         inputs=[subtitles, language, voice, engine, profile, speaker_voices, video, fit,
                                 keep_original, encoding],
                         outputs=[api_track, api_report, api_subtitles, api_video], api_name="dub_subtitles",
                         concurrency_id="studio", concurrency_limit=1)
        tab.select(h["refresh_projects"], inputs=projects, outputs=projects, api_visibility="private",
                   concurrency_limit=None)
    return tab
