"""The Studio tab's components, built in one place and named, so handlers return ``{component: value}``.

A handler updates only what it names; everything else on the page (the project, its
table, what was typed) stays as it is, which is how an error keeps the user's work.
The layout: the saved projects; two ways to start (subtitles, a video) beside the
project's message, progress, summary, video, track and, under them, the timeline; the
line table and its buttons; the selected line and its takes; the downloads and the report.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import gradio as gr

from dubbing.subtitles.encoding import AUTO, ENCODING_CHOICES
from dubbing.video.api import TRANSLATION_CHOICES
from engines import EngineManager
from engines.voices.presets import DEFAULT_PRESET

from .. import controls
from . import table
from .timeline_view import timeline_component

SUBTITLE_TYPES = [".srt", ".vtt", ".ass", ".ssa", ".txt"]
VIDEO_TYPES = [".mp4", ".mov", ".mkv", ".webm", ".avi"]
MEDIA_TYPES = VIDEO_TYPES + [".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus"]
FIT_CHOICES = [("Fit each line into its slot", "fit"), ("Natural pace (overruns reported)", "natural")]
EXPORT_CHOICES = [("FLAC", "flac"), ("MP3", "mp3")]
TRANSLATION_LABELS = {"model": "Translate with the model", "file": "From a translated subtitle file",
                      "none": "Keep the words (re-voice in the same language)"}
SPEAKER_CHOICES = ["auto"] + [str(n) for n in range(1, 9)]


@dataclass
class Page:
    project_id: gr.State
    projects: gr.Dropdown
    open_button: gr.Button
    # start from subtitles
    subtitles: gr.File
    encoding: gr.Dropdown
    video: gr.File
    language: gr.Dropdown
    engine: gr.Dropdown
    profile: gr.Dropdown
    voice: gr.Dropdown
    speaker_voices: gr.Textbox
    fit: gr.Radio
    keep_original: gr.Checkbox
    keep_original_track: gr.Checkbox
    formats: gr.CheckboxGroup
    create_button: gr.Button
    # start from a video
    media: gr.File
    dub_language: gr.Dropdown
    source_language: gr.Dropdown
    speakers: gr.Dropdown
    translation: gr.Radio
    translation_file: gr.File
    video_engine: gr.Dropdown
    video_profile: gr.Dropdown
    dub_button: gr.Button
    resume_button: gr.Button
    # the open project
    message: gr.HTML
    progress: gr.HTML
    summary: gr.Markdown
    notes: gr.Markdown
    preview: gr.Video
    track: gr.Audio
    timeline: gr.HTML
    table: gr.Dataframe
    selection: gr.Textbox
    render_changed: gr.Button
    render_all: gr.Button
    render_selected: gr.Button
    cancel: gr.Button
    # the selected line
    line_audio: gr.Audio
    takes: gr.Radio
    take_audio: gr.Audio
    use_take: gr.Button
    new_take: gr.Button
    downloads: gr.File
    report: gr.JSON

    @property
    def form(self) -> list:
        """The subtitle form's project settings, in ``outputs.options_from_form``'s order."""
        return [self.language, self.voice, self.engine, self.profile, self.speaker_voices, self.fit,
                self.keep_original, self.keep_original_track]

    @property
    def shown(self) -> list:
        """Everything a handler may update (each returns a dict naming only what it changes)."""
        skip = {"open_button", "create_button", "dub_button", "resume_button", "render_changed", "render_all",
                "render_selected", "cancel", "use_take", "new_take"}
        return [getattr(self, f.name) for f in fields(self) if f.name not in skip]


def voice_choices(manager: EngineManager) -> list[tuple[str, str]]:
    return [(f"{v.get('name') or v['id']} ({v['kind']})", v["id"]) for v in manager.voices.list()]


def source_language_choices() -> list[tuple[str, str]]:
    from dubbing.video.options import whisper_languages

    return [("auto (detected)", "auto")] + sorted((f"{name.title()} ({code})", code)
                                                  for code, name in whisper_languages().items())


def subtitle_form(manager: EngineManager) -> dict:
    subtitles = gr.File(label="Subtitles: .srt, .vtt, .ass/.ssa, or a .txt script (one line per cue)",
                        file_types=SUBTITLE_TYPES, elem_id="studio-subtitles")
    encoding = gr.Dropdown(ENCODING_CHOICES, value=AUTO, allow_custom_value=True,
                           label="Encoding of the subtitle file (auto refuses a file it is unsure of)",
                           elem_id="studio-encoding")
    video = gr.File(label="Video (optional)", file_types=VIDEO_TYPES, elem_id="studio-video")
    language, engine, profile = controls.engine_and_language(manager, "studio")
    voice = gr.Dropdown(voice_choices(manager), value=DEFAULT_PRESET, label="Default voice", allow_custom_value=True,
                        elem_id="studio-voice")
    speaker_voices = gr.Textbox(label="Speaker → voice (one Name=voice per line; empty: default voice)", lines=3,
                                elem_id="studio-speaker-voices")
    fit = gr.Radio(FIT_CHOICES, value="fit", label="Timing", elem_id="studio-fit")
    keep_original = gr.Checkbox(False, label="Keep the video's own sound under the voice (ducked)",
                                elem_id="studio-keep-original")
    keep_original_track = gr.Checkbox(False, label="Keep the video's own sound as a second audio track of the MP4",
                                      elem_id="studio-keep-original-track")
    formats = gr.CheckboxGroup(EXPORT_CHOICES, value=[], label="Also export the track as", elem_id="studio-formats")
    create_button = gr.Button("Create project", variant="primary", elem_id="studio-create")
    return dict(subtitles=subtitles, encoding=encoding, video=video, language=language, engine=engine,
                profile=profile, voice=voice, speaker_voices=speaker_voices, fit=fit, keep_original=keep_original,
                keep_original_track=keep_original_track, formats=formats, create_button=create_button)


def video_form(manager: EngineManager) -> dict:
    media = gr.File(label="Video (MP4, MOV, MKV, WebM, AVI) or an audio file", file_types=MEDIA_TYPES,
                    elem_id="studio-media")
    dub_language, video_engine, video_profile = controls.engine_and_language(manager, "studio-dub")
    source_language = gr.Dropdown(source_language_choices(), value="auto", allow_custom_value=True,
                                  label="What the video speaks", elem_id="studio-source-language")
    speakers = gr.Dropdown(SPEAKER_CHOICES, value="auto", allow_custom_value=True,
                           label="Number of speakers (auto: told apart by their voices)", elem_id="studio-speakers")
    translation = gr.Radio([(TRANSLATION_LABELS[c], c) for c in TRANSLATION_CHOICES], value="model",
                           label="Translation", elem_id="studio-translation")
    translation_file = gr.File(label="Translated subtitles (for 'From a translated subtitle file'): one cue per "
                                     "speech cue", file_types=SUBTITLE_TYPES, elem_id="studio-translation-file")
    dub_button = gr.Button("Dub the video", variant="primary", elem_id="studio-dub")
    resume_button = gr.Button("Resume the open project's video dub", elem_id="studio-resume")
    return dict(media=media, dub_language=dub_language, source_language=source_language, speakers=speakers,
                translation=translation, translation_file=translation_file, video_engine=video_engine,
                video_profile=video_profile, dub_button=dub_button, resume_button=resume_button)


def project_panel() -> dict:
    message = gr.HTML("", elem_id="studio-message")
    progress = gr.HTML("", elem_id="studio-progress")
    summary = gr.Markdown("Start from subtitles or from a video, or open a saved project.", elem_id="studio-summary")
    notes = gr.Markdown("", elem_id="studio-notes")
    preview = gr.Video(label="Video with the new track", interactive=False, height=300, visible=False,
                       elem_id="studio-preview")
    track = gr.Audio(label="Track", type="filepath", interactive=False, buttons=["download"], elem_id="studio-track")
    timeline = timeline_component()
    return dict(message=message, progress=progress, summary=summary, notes=notes, preview=preview, track=track,
                timeline=timeline)


def lines_panel() -> dict:
    lines = gr.Dataframe(headers=table.COLUMNS, datatype=table.DATATYPES, type="array", interactive=True,
                         static_columns=table.STATIC_COLUMNS, wrap=True, column_widths=table.COLUMN_WIDTHS,
                         max_height=520, elem_id="studio-lines")
    with gr.Row(elem_id="studio-line-buttons"):
        selection = gr.Textbox(label="Lines to render (click a row, or e.g. 3, 5-7)", scale=2, min_width=220,
                               elem_id="studio-selection")
        render_changed = gr.Button("Render changed", variant="primary", elem_id="studio-render-changed",
                                   min_width=140)
        render_all = gr.Button("Render all", elem_id="studio-render-all", min_width=120)
        render_selected = gr.Button("Render selected", elem_id="studio-render-selected", min_width=140)
        cancel = gr.Button("Cancel", variant="stop", elem_id="studio-cancel", min_width=100)
    with gr.Row(elem_id="studio-line-panel"):
        line_audio = gr.Audio(label="Selected line", interactive=False, elem_id="studio-line-audio")
        with gr.Column():
            takes = gr.Radio([], label="Takes of the selected line (up to 5 kept; pick one to hear it)",
                             elem_id="studio-takes")
            take_audio = gr.Audio(label="Take", interactive=False, elem_id="studio-take-audio")
            with gr.Row():
                use_take = gr.Button("Use this take", elem_id="studio-use-take")
                new_take = gr.Button("New take (another seed)", elem_id="studio-new-take")
    downloads = gr.File(label="Downloads: track, stems (zip), subtitles, report, MP4", file_count="multiple",
                        interactive=False, elem_id="studio-downloads")
    with gr.Accordion("Report", open=False):
        report = gr.JSON(label="Report", elem_id="studio-report")
    return dict(table=lines, selection=selection, render_changed=render_changed,
                render_all=render_all, render_selected=render_selected, cancel=cancel, line_audio=line_audio,
                takes=takes, take_audio=take_audio, use_take=use_take, new_take=new_take, downloads=downloads,
                report=report)


def build_page(manager: EngineManager) -> Page:
    """The components, laid out; call inside the Studio's ``gr.Tab``."""
    project_id = gr.State(None)
    with gr.Row(elem_id="studio-project-bar"):
        projects = gr.Dropdown(label="Saved projects (they survive a reload or a restart)", choices=[],
                               elem_id="studio-projects", scale=4)
        open_button = gr.Button("Open", elem_id="studio-open", scale=1, min_width=100)
    with gr.Row(elem_id="studio-top"):
        with gr.Column(scale=1, min_width=320, elem_id="studio-start"):
            with gr.Tabs():
                with gr.Tab("Start from subtitles", id="studio-from-subtitles"):
                    subtitle_parts = subtitle_form(manager)
                with gr.Tab("Start from a video", id="studio-from-video", elem_id="studio-from-video"):
                    video_parts = video_form(manager)
        with gr.Column(scale=2, min_width=320):
            panel = project_panel()
    lines = lines_panel()
    return Page(project_id=project_id, projects=projects, open_button=open_button, **subtitle_parts, **video_parts,
                **panel, **lines)
