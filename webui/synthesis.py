"""What the Dubbing and Cloning handlers share: run one request, report it, shape the outputs.

Every error the engines raise on purpose becomes a ``gr.Error`` with a specific
message; a fallback also raises a ``gr.Warning`` toast. The manager does the work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
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

from .badges import engine_label, fallback_text, render_badges
from .gpu import gpu_bound

logger = logging.getLogger("voice_studio.webui")

AudioValue = Any  # a file path or (sample_rate, samples) for gr.Audio
Outputs = tuple[AudioValue, str, dict[str, Any]]


class Recorder(Protocol):
    """Where results and failures are kept (``history.OutputHistory``); optional."""

    def save_result(self, request: SynthesisRequest, result: SynthesisResult) -> Any: ...

    def save_failure(self, request: SynthesisRequest, error: BaseException) -> Any: ...


def make_synthesizer(manager: EngineManager) -> Callable[[SynthesisRequest, Callable | None], SynthesisResult]:
    """The one GPU-bound call, wrapped for ZeroGPU where ``spaces`` is installed."""

    def synthesize(request: SynthesisRequest, progress: Callable | None = None) -> SynthesisResult:
        return manager.synthesize(request, progress=progress)

    return gpu_bound(synthesize)


def optional_float(value: Any) -> float | None:
    """Gradio sends None (or "") for an empty number box: the profile's own value."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise gr.Error(f"speed {value!r} is not a number", title="Bad input") from exc


def optional_seed(value: Any) -> int | None:
    """Empty means a random seed (reported in the metadata)."""
    number = optional_float(value) if not isinstance(value, int) else value
    if number is None:
        return None
    if float(number) != int(number):
        raise gr.Error(f"seed {value!r} must be a whole number", title="Bad input")
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
    except VoiceStudioError as exc:
        _record_failure(recorder, request, exc)
        if isinstance(exc, InputError):
            logger.info("bad input", extra={"engine": request.engine, "error": str(exc)})
            raise gr.Error(str(exc), title="Bad input") from exc
        if isinstance(exc, NoEngineAvailableError):
            logger.warning("no engine available", extra={"reasons": exc.reasons})
            raise gr.Error(no_engine_message(exc), title="No engine available") from exc
        logger.warning("synthesis refused", extra={"error": str(exc)})
        raise gr.Error(str(exc), title="Synthesis failed") from exc
    except Exception as exc:
        _record_failure(recorder, request, exc)
        raise
    metadata = dict(result.metadata)
    warning = fallback_text(metadata)
    if warning:
        gr.Warning(warning)
    audio: AudioValue = (result.sample_rate, result.audio)
    if recorder is not None:
        entry = recorder.save_result(request, result)
        audio = str(entry.audio_path)
        metadata["history_id"] = entry.id
    return audio, render_badges(metadata), metadata


def _record_failure(recorder: Recorder | None, request: SynthesisRequest, exc: BaseException) -> None:
    if recorder is None:
        return
    try:
        recorder.save_failure(request, exc)
    except OSError as save_exc:  # the user's error matters more than a failed record of it
        logger.error("could not record a failed request", exc_info=save_exc, extra={"error": str(exc)})
