"""``VideoDubber``: a video (or audio file) in, a rendered Studio project and a dubbed MP4 out.

    dubber = VideoDubber(studio)
    result = dubber.dub("in.mp4", VideoDubOptions(language="pt-BR"), on_progress=print)

It reads as the list of its stages (``state.STAGES``): extract, find speech, separate,
transcribe, speakers, a voice per speaker, translate, render, mix. Speech is found on the
original sound, before separation, so a file without speech is refused before any other
model loads; the voices come before the translation, so translating again (``rerun``
from ``translate`` with another ``translation``) keeps them. Each stage is one
call in ``stages``; its result is saved in the project as soon as it is finished, so a
crash or a restart resumes at the first stage without one (``resume``), the render at
the first line without a take, and one stage can be run again alone (``rerun``).
Running the same file with the same options again resumes its project instead of
starting over. Errors a user can fix are ``InputError``s; everything that can be checked
without a model is checked before any loads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engines.weights.downloads import download_progress
from engines.errors import InputError
from engines.quality.speaker import SpeakerVerifier

from ..project import Project
from ..render import Cancelled, LineEvent
from ..service import DubOptions, Studio
from ..subtitles import ParsedSubtitles
from . import stages
from .options import CheckedOptions, VideoDubOptions, check_options
from .state import STAGES, JobState
from .steps.extract import probe_media
from .steps.separate import Separator
from .steps.translate import Translator

logger = logging.getLogger("voice_studio.dubbing.video")

DEFAULT_VOICE = "female_generic"   # a project's fallback voice; every line here has its speaker's own


@dataclass(frozen=True)
class StageEvent:
    """Progress: ``stage`` (one of ``STAGES``) is ``fraction`` done; ``line`` while rendering."""

    stage: str
    fraction: float
    message: str = ""
    line: LineEvent | None = None

    @property
    def step(self) -> int:
        return STAGES.index(self.stage) + 1


Progress = Callable[[StageEvent], None]


@dataclass
class Models:
    """The models and stores a dubber shares between its jobs (each model loads on first use)."""

    studio: Studio
    environ: Mapping[str, str]
    separator: Separator
    translator: Translator
    speaker: SpeakerVerifier

    @property
    def manager(self):
        return self.studio.manager

    @property
    def store(self):
        return self.studio.store


@dataclass
class VideoDubResult:
    project: Project
    state: JobState
    files: dict[str, Path] = field(default_factory=dict)   # track, voice_track, stems, report, source_subtitles,
    report: dict[str, Any] = field(default_factory=dict)    # dubbed_subtitles, video (a video only)

    @property
    def failed(self) -> dict[int, str]:
        return {line.index: line.error or "not rendered" for line in self.project.lines if line.status != "done"}


class VideoDubber:
    def __init__(self, studio: Studio, environ: Mapping[str, str] | None = None):
        env = os.environ if environ is None else environ
        manager = studio.manager
        device, on_device, lock = manager.settings.device, manager.on_device, manager.asr.load_lock
        self.models = Models(studio, env, Separator.from_env(device, on_device, lock, env),
                             Translator.from_env(device, on_device, lock, env),
                             SpeakerVerifier.from_env(device, on_device, lock, env))

    # --- starting and resuming ----------------------------------------------------------
    def prepare(self, media: str | os.PathLike, options: VideoDubOptions) -> tuple[Project, JobState]:
        """Check everything that needs no model, then open the project this job resumes or create one."""
        checked = check_options(options, self.models.environ)
        media = Path(media)
        info = probe_media(media, self.models.environ)
        settings = self.models.studio.settings_for(
            DubOptions(language=checked.language, voice=DEFAULT_VOICE, engine=options.engine,
                       quality_profile=options.quality_profile, seed=options.seed), [], "a")
        key = job_key(media, options)
        found = self.find(key)
        if found is not None:
            logger.info("video dub resumed", extra={"project_id": found[0].id, "next_stage": found[1].next_stage})
            return found
        name = options.name or media.stem
        store = self.models.store
        project = store.create(name, ParsedSubtitles("srt", ()), settings, b"", ".srt",
                               media if info.has_video else None, {"duration_s": info.duration_s, **info.to_dict()})
        folder = store.folder(project.id)
        if not info.has_video:  # an audio file: kept beside the project, as a video is
            shutil.copyfile(media, folder / ("input" + _suffix(media)))
        state = JobState(folder, {**options.to_dict(), "seed": project.settings.seed}, key)
        state.save()
        return project, state

    def find(self, key: str) -> tuple[Project, JobState] | None:
        """The newest project made by the same file and options, if any."""
        for entry in self.models.store.list():
            try:
                state = JobState.load(self.models.store.folder(entry["id"]))
            except (OSError, ValueError, KeyError) as exc:  # a damaged job is skipped, not fatal: a new one starts
                logger.warning("unreadable video job skipped", extra={"project_id": entry["id"], "error": str(exc)})
                continue
            if state is not None and state.job_key == key:
                return self.models.store.open(entry["id"]), state
        return None

    def open(self, project_id: str) -> tuple[Project, JobState]:
        project = self.models.studio.open(project_id)
        state = JobState.load(self.models.store.folder(project.id))
        if state is None:
            raise InputError(f"project {project_id!r} was not made from a video")
        return project, state

    def dub(self, media: str | os.PathLike, options: VideoDubOptions, on_progress: Progress | None = None,
            cancel: threading.Event | None = None) -> VideoDubResult:
        project, state = self.prepare(media, options)
        return self.run(project, state, on_progress, cancel)

    def resume(self, project_id: str, on_progress: Progress | None = None,
               cancel: threading.Event | None = None) -> VideoDubResult:
        project, state = self.open(project_id)
        return self.run(project, state, on_progress, cancel)

    def rerun(self, project_id: str, stage: str, changes: Mapping[str, Any] | None = None,
              on_progress: Progress | None = None, cancel: threading.Event | None = None) -> VideoDubResult:
        """Run ``stage`` again, and the stages after it (which depend on it), with ``changes`` to
        the job's options (e.g. another ``translation`` from the translate stage on)."""
        if stage not in STAGES:
            raise InputError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
        project, state = self.open(project_id)
        if changes:
            unknown = set(changes) - set(VideoDubOptions.__dataclass_fields__)
            if unknown:
                raise InputError(f"unknown option(s): {', '.join(sorted(unknown))}")
            options = VideoDubOptions(**{**state.options, **changes})
            check_options(options, self.models.environ)
            state.options = options.to_dict()
        state.forget_from(stage)
        return self.run(project, state, on_progress, cancel)

    # --- running ----------------------------------------------------------------------
    def run(self, project: Project, state: JobState, on_progress: Progress | None = None,
            cancel: threading.Event | None = None) -> VideoDubResult:
        """Every stage not finished yet, in order; returns the outputs."""
        options = VideoDubOptions(**{k: v for k, v in state.options.items() if k in VideoDubOptions.__dataclass_fields__})
        checked = check_options(options, self.models.environ)
        cancel = cancel or threading.Event()
        with self.models.studio.lock(project.id):
            project = self.models.studio.open(project.id)  # the saved one: another tab may have edited it
            for stage in STAGES:
                if stage in state.results:
                    continue
                if cancel.is_set():
                    raise Cancelled(f"cancelled before {stage}; the project is saved and resumes from there")
                self._run_stage(stage, project, state, checked, on_progress, cancel)
        files = {kind: self.models.store.out_path(project, name) for kind, name in state.result("mix")["files"].items()}
        return VideoDubResult(project, state, files, project.report or {})

    def _run_stage(self, stage: str, project: Project, state: JobState, checked: CheckedOptions,
                   on_progress: Progress | None, cancel: threading.Event) -> None:
        def report(fraction: float, message: str = "") -> None:
            if on_progress is not None:
                on_progress(StageEvent(stage, max(0.0, min(1.0, fraction)), message))

        def on_line(event: LineEvent) -> None:
            if on_progress is not None:
                fraction = event.done / event.total if event.total else 0.0
                on_progress(StageEvent("render", fraction, f"line {event.index}: {event.message or event.status}", event))

        source = self.models.store.path(project, project.video_file or _input_name(state.folder))
        job = stages.Job(project, state, checked, self.models, source, report)
        report(0.0, "starting")
        started = time.perf_counter()
        # A model used for the first time may download: its progress is this stage's.
        with download_progress("weights").reporting(report, "model weights"), \
                download_progress("separator").reporting(report, "Demucs"):
            if stage == "render":
                result = stages.run_render(job, on_line, cancel)
                if result is None:
                    raise Cancelled("cancelled while rendering; the lines made so far are kept and the render resumes")
            else:
                result = getattr(stages, f"run_{stage}")(job)
        result = {**result, "seconds": round(time.perf_counter() - started, 3)}
        state.record(stage, result)
        report(1.0, "done")
        logger.info("stage finished", extra={"project_id": project.id, "stage": stage, "seconds": result["seconds"]})


def job_key(media: Path, options: VideoDubOptions) -> str:
    """What identifies a job: the file's content, the options and a translation file's content."""
    digest = hashlib.sha256()
    with open(media, "rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    fields = {k: v for k, v in options.to_dict().items() if k != "name"}
    if options.translation_mode == "file":
        fields["translation"] = hashlib.sha256(Path(options.translation).read_bytes()).hexdigest()
    digest.update(json.dumps(fields, sort_keys=True).encode())
    return digest.hexdigest()[:32]


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    return suffix if suffix[1:].isalnum() and len(suffix) <= 6 else ".bin"


def _input_name(folder: Path) -> str:
    found = sorted(p.name for p in folder.glob("input.*"))
    if not found:
        raise InputError("the project's copy of its input file is missing; start the dub again")
    return found[0]
