"""XTTS requests on the continuous decode batch (``engines/xtts/accel/xtts_batch.py``).

A job's text chunks become rows decoded beside other users' rows, each with its own seed
(chunk k: the job's seed + k, as one-at-a-time decoding seeds it) and its profile's settings.

- A whole clip: every chunk is a row at once; each row's sink vocodes its latents when it
  ends, and the waves join as one-at-a-time decoding joins them.
- A stream: chunk after chunk, the next row queued the moment the last one ends; a row's sink
  vocodes its newest latents at each check (``StreamWindows``) and hands the pieces to the
  consumer's queue, so audio arrives as it is made. Closing the stream takes its row out of the
  batch at the next check.

HiFi-GAN runs in the model's vocoder lanes (``engines/gpu/side_lane.py``, on by default:
``VOICE_STUDIO_XTTS_VOCODE=lane``): threads beside the device worker, each with its own CUDA
stream, so the worker goes on stepping the other rows meanwhile. Whole clips go to one lane and
streams' pieces to another: a long clip's HiFi-GAN (up to 2.5 s of waiting in one shared lane
under 16 users on an H100) never holds up a listener's next piece. On the worker a sink only copies what
the lane needs (the row's latents, a stream window's frames) and queues the work; the lane
vocodes in that order and hands the audio on. With ``VOICE_STUDIO_XTTS_VOCODE=worker`` the sinks
vocode on the worker, inside the decode slice, as before the lane.

Here, on the caller's thread, the text is tokenised on the CPU and the conditioning is looked
up (or computed by a worker job); nothing else touches the device.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..audio.waveforms import crossfade_join, crossfade_pieces
from ..base import report
from ..languages import XTTS_CODES
from ..types import EngineJob, EngineOutput
from .chunking import CHUNK_CROSS_FADE_S, NO_AUDIO, SAMPLE_RATE, STREAM_CHUNK_TOKENS, STREAM_FIRST_CHUNK_TOKENS
from .first_audio import FirstAudioMarks, ListenedStream

if TYPE_CHECKING:
    from ..gpu.side_lane import SideLane
    from ..settings import XttsSettings
    from ..worker import DeviceWorker

CPU_SLOTS = 4                # decodes in flight at once on a CPU
MAX_DEFAULT_SLOTS = 16       # the largest default on a GPU (the largest graph bucket)
SLOT_MEMORY_SHARE = 0.2      # of the free GPU memory at load, at most, for the slots

_DONE = object()


def batch_options(settings: "XttsSettings", accelerator):
    """The batch's shape from the settings, or None when batching is off."""
    from .accel.xtts_batch import BatchOptions
    from .accel.xtts_slots import DEFAULT_BUCKETS

    if settings.batch == "off":
        return None
    slots = settings.max_batch or default_slots(accelerator)
    buckets = (slots,) if settings.batch == "fixed" else DEFAULT_BUCKETS
    return BatchOptions(slots=slots, buckets=buckets, slice_steps=settings.slice_steps)


def default_slots(accelerator) -> int:
    """On a GPU: as many slots as a fifth of the free memory holds, at most 16; on a CPU, 4.
    (Called on the device worker, after the model is on the device.)"""
    import torch

    from .accel.xtts_slots import SlotDecoder

    if not accelerator.cuda:
        return CPU_SLOTS
    free, _total = torch.cuda.mem_get_info(accelerator.device)
    return max(1, min(MAX_DEFAULT_SLOTS, int(SLOT_MEMORY_SHARE * free) // SlotDecoder.slot_bytes(accelerator)))


class WaveSink:
    """A whole clip's row: its latents become audio when it ends (HiFi-GAN, float32 ``[samples]``
    at 24 kHz): on the worker, or in ``lane`` (then the row's result is that work's future)."""

    def __init__(self, accelerator, speaker_embedding, speed: float, lane: "SideLane | None" = None):
        self.acc, self.speaker, self.speed, self.lane = accelerator, speaker_embedding, speed, lane

    def update(self, n: int, latents, done: bool):
        if not done:
            return None
        if self.lane is None:
            return self._wave(latents)
        own = latents[:n].clone()  # the slot's memory goes to the next row once this one leaves
        return self.lane.submit(partial(self._wave, own, side_thread=True), label="xtts vocode", handed=(own,))

    @torch.inference_mode()
    def _wave(self, latents, side_thread: bool = False) -> np.ndarray:
        wave = self.acc._vocode(latents, self.speaker, self.speed, side_thread=side_thread)
        return np.asarray(wave.detach().float().cpu().numpy(), dtype=np.float32).reshape(-1)


class StreamSink:
    """A streamed row: pieces of audio to ``put`` as its latents come; ``ended`` once it is done.

    With a ``lane`` the worker only plans each window (``StreamWindows.plan``: the frames, a copy);
    the stream lane renders the windows in order, puts the pieces, then the end marker, then calls
    ``ended`` (which queues the next chunk's row). A window that fails in the lane ends the
    stream with its reason: the row fails at its next check (or its end), and the consumer gets
    the failure through its queue as for any failed row."""

    def __init__(self, windows, put, ended, lane: "SideLane | None" = None, marks: FirstAudioMarks | None = None):
        self.windows, self.put, self.ended, self.lane = windows, put, ended, lane
        self.marks = marks  # the stream's first row: where its first audio's time goes
        self.failure: BaseException | None = None  # set in the lane, read on the worker

    def _mark(self, moment: str) -> None:
        if self.marks is not None:
            self.marks.mark(moment)

    def update(self, n: int, latents, done: bool):
        self._mark("checked")
        if self.lane is None:
            self._hand_out(self.windows.feed(n, latents, done))
            return self._end() if done else None
        if self.failure is not None:
            raise self.failure
        window = self.windows.plan(n, latents, done)
        if window is not None:
            self._mark("planned")
            self.lane.submit(partial(self._render, window), label="xtts stream window", handed=(window.frames,))
        return self.lane.submit(self._end, label="xtts stream end") if done else None

    @torch.inference_mode()
    def _render(self, window) -> None:
        if self.failure is not None:
            return  # an earlier window failed: this stream is over
        try:
            self._hand_out(self.windows.render(window))
        except Exception as exc:  # the lane logs it; the row fails with it at its next check or its end
            self.failure = exc
            raise

    def _hand_out(self, piece) -> None:
        if piece is not None:
            self._mark("planned")  # (on the worker, without a lane, the window is planned and rendered at once)
            audio = piece.detach().float().cpu().numpy().reshape(-1)
            self._mark("handed")
            self.put((audio, False))

    def _end(self) -> None:
        if self.failure is not None:
            raise self.failure
        self.put((NO_AUDIO, True))
        self.ended()


def row_request(engine, loaded, job: EngineJob, index: int, text: str, latent, sink):
    """Text chunk ``index`` of ``job`` as a row: its ids, the voice's latents, the profile's settings."""
    from .accel.xtts_batch import RowRequest
    from .accel.xtts_sampling import SamplingParams

    p = job.profile
    params = SamplingParams(temperature=p.temperature, top_k=p.top_k, top_p=p.top_p,
                            repetition_penalty=p.repetition_penalty)
    ids = loaded.accelerator.text_ids(text, XTTS_CODES[job.language])
    return RowRequest(text_ids=ids, cond_latents=latent, params=params, sink=sink, seed=job.seed + index,
                      order=index)


def render(engine, loaded, job: EngineJob, worker: "DeviceWorker") -> EngineOutput:
    """The whole clip of ``job``: all its chunks in the batch at once, joined when all have ended."""
    acc, batch = loaded.accelerator, loaded.batch
    texts = engine._chunks(loaded, job)
    latent, embedding, source = engine.conditioning_for(loaded, job, worker)
    rows = [row_request(engine, loaded, job, index, text, latent, WaveSink(acc, embedding, job.speed, loaded.lane))
            for index, text in enumerate(texts)]
    report(job, 0.0, f"XTTS: {len(texts)} chunk(s), decoding")
    futures = []
    try:
        futures = batch.submit_all(rows, worker)
        results = []
        for index, future in enumerate(futures):
            results.append(future.result())
            report(job, (index + 1) / len(futures), f"XTTS: chunk {index + 1} of {len(futures)} done")
    finally:
        for future in futures:
            future.cancel()  # a failed or abandoned request frees its other rows' slots (a no-op once done)
    details = engine._details(loaded, job, source)
    details["decode_batch_peak"] = max(r.peak_rows for r in results)  # the most rows in one of its steps
    details["decode_tokens"] = sum(len(r.codes) for r in results)
    return EngineOutput(audio=crossfade_join([r.value for r in results], SAMPLE_RATE, CHUNK_CROSS_FADE_S),
                        chunks=len(texts), details=details)


def stream(engine, loaded, job: EngineJob, worker: "DeviceWorker") -> Iterator[np.ndarray]:
    """``job``'s audio as it is made; returns once the first piece exists (a failure before
    that is raised here, so the manager can fall back)."""
    from .accel.xtts_windows import StreamWindows

    acc, batch = loaded.accelerator, loaded.batch
    marks = FirstAudioMarks()
    texts = engine._chunks(loaded, job)
    latent, embedding, source = engine.conditioning_for(loaded, job, worker, listening=True)
    marks.mark("conditioned")
    pieces: queue.Queue = queue.Queue()
    lock = threading.Lock()
    state = {"future": None, "closed": False}

    def failed(future) -> None:
        if not future.cancelled() and future.exception() is not None:
            pieces.put(future.exception())

    def start(index: int) -> None:
        """Queue chunk ``index``'s row (the first from here, the next ones from the worker)."""
        with lock:
            if state["closed"]:
                return
        if index == len(texts):
            pieces.put(_DONE)
            return
        windows = StreamWindows(acc, embedding, job.speed, STREAM_FIRST_CHUNK_TOKENS, STREAM_CHUNK_TOKENS,
                                acc.options.stream_context)
        sink = StreamSink(windows, pieces.put, lambda: start(index + 1), lane=loaded.stream_lane,
                          marks=marks if index == 0 else None)
        row = row_request(engine, loaded, job, index, texts[index], latent, sink)
        if index == 0:
            marks.mark("submitted")
        future = batch.submit(row, worker, follow_up=index > 0, hurry=index == 0)
        future.add_done_callback(failed)
        with lock:
            state["future"] = future

    def parts() -> Iterator[tuple[np.ndarray, bool]]:
        while True:
            item = pieces.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def stop() -> None:
        with lock:
            state["closed"] = True
            future = state["future"]
        if future is not None:
            future.cancel()

    start(0)
    joined = crossfade_pieces(parts(), SAMPLE_RATE, CHUNK_CROSS_FADE_S)
    try:
        first = next(joined)
    except StopIteration:
        stop()
        raise RuntimeError(f"{engine.display_name} produced no audio") from None
    except BaseException:
        stop()
        raise

    def audio() -> Iterator[np.ndarray]:
        try:
            yield first
            yield from joined
        finally:
            stop()

    return ListenedStream(audio(), marks, {"latents_source": source})


def capture_buckets(engine, loaded, worker: "DeviceWorker") -> None:
    """Capture the batched step of each bucket size, one exclusive worker job each, so that the
    captures and the requests take turns (``engine.warmup`` says how far it got)."""
    import time

    decoder = loaded.batch.decoder
    buckets = decoder.missing_graphs()
    status = engine.warmup
    status.update(buckets=len(buckets))
    start = time.perf_counter()
    errors: list[str] = []
    if not buckets:
        status.update(state="ready", capture_s=0.0)
        return

    def capture(bucket: int):
        def run() -> None:
            if engine._loaded is not loaded:  # unloaded meanwhile: nothing to capture for
                return
            try:
                decoder.capture(bucket)
                status["graphs"] += 1
            except Exception as exc:  # that bucket stays eager (slower); health says why
                errors.append(f"rows={bucket}: {type(exc).__name__}: {str(exc)[:200]}")
                status["error"] = "; ".join(errors)
                raise
            finally:
                if status["graphs"] + len(errors) == len(buckets):
                    status.update(state="ready" if not errors else ("partial" if status["graphs"] else "failed"),
                                  capture_s=round(time.perf_counter() - start, 2))

        return run

    for bucket in buckets:
        worker.submit(capture(bucket), label=f"xtts capture rows={bucket}", exclusive=True)
