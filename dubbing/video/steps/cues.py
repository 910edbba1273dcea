"""Cutting speech into cues, as pure functions.

The VAD's regions are joined into cues across short pauses (a breath inside a sentence)
and cut at longer ones, and no cue grows past ``max_s`` (about 12 s, so a line fits
the engines' and Whisper's windows and can be edited alone). Once Whisper has heard a
cue, a cue made of several regions whose words hold more than one sentence is split
again, at the pause nearest to where each sentence ends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

JOIN_GAP_S = 0.5       # pauses shorter than this stay inside a cue
MAX_CUE_S = 12.0
MIN_PIECE_S = 0.6      # a split never leaves a piece shorter than this
_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])\s+")


@dataclass(frozen=True)
class Span:
    """A cue's extent and the speech regions (start, end seconds) it is made of."""

    parts: tuple[tuple[float, float], ...]

    @property
    def start_s(self) -> float:
        return self.parts[0][0]

    @property
    def end_s(self) -> float:
        return self.parts[-1][1]

    @property
    def seconds(self) -> float:
        return self.end_s - self.start_s


def join_regions(regions: list[tuple[float, float]], join_gap_s: float = JOIN_GAP_S,
                 max_s: float = MAX_CUE_S) -> list[Span]:
    """Regions in time order -> spans: joined across pauses under ``join_gap_s`` while the span
    stays within ``max_s``; a single region longer than ``max_s`` is cut in equal pieces."""
    spans: list[list[tuple[float, float]]] = []
    for start, end in sorted(regions):
        if end <= start:
            continue
        pieces = max(1, int((end - start) // max_s) + (1 if (end - start) % max_s > 1e-9 else 0))
        step = (end - start) / pieces
        for i in range(pieces):
            part = (start + i * step, start + (i + 1) * step if i < pieces - 1 else end)
            if spans and part[0] - spans[-1][-1][1] < join_gap_s and part[1] - spans[-1][0][0] <= max_s:
                spans[-1].append(part)
            else:
                spans.append([part])
    return [Span(tuple(parts)) for parts in spans]


def sentences(text: str) -> list[str]:
    return [s for s in (piece.strip() for piece in _SENTENCE_END.split(text or "")) if s]


def split_at_sentences(span: Span, text: str) -> list[tuple[Span, str]]:
    """``span`` with its words, split at the pauses nearest the sentence ends (speech taken as
    even-paced: a sentence ending at 40 % of the characters ends near 40 % of the speech)."""
    said = sentences(text)
    if len(said) < 2 or len(span.parts) < 2:
        return [(span, text)]
    speech = [b - a for a, b in span.parts]
    total_chars = sum(len(s) for s in said)
    # Speech time elapsed at each pause (after part i), and at each sentence end.
    pause_at = [sum(speech[: i + 1]) for i in range(len(span.parts) - 1)]
    ends, chars = [], 0
    for sentence in said[:-1]:
        chars += len(sentence)
        ends.append(chars / total_chars * sum(speech))
    cuts: dict[int, int] = {}                 # pause index -> sentences before it
    for n, at in enumerate(ends, 1):
        pause = min(range(len(pause_at)), key=lambda i: abs(pause_at[i] - at))
        cuts[pause] = n
    pieces: list[tuple[Span, str]] = []
    first_part, first_sentence = 0, 0
    for pause in sorted(cuts):
        n = cuts[pause]
        parts = span.parts[first_part: pause + 1]
        rest = span.parts[pause + 1:]
        if n <= first_sentence or parts[-1][1] - parts[0][0] < MIN_PIECE_S or rest[-1][1] - rest[0][0] < MIN_PIECE_S:
            continue
        pieces.append((Span(parts), " ".join(said[first_sentence:n])))
        first_part, first_sentence = pause + 1, n
    pieces.append((Span(span.parts[first_part:]), " ".join(said[first_sentence:])))
    return pieces
