"""Rendering a project's lines: many at once, each fitted into its slot, cached by what made it.

``Renderer.render`` submits every line that changed to a thread pool; each line calls
``EngineManager.synthesize`` (through ``synthesize``), and the device worker batches the
F5-TTS lines of one profile into shared forwards by itself. Per line, in order:

1. the natural take (cached under text + voice + engine + profile + seed + language), or,
   where F5-TTS tells the natural length by its own rule and the line will not fit at that
   pace, no natural take at all: the line goes straight to step 3;
2. the fit plan from ``fitting.plan_fit`` (slot, silence to the next cue);
3. if the plan asks the engine for a speed-up: F5-TTS gets the target length, XTTS a
   ``speed`` (decided by the engine that really made the natural take, so a fallback is
   handled), cached under the same key plus that target;
4. a pitch-preserving time-stretch for what the engine left (``media.time_stretch``);
5. the line's final audio, cached under the take and the stretch.

A line whose inputs did not change since its last render (same ``render_key``) is not
touched, so editing one line re-renders that line alone; takes are never overwritten.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engines import EngineManager, InputError, NoEngineAvailableError, SynthesisRequest, VoiceStudioError
from engines.profiles import get_profile

from . import fitting, media
from .editor import takes
from .fitting import DEFAULT_LIMITS, FitLimits
from .project import Line, Project, ProjectStore, cache_key
from .track import SAMPLE_RATE, pad_or_trim, seconds_to_samples

logger = logging.getLogger("voice_studio.dubbing.render")

DEFAULT_THREADS = 16
SAVE_EVERY_S = 1.0
TAKE_METADATA = ("tts_engine_requested", "tts_engine_used", "engine_fallback", "fallback_reason",
                 "quality_profile_used", "quality_profile_mapped", "seed", "speed", "duration_s", "voice",
                 "voice_kind", "target_duration_s", "target_duration_honoured", "batched_with", "synth_s",
                 "device", "replica")  # where it was rendered: which device of the host, which Ray Serve replica
TARGET_ENGINES = ("f5tts",)   # engines that generate a requested length natively (and tell it beforehand)
# The steps a line goes through, in order (reported as it reaches each).
STAGES = ("natural take", "fitting take", "time-stretch")

Synthesize = Callable[..., Any]
LineCallback = Callable[["LineEvent"], None]


class Cancelled(Exception):
    """The render was cancelled before this line started."""


@dataclass(frozen=True)
class LineEvent:
    index: int
    status: str            # rendering | done | error | unchanged | cancelled
    message: str = ""
    done: int = 0          # lines finished so far in this render
    total: int = 0


@dataclass
class RenderSummary:
    rendered: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    cancelled: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"rendered": self.rendered, "unchanged": self.unchanged,
                "failed": {str(k): v for k, v in self.failed.items()}, "cancelled": self.cancelled,
                "seconds": round(self.seconds, 3)}


def line_gaps(project: Project) -> dict[int, float]:
    """Seconds of silence after each timed line, up to the next cue (or the video's end)."""
    timed = sorted((line for line in project.lines if line.start_ms is not None), key=lambda l: (l.start_ms, l.index))
    gaps: dict[int, float] = {}
    for i, line in enumerate(timed):
        later = [other.start_ms for other in timed[i + 1:] if other.start_ms >= line.start_ms]
        if later:
            gaps[line.index] = max(0.0, (min(later) - line.end_ms) / 1000)
        elif project.video:
            gaps[line.index] = max(0.0, float(project.video["duration_s"]) - line.end_ms / 1000)
        else:
            gaps[line.index] = 0.0
    return gaps


class Renderer:
    def __init__(self, manager: EngineManager, store: ProjectStore, synthesize: Synthesize | None = None,
                 threads: int = DEFAULT_THREADS, limits: FitLimits = DEFAULT_LIMITS):
        self.manager = manager
        self.store = store
        self.synthesize = synthesize or manager.synthesize
        self.threads = max(1, int(threads))
        self.limits = limits

    # --- checks -------------------------------------------------------------------------
    def check_voices(self, project: Project, lines: Iterable[Line] | None = None) -> None:
        """Every voice the lines use exists; else ``InputError`` naming the speaker and the choices."""
        for line in lines if lines is not None else project.lines:
            name = project.voice_for(line)
            try:
                self.manager.voices.resolve(name)
            except InputError as exc:
                who = f"speaker {line.speaker!r}" if line.speaker else f"line {line.index}"
                raise InputError(f"unknown voice {name!r} for {who}: {exc}") from exc

    # --- keys ---------------------------------------------------------------------------
    def _take_base(self, project: Project, line: Line) -> tuple:
        s = project.settings
        return ("take", line.text, project.voice_for(line), s.engine, s.quality_profile, takes.seed_of(project, line),
                s.language)

    def render_key(self, project: Project, line: Line, gap_s: float | None) -> str:
        fit = project.settings.fit if project.timed else "natural"
        return cache_key(self._take_base(project, line), line.start_ms, line.end_ms,
                         round(gap_s or 0.0, 3), fit, self.limits.__dict__)

    def slot_key(self, project: Project, line: Line) -> str:
        """The render key without the silence after the slot: all a line's audio depends on unless
        its fit reached into that silence (``gap``/``overrun``)."""
        return self.render_key(project, line, None)

    def is_current(self, project: Project, line: Line, gaps: dict[int, float] | None = None) -> bool:
        """Whether the line's audio matches its inputs. A neighbour moved (another gap after the slot)
        leaves it current when its fit did not use that gap."""
        if line.status != "done" or line.result is None:
            return False
        gaps = line_gaps(project) if gaps is None else gaps
        if line.result.get("render_key") == self.render_key(project, line, gaps.get(line.index)):
            return True
        return (line.result.get("gap_used") is False
                and line.result.get("slot_key") == self.slot_key(project, line))

    # --- rendering ----------------------------------------------------------------------
    def render(self, project: Project, indices: Iterable[int] | None = None, on_line: LineCallback | None = None,
               cancel: threading.Event | None = None, force: bool = False) -> RenderSummary:
        """Render the given lines (all by default) that changed; saves the project as lines finish.

        ``on_line`` may be called from the pool's threads. Raises ``InputError`` before
        any work for an unknown line or voice; a line's own failure is recorded on it.
        """
        started = time.perf_counter()
        wanted = sorted(set(indices)) if indices is not None else [line.index for line in project.lines]
        try:
            lines = [project.line(i) for i in wanted]
        except KeyError as exc:
            raise InputError(f"no line {exc.args[0]}; lines are numbered 1 to {len(project.lines)}") from exc
        self.check_voices(project, lines)
        gaps = line_gaps(project)
        summary = RenderSummary()
        todo = []
        for line in lines:
            if not force and self.is_current(project, line, gaps):
                summary.unchanged.append(line.index)
                _notify(on_line, LineEvent(line.index, "unchanged", "up to date"))
            else:
                todo.append(line)
        cancel = cancel or threading.Event()
        total, done, last_save = len(todo), 0, time.perf_counter()
        with ThreadPoolExecutor(max_workers=min(self.threads, max(1, total)), thread_name_prefix="dub") as pool:
            futures = {pool.submit(self._line_job, project, line, gaps.get(line.index), cancel, on_line): line
                       for line in todo}
            for future in as_completed(futures):
                line = futures[future]
                done += 1
                status, payload = future.result()
                if status == "done":
                    line.status, line.error = "done", None
                    takes.record(project, line, payload)   # kept beside the line's earlier takes
                    line.result = takes.find(line, line.take)["result"]
                    summary.rendered.append(line.index)
                    message = f"{payload['fit_method']} ×{payload['speed_factor']:.2f}"
                elif status == "cancelled":
                    summary.cancelled.append(line.index)
                    message = "cancelled"
                else:
                    line.status, line.error = "error", payload
                    summary.failed[line.index] = payload
                    message = payload
                _notify(on_line, LineEvent(line.index, status, message, done, total))
                if time.perf_counter() - last_save >= SAVE_EVERY_S:
                    self.store.save(project)
                    last_save = time.perf_counter()
        self.store.save(project)
        summary.seconds = time.perf_counter() - started
        for bucket in (summary.rendered, summary.cancelled):
            bucket.sort()
        logger.info("render finished", extra={"project_id": project.id, **summary.to_dict()})
        return summary

    def _line_job(self, project: Project, line: Line, gap_s: float | None, cancel: threading.Event,
                  on_line: LineCallback | None) -> tuple[str, Any]:
        if cancel.is_set():
            return "cancelled", None
        def stage(message: str) -> None:
            _notify(on_line, LineEvent(line.index, "rendering", message))

        try:
            return "done", self._render_line(project, line, gap_s, cancel, stage)
        except Cancelled:
            return "cancelled", None
        except NoEngineAvailableError as exc:
            return "error", "no engine could render it: " + "; ".join(f"{k}: {v}" for k, v in exc.reasons.items())
        except VoiceStudioError as exc:  # bad text for this line, ffmpeg failure: this line's own error
            return "error", str(exc)
        except Exception as exc:  # a bug: logged with its traceback, reported on the line, the others go on
            logger.exception("line render crashed", extra={"project_id": project.id, "line": line.index})
            return "error", f"internal error ({type(exc).__name__})"

    def _take(self, project: Project, line: Line, cancel: threading.Event, **extra) -> tuple[np.ndarray, dict, str]:
        """A take from the cache, or rendered now and cached."""
        key = cache_key(self._take_base(project, line), extra)
        cached = self.store.load_take(project, key)
        if cached is not None:
            return cached[0], cached[1], key
        if cancel.is_set():
            raise Cancelled()
        result = self.synthesize(_request(project, line, **extra))
        audio = np.asarray(result.audio, dtype=np.float32).reshape(-1)
        metadata = {k: result.metadata.get(k) for k in TAKE_METADATA if k in result.metadata}
        self.store.save_take(project, key, audio, metadata)
        return audio, metadata, key

    def _told_natural_s(self, project: Project, line: Line) -> float | None:
        """The line's natural length from its engine's own rule, where it has one (F5-TTS)."""
        if project.settings.engine not in TARGET_ENGINES:
            return None
        return self.manager.natural_seconds(_request(project, line))

    @staticmethod
    def _speed_up(plan: fitting.FitPlan, natural_meta: dict | None) -> dict:
        """What to ask of the engine that made the natural take (None: not rendered, F5-TTS told its length)."""
        if natural_meta is None or natural_meta.get("tts_engine_used") in TARGET_ENGINES:
            return {"target_duration_s": round(plan.engine_target_s, 3)}
        pace = get_profile(natural_meta["quality_profile_used"]).speed
        return {"speed": round(pace * plan.engine_factor, 4)}

    def _render_line(self, project: Project, line: Line, gap_s: float | None, cancel: threading.Event,
                     stage: Callable[[str], None] = lambda _: None) -> dict:
        """One line through the ladder; ``stage`` hears each step (for per-line progress)."""
        slot_s = line.slot_s
        fitting_on = project.timed and project.settings.fit == "fit" and slot_s is not None
        gap_s = gap_s or 0.0
        # F5-TTS tells its natural length before rendering: a line that will not fit is rendered
        # once, at its fitted length, instead of naturally first and then again.
        natural_s = self._told_natural_s(project, line) if fitting_on else None
        plan = fitting.plan_fit(natural_s, slot_s, gap_s, self.limits) if natural_s is not None else None
        told = plan is not None and plan.engine_factor > 1.0
        take, meta, take_key = None, None, None
        if not told:
            stage(STAGES[0])
            take, meta, take_key = self._take(project, line, cancel)
            natural_s = len(take) / SAMPLE_RATE
            plan = (fitting.plan_fit(natural_s, slot_s, gap_s, self.limits) if fitting_on
                    else fitting.natural_plan(natural_s, slot_s))
        natural_key = None if told else take_key
        if plan.engine_factor > 1.0:
            stage(STAGES[1])
            fitted, fitted_meta, fitted_key = self._take(project, line, cancel, **self._speed_up(plan, meta))
            if told and fitted_meta.get("tts_engine_used") not in TARGET_ENGINES:
                # Another engine stood in and spoke at its own natural pace: fit that take instead.
                told, natural_s, natural_key = False, len(fitted) / SAMPLE_RATE, fitted_key
                take, meta, take_key = fitted, fitted_meta, fitted_key
                plan = fitting.plan_fit(natural_s, slot_s, gap_s, self.limits)
                if plan.engine_factor > 1.0:
                    fitted, fitted_meta, fitted_key = self._take(project, line, cancel, **self._speed_up(plan, meta))
            if take is None or len(fitted) < len(take):  # a "faster" take that came out longer is dropped
                take, meta, take_key = fitted, fitted_meta, fitted_key
        take_s = len(take) / SAMPLE_RATE
        stretch = fitting.stretch_for(natural_s, take_s, plan.room_s, self.limits) if fitting_on else 1.0
        final_key = cache_key("final", take_key, round(stretch, 4), fitting_on and round(plan.room_s, 3))
        cached = self.store.load_take(project, final_key)
        if cached is not None:
            audio = cached[0]
        else:
            stage(STAGES[2])
            audio = media.time_stretch(take, stretch) if stretch > 1.0 else take
            room = seconds_to_samples(plan.room_s)
            if fitting_on and room < len(audio) <= room + seconds_to_samples(fitting.FIT_TOLERANCE_S):
                audio = pad_or_trim(audio, room)  # a few ms over (frame rounding): the tail is cut with a fade
            self.store.save_take(project, final_key, audio, {"take": take_key, "stretch": stretch,
                                                             "filter": media.stretch_filter(stretch)
                                                             if stretch > 1.0 else None})
        final_s = len(audio) / SAMPLE_RATE
        engine_factor = natural_s / take_s if take_s else 1.0
        if project.timed and slot_s is not None:
            sped_up = engine_factor if engine_factor > 1.001 else 1.0
            method, overrun = fitting.classify(natural_s, final_s, slot_s, gap_s, sped_up, stretch)
        else:
            method, overrun = "natural", 0.0
        return {
            "render_key": self.render_key(project, line, gap_s), "slot_key": self.slot_key(project, line),
            "gap_used": plan.method in ("gap", "overrun"), "voice": project.voice_for(line),
            "natural_key": natural_key, "take_key": take_key, "final_key": final_key,
            "natural_s": round(natural_s, 3), "natural_from": "engine rule" if told else "natural take",
            "duration_s": round(final_s, 3),
            "slot_s": slot_s, "gap_s": round(gap_s, 3), "room_s": round(plan.room_s, 3),
            "planned_method": plan.method, "fit_method": method, "overrun_s": overrun,
            "engine_factor": round(engine_factor, 4), "stretch_factor": round(stretch, 4),
            "speed_factor": round(natural_s / final_s, 4) if final_s else 1.0,
            "tts_engine_used": meta.get("tts_engine_used"), "engine_fallback": bool(meta.get("engine_fallback")),
            "fallback_reason": meta.get("fallback_reason"), "quality_profile_used": meta.get("quality_profile_used"),
            "target_duration_honoured": meta.get("target_duration_honoured"), "seed": meta.get("seed"),
        }


def _notify(callback: LineCallback | None, event: LineEvent) -> None:
    if callback is not None:
        callback(event)


def _request(project: Project, line: Line, **extra) -> SynthesisRequest:
    """The synthesis request for ``line`` under the project's settings (``extra``: a target length or speed)."""
    s = project.settings
    return SynthesisRequest(text=line.text, language=s.language, engine=s.engine, voice_preset=project.voice_for(line),
                            quality_profile=s.quality_profile, seed=takes.seed_of(project, line), **extra)
