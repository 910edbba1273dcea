"""What the page's handlers and the ``/v1`` routes share around a synthesis: the admission
slot, saving the result to the history, recording a failure, and wording an error.

Keeping these in one place is what makes an API request and a click on Dub alike: the
same limits, the same history entries, the same messages.
"""

from __future__ import annotations

import logging
from typing import Any

from engines import EngineManager, InputError, NoEngineAvailableError, SynthesisRequest, SynthesisResult, \
    VoiceStudioError
from history import HistoryError

from .limits import Admission, QueueFullError, Ticket, WaitCallback
from .synthesis import no_engine_message

logger = logging.getLogger("voice_studio.webui")


class SpeechService:
    def __init__(self, manager: EngineManager, recorder: Any = None, admission: Admission | None = None):
        self.manager = manager
        self.recorder = recorder  # history.OutputHistory, or None
        self.admission = admission or Admission(max_running=manager.concurrency, max_waiting=32)

    def admit(self, on_wait: WaitCallback | None = None) -> Ticket:
        return self.admission.enter(on_wait=on_wait)

    def save(self, request: SynthesisRequest, result: SynthesisResult) -> dict[str, Any]:
        """``{"history_id": ...}``, or ``{"history_error": ...}`` when the folder cannot be written."""
        if self.recorder is None:
            return {}
        try:
            entry = self.recorder.save_result(request, result)
        except HistoryError as exc:  # the caller still gets the audio; the history says why it is missing
            logger.error("result not saved to the history", extra={"error": str(exc)})
            return {"history_error": str(exc)}
        return {"history_id": entry.id, "history_audio_path": str(entry.audio_path)}

    def record_failure(self, request: SynthesisRequest, message: str) -> None:
        if self.recorder is None:
            return
        try:
            self.recorder.save_failure(request, message)
        except HistoryError as exc:  # the user's error matters more than a failed record of it
            logger.error("could not record a failed request", extra={"error": message, "history_error": str(exc)})


def error_kind(exc: BaseException) -> tuple[str, str]:
    """(kind, message) for an error a synthesis raised: bad_input, no_engine, queue_full, refused, internal."""
    if isinstance(exc, InputError):
        return "bad_input", str(exc)
    if isinstance(exc, NoEngineAvailableError):
        return "no_engine", no_engine_message(exc)
    if isinstance(exc, QueueFullError):
        return "queue_full", str(exc)
    if isinstance(exc, VoiceStudioError):
        return "refused", str(exc)
    return "internal", f"internal error ({type(exc).__name__})"
