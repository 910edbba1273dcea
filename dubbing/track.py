"""The timed track: every line placed at its start sample, overlaps mixed, silence between.

Positions are whole samples at 24 kHz computed from milliseconds, so a line starts
within half a sample of its cue, however long the track: nothing drifts, because
no line's position depends on another line's length.

The track is mixed block by block straight into a WAV file: memory holds the lines' own
audio and one block, never the whole track, so an hour of silence between two cues costs
disk, not memory.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from engines.storage import atomic_write

SAMPLE_RATE = 24000
PEAK_LIMIT = 0.99
SCRIPT_PAUSE_S = 0.4     # between the lines of a plain script (they have no times)
FADE_S = 0.005           # a tail cut to fit is faded, not clicked
BLOCK_S = 10.0           # the mix is made and written this many seconds at a time


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
    path: Path                   # the mixed track, a mono WAV at ``sample_rate``
    sample_rate: int
    samples: int
    overlaps: tuple[dict, ...]   # {"lines": [a, b], "start_s", "overlap_s"}
    mix_gain: float              # < 1 when overlapping lines would have clipped
    extended_s: float            # how far speech runs past the requested length

    @property
    def duration_s(self) -> float:
        return self.samples / self.sample_rate


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


def mix_track(placed: Sequence[Placed], length_s: float, target: str | os.PathLike,
              subtype: str = "PCM_16") -> Track:
    """Lines summed at their start samples into a WAV ``length_s`` long (longer if speech runs past).

    ``target`` is written atomically, ``BLOCK_S`` at a time. Overlapping lines that would clip
    lower the whole mix once, by the same gain everywhere.
    """
    wanted = seconds_to_samples(length_s)
    end = max([wanted] + [p.end_sample for p in placed])
    overlaps = find_overlaps(placed)
    gain = 1.0
    if overlaps:
        peak = max((float(np.max(np.abs(block))) for _, block in _blocks(placed, end) if block is not None),
                   default=0.0)
        if peak > PEAK_LIMIT:
            gain = PEAK_LIMIT / peak  # two voices at once would clip: lower the whole mix once

    def write(handle) -> None:
        silence = np.zeros(min(end, _block_samples()), dtype=np.float32)
        with sf.SoundFile(handle, "w", SAMPLE_RATE, 1, subtype=subtype, format="WAV") as out:
            for start, block in _blocks(placed, end):
                if block is None:
                    out.write(silence[:min(len(silence), end - start)])
                    continue
                if gain != 1.0:
                    block *= gain
                out.write(np.clip(block, -1.0, 1.0, out=block))

    atomic_write(target, write)
    return Track(Path(target), SAMPLE_RATE, end, tuple(overlaps), round(gain, 4),
                 round(max(0, end - wanted) / SAMPLE_RATE, 3))


def _block_samples() -> int:
    return seconds_to_samples(BLOCK_S)


def _blocks(placed: Sequence[Placed], end: int) -> Iterator[tuple[int, np.ndarray | None]]:
    """(first sample, the block's mix) over ``[0, end)``; the mix is None where no line sounds."""
    ordered = sorted(placed, key=lambda p: p.start_sample)
    starts = [p.start_sample for p in ordered]
    size = _block_samples()
    active: list[Placed] = []
    taken = 0
    for first in range(0, end, size):
        last = min(first + size, end)
        upto = bisect.bisect_left(starts, last)
        active.extend(ordered[taken:upto])
        taken = upto
        active = [p for p in active if p.end_sample > first]
        if not active:
            yield first, None
            continue
        block = np.zeros(last - first, dtype=np.float32)
        for p in active:
            lo, hi = max(p.start_sample, first), min(p.end_sample, last)
            if hi > lo:
                block[lo - first:hi - first] += np.asarray(p.audio[lo - p.start_sample:hi - p.start_sample],
                                                           dtype=np.float32)
        yield first, block


def sequential_starts(durations_s: Sequence[float], pause_s: float = SCRIPT_PAUSE_S,
                      first_s: float = 0.0) -> list[float]:
    """Start times for untimed lines spoken one after another with a pause between."""
    starts, at = [], first_s
    for duration in durations_s:
        starts.append(round(at, 3))
        at += duration + pause_s
    return starts

