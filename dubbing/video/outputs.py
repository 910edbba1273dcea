"""A dubbed video's outputs, in the project's ``out/`` folder.

The Studio's own export writes the voice track, the per-line stems, the dubbed
subtitles and the report; here come the soundtrack (the dub mixed over the background),
the MP4 (for a video), the source subtitles (what was said, when, by whom) and the
report's video part: each line's ``source_text``, ``done``/``failed`` per line, and what
each stage found and did (the separation's status, with the variable to set when it
was skipped).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engines.storage import atomic_write_bytes

from ..export import Exported, _safe_name
from ..project import Project
from ..subtitles import TimedLine, write_subtitles
from .state import STAGES, Cue, JobState
from .steps.extract import MediaInfo

LINE_STATUS = {"done": "done"}     # anything else (error, pending) is reported as failed


def source_subtitles(project: Project) -> str:
    """What the source said: each line's transcript at its cue's times, with its speaker."""
    lines = [TimedLine(line.start_ms, line.end_ms, line.source_text or "", line.speaker) for line in project.lines]
    return write_subtitles(lines, "srt")


def stage_summary(state: JobState) -> dict[str, Any]:
    """What each finished stage found and did (its bulky parts, cues and texts, left out)."""
    bulky = {"regions", "cues", "labels", "texts"}
    return {stage: {k: v for k, v in state.results[stage].items() if k not in bulky}
            for stage in STAGES if stage in state.results}


def video_report(report: dict[str, Any], project: Project, state: JobState, outputs: dict[str, str]) -> dict[str, Any]:
    """The Studio's report with each line's source text and done/failed, and the pipeline's findings."""
    by_index = {line.index: line for line in project.lines}
    lines = []
    for entry in report["lines"]:
        line = by_index[entry["index"]]
        lines.append({**entry, "source_text": line.source_text, "status": LINE_STATUS.get(entry["status"], "failed")})
    separation = state.results.get("separate", {})
    notes = []
    if separation.get("status") == "skipped":
        notes.append(f"no source separation: {separation['reason']}; the original sound is ducked under the dub. "
                     f"Set {separation['variable']} to a Demucs model to keep the background instead.")
    return {**report, "lines": lines, "kind": "video",
            "source_language": state.results.get("transcribe", {}).get("language"),
            "speakers": state.results.get("speakers", {}).get("speakers"),
            "voices": state.results.get("voices", {}).get("voices"),
            "separation": separation, "pipeline": stage_summary(state), "notes": notes, "outputs": outputs}


def write_outputs(job, info: MediaInfo, cues: list[Cue], mix) -> dict[str, Any]:
    """Export, mix, mux and report; returns the mix stage's result (the output files by kind)."""
    studio, store, project, state = job.models.studio, job.models.store, job.project, job.state
    render = state.results.get("render")
    exported: Exported = studio.export(project, ("wav",), None, video=False)
    if render is not None:
        exported.report["render"] = render
    job.report(0.3, "mixing the dub over the background")
    frames = int(round(info.duration_s * mix.RATE))
    mixed = mix.mix(state.pipeline_dir, exported.files["track_wav"], cues, frames, state.results["separate"])
    base = _safe_name(project.name)
    files: dict[str, Path] = {"voice_track": exported.files["track_wav"], "stems": exported.files["stems"],
                              "dubbed_subtitles": exported.files["subtitles"], "report": exported.files["report"]}
    files["track"] = store.out_path(project, f"{base}.dubbed.wav")
    files["track"].parent.mkdir(parents=True, exist_ok=True)
    state.file(mixed["mix"]).replace(files["track"])
    files["source_subtitles"] = store.out_path(project, f"{base}.source.srt")
    atomic_write_bytes(files["source_subtitles"], source_subtitles(project).encode("utf-8"))
    if info.has_video:
        job.report(0.7, "muxing the MP4")
        files["video"] = mix.mux(job.source, files["track"], store.out_path(project, f"{base}.dubbed.mp4"),
                                 project.settings.language, info.audio_codec)
    outputs = {kind: path.name for kind, path in files.items()}
    state.results["mix"] = mixed        # in the report's pipeline summary; recorded by the caller
    report = video_report(exported.report, project, state, outputs)
    atomic_write_bytes(files["report"], json.dumps(report, ensure_ascii=False, indent=1).encode("utf-8"))
    project.outputs = outputs
    project.report = report
    store.save(project)
    return {**mixed, "files": outputs}
