"""What the Dubbing and Cloning handlers share: run one request, report it, shape the outputs.

Every error the engines raise on purpose becomes a ``gr.Error`` with a specific
message; a fallback also raises a ``gr.Warning`` toast. The manager does the work.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import gradio as gr

from engines import (
    EngineManager,
    InputError,
    NoEngineAvailableError,
    SynthesisRequest,
    SynthesisResult,
    VoiceStudioError,
)

from history import HistoryError

from .badges import engine_label, fallback_text, render_badges
from .gpu import gpu_bound
from .served_files import cache_copy

logger = logging.getLogger("voice_studio.webui")

AudioValue = Any  # a file path or (sample_rate, samples) for gr.Audio
Outputs = tuple[AudioValue, str, dict[str, Any]]


class Recorder(Protocol):
    """Where results and failures are kept (``history.OutputHistory``); optional."""

    def save_result(self, request: SynthesisRequest, result: SynthesisResult) -> Any: ...

    def save_wav_file(self, request: SynthesisRequest, wav: Path, metadata: dict[str, Any]) -> Any: ...

    def save_failure(self, request: SynthesisRequest, error: str, kind: str | None = None) -> Any: ...


class BadInputError(gr.Error):
    """A mistake in the request (the user can fix it), as opposed to something the engines could not do."""

    def __init__(self, message: str):
        super().__init__(message, title="Bad input", print_exception=False)


def make_synthesizer(manager: EngineManager, service: Any = None
                     ) -> Callable[[SynthesisRequest, Callable | None], SynthesisResult]:
    """The one GPU-bound call, wrapped for ZeroGPU where ``spaces`` is installed.

    With ``service`` (``speech_service.SpeechService``) it first takes a synthesis slot from
    the admission the page shares with ``/v1`` (waiting shows in the progress bar).
    """

    def synthesize(request: SynthesisRequest, progress: Callable | None = None) -> SynthesisResult:
        return manager.synthesize(request, progress=progress)

    on_gpu = gpu_bound(synthesize)
    if service is None:
        return on_gpu

    def admitted(request: SynthesisRequest, progress: Callable | None = None) -> SynthesisResult:
        with service.admit(on_wait=waiting_reporter(progress)):
            return on_gpu(request, progress)

    return admitted


def waiting_reporter(progress: Callable | None) -> Callable[[int, int], None] | None:
    """Shows the place in the waiting line in the progress bar."""
    if progress is None:
        return None
    return lambda position, running: progress(0.0, f"Waiting for a free synthesis slot ({position} in line)")


def optional_number(value: Any, name: str) -> float | None:
    """Gradio sends None (or "") for an empty number box: the profile's own value."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise BadInputError(f"{name} {value!r} is not a number") from exc
    if not math.isfinite(number):
        raise BadInputError(f"{name} {value!r} is not a finite number")
    return number


def optional_float(value: Any, name: str = "speed") -> float | None:
    return optional_number(value, name)


def optional_seed(value: Any) -> int | None:
    """Empty means a random seed (reported in the metadata)."""
    number = optional_number(value, "seed")
    if number is None:
        return None
    if number != int(number):
        raise BadInputError(f"seed {value!r} must be a whole number")
    return int(number)


def no_engine_message(exc: NoEngineAvailableError) -> str:
    lines = [f"{engine_label(name)}: {why}" for name, why in exc.reasons.items()]
    return "No engine could serve this request. " + " | ".join(lines)


def run_request(synthesize: Callable[[SynthesisRequest, Callable | None], SynthesisResult],
                request: SynthesisRequest, progress: Callable | None,
                recorder: Recorder | None = None) -> Outputs:
    """Synthesize ``request`` and return (audio, badges HTML, metadata) for the outputs."""
    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, desc=message)

    report(0.0, f"Starting on {engine_label(request.engine)}…")
    try:
        result = synthesize(request, report)
    except InputError as exc:
        logger.info("bad input", extra={"engine": request.engine, "error": str(exc)})
        _record_failure(recorder, request, str(exc), "input")
        raise BadInputError(str(exc)) from exc
    except NoEngineAvailableError as exc:
        message = no_engine_message(exc)
        logger.warning("no engine available", extra={"reasons": exc.reasons})
        _record_failure(recorder, request, message, "engine")
        raise gr.Error(message, title="No engine available", print_exception=False) from exc
    except VoiceStudioError as exc:
        logger.warning("synthesis refused", extra={"error": str(exc)})
        _record_failure(recorder, request, str(exc), "engine")
        raise gr.Error(str(exc), title="Synthesis failed", print_exception=False) from exc
    except Exception as exc:  # a bug: record it, then let Gradio report it
        _record_failure(recorder, request, f"internal error ({type(exc).__name__}: {exc})", "engine")
        raise
    # The text goes back with the metadata so an API client can match each answer to its request.
    metadata = {**result.metadata, "text": request.text}
    warning = fallback_text(metadata)
    if warning:
        gr.Warning(warning)
    audio: AudioValue = (result.sample_rate, result.audio)
    if recorder is not None:
        try:
            entry = recorder.save_result(request, result)
        except HistoryError as exc:  # the user still gets the audio; the history says why it is missing
            logger.error("result not saved to the history", extra={"error": str(exc)})
            gr.Warning(f"Not saved to the history: {exc}")
            metadata["history_error"] = str(exc)
        else:
            audio = cache_copy(entry.audio_path)  # the output folder itself is never served
            metadata["history_id"] = entry.id
    return audio, render_badges(metadata), metadata


def _record_failure(recorder: Recorder | None, request: SynthesisRequest, message: str, kind: str) -> None:
    """Keep the failure in the history; ``kind`` is "input" (the user's mistake) or "engine"."""
    if recorder is None:
        return
    try:
        recorder.save_failure(request, message, kind=kind)
    except HistoryError as exc:  # the user's error matters more than a failed record of it
        logger.error("could not record a failed request", extra={"error": message, "history_error": str(exc)})
