"""What a timeline draws for a project: one lane per speaker, each line a clip with its waveform.

``timeline_data`` returns a JSON-able dict (no UI here): the project's length, the lanes
(each with its peaks: the loudest sample of every ``1 / PEAKS_PER_S`` s of the lines placed
in it, as base64 bytes 0-255, so a 10-minute lane is about 32 kB), and the clips (each
line's slot, where its audio ends, and whether it is done, stale, pending or failed, and
overrunning). A line's peaks are read once from its final take (takes never change under
a key) and cached, so redrawing after an edit costs only the lines that changed.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..export import line_starts
from ..project import Project, ProjectStore
from ..track import SAMPLE_RATE

PEAKS_PER_S = 40
NO_SPEAKER = "(no speaker)"
LABEL_WORDS = 6


@functools.lru_cache(maxsize=8192)
def _take_peaks(path: str) -> np.ndarray:
    """The loudest |sample| of each ``1 / PEAKS_PER_S`` s of a take on disk (float32, 0-1)."""
    import soundfile as sf

    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    mono = np.abs(audio).max(axis=1)
    step = max(1, rate // PEAKS_PER_S)
    buckets = -(-len(mono) // step)
    padded = np.zeros(buckets * step, dtype=np.float32)
    padded[:len(mono)] = mono
    return np.minimum(padded.reshape(buckets, step).max(axis=1), 1.0)


def line_peaks(store: ProjectStore, project: Project, final_key: str) -> np.ndarray | None:
    path = store.take_path(project, final_key)
    return _take_peaks(str(path)) if path.is_file() else None


def clip_status(line, current: bool) -> str:
    if line.status == "error":
        return "failed"
    if line.status != "done":
        return "pending"
    return "done" if current else "stale"


def _label(line) -> str:
    words = line.text.split()
    short = " ".join(words[:LABEL_WORDS]) + (" …" if len(words) > LABEL_WORDS else "")
    return f"{line.index} · {short}"


def timeline_data(project: Project, store: ProjectStore, current: Mapping[int, bool]) -> dict[str, Any]:
    """The lanes and clips of ``project``; ``current[index]`` is False for a line changed since its render."""
    starts = line_starts(project)
    lanes: list[str] = []
    for line in project.lines:
        name = line.speaker or NO_SPEAKER
        if name not in lanes:
            lanes.append(name)
    clips, ends = [], [0.0]
    for line in project.lines:
        result = line.result if line.status == "done" and line.result else None
        placed = starts.get(line.index)
        start = line.start_ms / 1000 if line.start_ms is not None else placed
        if start is None:   # an unrendered line of a script has no place yet
            continue
        end = line.end_ms / 1000 if line.end_ms is not None else start + (result or {}).get("duration_s", 0.0)
        audio_end = start + result["duration_s"] if result else None
        ends += [end, audio_end or 0.0]
        clips.append({"index": line.index, "lane": lanes.index(line.speaker or NO_SPEAKER),
                      "start": round(start, 3), "end": round(end, 3),
                      "audio_end": None if audio_end is None else round(audio_end, 3),
                      "status": clip_status(line, current.get(line.index, True)),
                      "overrun": bool(result and (result.get("overrun_s") or 0) > 0),
                      "take": line.take, "label": _label(line), "editable": project.timed})
    duration = max(ends + [float((project.video or {}).get("duration_s") or 0.0)])
    buckets = int(np.ceil(duration * PEAKS_PER_S)) + 1
    peaks = np.zeros((len(lanes), buckets), dtype=np.float32)
    for line in project.lines:
        if line.index not in starts:
            continue
        take = line_peaks(store, project, line.result["final_key"])
        if take is None:
            continue
        lane = peaks[lanes.index(line.speaker or NO_SPEAKER)]
        first = int(round(starts[line.index] * PEAKS_PER_S))
        span = take[: max(0, buckets - first)]
        lane[first:first + len(span)] = np.maximum(lane[first:first + len(span)], span)
    levels = np.round(peaks * 255).astype(np.uint8)
    voices = {line.speaker or NO_SPEAKER: project.voice_for(line) for line in project.lines}
    return {"project_id": project.id, "duration": round(duration, 3), "rate": PEAKS_PER_S,
            "sample_rate": SAMPLE_RATE, "timed": project.timed,
            "lanes": [{"name": name, "voice": voices.get(name), "peaks": base64.b64encode(levels[i].tobytes()).decode()}
                      for i, name in enumerate(lanes)],
            "clips": clips}


def peaks_from_base64(text: str) -> np.ndarray:
    """A lane's peaks back as floats 0-1 (what the page decodes; for tests and tools)."""
    return np.frombuffer(base64.b64decode(text), dtype=np.uint8).astype(np.float32) / 255


def clear_cache() -> None:
    _take_peaks.cache_clear()

