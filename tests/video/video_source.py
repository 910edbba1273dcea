"""A source video for the video-dubbing tests: two espeak-ng voices saying known sentences at
known times over a tone bed, with ffmpeg's test pattern as its picture.

``make_source(folder)`` writes ``source.mp4`` (H.264 + AAC) and ``source.wav`` (the same
sound) and returns a ``Source`` with each sentence's measured onset (the first sample of
the spoken clip above -40 dB of its peak, so espeak's leading silence does not count).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 24000
SECONDS = 16.0
BED = (220.0, 0.04)          # the tone bed under everything: frequency, amplitude
# (start s, espeak voice, pitch, sentence)
SENTENCES = (
    (1.5, "en-us+m3", 30, "The quick brown fox jumps over the lazy dog."),
    (5.2, "en-us+f3", 80, "She sells sea shells by the sea shore."),
    (8.9, "en-us+m3", 30, "A bird in the hand is worth two in the bush."),
    (12.6, "en-us+f3", 80, "Every cloud has a silver lining today."),
)


@dataclass(frozen=True)
class Source:
    video: Path
    wav: Path
    onsets: tuple[float, ...]
    ends: tuple[float, ...]
    seconds: float = SECONDS


def speak(text: str, voice: str, pitch: int, path: Path) -> np.ndarray:
    import soundfile as sf

    from engines.audio.waveforms import resample

    subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", "165", "-w", str(path), text], check=True,
                   timeout=60)
    samples, rate = sf.read(path, dtype="float32")
    return resample(samples, rate, RATE)


def make_source(folder: Path, seconds: float = SECONDS, sentences=SENTENCES) -> Source:
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * RATE)) / RATE
    mix = (BED[1] * np.sin(2 * np.pi * BED[0] * t)).astype(np.float32)
    onsets, ends = [], []
    for n, (start, voice, pitch, text) in enumerate(sentences):
        clip = speak(text, voice, pitch, folder / f"sentence{n}.wav")
        loud = np.flatnonzero(np.abs(clip) > np.abs(clip).max() * 0.01)
        a = int(start * RATE)
        mix[a: a + len(clip)] += 0.6 * clip[: len(mix) - a]
        onsets.append(start + loud[0] / RATE)
        ends.append(start + loud[-1] / RATE)
    wav = folder / "source.wav"
    sf.write(wav, mix, RATE, subtype="PCM_16")
    video = folder / "source.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc=duration={seconds}:size=96x64:rate=10", "-i", str(wav), "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(video)], check=True, timeout=120)
    return Source(video, wav, tuple(onsets), tuple(ends), seconds)


_built: dict[str, Source] = {}


def session_source(tmp_path_factory) -> Source:
    """The source video, made once per test session."""
    if "source" not in _built:
        _built["source"] = make_source(tmp_path_factory.mktemp("video_source"))
    return _built["source"]
