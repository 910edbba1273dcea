"""Where a stream's first audio spent its time, told in the result's metadata (``first_audio_s``).

A listener waits for the first piece of an XTTS stream; the stages it passes through, each
stamped when it ends:

- ``conditioning``: the voice's latents (at once for a studio speaker or a clip seen before;
  else a short job on the device worker);
- ``queued``: from the first row's hand-over to the batch until the batch first looked at its
  tokens (waiting for a slot or a slice, the prefill, the first burst of steps);
- ``decode``: until the first window's tokens exist;
- ``vocode``: until its audio is handed to the listener (the stream lane's line and HiFi-GAN).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

# each stage: from the moment it starts to the moment it ends (``FirstAudioMarks.mark``)
SPANS = {"conditioning": ("start", "conditioned"), "queued": ("submitted", "checked"),
         "decode": ("checked", "planned"), "vocode": ("planned", "handed")}


class FirstAudioMarks:
    """The moments a stream's first audio passed; written from the caller's thread, the worker
    and the vocoder lane, each mark once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._at: dict[str, float] = {"start": time.perf_counter()}

    def mark(self, moment: str) -> None:
        """``moment``: ``conditioned``, ``submitted``, ``checked``, ``planned`` or ``handed`` (the first time only)."""
        now = time.perf_counter()
        with self._lock:
            self._at.setdefault(moment, now)

    def stages(self) -> dict[str, float] | None:
        """Seconds per stage (``SPANS``), or None until the first audio was handed out."""
        with self._lock:
            at = dict(self._at)
        if any(moment not in at for span in SPANS.values() for moment in span):
            return None
        return {stage: round(max(0.0, at[end] - at[begin]), 4) for stage, (begin, end) in SPANS.items()}


class ListenedStream:
    """A stream's audio pieces, with ``details`` for the result: what was ``known`` at its start (where
    the voice's latents came from) and where its first audio's time went."""

    def __init__(self, pieces: Iterator, marks: FirstAudioMarks, known: dict | None = None):
        self._pieces, self._marks, self._known = pieces, marks, dict(known or {})

    def __iter__(self) -> "ListenedStream":
        return self

    def __next__(self):
        return next(self._pieces)

    def close(self) -> None:
        self._pieces.close()

    @property
    def details(self) -> dict:
        stages = self._marks.stages()
        return {**self._known, **({"first_audio_s": stages} if stages is not None else {})}
