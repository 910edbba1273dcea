"""The plain function behind the Gradio API ``/dub_video`` (and the Studio tab's "Start from a video").

A UI handler calls ``dub_video`` and only turns the ``VideoDubOutputs`` into its
components: file paths for the track, the report, the two subtitle files and the MP4.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from engines.errors import InputError

from .options import TRANSLATE_FILE, TRANSLATE_MODEL, TRANSLATE_NONE, VideoDubOptions, parse_speakers
from .pipeline import Progress, VideoDubber

TRANSLATION_CHOICES = (TRANSLATE_MODEL, TRANSLATE_FILE, TRANSLATE_NONE)


@dataclass(frozen=True)
class VideoDubOutputs:
    project_id: str
    track: str                      # the dubbed soundtrack (WAV)
    report: str                     # the JSON report
    source_subtitles: str           # what the source said (SRT)
    dubbed_subtitles: str           # what the dub says (SRT)
    video: str | None               # the dubbed MP4; None for an audio file
    failed: dict[int, str]          # lines that could not be rendered (silent in the outputs)
    summary: dict[str, Any]         # the report's totals, languages, speakers, separation status, notes


def parse_seed(value: Any) -> int | None:
    """An empty value: None (one is drawn); else a whole number from 0 to 2**31 - 1."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        seed = int(float(str(value).strip()))
    except ValueError as exc:
        raise InputError(f"seed must be a whole number, got {value!r}") from exc
    if not 0 <= seed < 2**31:
        raise InputError(f"seed must be from 0 to {2**31 - 1}, got {seed}")
    return seed


def options_from_form(language: str, source_language: str = "auto", speakers: Any = "auto",
                      translation: str = TRANSLATE_MODEL, translation_file: str | None = None,
                      engine: str = "f5tts", profile: str | None = None, name: str = "",
                      seed: Any = None) -> VideoDubOptions:
    """The options as a form or an API call gives them (``translation``: model | file | none)."""
    choice = (translation or TRANSLATE_MODEL).strip().lower()
    if choice not in TRANSLATION_CHOICES:
        raise InputError(f"translation must be one of {', '.join(TRANSLATION_CHOICES)}, got {translation!r}")
    if choice == TRANSLATE_FILE:
        if not translation_file:
            raise InputError("translation 'file' needs a translated subtitle file")
        choice = str(translation_file)
    return VideoDubOptions(language=language, source_language=source_language or "auto",
                           speakers=parse_speakers(speakers), translation=choice, engine=engine or "f5tts",
                           quality_profile=profile or None, name=name or "", seed=parse_seed(seed))


def dub_video(dubber: VideoDubber, video: str | None, language: str, source_language: str = "auto",
              speakers: Any = "auto", translation: str = TRANSLATE_MODEL, translation_file: str | None = None,
              engine: str = "f5tts", profile: str | None = None, on_progress: Progress | None = None,
              cancel: threading.Event | None = None, seed: Any = None) -> VideoDubOutputs:
    """Dub ``video`` (a path) end to end, or resume its project; ``InputError`` for bad input."""
    if not video:
        raise InputError("no video: upload the video (or audio file) to dub")
    options = options_from_form(language, source_language, speakers, translation, translation_file, engine, profile,
                                seed=seed)
    result = dubber.dub(video, options, on_progress, cancel)
    report = result.report
    summary = {key: report.get(key) for key in ("totals", "source_language", "speakers", "notes")}
    summary["separation"] = (report.get("separation") or {}).get("status")
    return outputs_of(result, summary)


def outputs_of(result, summary: dict[str, Any] | None = None) -> VideoDubOutputs:
    """A finished ``VideoDubResult`` as the API's outputs."""
    files = result.files
    return VideoDubOutputs(result.project.id, str(files["track"]), str(files["report"]),
                           str(files["source_subtitles"]), str(files["dubbed_subtitles"]),
                           str(files["video"]) if "video" in files else None, result.failed, summary or {})
