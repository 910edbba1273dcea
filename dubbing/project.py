"""Dubbing projects on disk: ``$VOICE_STUDIO_OUTPUT_DIR/projects/<id>/``.

One folder per project::

    project.json     settings and the line table (cues, edits, each line's fit and result)
    source.<ext>     the subtitles as uploaded
    video.<ext>      the uploaded video, when there is one
    audio/<key>.wav  every take ever rendered (float32), named by its cache key, with
    audio/<key>.json its metadata, written after the audio (a take exists once both do)
    out/             the exports: track, stems zip, adjusted subtitles, report, MP4

Every file is written with ``engines.storage.atomic_write``, so a reader never sees half
of one. Takes are never overwritten or deleted by a re-render: a line that changes gets
a new key, the other lines keep their files byte for byte, and a render interrupted at
any moment (a crash, a restart) finds what it had already made in ``audio/``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from engines.storage import atomic_write, atomic_write_bytes

from .subtitles import Cue, ParsedSubtitles

logger = logging.getLogger("voice_studio.dubbing.project")

PROJECT_FORMAT = "voice-studio-dubbing/1"
PROJECTS_DIRNAME = "projects"
PROJECT_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")
KEY = re.compile(r"^[0-9a-f]{24}$")
FIT_MODES = ("fit", "natural")


@dataclass
class Settings:
    language: str
    default_voice: str
    engine: str
    quality_profile: str | None = None
    seed: int = 0
    fit: str = "fit"                                   # fit | natural
    speaker_voices: dict[str, str] = field(default_factory=dict)
    keep_original_audio: bool = False                  # with a video: duck the original under the voice
    keep_original_track: bool = False                  # with a video: the original sound as a second audio track


@dataclass
class Line:
    index: int
    start_ms: int | None
    end_ms: int | None
    text: str
    speaker: str | None = None
    voice: str | None = None        # this line's own voice; None: the speaker's, else the default
    status: str = "pending"         # pending | done | error
    error: str | None = None
    result: dict[str, Any] | None = None   # the last render: fit, take keys, engine used ...
    source_text: str | None = None  # what the source said (a dubbed video's transcript), beside what is spoken
    seed: int | None = None         # this line's own seed (a new take); None: the project's
    takes: list[dict[str, Any]] = field(default_factory=list)   # the kept takes, oldest first (``takes``)
    take: int | None = None         # the number of the take the track uses

    @property
    def slot_s(self) -> float | None:
        if self.start_ms is None or self.end_ms is None:
            return None
        return (self.end_ms - self.start_ms) / 1000


@dataclass
class Project:
    id: str
    name: str
    created_at: str
    format: str
    settings: Settings
    lines: list[Line]
    skipped: list[dict] = field(default_factory=list)
    source_file: str = "source.srt"
    video_file: str | None = None
    video: dict[str, Any] | None = None
    outputs: dict[str, str] = field(default_factory=dict)   # kind -> file name under out/
    report: dict[str, Any] | None = None
    subtitle_encoding: str | None = None                    # how the uploaded file was read (utf-8, gb18030...)

    def voice_for(self, line: Line) -> str:
        if line.voice:
            return line.voice
        if line.speaker and line.speaker in self.settings.speaker_voices:
            return self.settings.speaker_voices[line.speaker]
        return self.settings.default_voice

    @property
    def timed(self) -> bool:
        return self.format != "script"

    def line(self, index: int) -> Line:
        for line in self.lines:
            if line.index == index:
                return line
        raise KeyError(index)

    def speakers(self) -> list[str]:
        seen: list[str] = []
        for line in self.lines:
            if line.speaker and line.speaker not in seen:
                seen.append(line.speaker)
        return seen

    def to_dict(self) -> dict[str, Any]:
        return {"format_version": PROJECT_FORMAT, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Project":
        data = dict(data)
        data.pop("format_version", None)
        data["settings"] = Settings(**data["settings"])
        data["lines"] = [Line(**line) for line in data["lines"]]
        return cls(**data)


def lines_from_cues(cues: tuple[Cue, ...]) -> list[Line]:
    return [Line(cue.index, cue.start_ms, cue.end_ms, cue.text, cue.speaker) for cue in cues]


def cache_key(*parts: Any) -> str:
    """A take's name: a hash of everything that decides its audio."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]


class ProjectStore:
    """Projects under ``root`` (the output folder's ``projects/``); ids are checked, never paths."""

    def __init__(self, root: Path):
        self.root = Path(root)

    @classmethod
    def in_output_dir(cls, output_dir: Path) -> "ProjectStore":
        return cls(Path(output_dir) / PROJECTS_DIRNAME)

    # --- projects -----------------------------------------------------------------------
    def folder(self, project_id: str) -> Path:
        if not PROJECT_ID.match(project_id or ""):
            raise KeyError(f"no such project: {project_id!r}")
        return self.root / project_id

    def create(self, name: str, parsed: ParsedSubtitles, settings: Settings, source: bytes,
               source_suffix: str = ".srt", video: Path | None = None, video_info: dict | None = None) -> Project:
        now = datetime.now(timezone.utc)
        project_id = f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(4)}"
        folder = self.folder(project_id)
        source_file = "source" + (source_suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", source_suffix) else ".txt")
        atomic_write_bytes(folder / source_file, source)
        video_file = None
        if video is not None:
            suffix = video.suffix.lower() if re.fullmatch(r"\.[a-z0-9]{1,5}", video.suffix.lower()) else ".mp4"
            video_file = "video" + suffix
            with open(video, "rb") as src:
                atomic_write(folder / video_file, lambda handle: _copy(src, handle))
        project = Project(project_id, name[:120] or project_id, now.isoformat(), parsed.format, settings,
                          lines_from_cues(parsed.cues), list(parsed.skipped), source_file, video_file, video_info,
                          subtitle_encoding=parsed.encoding)
        self.save(project)
        logger.info("project created", extra={"project_id": project_id, "lines": len(project.lines),
                                              "format": parsed.format, "video": video_file is not None})
        return project

    def save(self, project: Project) -> None:
        data = json.dumps(project.to_dict(), ensure_ascii=False, indent=1).encode("utf-8")
        atomic_write_bytes(self.folder(project.id) / "project.json", data)

    def open(self, project_id: str) -> Project:
        path = self.folder(project_id) / "project.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise KeyError(f"no such project: {project_id}") from exc
        return Project.from_dict(data)

    def list(self) -> list[dict[str, Any]]:
        """Saved projects, newest first: id, name, created_at, lines, rendered."""
        if not self.root.is_dir():
            return []
        found = []
        for folder in sorted(self.root.iterdir(), reverse=True):
            if not PROJECT_ID.match(folder.name) or not (folder / "project.json").is_file():
                continue
            try:
                project = self.open(folder.name)
            except (OSError, ValueError, KeyError, TypeError) as exc:  # a damaged project is skipped, not fatal
                logger.warning("unreadable project skipped", extra={"project_id": folder.name, "error": str(exc)})
                continue
            found.append({"id": project.id, "name": project.name, "created_at": project.created_at,
                          "lines": len(project.lines), "rendered": sum(line.status == "done" for line in project.lines),
                          "video": project.video_file is not None})
        return found

    def path(self, project: Project, name: str) -> Path:
        return self.folder(project.id) / name

    def out_path(self, project: Project, name: str) -> Path:
        return self.folder(project.id) / "out" / name

    # --- takes --------------------------------------------------------------------------
    def take_path(self, project: Project, key: str) -> Path:
        if not KEY.match(key):
            raise KeyError(f"bad take key {key!r}")
        return self.folder(project.id) / "audio" / f"{key}.wav"

    def load_take(self, project: Project, key: str) -> tuple[np.ndarray, dict[str, Any]] | None:
        """A take's audio and metadata, or None when it was never finished."""
        import soundfile as sf

        wav = self.take_path(project, key)
        meta = wav.with_suffix(".json")
        if not (wav.is_file() and meta.is_file()):
            return None
        audio, _ = sf.read(wav, dtype="float32")
        return audio, json.loads(meta.read_text(encoding="utf-8"))

    def save_take(self, project: Project, key: str, audio: np.ndarray, metadata: dict[str, Any]) -> Path:
        """Audio first, then its metadata; an existing take is kept as it is (same key, same audio)."""
        import soundfile as sf

        wav = self.take_path(project, key)
        meta = wav.with_suffix(".json")
        if wav.is_file() and meta.is_file():
            return wav
        samples = np.asarray(audio, dtype=np.float32).reshape(-1)
        atomic_write(wav, lambda handle: sf.write(handle, samples, 24000, subtype="FLOAT", format="WAV"))
        atomic_write_bytes(meta, json.dumps(_jsonable(metadata), ensure_ascii=False).encode("utf-8"))
        return wav


def _copy(src, dst, chunk: int = 2**20) -> None:
    while True:
        data = src.read(chunk)
        if not data:
            return
        dst.write(data)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
