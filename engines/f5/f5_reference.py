"""The reference clip as F5-TTS takes it: at most 12 s, cut at a pause, the transcript kept in step.

Prepared here once per (clip, transcript) instead of upstream's ``preprocess_ref_audio_text``,
which leaves a temp wav behind on every call and downloads Whisper when the transcript is
empty. The chunk budget follows upstream's rule for how much text one forward can take.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..audio.waveforms import ReferenceAudio, cut_at_pause, trim_transcript

if TYPE_CHECKING:
    import torch

SAMPLE_RATE = 24000
MAX_REFERENCE_SECONDS = 12.0
# Upstream sizes chunks so reference + generated audio stays under ~22 s (infer_process).
MAX_TOTAL_SECONDS = 22.0
MIN_CHUNK_CHARS = 40


@dataclass(frozen=True)
class F5Reference:
    audio: torch.Tensor  # [1, T] float32 at 24 kHz
    text: str              # transcript, ending the way upstream expects (". ")
    duration_s: float
    transcript_trimmed: bool

    def chunk_budget(self, speed: float) -> int:
        """Characters per chunk: upstream's rule, counted in characters rather than UTF-8 bytes."""
        chars_per_second = len(self.text) / max(self.duration_s, 0.1)
        return max(MIN_CHUNK_CHARS, int(chars_per_second * (MAX_TOTAL_SECONDS - self.duration_s) * speed))

    def chunks(self, text: str, speed: float) -> list[str]:
        """``text`` cut as upstream's ``infer_process`` cuts it (``chunk_text`` with its UTF-8 byte budget
        drawn from this reference), so the chunks, hence the audio length, are upstream's to the frame.

        A chunk over twice ``chunk_budget`` (a long run without punctuation, which upstream would
        render as one forward of any length) is split further at word boundaries: bounded work.
        """
        from .accel.f5_upstream import upstream_chunks
        from ..text.checks import split_text

        limit = 2 * self.chunk_budget(speed)
        out: list[str] = []
        for chunk in upstream_chunks(self.duration_s, self.text, text, speed):
            out.extend(split_text(chunk, limit) if len(chunk) > limit else [chunk])
        return out


def normalize_reference_text(text: str) -> str:
    """Upstream's rule: the transcript ends with a sentence end and a space."""
    text = text.strip()
    if text.endswith(("。",)):
        return text
    return (text if text.endswith(".") else text + ".") + " "


def prepare_f5_reference(reference: ReferenceAudio, transcript: str) -> F5Reference:
    import torch

    samples, kept = cut_at_pause(reference.samples, reference.sample_rate, MAX_REFERENCE_SECONDS)
    text = trim_transcript(transcript.strip(), kept)
    return F5Reference(
        audio=torch.from_numpy(np.ascontiguousarray(samples)).unsqueeze(0),
        text=normalize_reference_text(text),
        duration_s=len(samples) / reference.sample_rate,
        transcript_trimmed=text != transcript.strip(),
    )
