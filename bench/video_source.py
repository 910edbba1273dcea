"""A synthetic two-speaker video for ``bench.video``, made in code (the GPU machine has no espeak-ng).

Speech-like sound: a glottal pulse train (speaker 1 at 110 Hz, speaker 2 at 210 Hz, with a
pitch contour) through three formant resonators that change vowel every syllable (about
4.5 a second), with a short noise burst as each syllable's consonant. Silero VAD hears it
as speech. Sentences of 2-8 s, turns alternating, pauses of 0.3-1.5 s, over a soft chord
bed with a beat; the picture is ffmpeg's test pattern encoded as MPEG-4 Part 2, which any
ffmpeg build has. Random models make noise of it anyway: the benchmark measures speed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

RATE = 16000
VOWELS = ((730, 1090, 2440), (270, 2290, 3010), (530, 1840, 2480), (570, 840, 2410), (300, 870, 2240),
          (660, 1720, 2410), (440, 1020, 2240))
PITCH = (110.0, 210.0)


def sentence(seconds: float, f0: float, rng: np.random.Generator) -> np.ndarray:
    import scipy.signal as ss

    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    pitch = f0 * (1 + 0.12 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)) - 0.1 * t / seconds)
    saw = (np.cumsum(pitch) / RATE % 1.0) * 2 - 1
    source = np.diff(np.concatenate([[0.0], saw])) + 0.02 * rng.normal(size=n)
    syllables = max(1, int(seconds * 4.5))
    bounds = np.linspace(0, n, syllables + 1).astype(int)
    out = np.zeros(n)
    for a, b in zip(bounds[:-1], bounds[1:]):
        piece = source[max(0, a - 400): b]
        voiced = np.zeros_like(piece)
        for k, freq in enumerate(VOWELS[rng.integers(len(VOWELS))]):
            r, theta = np.exp(-np.pi * (80 + 40 * k) / RATE), 2 * np.pi * freq / RATE
            voiced += ss.lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], piece) / (k + 1)
        burst = np.zeros(b - a)
        m = min(300, b - a)
        burst[:m] = rng.normal(size=m) * np.linspace(1, 0, m) * 0.3
        out[a:b] = voiced[-(b - a):] * np.sin(np.linspace(0, np.pi, b - a)) ** 0.6 + burst
    return (out / np.abs(out).max() * 0.5).astype(np.float32)


def soundtrack(seconds: float, seed: int = 0) -> tuple[np.ndarray, list[tuple[float, float, int]]]:
    """The mix (float32, 16 kHz mono) and its sentences as (start s, end s, speaker)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    beat = 0.6 + 0.4 * (np.sin(2 * np.pi * 2 * t) > 0.9)
    mix = (0.02 * beat * sum(np.sin(2 * np.pi * f * t) for f in (110.0, 138.6, 164.8))).astype(np.float32)
    at, speaker, said = 0.8, 0, []
    while True:
        length = float(rng.uniform(2.0, 8.0))
        if at + length > seconds - 0.5:
            break
        clip = sentence(length, PITCH[speaker], rng)
        a = int(at * RATE)
        mix[a:a + len(clip)] += clip
        said.append((round(at, 3), round(at + length, 3), speaker))
        at += length + float(rng.uniform(0.3, 1.5))
        speaker = 1 - speaker if rng.uniform() < 0.7 else speaker
    return mix, said


def make_video(folder: Path, seconds: float, size: str = "320x240") -> tuple[Path, list[tuple[float, float, int]]]:
    """``folder/source.mp4``: the test pattern and the soundtrack (AAC)."""
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    mix, said = soundtrack(seconds)
    wav = folder / "source.wav"
    sf.write(wav, mix, RATE, subtype="PCM_16")
    video = folder / "source.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc=duration={seconds}:size={size}:rate=10", "-i", str(wav), "-c:v", "mpeg4", "-q:v", "8",
                    "-c:a", "aac", "-b:a", "96k", "-shortest", str(video)], check=True, timeout=600)
    return video, said
