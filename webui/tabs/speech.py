"""What the Dubbing and Cloning tabs share: the form's numbers, and a request run through the
``SpeechService`` with its result turned into the tab's outputs, whole or played while made.

Every error the engines raise on purpose becomes a ``gr.Error`` with a specific message (a
``BadInputError`` for a mistake the user can fix); a fallback also raises a ``gr.Warning``
toast. The service does the rest: the slot, the synthesis, the History, the failure record.

Played while made: the button's event is a generator. It streams the engine's chunks (XTTS
by its token stream, F5-TTS first chunk first, then the rest) into a streaming ``gr.Audio``
as pieces of 16-bit wav of one steady length (``PIECE_S``), never per-chunk-normalised
floats, which jump in loudness. When the audio is complete, the usual outputs follow: the
whole clip saved to History (downloadable), the badges and the metadata. Gradio relays the
pieces to the browser as HLS: playback starts a few seconds after the first piece (its
playlist wants a few segments first), and a stream of a single piece never plays, which
steady 1 s pieces avoid for anything longer than a second. The request runs on a helper
thread that carries the event's context; the pieces cross over through a queue.
"""

from __future__ import annotations

import contextvars
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import gradio as gr
import numpy as np

from engines import SynthesisRequest, SynthesisStream, VoiceStudioError

from ..serving.audio_formats import wav_bytes
from ..serving.gpu import spaces_available
from ..serving.labels import engine_label
from ..serving.served_files import cache_copy
from ..serving.speech_service import Failure, SpeechService, Spoken
from .badges import fallback_text, render_badges
from .error_panel import BadInputError

logger = logging.getLogger("voice_studio.webui")

AudioValue = Any  # a file path or (sample_rate, samples) for gr.Audio
Outputs = tuple[AudioValue, str, dict[str, Any]]
PIECE_S = 1.0
_DONE = object()


class StreamStopped(VoiceStudioError):
    """The page stopped listening before the audio was complete."""


# --- the form -----------------------------------------------------------------------------
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


# --- the whole clip -----------------------------------------------------------------------
def speak_outputs(service: SpeechService, request: SynthesisRequest, progress: Callable | None,
                  play: Callable[[SynthesisStream], None] | None = None) -> Outputs:
    """Synthesize ``request`` and return (audio, badges HTML, metadata) for the outputs."""
    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, desc=message)

    report(0.0, f"Starting on {engine_label(request.engine)}…")
    try:
        spoken = service.speak(request, report, play)
    except VoiceStudioError as exc:  # a bug is not one: Gradio reports it without its details
        raise gradio_error(Failure.of(exc)) from exc
    return outputs(spoken)


def gradio_error(failure: Failure) -> gr.Error:
    if failure.kind == "bad_input":
        return BadInputError(failure.message)
    title = "No engine available" if failure.kind == "no_engine" else "Synthesis failed"
    return gr.Error(failure.message, title=title, print_exception=False)


def outputs(spoken: Spoken) -> Outputs:
    """The audio (the History's copy in Gradio's cache, where there is one), the badges, the metadata."""
    result = spoken.result
    # The text goes back with the metadata so an API client can match each answer to its request.
    metadata = {**result.metadata, "text": spoken.request.text}
    warning = fallback_text(metadata)
    if warning:
        gr.Warning(warning)
    audio: AudioValue = (result.sample_rate, result.audio)
    if spoken.saved.error is not None:
        gr.Warning(f"Not saved to the history: {spoken.saved.error}")
    elif spoken.saved.entry is not None:
        audio = cache_copy(spoken.saved.entry.audio_path)  # the output folder itself is never served
    metadata.update(spoken.saved.fields())
    return audio, render_badges(metadata), metadata


# --- played while it is made ----------------------------------------------------------------
def steady_pieces(chunks: Iterable[np.ndarray], sample_rate: int, piece_s: float = PIECE_S) -> Iterator[np.ndarray]:
    """The samples of ``chunks`` regrouped into pieces of ``piece_s`` seconds (the last one shorter)."""
    size = max(1, int(round(piece_s * sample_rate)))
    held: list[np.ndarray] = []
    count = 0
    for chunk in chunks:
        chunk = np.asarray(chunk, dtype=np.float32).reshape(-1)
        held.append(chunk)
        count += chunk.size
        if count < size:
            continue
        joined = np.concatenate(held)
        whole = (joined.size // size) * size
        for start in range(0, whole, size):
            yield joined[start:start + size]
        held, count = [joined[whole:]], joined.size - whole
    if count:
        yield np.concatenate(held)


def stream_outputs(service: SpeechService, request: SynthesisRequest, progress: Callable | None) -> Iterator[tuple]:
    """Yield (piece, skip, skip, skip) while the audio is made, then (skip, audio, badges, metadata).

    On a ZeroGPU Space the GPU exists only inside the one ``spaces.GPU`` call, so there the
    clip is made whole by that call and nothing streams.
    """
    if spaces_available():
        yield (gr.skip(), *speak_outputs(service, request, progress))
        return
    pieces: queue.Queue = queue.Queue()
    stopped = threading.Event()

    def play(live: SynthesisStream) -> None:
        for piece in steady_pieces(live, live.sample_rate):
            if stopped.is_set():
                raise StreamStopped("the page stopped listening before the audio was complete")
            pieces.put(wav_bytes(piece, live.sample_rate))

    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["outputs"] = speak_outputs(service, request, progress, play)
        except BaseException as exc:  # handed to the event below, which raises it as Gradio expects
            outcome["error"] = exc
        finally:
            pieces.put(_DONE)

    # The event's context (gradio's event id, for toasts and progress) goes with the thread.
    thread = threading.Thread(target=contextvars.copy_context().run, args=(run,), name="live-synthesis",
                              daemon=True)
    thread.start()
    first, started = True, time.monotonic()
    try:
        while (item := pieces.get()) is not _DONE:
            if first:  # the previous result leaves as the new audio starts
                first = False
                logger.info("live audio: first piece", extra={"after_s": round(time.monotonic() - started, 3)})
                yield item, None, "", gr.skip()
            else:
                yield item, gr.skip(), gr.skip(), gr.skip()
    finally:
        stopped.set()
    if "error" in outcome:
        raise outcome["error"]
    yield (gr.skip(), *outcome["outputs"])
