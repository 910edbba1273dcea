"""A synthetic two-speaker video for ``bench.video``, made in code (the GPU machine has no espeak-ng).

Speech-like sound: syllables of a band-passed noise consonant and a vowel (glottal pulses,
speaker 1 at 110 Hz and speaker 2 at 210 Hz, through three formant resonators), in words
of 1-3 syllables with short gaps, the pitch falling over each sentence. Silero VAD hears
it as speech (checked: all of it, alone or over the bed). Sentences of 2-8 s, turns alternating, pauses of 0.3-1.5 s, over a soft chord
bed with a beat; the picture is a moving gradient piped in raw and encoded as MPEG-4
Part 2, which any ffmpeg build has (the static one on the GPU machine may lack ``lavfi``). Random models make noise of it anyway: the benchmark measures speed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

RATE = 16000
VOWELS = ((730, 1090, 2440), (270, 2290, 3010), (530, 1840, 2480), (570, 840, 2410), (300, 870, 2240),
          (660, 1720, 2410), (440, 1020, 2240))
PITCH = (110.0, 210.0)


def _formants(x: np.ndarray, vowel: tuple[int, int, int]) -> np.ndarray:
    import scipy.signal as ss

    y = np.zeros_like(x)
    for k, freq in enumerate(vowel):
        r, theta = np.exp(-np.pi * (60 + 50 * k) / RATE), 2 * np.pi * freq / RATE
        y += ss.lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], x) / (k + 1)
    return y


def syllable(f0: float, rng: np.random.Generator) -> np.ndarray:
    """A consonant (band-passed noise) then a vowel (glottal pulses through three formants)."""
    import scipy.signal as ss

    seconds = rng.uniform(0.12, 0.3)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    pitch = f0 * (1 + rng.uniform(-0.08, 0.08)) * (1 + 0.03 * np.sin(2 * np.pi * 5 * t)) * (1 + rng.normal(0, 0.004, n))
    pulses = np.diff(np.concatenate([[0.0], np.cumsum(pitch) / RATE % 1.0]))
    pulses[pulses < 0] = -1.0                      # one closure impulse a period
    vowel = _formants(pulses + 0.01 * rng.normal(size=n), VOWELS[rng.integers(len(VOWELS))])
    vowel *= np.minimum(1, np.minimum(t / 0.03, (seconds - t) / 0.05)) ** 1.5
    m = int(rng.uniform(0.03, 0.08) * RATE)
    b, a = ss.butter(2, [2500 / (RATE / 2), 6000 / (RATE / 2)], "band")
    consonant = ss.lfilter(b, a, rng.normal(size=m)) * np.hanning(m) * rng.uniform(0.05, 0.4)
    return np.concatenate([consonant, vowel])


def sentence(seconds: float, f0: float, rng: np.random.Generator) -> np.ndarray:
    """Words of 1-3 syllables with short gaps, the pitch falling over the sentence."""
    parts, total, n = [], 0, int(seconds * RATE)
    while total < n:
        word = np.concatenate([syllable(f0 * (1 - 0.15 * total / n), rng) for _ in range(rng.integers(1, 4))])
        gap = np.zeros(int(rng.uniform(0.02, 0.12) * RATE))
        parts += [word, gap]
        total += len(word) + len(gap)
    x = np.concatenate(parts)[:n]
    return (x / np.abs(x).max() * 0.5).astype(np.float32)


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


def frames(seconds: float, width: int, height: int, fps: int):
    """Raw RGB frames of a moving gradient (no lavfi needed: the static ffmpeg may lack it)."""
    y, x = np.mgrid[0:height, 0:width]
    for n in range(int(seconds * fps)):
        shift = n * 3
        yield np.stack([(x + shift) % 256, (y + shift) % 256, np.full_like(x, (n * 5) % 256)], -1).astype(np.uint8)


def make_video(folder: Path, seconds: float, size: tuple[int, int] = (160, 120),
               fps: int = 5) -> tuple[Path, list[tuple[float, float, int]]]:
    """``folder/source.mp4``: a moving picture (MPEG-4 Part 2) and the soundtrack (AAC)."""
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    mix, said = soundtrack(seconds)
    wav = folder / "source.wav"
    sf.write(wav, mix, RATE, subtype="PCM_16")
    video = folder / "source.mp4"
    width, height = size
    proc = subprocess.Popen(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                             "-s", f"{width}x{height}", "-r", str(fps), "-i", "pipe:0", "-i", str(wav),
                             "-c:v", "mpeg4", "-q:v", "8", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k",
                             "-shortest", str(video)], stdin=subprocess.PIPE)
    for frame in frames(seconds, width, height, fps):
        proc.stdin.write(frame.tobytes())
    proc.stdin.close()
    if proc.wait(timeout=600) != 0:
        raise RuntimeError("ffmpeg could not make the benchmark video")
    return video, said
