"""A project's outputs: the timed track, per-line stems, adjusted subtitles, report, MP4.

All of them go to the project's ``out/`` folder, each written atomically; the track is
mixed from the lines' final takes on disk, so it can be rebuilt at any time (after a
restart, after one line was re-rendered) without rendering anything.
"""

from __future__ import annotations

import io
import json
import logging
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engines.storage import atomic_write, atomic_write_bytes

from . import media
from .project import Project, ProjectStore
from .report import build_report
from .subtitles import TimedLine, suffix_for, write_subtitles
from .track import SAMPLE_RATE, Placed, Track, mix_track, sequential_starts

logger = logging.getLogger("voice_studio.dubbing.export")


@dataclass
class Exported:
    files: dict[str, Path] = field(default_factory=dict)   # track_wav, track_flac, track_mp3, stems, subtitles, report, video
    report: dict[str, Any] = field(default_factory=dict)
    track: Track | None = None


def line_starts(project: Project) -> dict[int, float]:
    """Where each rendered line is placed: its cue's start; for a script, one after another."""
    done = [line for line in project.lines if line.status == "done" and line.result]
    if project.timed:
        return {line.index: line.start_ms / 1000 for line in done}
    starts = sequential_starts([line.result["duration_s"] for line in done])
    return {line.index: start for line, start in zip(done, starts)}


def build_track(project: Project, store: ProjectStore, target: Path) -> tuple[Track, dict[int, float]]:
    """Mix the lines' final takes into ``target`` (a WAV), each at its start."""
    starts = line_starts(project)
    placed = []
    for line in project.lines:
        if line.index not in starts:
            continue
        take = store.load_take(project, line.result["final_key"])
        if take is None:
            raise KeyError(f"line {line.index}'s audio is missing from the project; render it again")
        placed.append(Placed(line.index, starts[line.index], take[0]))
    if project.timed:
        length = max([line.end_ms / 1000 for line in project.lines] + [0.0])
    else:
        length = max([p.end_s for p in placed] + [0.0])
    if project.video:
        length = max(length, float(project.video["duration_s"]))
    return mix_track(placed, length, target), starts


def export_project(project: Project, store: ProjectStore, formats: tuple[str, ...] = ("wav",),
                   video: bool = True, render: dict[str, Any] | None = None) -> Exported:
    """Write every output of ``project`` (lines not rendered are silent and reported)."""
    for fmt in formats:
        if fmt not in media.AUDIO_FORMATS:
            raise ValueError(f"unknown track format {fmt!r}")
    base = _safe_name(project.name)
    out: dict[str, Path] = {"track_wav": store.out_path(project, f"{base}.track.wav")}
    track, starts = build_track(project, store, out["track_wav"])
    for fmt in dict.fromkeys(formats):
        if fmt != "wav":
            out[f"track_{fmt}"] = store.out_path(project, f"{base}.track.{fmt}")
            atomic_write(out[f"track_{fmt}"], lambda handle, fmt=fmt: media.encode_file(track.path, handle, fmt))
    out["stems"] = store.out_path(project, f"{base}.stems.zip")
    atomic_write(out["stems"], lambda handle: _write_stems(handle, project, store, starts))
    out["subtitles"] = store.out_path(project, f"{base}.dubbed{suffix_for(project.format)}")
    atomic_write_bytes(out["subtitles"], adjusted_subtitles(project, starts).encode("utf-8"))
    if video and project.video_file:
        out["video"] = store.out_path(project, f"{base}.dubbed.mp4")
        media.mux_video(store.path(project, project.video_file), out["track_wav"], out["video"],
                        keep_original=project.settings.keep_original_audio,
                        original_track=project.settings.keep_original_track, language=project.settings.language,
                        original_codec=(project.video or {}).get("audio_codec"))
    report = build_report(project, starts, track, render)
    out["report"] = store.out_path(project, f"{base}.report.json")
    atomic_write_bytes(out["report"], json.dumps(report, ensure_ascii=False, indent=1).encode("utf-8"))
    project.outputs = {kind: path.name for kind, path in out.items()}
    project.report = report
    store.save(project)
    logger.info("project exported", extra={"project_id": project.id, "outputs": sorted(out),
                                           "track_s": round(track.duration_s, 3)})
    return Exported(out, report, track)


def adjusted_subtitles(project: Project, starts: dict[int, float]) -> str:
    """What was spoken, when: each rendered line from where it was placed to where its audio ends."""
    lines = []
    for line in project.lines:
        if line.index not in starts:
            continue
        start_ms = int(round(starts[line.index] * 1000))
        end_ms = start_ms + max(1, int(round(line.result["duration_s"] * 1000)))
        lines.append(TimedLine(start_ms, end_ms, line.text, line.speaker))
    lines.sort(key=lambda t: t.start_ms)
    return write_subtitles(lines, project.format)


def _write_stems(handle, project: Project, store: ProjectStore, starts: dict[int, float]) -> None:
    """One 16-bit wav per rendered line, named by its number, time and speaker, plus an index.

    The wavs are stored, not deflated: PCM audio hardly compresses, and deflating ten minutes
    of it took a second of every export."""
    index = []
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED) as archive:
        for line in project.lines:
            if line.index not in starts:
                continue
            audio = store.load_take(project, line.result["final_key"])[0]
            speaker = _safe_name(line.speaker or "line")
            name = f"{line.index:04d}_{starts[line.index]:09.3f}s_{speaker}.wav"
            buffer = io.BytesIO()
            media.encode_audio(np.asarray(audio), buffer, "wav", SAMPLE_RATE)
            archive.writestr(name, buffer.getvalue())
            index.append({"file": name, "index": line.index, "start_s": round(starts[line.index], 3),
                          "speaker": line.speaker, "text": line.text})
        archive.writestr("stems.json", json.dumps(index, ensure_ascii=False, indent=1),
                         compress_type=zipfile.ZIP_DEFLATED)


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^\w.-]+", "_", name or "", flags=re.UNICODE).strip("._")
    return cleaned[:60] or "dub"
