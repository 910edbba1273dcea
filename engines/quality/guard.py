"""A sanity guard on engine output: what no user should ever be handed."""

from __future__ import annotations

import numpy as np

SILENCE_RMS = 1e-4
CHARS_PER_SECOND = 15.0  # typical read speech is 12-18 characters a second


def expected_seconds(text: str, speed: float = 1.0) -> float:
    return len(text) / CHARS_PER_SECOND / max(speed, 0.05)


def audio_problem(audio: np.ndarray, sample_rate: int, text: str, speed: float = 1.0,
                  target_s: float | None = None) -> str | None:
    """Why ``audio`` is unusable for ``text``, or None.

    With ``target_s`` (the caller asked for that length) the expected duration is the target.

    The duration bounds are wide on purpose (a fifth to four times the typical
    reading time, plus slack) so that only broken output trips them: a decoder that
    stopped at once, or one that ran to its token limit on a short sentence.
    """
    if audio.size == 0:
        return "engine returned no audio"
    if not np.isfinite(audio).all():
        return "engine returned non-finite audio (NaN or infinity)"
    if float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) < SILENCE_RMS:
        return "engine returned silence"
    duration = audio.size / sample_rate
    expected = target_s if target_s is not None else expected_seconds(text, speed)
    if duration < max(0.2, 0.2 * expected):
        return f"audio is {duration:.1f} s, far shorter than the ~{expected:.1f} s the text implies"
    if duration > 4.0 * expected + 15.0:
        return f"audio is {duration:.1f} s, far longer than the ~{expected:.1f} s the text implies"
    return None
