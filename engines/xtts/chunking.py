"""How an XTTS request is cut into pieces and joined again, alike on both paths (one decode at a
time in ``engine.py``, the continuous batch in ``batching.py``): text chunks within the tokenizer's
character limit, streamed pieces every ``STREAM_CHUNK_TOKENS`` audio tokens, and a short
cross-fade where two chunks' waves meet."""

from __future__ import annotations

import numpy as np

from ..text.checks import split_text
from .xtts_text import prepare_text

SAMPLE_RATE = 24000
CHUNK_CROSS_FADE_S = 0.05
STREAM_CHUNK_TOKENS = 20  # audio tokens per streamed chunk (about 0.45 s of speech)
STREAM_FIRST_CHUNK_TOKENS = 10  # the first chunk sooner (about 0.3 s of speech), on the accelerator
NO_AUDIO = np.zeros(0, dtype=np.float32)  # a streamed text chunk's end, as an empty piece


def text_chunks(tokenizer, text: str, code: str) -> list[str]:
    """``text`` in chunks XTTS takes (the tokenizer's character limit for ``code``, else 250).
    Numbers coqui's expansion cannot read are spelled out before splitting (``xtts_text.py``)."""
    limit = tokenizer.char_limits.get(code.split("-")[0], 250)
    return split_text(prepare_text(tokenizer, text, code), limit)
