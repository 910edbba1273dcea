"""Cutting long pauses out of generated speech (F5-TTS's "remove silences").

The same pydub call and settings as upstream's ``remove_silence_for_generated_wav``
(``f5_tts/infer/utils_infer.py``): pauses of at least 1 s quieter than -50 dBFS are cut,
keeping 0.5 s of each edge. Upstream rewrites a wav file; this works on samples in memory.
"""

from __future__ import annotations

import numpy as np

MIN_SILENCE_MS = 1000
SILENCE_THRESH_DBFS = -50
KEEP_SILENCE_MS = 500
SEEK_STEP_MS = 10


def remove_silences(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """float32 ``[samples]`` mono -> the same with long pauses cut out (unchanged when there are none)."""
    from pydub import AudioSegment, silence

    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    if samples.size == 0:
        return samples
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    segment = AudioSegment(pcm.tobytes(), frame_rate=sample_rate, sample_width=2, channels=1)
    kept = silence.split_on_silence(segment, min_silence_len=MIN_SILENCE_MS, silence_thresh=SILENCE_THRESH_DBFS,
                                    keep_silence=KEEP_SILENCE_MS, seek_step=SEEK_STEP_MS)
    if not kept:  # all of it is silence: leave it to the sanity check to say so
        return samples
    joined = sum(kept[1:], kept[0])
    if len(joined.raw_data) >= len(pcm.tobytes()):
        return samples  # nothing cut: keep the exact samples (no 16-bit rounding)
    return np.frombuffer(joined.raw_data, dtype="<i2").astype(np.float32) / 32767.0
