"""The one service behind every synthesis the app serves: Dub and Clone on the page (the
whole clip, or played while it is made) and ``/v1/audio/speech`` (whole or streamed).

It owns what they share around the engines: the admission slot, the one GPU-bound call,
saving the result to the History, recording a failure, and the words an error is told in.
Keeping these here is what makes an API request and a click on Dub alike: the same limits,
the same History entries, the same messages. The Gradio handlers and the HTTP routes only
turn what it returns, or raises, into their outputs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from engines import (EngineManager, InputError, NoEngineAvailableError, SynthesisRequest, SynthesisResult,
                     SynthesisStream, VoiceStudioError)
from engines.types import ProgressCallback as Progress
from history import HistoryEntry, HistoryError

from .gpu import gpu_bound
from .labels import engine_label
from .limits import Admission, QueueFullError, Ticket, WaitCallback

logger = logging.getLogger("voice_studio.webui")


class Recorder(Protocol):
    """Where results and failures are kept (``history.OutputHistory``)."""

    def save_result(self, request: SynthesisRequest, result: SynthesisResult) -> HistoryEntry: ...

    def save_failure(self, request: SynthesisRequest, error: str, kind: str | None = None) -> HistoryEntry: ...


class StreamEnded(VoiceStudioError):
    """A stream's reader stopped before the audio was complete."""


@dataclass(frozen=True)
class Failure:
    """An error a synthesis raised, in words a user may read (no server path, no traceback)."""

    kind: str
    """``bad_input`` (the user can fix it), ``no_engine``, ``queue_full``, ``refused`` (an engine would not)
    or ``internal`` (a bug)."""
    message: str
    """What the user is told."""
    detail: str
    """What the page's History keeps: the message, and for a bug the exception's own words too."""

    @classmethod
    def of(cls, exc: BaseException) -> "Failure":
        if isinstance(exc, InputError):
            return cls("bad_input", str(exc), str(exc))
        if isinstance(exc, NoEngineAvailableError):
            message = no_engine_message(exc)
            return cls("no_engine", message, message)
        if isinstance(exc, QueueFullError):
            return cls("queue_full", str(exc), str(exc))
        if isinstance(exc, VoiceStudioError):
            return cls("refused", str(exc), str(exc))
        return cls("internal", f"internal error ({type(exc).__name__})",
                   f"internal error ({type(exc).__name__}: {exc})")

    @property
    def history_kind(self) -> str:
        """The History's ``error_kind``: ``input`` (a typo) or ``engine`` (anything else)."""
        return "input" if self.kind == "bad_input" else "engine"


def no_engine_message(exc: NoEngineAvailableError) -> str:
    lines = [f"{engine_label(name)}: {why}" for name, why in exc.reasons.items()]
    return "No engine could serve this request. " + " | ".join(lines)


@dataclass(frozen=True)
class Saved:
    """Where the History keeps a result: its ``entry``, or the ``error`` that kept it out (None, None: no History)."""

    entry: HistoryEntry | None = None
    error: str | None = None

    def fields(self) -> dict[str, Any]:
        """``{"history_id": ...}``, ``{"history_error": ...}`` or nothing, for the metadata a caller gets."""
        if self.error is not None:
            return {"history_error": self.error}
        return {"history_id": self.entry.id} if self.entry is not None else {}


@dataclass(frozen=True)
class Spoken:
    """A request served: its result, and where the History keeps it."""

    request: SynthesisRequest
    result: SynthesisResult
    saved: Saved


class SpeechService:
    def __init__(self, manager: EngineManager, recorder: Recorder | None = None, admission: Admission | None = None):
        self.manager = manager
        self.recorder = recorder
        self.admission = admission or Admission(max_running=len(manager.engines), max_waiting=32)

        def synthesize(request: SynthesisRequest, progress: Progress | None = None) -> SynthesisResult:
            return self.manager.synthesize(request, progress=progress)

        self._on_gpu = gpu_bound(synthesize)  # ZeroGPU holds the GPU for this call alone

    # --- the steps, for callers that take them one by one (/v1) -------------------------
    def admit(self, on_wait: WaitCallback | None = None) -> Ticket:
        return self.admission.enter(on_wait=on_wait)

    def synthesize(self, request: SynthesisRequest, progress: Progress | None = None) -> SynthesisResult:
        """The whole clip: the one GPU-bound call (``spaces.GPU`` on a ZeroGPU Space)."""
        return self._on_gpu(request, progress)

    def stream(self, request: SynthesisRequest, progress: Progress | None = None) -> SynthesisStream:
        """The audio as it is made (returns once the first chunk exists)."""
        return self.manager.stream(request, progress=progress)

    def save(self, request: SynthesisRequest, result: SynthesisResult) -> Saved:
        """Keep the result in the History; a History that cannot be written is logged and told, not raised."""
        if self.recorder is None:
            return Saved()
        try:
            return Saved(entry=self.recorder.save_result(request, result))
        except HistoryError as exc:  # the caller still gets the audio; the History says why it is missing
            logger.error("result not saved to the history", extra={"error": str(exc)})
            return Saved(error=str(exc))

    def record_failure(self, request: SynthesisRequest, message: str, kind: str | None = None) -> None:
        """Keep a request that produced no audio in the History, with ``message`` and, where given,
        its ``kind`` (``Failure.history_kind``)."""
        if self.recorder is None:
            return
        try:
            self.recorder.save_failure(request, message, kind=kind)
        except HistoryError as exc:  # the user's error matters more than a failed record of it
            logger.error("could not record a failed request", extra={"error": message, "history_error": str(exc)})

    # --- the page's Dub and Clone, all steps at once ----------------------------------------
    def speak(self, request: SynthesisRequest, progress: Progress | None = None,
              play: Callable[[SynthesisStream], None] | None = None) -> Spoken:
        """Take a slot (the place in line shown in ``progress``), make the audio, keep it in the History.

        With ``play``, the audio is streamed: ``play`` reads the stream's chunks as they are made
        (raising stops it). A failure is logged and recorded with its kind, then raised as it came.
        """
        try:
            with self.admit(on_wait=waiting_reporter(progress)):
                result = self.synthesize(request, progress) if play is None else self._played(request, progress, play)
        except Exception as exc:
            self._failed(request, exc)
            raise
        return Spoken(request, result, self.save(request, result))

    def _played(self, request: SynthesisRequest, progress: Progress | None,
                play: Callable[[SynthesisStream], None]) -> SynthesisResult:
        live = self.stream(request, progress)
        try:
            play(live)
        finally:
            live.close()
        if live.result is None:
            raise StreamEnded("the audio stream was not read to its end")
        return live.result

    def _failed(self, request: SynthesisRequest, exc: Exception) -> None:
        failure = Failure.of(exc)
        if failure.kind == "bad_input":
            logger.info("bad input", extra={"engine": request.engine, "error": failure.message})
        elif failure.kind == "no_engine":
            logger.warning("no engine available", extra={"reasons": exc.reasons})
        elif failure.kind != "internal":
            logger.warning("synthesis refused", extra={"error": failure.message})
        self.record_failure(request, failure.detail, failure.history_kind)


def waiting_reporter(progress: Progress | None) -> WaitCallback | None:
    """Shows the place in the waiting line in the progress bar."""
    if progress is None:
        return None
    return lambda position, running: progress(0.0, f"Waiting for a free synthesis slot ({position} in line)")
