"""Benchmark inputs made in code: a 6 s reference signal, its transcript, three texts."""

from __future__ import annotations

import torch

SAMPLE_RATE = 24000
# 77 bytes for 6 s: upstream's chunk budget is then ~205 bytes (300 chars -> 2 chunks, 1000 -> 5)
REF_TEXT = "Some call me nature, others call me mother nature. I am the air you breathe. "

_SENTENCES = [
    "The quick brown fox jumps over the lazy dog near the quiet river bank.",
    "Every morning she walked to the station, bought a coffee, and read the news.",
    "Scientists measured the speed of the new engine on a cold winter afternoon.",
    "He opened the old wooden door slowly, and a gust of wind filled the room.",
    "Our team finished the project early, so we celebrated with a long dinner.",
    "Music drifted from the window while children played games in the street.",
    "The library closes at nine, but the reading room stays open until midnight.",
    "A gentle rain began to fall as the travellers reached the mountain village.",
    "She wrote three letters that evening and posted them before the sun set.",
    "The captain checked the map twice, then steered the ship toward the harbour.",
    "Fresh bread and warm soup waited on the table when the guests arrived home.",
    "After the concert, the audience stood and clapped for almost five minutes.",
    "The garden was full of roses, tulips, and tall sunflowers facing the light.",
    "They packed their bags, locked the house, and drove north before dawn.",
]


def text_of(chars: int) -> str:
    """Sentences cut at a word boundary to about ``chars`` characters, ending with a period."""
    words = " ".join(_SENTENCES * 4).split()
    out = ""
    for w in words:
        if len(out) + len(w) + 2 > chars:
            break
        out = f"{out} {w}".strip()
    return out.rstrip(",.") + "."


TEXTS = {100: text_of(100), 300: text_of(300), 1000: text_of(1000)}


def reference_audio(seconds: float = 6.0, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """A speech-like test signal [1, T]: a gliding harmonic tone with syllable-rate bursts."""
    g = torch.Generator().manual_seed(0)
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 140 + 30 * torch.sin(2 * torch.pi * 0.7 * t)
    phase = 2 * torch.pi * torch.cumsum(f0, 0) / sample_rate
    voiced = sum(torch.sin(k * phase) / k for k in range(1, 6))
    envelope = (0.5 + 0.5 * torch.sin(2 * torch.pi * 4 * t)).clamp(min=0) ** 2
    noise = 0.02 * torch.randn(t.shape, generator=g)
    return (0.08 * voiced * envelope + noise).float().unsqueeze(0)
