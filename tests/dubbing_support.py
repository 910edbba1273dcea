"""What the dubbing tests share: presets with a fixed reference clip, SRT builders, a test video."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REFERENCE_TEXT = "a short reference clip for the test."


def presets_dir(reference_wav: Path, folder: Path) -> Path:
    """Both presets' F5-TTS reference is the test clip: natural lengths are then known and fixed."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("female_generic", "male_generic"):
        shutil.copy(reference_wav, folder / f"{name}.wav")
        (folder / f"{name}.txt").write_text(REFERENCE_TEXT, encoding="utf-8")
    return folder


def srt(cues: list[tuple[float, float, str]]) -> bytes:
    """An SRT file from (start s, end s, text) triples."""
    def stamp(seconds: float) -> str:
        ms = int(round(seconds * 1000))
        return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    return "".join(f"{i}\n{stamp(a)} --> {stamp(b)}\n{text}\n\n" for i, (a, b, text) in enumerate(cues, 1)).encode()


def make_video(path: Path, seconds: float = 4.0, audio: bool = True) -> Path:
    """A small H.264 MP4 from ffmpeg's test pattern (and a sine tone as its sound)."""
    args = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
            f"testsrc=duration={seconds}:size=160x120:rate=10"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=220:duration={seconds}", "-c:a", "aac"]
    args += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-shortest", str(path)]
    subprocess.run(args, check=True, timeout=60)
    return path
