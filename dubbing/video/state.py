"""A video dub's progress on disk: each finished stage's result, in the Studio project's folder.

    projects/<id>/
      project.json              the Studio project (lines filled in once the cues are known)
      video.<ext> | input.<ext> the file being dubbed (a copy: an upload may vanish before a resume)
      pipeline/state.json       the options, and each finished stage's result (below)
      pipeline/original.flac    the extracted sound, 44.1 kHz stereo
      pipeline/dialogue.flac    Demucs' vocals, and
      pipeline/background.flac  everything else (only when separation ran)

``state.json`` is rewritten atomically after each stage, so after a crash the pipeline
starts again at the first stage that has no result. A stage is re-run alone by dropping
its result (and the results after it, which depend on it): ``JobState.forget_from``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engines.storage import atomic_write_bytes

STATE_FORMAT = "voice-studio-video/1"
PIPELINE_DIR = "pipeline"
STAGES = ("extract", "speech", "separate", "transcribe", "speakers", "voices", "translate", "render", "mix")


@dataclass(frozen=True)
class Cue:
    """One stretch of speech in the source: its times (seconds), its words and who says them."""

    start_s: float
    end_s: float
    text: str = ""
    speaker: str | None = None

    @property
    def seconds(self) -> float:
        return self.end_s - self.start_s

    def to_dict(self) -> dict[str, Any]:
        return {"start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3), "text": self.text,
                "speaker": self.speaker}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Cue":
        return cls(float(data["start_s"]), float(data["end_s"]), str(data.get("text") or ""), data.get("speaker"))


@dataclass
class JobState:
    """The options a job was started with and the result of each stage it finished."""

    folder: Path                                   # the project's folder
    options: dict[str, Any]
    job_key: str                                   # what the input and options hash to (resume finds the job)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    format: str = STATE_FORMAT

    @property
    def pipeline_dir(self) -> Path:
        return self.folder / PIPELINE_DIR

    def file(self, name: str) -> Path:
        return self.pipeline_dir / name

    @property
    def finished(self) -> bool:
        return all(stage in self.results for stage in STAGES)

    @property
    def next_stage(self) -> str | None:
        return next((stage for stage in STAGES if stage not in self.results), None)

    def result(self, stage: str) -> dict[str, Any]:
        return self.results[stage]

    def record(self, stage: str, result: dict[str, Any]) -> None:
        """``stage`` finished with ``result``: saved at once, so a crash after it resumes past it."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}")
        self.results[stage] = result
        self.save()

    def forget_from(self, stage: str) -> list[str]:
        """Drop ``stage``'s result and every later one, so they run again; returns what was dropped."""
        dropped = list(STAGES[STAGES.index(stage):])
        for name in dropped:
            self.results.pop(name, None)
        self.save()
        return dropped

    def cues(self, stage: str = "transcribe") -> list[Cue]:
        return [Cue.from_dict(c) for c in self.results[stage]["cues"]]

    def save(self) -> None:
        data = {"format": self.format, "job_key": self.job_key, "options": self.options, "results": self.results}
        atomic_write_bytes(self.file("state.json"), json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"))

    @classmethod
    def load(cls, folder: Path) -> "JobState | None":
        """The job in ``folder``, or None when it holds none (a project made from subtitles)."""
        path = Path(folder) / PIPELINE_DIR / "state.json"
        if not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != STATE_FORMAT:
            raise ValueError(f"{path.name} is in format {data.get('format')!r}, not {STATE_FORMAT}")
        return cls(Path(folder), data["options"], data["job_key"], dict(data.get("results") or {}))
