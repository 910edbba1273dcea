"""Find speech: Silero VAD (``silero-vad``; its weights ship inside the package).

Silero's own ``get_speech_timestamps`` feeds the model one 32 ms frame at a time, which
takes about half a minute per ten minutes of sound. Here the sound is cut into 8 s
streams that run side by side as one batch (the model keeps a state per row); each
stream first hears the half second before it, so its state is warm where it starts.
The per-frame probabilities then go through Silero's own
``get_speech_timestamps_from_probs``: the thresholds, padding and minimum durations
are the library's.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
from collections.abc import Callable

import numpy as np

logger = logging.getLogger("voice_studio.dubbing.video.speech")

RATE = 16000
FRAME = 512                      # Silero's window at 16 kHz (32 ms)
STREAM_FRAMES = 250              # 8 s per stream
WARM_FRAMES = 16                 # 0.5 s heard before each stream's own frames
BATCH_STREAMS = 256
THRESHOLD = 0.5
MIN_SPEECH_MS = 250
MIN_SILENCE_MS = 150
SPEECH_PAD_MS = 30

Progress = Callable[[float, str], None]
_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def silero():
    """The ``silero_vad`` module. Importing it sets torch to one thread for the whole process
    (``silero_vad/model.py``); the count there was is put back. Import it only through here."""
    import torch

    threads = torch.get_num_threads()
    import silero_vad

    torch.set_num_threads(threads)
    return silero_vad


@functools.lru_cache(maxsize=1)
def vad_model():
    """Silero's JIT model, from the wheel."""
    return silero().load_silero_vad()


def speech_probabilities(samples: np.ndarray, progress: Progress | None = None) -> np.ndarray:
    """Silero's speech probability for every 32 ms frame of ``samples`` (float32 mono, 16 kHz)."""
    import torch

    frames = math.ceil(len(samples) / FRAME)
    if frames == 0:
        return np.zeros(0, dtype=np.float32)
    padded = np.zeros((frames + WARM_FRAMES) * FRAME, dtype=np.float32)
    padded[WARM_FRAMES * FRAME: WARM_FRAMES * FRAME + len(samples)] = samples
    # The first stream warms up on the file's first half second mirrored: a fresh state that meets
    # a sound starting abruptly (a music bed at 0 s) hears it as speech for a moment.
    lead = samples[: WARM_FRAMES * FRAME][::-1]
    padded[WARM_FRAMES * FRAME - len(lead): WARM_FRAMES * FRAME] = lead
    streams = math.ceil(frames / STREAM_FRAMES)
    span = (STREAM_FRAMES + WARM_FRAMES) * FRAME
    out = np.zeros(streams * STREAM_FRAMES, dtype=np.float32)
    model = vad_model()
    with _LOCK, torch.inference_mode():  # the model holds its streams' state: one caller at a time
        for first in range(0, streams, BATCH_STREAMS):
            rows = range(first, min(streams, first + BATCH_STREAMS))
            batch = np.zeros((len(rows), span), dtype=np.float32)
            for row, stream in enumerate(rows):
                piece = padded[stream * STREAM_FRAMES * FRAME: stream * STREAM_FRAMES * FRAME + span]
                batch[row, :len(piece)] = piece
            x = torch.from_numpy(batch).view(len(rows), STREAM_FRAMES + WARM_FRAMES, FRAME)
            model.reset_states()  # a fresh state per row: the model sizes it from the first batch
            probs = [model(x[:, step], RATE) for step in range(x.shape[1])]
            stacked = torch.cat(probs, dim=1)[:, WARM_FRAMES:].numpy()
            out[first * STREAM_FRAMES: (rows[-1] + 1) * STREAM_FRAMES] = stacked.reshape(-1)
            if progress is not None:
                progress((rows[-1] + 1) / streams, f"speech found in {min(len(samples), (rows[-1] + 1) * STREAM_FRAMES * FRAME) / RATE:.0f} s")
    return out[:frames]


def find_speech(samples: np.ndarray, progress: Progress | None = None) -> list[tuple[float, float]]:
    """The stretches of speech in ``samples`` (float32 mono, 16 kHz) as (start, end) seconds."""
    probs = speech_probabilities(samples, progress)
    stamps = silero().get_speech_timestamps_from_probs(
        probs.tolist(), sampling_rate=RATE, threshold=THRESHOLD, min_speech_duration_ms=MIN_SPEECH_MS,
        min_silence_duration_ms=MIN_SILENCE_MS, speech_pad_ms=SPEECH_PAD_MS, return_seconds=False,
        audio_length_samples=len(samples))
    regions = [(s["start"] / RATE, s["end"] / RATE) for s in stamps]
    logger.info("speech found", extra={"regions": len(regions), "speech_s": round(sum(b - a for a, b in regions), 2),
                                       "audio_s": round(len(samples) / RATE, 2)})
    return regions
