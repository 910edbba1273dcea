"""Peak memory of ``load_reference_audio`` per file, measured in a fresh process.

    python -m tests.peak_memory FILE [FILE ...]   # prints one JSON object

For each file: the growth of the process's peak resident memory (VmHWM) over its
resident memory just before the load, in MB, and the outcome (the reference's lengths,
or the ``InputError`` message). torch and the decoders are imported, and a small clip
loaded, first, so their one-time costs are not counted. Linux resets the peak through
``/proc/self/clear_refs`` between files; where it cannot, each file needs its own process.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def main(paths: list[str]) -> dict:
    import numpy as np
    import soundfile as sf
    import torch  # noqa: F401  (its import is not the load's cost)
    import torchaudio.functional  # noqa: F401

    from engines.audio.waveforms import load_reference_audio
    from engines.errors import InputError

    warm = Path(paths[0]).with_name("warm-up.wav")
    t = np.arange(3 * 22050) / 22050
    sf.write(warm, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 22050)
    load_reference_audio(warm)
    report = {"resettable": True}
    for path in paths:
        report["resettable"] = reset_peak() and report["resettable"]
        before = _status_kb("VmRSS")
        try:
            ref = load_reference_audio(path)
            outcome = {"seconds": ref.duration_s, "source_seconds": ref.source_seconds, "cut": ref.cut}
        except InputError as exc:
            outcome = {"error": str(exc)}
        report[path] = {"growth_mb": (_status_kb("VmHWM") - before) / 1024, **outcome}
    return report


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
