"""``Studio``: the one service the CLI, the Gradio API and the Studio tab call.

It checks the options (language, engine, profile, voices, fit), creates a project from
uploaded subtitles (and a video, probed first), applies edits from the line table,
renders the lines that changed and exports the outputs. Bad input raises
``InputError`` with a specific message before any work is done.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from engines import EngineManager, InputError, SynthesisRequest
from engines.json_input import parse_json
from engines.languages import normalize_language
from engines.storage import output_dir

from . import media
from .export import Exported, export_project
from .project import FIT_MODES, Project, ProjectStore, Settings
from .render import LineCallback, Renderer, RenderSummary
from .subtitle_encoding import AUTO, MAX_SUBTITLE_BYTES
from .subtitle_formats import SUBTITLE_SUFFIXES
from .subtitles import Limits, format_time, parse_subtitles, parse_time

logger = logging.getLogger("voice_studio.dubbing")

MAX_SPEAKER_MAP_BYTES = 64 * 1024


@dataclass(frozen=True)
class DubOptions:
    language: str
    voice: str
    engine: str = "f5tts"
    quality_profile: str | None = None
    speaker_voices: Mapping[str, str] = field(default_factory=dict)
    fit: str = "fit"
    keep_original_audio: bool = False
    seed: int | None = None


def parse_speaker_voices(value: Any) -> dict[str, str]:
    """A speaker→voice map from a dict, a JSON object, or ``Name=voice`` pairs (comma or newline)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            value = parse_json(text, "the speaker→voice map", max_bytes=MAX_SPEAKER_MAP_BYTES)
        else:
            pairs = {}
            for item in re.split(r"[,\n]", text):
                if not item.strip():
                    continue
                speaker, sep, voice = item.partition("=")
                if not sep or not speaker.strip() or not voice.strip():
                    raise InputError(f"speaker voice {item.strip()!r} must be Name=voice")
                pairs[speaker.strip()] = voice.strip()
            value = pairs
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) and v.strip()
                                                 for k, v in value.items()):
        raise InputError('speaker voices must map speaker names to voice names, e.g. {"Maria": "female_generic"}')
    return {k.strip(): v.strip() for k, v in value.items()}


def read_subtitle_file(path: str | os.PathLike) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise InputError("subtitle file is missing: upload an .srt, .vtt, .ass/.ssa or .txt file")
    if path.stat().st_size > MAX_SUBTITLE_BYTES:
        raise InputError(f"subtitle file is {path.stat().st_size / 2**20:.1f} MB; "
                         f"the limit is {MAX_SUBTITLE_BYTES // 2**20} MB")
    return path.read_bytes()


class Studio:
    def __init__(self, manager: EngineManager, store: ProjectStore, synthesize=None, threads: int | None = None,
                 environ: Mapping[str, str] | None = None):
        self.manager = manager
        self.store = store
        self.environ = os.environ if environ is None else environ
        self.renderer = Renderer(manager, store, synthesize, threads or 16)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    @classmethod
    def from_env(cls, manager: EngineManager, environ: Mapping[str, str] | None = None, **kwargs) -> "Studio":
        env = os.environ if environ is None else environ
        return cls(manager, ProjectStore.in_output_dir(output_dir(env)), environ=env, **kwargs)

    def lock(self, project_id: str) -> threading.Lock:
        """One render or edit of a project at a time (two tabs on one project wait for each other)."""
        with self._locks_guard:
            return self._locks.setdefault(project_id, threading.Lock())

    # --- options ------------------------------------------------------------------------
    def settings_for(self, options: DubOptions, speakers: Iterable[str], first_text: str) -> Settings:
        if options.fit not in FIT_MODES:
            raise InputError(f"fit {options.fit!r} is unknown; use {' or '.join(FIT_MODES)}")
        language = normalize_language(options.language)
        voice = (options.voice or "").strip() or "female_generic"
        # Language, engine, profile and default voice, checked as the manager checks a request.
        self.manager.validate(SynthesisRequest(text=first_text, language=language, engine=options.engine,
                                               voice_preset=voice, quality_profile=options.quality_profile or None))
        speaker_voices = parse_speaker_voices(options.speaker_voices)
        known = list(speakers)
        for speaker, name in speaker_voices.items():
            if speaker not in known:
                raise InputError(f"speaker {speaker!r} in the voice map is not in the subtitles "
                                 f"(speakers: {', '.join(known) or 'none'})")
            try:
                self.manager.voices.resolve(name)
            except InputError as exc:
                raise InputError(f"unknown voice {name!r} for speaker {speaker!r}: {exc}") from exc
        seed = options.seed if options.seed is not None else secrets.randbelow(2**31)
        return Settings(language=language, default_voice=voice, engine=options.engine,
                        quality_profile=options.quality_profile or None, seed=int(seed), fit=options.fit,
                        speaker_voices=speaker_voices, keep_original_audio=bool(options.keep_original_audio))

    # --- projects -----------------------------------------------------------------------
    def create_project(self, subtitles: bytes, options: DubOptions, name: str = "",
                       video: str | os.PathLike | None = None, source_suffix: str | None = None,
                       encoding: str | None = AUTO) -> Project:
        """A project from an uploaded subtitle file: its suffix (``.srt``...; None: the content decides which
        format it is) and ``encoding`` (``auto`` or the file's encoding by name) say how it is read."""
        parsed = parse_subtitles(subtitles, Limits.from_env(self.environ), suffix=source_suffix, encoding=encoding)
        video_info = None
        if video:
            info = media.probe_video(video, self.environ)
            video_info = asdict(info)
            last_end = max((c.end_ms or 0) for c in parsed.cues) / 1000
            video_info["cues_past_end_s"] = round(max(0.0, last_end - info.duration_s), 3)
        settings = self.settings_for(options, parsed.speakers, parsed.cues[0].text)
        suffix = (source_suffix or "").lower()
        if suffix not in SUBTITLE_SUFFIXES:
            suffix = {"script": ".txt"}.get(parsed.format, f".{parsed.format}")
        return self.store.create(name or "dub", parsed, settings, subtitles, suffix,
                                 Path(video) if video else None, video_info)

    def open(self, project_id: str) -> Project:
        try:
            return self.store.open(project_id)
        except KeyError as exc:
            raise InputError(f"no saved project {project_id!r}") from exc

    def update_lines(self, project: Project, rows: Iterable[Mapping[str, Any]]) -> list[int]:
        """Apply edits from the line table (index, start, end, speaker, voice, text); returns the lines changed.

        Times are ``HH:MM:SS.mmm``; a script project's times are computed, so edits to them are ignored.
        """
        changed = []
        limits = Limits.from_env(self.environ)
        for row in rows:
            try:
                line = project.line(int(row["index"]))
            except (KeyError, ValueError, TypeError) as exc:
                raise InputError(f"row {row.get('index')!r} is not a line of this project") from exc
            text = " ".join(str(row.get("text", line.text)).split())
            if not text:
                raise InputError(f"line {line.index} has no text; every line needs something to speak")
            if len(text) > limits.max_cue_chars:
                raise InputError(f"line {line.index} has {len(text):,} characters; the limit is {limits.max_cue_chars:,}")
            start, end = line.start_ms, line.end_ms
            if project.timed:
                start = parse_time(row.get("start", format_time(start, ".")))
                end = parse_time(row.get("end", format_time(end, ".")))
                if end <= start:
                    raise InputError(f"line {line.index}: end {format_time(end, '.')} is not after "
                                     f"start {format_time(start, '.')} (a 0-length or negative slot)")
                limits.check_end(end, f"line {line.index}")
            speaker = (str(row.get("speaker") or "").strip() or None)
            voice = (str(row.get("voice") or "").strip() or None)
            if voice == project.settings.speaker_voices.get(speaker or "", project.settings.default_voice):
                voice = None  # the table shows the inherited voice; only a different one is the line's own
            if voice is not None:
                try:
                    self.manager.voices.resolve(voice)
                except InputError as exc:
                    raise InputError(f"unknown voice {voice!r} on line {line.index}: {exc}") from exc
            new = (start, end, text, speaker, voice)
            if new != (line.start_ms, line.end_ms, line.text, line.speaker, line.voice):
                line.start_ms, line.end_ms, line.text, line.speaker, line.voice = new
                changed.append(line.index)
        if changed:
            self.store.save(project)
        return changed

    def apply_options(self, project: Project, options: DubOptions) -> bool:
        """New settings for an existing project (its seed kept); returns whether anything changed.

        Lines whose inputs change (another engine, voice, profile...) then render again.
        """
        settings = self.settings_for(replace(options, seed=project.settings.seed), project.speakers(),
                                     project.lines[0].text)
        if settings == project.settings:
            return False
        project.settings = settings
        self.store.save(project)
        return True

    def render(self, project: Project, indices: Iterable[int] | None = None, on_line: LineCallback | None = None,
               cancel: threading.Event | None = None) -> RenderSummary:
        return self.renderer.render(project, indices, on_line, cancel)

    def export(self, project: Project, formats: tuple[str, ...] = ("wav",), summary: RenderSummary | None = None,
               video: bool = True) -> Exported:
        return export_project(project, self.store, formats, video, summary.to_dict() if summary else None)

    def dub(self, subtitles: bytes, options: DubOptions, video: str | os.PathLike | None = None, name: str = "",
            formats: tuple[str, ...] = ("wav",), on_line: LineCallback | None = None,
            cancel: threading.Event | None = None, source_suffix: str | None = None,
            encoding: str | None = AUTO) -> tuple[Project, Exported, RenderSummary]:
        """Subtitles in, every output out: create, render all, export."""
        project = self.create_project(subtitles, options, name, video, source_suffix, encoding)
        with self.lock(project.id):
            summary = self.render(project, on_line=on_line, cancel=cancel)
            exported = self.export(project, formats, summary)
        return project, exported, summary
