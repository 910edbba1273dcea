"""Transcribe: Whisper hears each cue (the app's own ``engines.asr.Transcriber``).

The model is the one the app already loads (``VOICE_STUDIO_ASR_MODEL``), on the device
worker, in fp16 on a GPU, many cues per forward. The language is the one given, or the
one Whisper detects on the first half minute of speech. Cues come from the VAD's regions
(``cues.join_regions``), so their times are the speech's own; a cue whose words hold
several sentences is split again at its pauses (``cues.split_at_sentences``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from engines.quality.asr import Transcriber
from engines.errors import EngineUnavailableError

from .cues import join_regions, split_at_sentences
from ..options import whisper_languages
from ..state import Cue

logger = logging.getLogger("voice_studio.dubbing.video.transcribe")

RATE = 16000
PAD_S = 0.1                # heard around each cue, so a clipped first or last phoneme is still heard
DETECT_S = 30.0            # speech Whisper hears to tell the language
GROUP = 64                 # cues handed to Whisper per call (progress is told per group)

Progress = Callable[[float, str], None]


def clip(samples: np.ndarray, start_s: float, end_s: float, pad_s: float = PAD_S) -> np.ndarray:
    a = max(0, int((start_s - pad_s) * RATE))
    b = min(len(samples), int((end_s + pad_s) * RATE))
    return np.ascontiguousarray(samples[a:b], dtype=np.float32)


def detect_language(asr: Transcriber, samples: np.ndarray, regions: list[tuple[float, float]]) -> str:
    """The Whisper code of the language spoken in the first ``DETECT_S`` of speech."""
    whisper = asr.ensure_loaded()
    model = whisper.pipe.model
    if not whisper.is_whisper or not whisper.multilingual:
        raise EngineUnavailableError(f"the speech recognition model ({asr.spec}) cannot tell languages apart: "
                                     "give --source-language")
    pieces, heard = [], 0.0
    for start, end in regions:
        pieces.append(clip(samples, start, end, 0.0))
        heard += end - start
        if heard >= DETECT_S:
            break
    audio = np.concatenate(pieces)[: int(DETECT_S * RATE)]

    def run() -> int:
        import torch

        features = whisper.pipe.feature_extractor(audio, sampling_rate=RATE, return_tensors="pt").input_features
        with torch.inference_mode():
            token = model.detect_language(features.to(model.device, model.dtype))
        return int(token[0])

    token_id = asr.on_device(run, "language detection")
    token = whisper.pipe.tokenizer.convert_ids_to_tokens(token_id)
    code = token.strip("<|>")
    if code not in whisper_languages():
        raise EngineUnavailableError(f"speech recognition detected {token!r}, which is not a language: "
                                     "give --source-language")
    return code


def transcribe(asr: Transcriber, samples: np.ndarray, regions: list[tuple[float, float]], language: str | None,
               progress: Progress | None = None) -> dict[str, Any]:
    """The cues of ``samples`` (16 kHz mono) with their words; the stage's result."""
    source = "given"
    if language is None:
        language, source = detect_language(asr, samples, regions), "detected"
        logger.info("language detected", extra={"language": language})
    spans = join_regions(regions)
    texts: list[str] = []
    for first in range(0, len(spans), GROUP):
        group = spans[first: first + GROUP]
        texts.extend(asr.transcribe_batch([clip(samples, s.start_s, s.end_s) for s in group], RATE, language))
        if progress is not None:
            progress(len(texts) / len(spans), f"{len(texts)} of {len(spans)} cues heard")
    cues = []
    for span, text in zip(spans, texts):
        for piece, words in split_at_sentences(span, text):
            cues.append(Cue(piece.start_s, piece.end_s, words))
    return {"language": language, "language_source": source, "model": asr.spec,
            "cues": [c.to_dict() for c in cues]}
