"""The Voices tab: the built-in presets and the saved voices, to listen to, add, delete, import, export.

Handlers are plain functions on the manager's voice library (``engines.voices.library``),
public as ``/voices``, ``/voice_save``, ``/voice_delete``, ``/voice_export`` and
``/voice_import``. Every tab that shows voices follows one hidden JSON component (the
list), refreshed after each change, so a voice saved here or in Cloning shows at once in
the Dubbing voice dropdown. Names, transcripts and notes are user text: escaped in HTML.
"""

from __future__ import annotations

import html
import os
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from engines import EngineManager, InputError
from engines.voices.library import ARCHIVE_SUFFIX, VoiceLibrary, VoiceLibraryError, check_voice_id

from . import choices
from ..serving.labels import engine_label

EXPORT_KEEP_S = 120.0  # Gradio copies a returned file into its cache at once; ours go after this
TRANSCRIPT_PREVIEW_CHARS = 200
INTRO = ("Save a voice once from a short clip and its transcript, then pick it by name in Dubbing, on both "
         "engines. Without a transcript a voice serves XTTS only (F5-TTS needs the words of the clip). "
         "A voice travels as one file: Export here, Import on another Voice Studio.")


def library_of(manager: EngineManager) -> VoiceLibrary | None:
    library = manager.voices.library
    return library if isinstance(library, VoiceLibrary) else None


def _guard(action: Callable[[], Any], failure_title: str) -> Any:
    """Run a library action; its errors become ``gr.Error`` with the library's own message."""
    try:
        return action()
    except InputError as exc:
        raise gr.Error(str(exc), title="Bad input", print_exception=False) from exc
    except VoiceLibraryError as exc:
        raise gr.Error(str(exc), title=failure_title, print_exception=False) from exc


class ExportFiles:
    """Voice files written for download. Gradio copies a returned file into its own cache at
    once, so ours are removed after ``keep_s``, by the next export of any later run too: they
    live in one folder per user, not per process, so a killed server leaves none for long."""

    def __init__(self, keep_s: float = EXPORT_KEEP_S, root: Path | None = None):
        self.keep_s = keep_s
        self.root = root or Path(tempfile.gettempdir()) / f"voice-studio-exports-{getattr(os, 'getuid', lambda: 0)()}"
        self._lock = threading.Lock()

    def new_path(self, voice_id: str) -> Path:
        with self._lock:
            self.root.mkdir(mode=0o700, exist_ok=True)
            info = self.root.lstat()
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != getattr(os, "getuid", lambda: info.st_uid)():
                raise VoiceLibraryError("the export folder in the temp directory belongs to someone else; "
                                        "set TMPDIR to a private folder")
            cutoff = time.time() - self.keep_s
            for old in self.root.iterdir():
                if old.lstat().st_mtime < cutoff:
                    shutil.rmtree(old, ignore_errors=True)
            return Path(tempfile.mkdtemp(dir=self.root)) / f"{voice_id}{ARCHIVE_SUFFIX}"


class VoiceHandlers:
    """The API's functions; the parameter names are the public API's, keep them."""

    def __init__(self, manager: EngineManager, library: VoiceLibrary):
        self.manager = manager
        self.library = library
        self.exports = ExportFiles()

    def voices(self) -> dict[str, Any]:
        return {"voices": self.manager.voices.list()}

    def voice_save(self, name: str, reference_audio: str | None, reference_text: str | None = "",
                   language: str | None = None, notes: str | None = None, consent: str | None = None) -> dict[str, Any]:
        saved = _guard(lambda: self.library.add(name, reference_audio, reference_text, language, notes, consent),
                       "Voice not saved")
        gr.Info(f"Voice {saved['name']} saved (id {saved['id']})")
        return saved

    def voice_delete(self, voice_id: str) -> dict[str, Any]:
        return _guard(lambda: self.library.remove((voice_id or "").strip()), "Voice not deleted")

    def voice_export(self, voice_id: str) -> str:
        def export() -> str:
            valid_id = check_voice_id((voice_id or "").strip())  # before it names a file
            return str(self.library.export(valid_id, self.exports.new_path(valid_id)))

        return _guard(export, "Voice not exported")

    def voice_import(self, voice_file: str | None) -> dict[str, Any]:
        imported = _guard(lambda: self.library.import_archive(voice_file), "Voice not imported")
        gr.Info(f"Voice {imported['name']} imported (id {imported['id']})")
        return imported

    # The same, for the page's own events: private events take their function's name as
    # their API name, so they must not be named like the public ones.
    def refresh_list(self) -> dict[str, Any]:
        return self.voices()

    def save_cloned_voice(self, name: str, reference_audio: str | None, reference_text: str | None,
                          language: str | None) -> dict[str, Any]:
        return self.voice_save(name, reference_audio, reference_text, language)


# --- showing voices ---------------------------------------------------------------------
def _fact(label: str, value: Any) -> str:
    return f"<span class='vs-voice-fact'><b>{html.escape(label)}</b> {html.escape(str(value))}</span>"


def voice_card(voice: dict[str, Any]) -> str:
    """One voice as HTML; every user-written field is escaped."""
    saved = voice.get("kind") == "saved"
    kind = "saved voice" if saved else "built-in preset"
    facts = []
    if voice.get("language"):
        facts.append(_fact("language", voice["language"]))
    if saved:
        engines = ", ".join(engine_label(name) for name in voice.get("engines", []))
        facts.append(_fact("engines", engines + ("" if voice.get("transcript") else " (no transcript)")))
        facts.append(_fact("clip", f"{voice.get('duration_s', 0):.1f} s"))
    else:
        facts.append(_fact("engines", "F5-TTS, XTTS (studio speaker)"))
    parts = [f"<div class='vs-voice-head'><b class='vs-voice-name'>{html.escape(str(voice.get('name')))}</b> "
             f"<code>{html.escape(str(voice.get('id')))}</code> · {kind}</div>", "<div>" + " · ".join(facts) + "</div>"]
    transcript = voice.get("transcript") or ""
    if transcript:
        shown = transcript if len(transcript) <= TRANSCRIPT_PREVIEW_CHARS else transcript[:TRANSCRIPT_PREVIEW_CHARS] + "…"
        parts.append(f"<div class='vs-voice-transcript'>“{html.escape(shown)}”</div>")
    for label in ("notes", "consent"):
        if voice.get(label):
            parts.append(f"<div class='vs-voice-{label}'><b>{label}:</b> {html.escape(voice[label])}</div>")
    return "".join(parts)


def saved_voice_choices(payload: dict[str, Any] | None) -> list[tuple[str, str]]:
    return [(f"{v['name']} ({v['id']})", v["id"]) for v in (payload or {}).get("voices", []) if v["kind"] == "saved"]


def follow_saved(payload: dict[str, Any] | None, current: str | None) -> gr.Dropdown:
    options = saved_voice_choices(payload)
    ids = [value for _, value in options]
    return gr.Dropdown(choices=options, value=current if current in ids else (ids[0] if ids else None))


# --- the tab ------------------------------------------------------------------------------
def build_voices_tab(manager: EngineManager, voices: gr.JSON, handlers: VoiceHandlers) -> None:
    with gr.Tab("Voices", id="voices") as tab:
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=3):
                _voice_list(handlers, voices)
            with gr.Column(scale=2):
                _add_form(manager, handlers, voices)
                _manage_form(handlers, voices)
    # Others may have saved or deleted voices meanwhile: the list is read again on each visit.
    tab.select(handlers.refresh_list, outputs=voices, api_visibility="private", concurrency_limit=None)


def _voice_list(handlers: VoiceHandlers, voices: gr.JSON) -> None:
    with gr.Row(equal_height=True):  # a heading with its button at the end, not a full-width strip
        gr.Markdown("**Your voices and the built-in presets**", elem_classes=["vs-voices-heading"])
        refresh = gr.Button("↻ Refresh list", size="sm", scale=0, min_width=130, elem_id="voice-refresh")
    refresh.click(handlers.voices, outputs=voices, api_name="voices", concurrency_limit=None)

    @gr.render(inputs=voices, triggers=[voices.change])
    def show(payload: dict[str, Any] | None) -> None:
        for voice in (payload or {}).get("voices", []):
            with gr.Group(elem_classes=["vs-voice"]):
                gr.HTML(voice_card(voice), elem_id=f"voice-card-{voice['id']}")
                if voice["kind"] != "saved":
                    continue
                try:
                    clip = handlers.library.reference_audio(voice["id"])
                except InputError as exc:  # removed meanwhile, or its clip is broken: say so in place
                    gr.Markdown(html.escape(str(exc)))
                    continue
                gr.Audio(value=(clip.sample_rate, clip.samples), interactive=False, show_label=False,
                         buttons=["download"], key=f"voice-audio-{voice['id']}")


def _add_form(manager: EngineManager, handlers: VoiceHandlers, voices: gr.JSON) -> None:
    with gr.Accordion("Add a voice", open=True):
        name = gr.Textbox(label="Name", placeholder="e.g. Maria", elem_id="voice-name")
        reference = gr.Audio(label="Reference clip (3-12 s of clear speech)", sources=["upload", "microphone"],
                             type="filepath", elem_id="voice-reference")
        transcript = gr.Textbox(label="Transcript of the clip (F5-TTS needs it)", lines=2, elem_id="voice-transcript")
        language = gr.Dropdown([("(not set)", "")] + choices.language_choices(manager), value="",
                               label="Language spoken in the clip", allow_custom_value=True, elem_id="voice-language")
        with gr.Accordion("Notes and consent", open=False):
            notes = gr.Textbox(label="Notes", lines=2, elem_id="voice-notes")
            consent = gr.Textbox(label="Licence or consent (who agreed to this voice being cloned)",
                                 elem_id="voice-consent")
        save = gr.Button("Save voice", variant="primary", elem_id="voice-save")
        saved = gr.JSON(label="Saved", visible=False)
    save.click(handlers.voice_save, inputs=[name, reference, transcript, language, notes, consent], outputs=saved,
               api_name="voice_save", concurrency_id="voices").success(
        handlers.refresh_list, outputs=voices, api_visibility="private", concurrency_limit=None)


def _manage_form(handlers: VoiceHandlers, voices: gr.JSON) -> None:
    with gr.Accordion("Delete, export, import", open=True):
        picked = gr.Dropdown([], label="Saved voice", allow_custom_value=True, elem_id="voice-pick")
        with gr.Row():
            ask_delete = gr.Button("Delete…", variant="stop", elem_id="voice-delete")
            export = gr.Button("Export", elem_id="voice-export")
        with gr.Group(visible=False, elem_id="voice-delete-confirm") as confirm:
            question = gr.HTML(elem_id="voice-delete-question")
            with gr.Row():
                really = gr.Button("Yes, delete it", variant="stop", elem_id="voice-delete-yes")
                cancel = gr.Button("Cancel", elem_id="voice-delete-cancel")
        # Shown once there is something in them (no empty boxes between the forms).
        exported = gr.File(label="Voice file", interactive=False, visible=False, elem_id="voice-export-file")
        voice_file = gr.File(label="Import a voice file (.voice.zip)", file_types=[".zip"], type="filepath",
                             height=130, elem_id="voice-import-file")
        import_button = gr.Button("Import", elem_id="voice-import")
        result = gr.JSON(label="Last change", visible=False, elem_id="voice-result")

    def ask(voice_id: str | None):
        record = handlers.library.record((voice_id or "").strip())
        if record is None:
            raise gr.Error("choose a saved voice to delete", title="Bad input", print_exception=False)
        text = (f"Delete <b>{html.escape(record.name)}</b> (<code>{record.id}</code>)? Its clip and caches are "
                "removed; requests already using it finish. This cannot be undone.")
        return gr.Group(visible=True), text

    voices.change(follow_saved, inputs=[voices, picked], outputs=picked, api_visibility="private",
                  concurrency_limit=None)
    ask_delete.click(ask, inputs=picked, outputs=[confirm, question], api_visibility="private",
                     concurrency_limit=None)
    cancel.click(lambda: gr.Group(visible=False), outputs=confirm, api_visibility="private", concurrency_limit=None)
    deleted = really.click(handlers.voice_delete, inputs=picked, outputs=result, api_name="voice_delete",
                           concurrency_id="voices")
    deleted.success(lambda: gr.Group(visible=False), outputs=confirm, api_visibility="private",
                    concurrency_limit=None)
    deleted.success(handlers.refresh_list, outputs=voices, api_visibility="private", concurrency_limit=None)
    exported_event = export.click(handlers.voice_export, inputs=picked, outputs=exported, api_name="voice_export",
                                  concurrency_id="voices")
    exported_event.success(lambda: gr.File(visible=True), outputs=exported, api_visibility="private",
                           concurrency_limit=None)
    imported = import_button.click(handlers.voice_import, inputs=voice_file, outputs=result, api_name="voice_import",
                                   concurrency_id="voices")
    imported.success(handlers.refresh_list, outputs=voices, api_visibility="private", concurrency_limit=None)
    for changed in (deleted, imported):
        changed.success(lambda: gr.JSON(visible=True), outputs=result, api_visibility="private",
                        concurrency_limit=None)


# --- "Save this voice" in Cloning -------------------------------------------------------
def save_from_cloning(handlers: VoiceHandlers, voices: gr.JSON, reference: gr.Audio, transcript: gr.Textbox,
                      language: gr.Dropdown, result: gr.JSON) -> None:
    """A name box and a button under the cloning result: saves that reference and transcript."""
    with gr.Group(visible=False, elem_id="clone-save-voice") as group:
        name = gr.Textbox(label="Save this voice as", placeholder="e.g. Maria", elem_id="clone-save-name")
        button = gr.Button("Save this voice", elem_id="clone-save-button")
        saved = gr.JSON(label="Saved", visible=False)
    result.change(lambda metadata: gr.Group(visible=bool(metadata)), inputs=result, outputs=group,
                  api_visibility="private", concurrency_limit=None)
    button.click(handlers.save_cloned_voice, inputs=[name, reference, transcript, language], outputs=saved,
                 api_visibility="private", concurrency_id="voices").success(
        handlers.refresh_list, outputs=voices, api_visibility="private", concurrency_limit=None)
