"""The JSON report of a dubbing project: every line's fit and engine, and the totals."""

from __future__ import annotations

from collections import Counter
from typing import Any

from .editor import takes
from .fitting import METHODS
from .project import Project
from .track import Track

LINE_FIELDS = ("index", "start", "end", "speaker", "voice", "text", "tts_engine_used", "engine_fallback",
               "fallback_reason", "natural_s", "duration_s", "placed_start", "fit_method", "speed_factor",
               "overrun_s")


def line_entry(project: Project, line, placed_start: float | None) -> dict[str, Any]:
    result = line.result if line.status == "done" else None
    r = result or {}
    return {
        "index": line.index,
        "start": line.start_ms / 1000 if line.start_ms is not None else None,
        "end": line.end_ms / 1000 if line.end_ms is not None else None,
        "speaker": line.speaker,
        "voice": project.voice_for(line),
        "text": line.text,
        "tts_engine_used": r.get("tts_engine_used"),
        "engine_fallback": r.get("engine_fallback"),
        "fallback_reason": r.get("fallback_reason"),
        "natural_s": r.get("natural_s"),
        "natural_from": r.get("natural_from"),
        "duration_s": r.get("duration_s"),
        "placed_start": round(placed_start, 3) if placed_start is not None and result else None,
        "fit_method": r.get("fit_method"),
        "speed_factor": r.get("speed_factor"),
        "overrun_s": r.get("overrun_s"),
        "status": line.status,
        "error": line.error,
        "engine_factor": r.get("engine_factor"),
        "stretch_factor": r.get("stretch_factor"),
        "slot_s": r.get("slot_s"),
        "gap_s": r.get("gap_s"),
        "quality_profile_used": r.get("quality_profile_used"),
        "seed": r.get("seed"),
        "take": line.take if result else None,      # the kept take the track uses (``takes``)
        "takes": takes.summary(line),
    }


def build_report(project: Project, starts: dict[int, float], track: Track | None,
                 render: dict[str, Any] | None = None) -> dict[str, Any]:
    lines = [line_entry(project, line, starts.get(line.index)) for line in project.lines]
    done = [entry for entry in lines if entry["status"] == "done"]
    methods = Counter(entry["fit_method"] for entry in done)
    overlapping: dict[int, list[int]] = {}
    for overlap in (track.overlaps if track else ()):
        a, b = overlap["lines"]
        overlapping.setdefault(a, []).append(b)
        overlapping.setdefault(b, []).append(a)
    for entry in lines:
        entry["overlaps_with"] = sorted(overlapping.get(entry["index"], []))
    speeds = [entry["speed_factor"] for entry in done if entry["speed_factor"] is not None]
    totals = {
        "lines": len(lines),
        "rendered": len(done),
        "failed": sum(entry["status"] == "error" for entry in lines),
        "pending": sum(entry["status"] == "pending" for entry in lines),
        "skipped_empty_cues": len(project.skipped),
        "fit_methods": {method: methods.get(method, 0) for method in METHODS},
        "overruns": sum(1 for entry in done if (entry["overrun_s"] or 0) > 0),
        "overrun_s": round(sum(entry["overrun_s"] or 0 for entry in done), 3),
        "max_speed_factor": max(speeds) if speeds else None,
        "min_speed_factor": min(speeds) if speeds else None,
        "engine_fallbacks": sum(1 for entry in done if entry["engine_fallback"]),
        "engines_used": dict(Counter(entry["tts_engine_used"] for entry in done)),
        "overlaps": list(track.overlaps) if track else [],
        "track_duration_s": round(track.duration_s, 3) if track else None,
        "track_extended_s": track.extended_s if track else None,
        "mix_gain": track.mix_gain if track else None,
        "natural_speech_s": round(sum(entry["natural_s"] or 0 for entry in done), 3),
        "spoken_s": round(sum(entry["duration_s"] or 0 for entry in done), 3),
    }
    return {
        "project_id": project.id, "name": project.name, "format": project.format,
        "subtitle_encoding": project.subtitle_encoding,
        "language": project.settings.language, "engine": project.settings.engine,
        "quality_profile": project.settings.quality_profile, "default_voice": project.settings.default_voice,
        "speaker_voices": dict(project.settings.speaker_voices), "fit": project.settings.fit,
        "seed": project.settings.seed, "video": project.video, "skipped": list(project.skipped),
        "lines": lines, "totals": totals, "render": render,
    }
