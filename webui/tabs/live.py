"""Audio that starts playing while it is made, on the Dubbing and Cloning tabs.

The button's event is a generator: it streams the engine's chunks (XTTS by its token
stream, F5-TTS first chunk first, then the rest) into a streaming ``gr.Audio`` as pieces
of 16-bit wav of one steady length (``PIECE_S``), never per-chunk-normalised floats, which
jump in loudness. When the audio is complete, the usual outputs follow: the whole clip
saved to History (downloadable), the badges and the metadata.

Gradio relays the pieces to the browser as HLS: playback starts a few seconds after the
first piece (its playlist wants a few segments first), and a stream of a single piece
never plays, which steady 1 s pieces avoid for anything longer than a second.

The request itself goes through ``synthesis.run_request`` (the same checks, error
messages, fallback toast and history records as the non-streamed ``/dub`` and
``/clone``), on a helper thread that carries the event's context; the pieces cross over
through a queue.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import gradio as gr
import numpy as np

from engines import SynthesisRequest, SynthesisResult, VoiceStudioError

from ..serving.audio_formats import wav_bytes
from ..serving.gpu import spaces_available
from ..serving.synthesis import Recorder, make_synthesizer, run_request, waiting_reporter

logger = logging.getLogger("voice_studio.webui")

PIECE_S = 1.0
_DONE = object()


class StreamStopped(VoiceStudioError):
    """The page stopped listening before the audio was complete."""


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


def stream_outputs(service: Any, request: SynthesisRequest, progress: Callable | None,
                   recorder: Recorder | None) -> Iterator[tuple]:
    """Yield (piece, skip, skip, skip) while the audio is made, then (skip, audio, badges, metadata).

    On a ZeroGPU Space the GPU exists only inside the one ``spaces.GPU`` call, so there the
    clip is made whole by that call and nothing streams.
    """
    if spaces_available():
        yield (gr.skip(), *run_request(make_synthesizer(service.manager, service), request, progress, recorder))
        return
    pieces: queue.Queue = queue.Queue()
    stopped = threading.Event()

    def synthesize(req: SynthesisRequest, report: Callable | None) -> SynthesisResult:
        with service.admit(on_wait=waiting_reporter(report)):
            live = service.manager.stream(req, progress=report)
            try:
                for piece in steady_pieces(live, live.sample_rate):
                    if stopped.is_set():
                        raise StreamStopped("the page stopped listening before the audio was complete")
                    pieces.put(wav_bytes(piece, live.sample_rate))
            finally:
                live.close()
        return live.result

    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["outputs"] = run_request(synthesize, request, progress, recorder)
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
