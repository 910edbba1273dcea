"""What the Studio tab's buttons do: plain functions over ``dubbing.Studio``, Gradio only at the edges.

A render runs in a background thread that the handler watches, so the line table can
show each line's progress as it happens; Cancel stops the lines that have not started
(the ones in flight finish and are kept). Errors the service raises on purpose become
``gr.Error`` with their message; no server path or traceback reaches the page.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from dubbing import DubOptions, Studio
from dubbing.export import Exported
from dubbing.media import MediaError
from dubbing.project import Project
from dubbing.render import LineEvent
from engines import InputError, NoEngineAvailableError, SynthesisRequest, VoiceStudioError


logger = logging.getLogger("voice_studio.webui.studio")

POLL_S = 0.25


def ui_error(exc: Exception) -> gr.Error:
    title = {InputError: "Bad input", NoEngineAvailableError: "No engine available",
             MediaError: "Video or audio processing failed"}.get(type(exc), "Dubbing failed")
    return gr.Error(str(exc), title=title, print_exception=False)


@dataclass
class Run:
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class Runs:
    """Renders in progress, by project id (so Cancel, from any request, reaches the right one)."""

    def __init__(self):
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()

    def check_idle(self, project_id: str) -> None:
        with self._lock:
            run = self._runs.get(project_id)
            if run is not None and run.thread is not None and run.thread.is_alive():
                raise InputError("this project is already rendering: wait for it or press Cancel")

    def start(self, project_id: str) -> Run:
        with self._lock:
            run = self._runs.get(project_id)
            if run is not None and run.thread is not None and run.thread.is_alive():
                raise InputError("this project is already rendering: wait for it or press Cancel")
            run = self._runs[project_id] = Run()
            return run

    def cancel(self, project_id: str | None, wait_s: float = 120.0) -> bool:
        with self._lock:
            run = self._runs.get(project_id or "")
        if run is None:
            return False
        run.cancel.set()
        if run.thread is not None:
            run.thread.join(wait_s)  # the lines in flight finish and are saved
        return True


def options_from_form(language: str, voice: str, engine: str, profile: str | None, speaker_voices: Any,
                      fit: str | None, keep_original: bool = False) -> DubOptions:
    return DubOptions(language=language or "", voice=voice or "female_generic", engine=engine or "f5tts",
                      quality_profile=profile or None, speaker_voices=speaker_voices or {}, fit=fit or "fit",
                      keep_original_audio=bool(keep_original))


def speaker_map_text(project: Project) -> str:
    voices = project.settings.speaker_voices
    return "\n".join(f"{s}={voices.get(s, project.settings.default_voice)}" for s in project.speakers())


def output_values(exported: Exported | None, project: Project | None) -> tuple[Any, Any, Any, Any]:
    """(track, video, downloads, report) for the page."""
    if exported is None or project is None:
        return None, None, None, None
    files = exported.files
    downloads = [str(files[k]) for k in ("track_wav", "track_flac", "track_mp3", "stems", "subtitles", "report",
                                         "video") if k in files]
    video = str(files["video"]) if "video" in files else None
    return str(files["track_wav"]), video, downloads, exported.report


def saved_outputs(studio: Studio, project: Project) -> tuple[Any, Any, Any, Any]:
    """The outputs of the project's last export, as files on disk (after a reload or a restart)."""
    names = project.outputs or {}
    paths = {k: studio.store.out_path(project, v) for k, v in names.items()}
    if "track_wav" not in paths or not paths["track_wav"].is_file():
        return None, None, None, project.report
    downloads = [str(p) for p in paths.values() if p.is_file()]
    video = str(paths["video"]) if "video" in paths and paths["video"].is_file() else None
    return str(paths["track_wav"]), video, downloads, project.report


def record_history(recorder, project: Project, exported: Exported) -> None:
    """The finished track as a History entry (mode ``studio``), pointing back to its project."""
    if recorder is None or exported.track is None:
        return
    totals = exported.report["totals"]
    engines = totals.get("engines_used") or {}
    used = max(engines, key=engines.get) if engines else project.settings.engine
    fallbacks = [line for line in exported.report["lines"] if line.get("engine_fallback")]
    metadata = {
        "mode": "studio", "project_id": project.id, "tts_engine_requested": project.settings.engine,
        "tts_engine_used": used, "engine_fallback": bool(fallbacks),
        "fallback_reason": fallbacks[0]["fallback_reason"] if fallbacks else None,
        "quality_profile_requested": project.settings.quality_profile,
        "quality_profile_used": next((line.get("quality_profile_used") for line in exported.report["lines"]
                                      if line.get("quality_profile_used")), project.settings.quality_profile),
        "quality_profile_mapped": False, "language": project.settings.language,
        "duration_s": round(exported.track.duration_s, 3), "sample_rate": exported.track.sample_rate,
        "lines": totals["lines"], "fit_methods": totals["fit_methods"], "overruns": totals["overruns"],
    }
    request = SynthesisRequest(text=f"Studio project {project.name} ({project.id}): {totals['rendered']} of "
                                    f"{totals['lines']} lines", language=project.settings.language,
                               engine=project.settings.engine, voice_preset=project.settings.default_voice,
                               quality_profile=project.settings.quality_profile)
    try:
        recorder.save_wav_file(request, exported.track.path, metadata)
    except Exception as exc:  # the project itself is saved; a missing History entry is only reported
        logger.error("studio result not saved to the history", extra={"project_id": project.id, "error": str(exc)})
        gr.Warning(f"Not saved to the history: {exc}")


def watch_render(studio: Studio, runs: Runs, project: Project, indices: list[int] | None,
                 on_update: Callable[[dict[int, tuple[str, str]], int, int], Any]) -> Iterator[Any]:
    """Render in a thread; yield ``on_update(live statuses, done, total)`` as lines move; returns the summary."""
    run = runs.start(project.id)
    events: queue.Queue[LineEvent] = queue.Queue()
    outcome: dict[str, Any] = {}
    wanted = indices if indices is not None else [line.index for line in project.lines]
    live = {index: ("queued", "") for index in wanted}

    def work() -> None:
        try:
            with studio.lock(project.id):
                outcome["summary"] = studio.render(project, indices, on_line=events.put, cancel=run.cancel)
        except Exception as exc:  # handed to the watching handler, which raises it on the page
            outcome["error"] = exc

    run.thread = threading.Thread(target=work, name=f"studio-render-{project.id}", daemon=True)
    run.thread.start()
    done = 0
    while run.thread.is_alive() or not events.empty():
        try:
            event = events.get(timeout=POLL_S)
        except queue.Empty:
            continue
        if event.status in ("done", "error", "unchanged", "cancelled"):
            live.pop(event.index, None)
            done += 1
        else:
            live[event.index] = (event.status, event.message)
        yield on_update(dict(live), done, len(wanted))
    run.thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["summary"]


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Errors the service raises on purpose, shown as ``gr.Error``."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except VoiceStudioError as exc:
            raise ui_error(exc) from exc

    return wrapper


def upload_path(value: Any) -> str | None:
    """A gr.File value (a path or a FileData-like object) as a path, or None."""
    if value is None:
        return None
    path = getattr(value, "path", None) or getattr(value, "name", None) or value
    return str(path) if str(path) else None


def subtitle_upload(value: Any) -> tuple[bytes, str, str]:
    """(bytes, suffix, name) of the uploaded subtitle file."""
    from dubbing.service import read_subtitle_file

    path = upload_path(value)
    if path is None:
        raise InputError("upload a subtitle file (.srt, .vtt, .ass/.ssa) or a .txt script first")
    return read_subtitle_file(path), Path(path).suffix.lower(), Path(path).stem
