"""The timed track: every line placed at its start sample, overlaps mixed, silence between.

Positions are whole samples at 24 kHz computed from milliseconds, so a line starts
within half a sample of its cue, however long the track: nothing drifts, because
no line's position depends on another line's length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 24000
PEAK_LIMIT = 0.99
SCRIPT_PAUSE_S = 0.4     # between the lines of a plain script (they have no times)
FADE_S = 0.005           # a tail cut to fit is faded, not clicked


@dataclass(frozen=True)
class Placed:
    index: int
    start_s: float
    audio: np.ndarray   # float32 mono at SAMPLE_RATE

    @property
    def start_sample(self) -> int:
        return seconds_to_samples(self.start_s)

    @property
    def end_sample(self) -> int:
        return self.start_sample + len(self.audio)

    @property
    def end_s(self) -> float:
        return self.end_sample / SAMPLE_RATE


@dataclass(frozen=True)
class Track:
    audio: np.ndarray
    sample_rate: int
    overlaps: tuple[dict, ...]   # {"lines": [a, b], "start_s", "overlap_s"}
    mix_gain: float              # < 1 when overlapping lines would have clipped
    extended_s: float            # how far speech runs past the requested length

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate


def seconds_to_samples(seconds: float) -> int:
    return int(round(seconds * SAMPLE_RATE))


def pad_or_trim(audio: np.ndarray, samples: int) -> np.ndarray:
    """Exactly ``samples`` long: silence added at the end, or the tail cut with a short fade."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if len(audio) >= samples:
        out = audio[:samples].copy()
        fade = min(len(out), seconds_to_samples(FADE_S))
        if fade and len(audio) > samples:
            out[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        return out
    return np.concatenate([audio, np.zeros(samples - len(audio), dtype=np.float32)])


def find_overlaps(placed: Sequence[Placed]) -> list[dict]:
    """Every pair of lines that sound at once, with where and for how long."""
    ordered = sorted(placed, key=lambda p: (p.start_sample, p.index))
    found = []
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            if b.start_sample >= a.end_sample:
                break
            samples = min(a.end_sample, b.end_sample) - b.start_sample
            if samples > 0:
                found.append({"lines": [a.index, b.index], "start_s": round(b.start_s, 3),
                              "overlap_s": round(samples / SAMPLE_RATE, 3)})
    return found


def mix_track(placed: Sequence[Placed], length_s: float) -> Track:
    """Lines summed at their start samples into a track ``length_s`` long (longer if speech runs past)."""
    wanted = seconds_to_samples(length_s)
    end = max([wanted] + [p.end_sample for p in placed])
    audio = np.zeros(end, dtype=np.float32)
    for p in placed:
        audio[p.start_sample:p.end_sample] += np.asarray(p.audio, dtype=np.float32)
    overlaps = find_overlaps(placed)
    gain = 1.0
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if overlaps and peak > PEAK_LIMIT:
        gain = PEAK_LIMIT / peak  # two voices at once would clip: lower the whole mix once
        audio *= gain
    return Track(audio, SAMPLE_RATE, tuple(overlaps), round(gain, 4), round(max(0, end - wanted) / SAMPLE_RATE, 3))


def sequential_starts(durations_s: Sequence[float], pause_s: float = SCRIPT_PAUSE_S,
                      first_s: float = 0.0) -> list[float]:
    """Start times for untimed lines spoken one after another with a pause between."""
    starts, at = [], first_s
    for duration in durations_s:
        starts.append(round(at, 3))
        at += duration + pause_s
    return starts

