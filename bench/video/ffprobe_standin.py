"""A stand-in for ``ffprobe`` on the lent GPU machine, for benchmarks only.

That machine has no ffmpeg; ``imageio-ffmpeg`` carries a static ``ffmpeg`` but no
``ffprobe``. This answers the one question the video pipeline asks ffprobe
(``-of json -show_format -show_streams FILE``: duration, streams, codecs, size) from
``ffmpeg -i FILE``'s banner, in ffprobe's JSON shape. ``install(folder)`` puts it on PATH
as ``ffprobe`` when there is none. Never used by the app or its tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

_DURATION = re.compile(r"Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_STREAM = re.compile(r"Stream #\d+:\d+.*?: (Video|Audio): (\w+)([^\n]*)")
_SIZE = re.compile(r"\b(\d{2,5})x(\d{2,5})\b")


def probe(path: str) -> dict:
    proc = subprocess.run([shutil.which("ffmpeg") or "ffmpeg", "-hide_banner", "-i", path], capture_output=True,
                          text=True, timeout=60)
    text = proc.stderr
    if "Input #0" not in text:
        sys.stderr.write(text.strip().splitlines()[-1] + "\n" if text.strip() else "not media\n")
        raise SystemExit(1)
    found = _DURATION.search(text)
    duration = int(found.group(1)) * 3600 + int(found.group(2)) * 60 + float(found.group(3)) if found else 0.0
    streams = []
    for kind, codec, rest in _STREAM.findall(text):
        stream = {"codec_type": kind.lower(), "codec_name": codec, "disposition": {"attached_pic": 0}}
        size = _SIZE.search(rest) if kind == "Video" else None
        if size:
            stream.update(width=int(size.group(1)), height=int(size.group(2)))
        streams.append(stream)
    return {"format": {"duration": f"{duration:.6f}"}, "streams": streams}


def install(folder: Path) -> str:
    """``ffprobe`` on PATH: the real one, else this stand-in (a script in ``folder``)."""
    if shutil.which("ffprobe"):
        return shutil.which("ffprobe")
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "ffprobe"
    root = Path(__file__).resolve().parents[1]
    script.write_text(f"#!/bin/sh\ncd {root} && exec {sys.executable} -m bench.video.ffprobe_standin \"$@\"\n")
    script.chmod(0o755)
    os.environ["PATH"] = f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"
    return str(script)


if __name__ == "__main__":
    target = sys.argv[-1]
    target = target[len("file:"):] if target.startswith("file:") else target
    json.dump(probe(target), sys.stdout)
