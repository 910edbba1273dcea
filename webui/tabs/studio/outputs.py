"""The Studio's inputs and outputs as the page holds them: form values in, files and History out.

Plain functions: the form's values as ``DubOptions``, an upload's path, a project's
exported files as the page's track, video, downloads and report (fresh after a render, or
read back from the project after a reload), and a finished track as a History entry.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gradio as gr

from dubbing import DubOptions, Studio
from dubbing.project import Project
from engines import InputError, SynthesisRequest

logger = logging.getLogger("voice_studio.webui.studio")

# The exports offered for download, in order (a video project's dubbed mix and source subtitles too).
DOWNLOADS = ("track", "track_wav", "track_flac", "track_mp3", "voice_track", "stems", "subtitles", "dubbed_subtitles",
             "source_subtitles", "report", "video")


def options_from_form(language: str, voice: str, engine: str, profile: str | None, speaker_voices: Any,
                      fit: str | None, keep_original: bool = False, keep_original_track: bool = False) -> DubOptions:
    return DubOptions(language=language or "", voice=voice or "female_generic", engine=engine or "f5tts",
                      quality_profile=profile or None, speaker_voices=speaker_voices or {}, fit=fit or "fit",
                      keep_original_audio=bool(keep_original), keep_original_track=bool(keep_original_track))


def speaker_map_text(project: Project) -> str:
    voices = project.settings.speaker_voices
    return "\n".join(f"{s}={voices.get(s, project.settings.default_voice)}" for s in project.speakers())


def saved_outputs(studio: Studio, project: Project) -> dict[str, Any]:
    """The project's last exports on disk: {track, video, downloads, report} (None where missing)."""
    paths = {k: studio.store.out_path(project, v) for k, v in (project.outputs or {}).items()}
    paths = {k: p for k, p in paths.items() if p.is_file()}
    track = paths.get("track") or paths.get("track_wav")        # a video project's mix, else the voice track
    return {"track": str(track) if track else None, "video": str(paths["video"]) if "video" in paths else None,
            "downloads": [str(paths[k]) for k in DOWNLOADS if k in paths] or None, "report": project.report}


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


def record_history(recorder, project: Project, report: dict[str, Any], track: str | Path | None) -> None:
    """The finished track as a History entry (mode ``studio``), pointing back to its project."""
    if recorder is None or not track:
        return
    import soundfile as sf

    info = sf.info(str(track))
    totals = report["totals"]
    engines = totals.get("engines_used") or {}
    used = max(engines, key=engines.get) if engines else project.settings.engine
    fallbacks = [line for line in report["lines"] if line.get("engine_fallback")]
    metadata = {
        "mode": "studio", "project_id": project.id, "tts_engine_requested": project.settings.engine,
        "tts_engine_used": used, "engine_fallback": bool(fallbacks),
        "fallback_reason": fallbacks[0]["fallback_reason"] if fallbacks else None,
        "quality_profile_requested": project.settings.quality_profile,
        "quality_profile_used": next((line.get("quality_profile_used") for line in report["lines"]
                                      if line.get("quality_profile_used")), project.settings.quality_profile),
        "quality_profile_mapped": False, "language": project.settings.language,
        "duration_s": round(info.frames / info.samplerate, 3), "sample_rate": info.samplerate,
        "lines": totals["lines"], "fit_methods": totals["fit_methods"], "overruns": totals["overruns"],
    }
    request = SynthesisRequest(text=f"Studio project {project.name} ({project.id}): {totals['rendered']} of "
                                    f"{totals['lines']} lines", language=project.settings.language,
                               engine=project.settings.engine, voice_preset=project.settings.default_voice,
                               quality_profile=project.settings.quality_profile)
    try:
        recorder.save_wav_file(request, Path(track), metadata)
    except Exception as exc:  # the project itself is saved; a missing History entry is only reported
        logger.error("studio result not saved to the history", extra={"project_id": project.id, "error": str(exc)})
        gr.Warning(f"Not saved to the history: {exc}")
