"""Verify an engine: does the loaded checkpoint really speak?

``verify_engine(manager, engine, language)`` clones a known voice (f5-tts's packaged English
reference clip and its transcript, unless another is given) saying a fixed sentence in the
language, transcribes the result with the manager's Whisper, and scores it:

- CER and WER (``jiwer``) against the sentence, both sides normalised alike (numbers as words,
  lower case, no punctuation);
- speaker similarity to the reference clip, when a speaker model is available (``speaker.py``);
- a verdict from the CER (``THRESHOLDS``):

  ============  ==============================================================
  CER <= 0.15   "speaks clearly": Whisper hears nearly every character
  CER <= 0.50   "hard to understand": words missing or slurred
  CER >  0.50   "gibberish: check F5TTS_ARCH and F5TTS_VOCAB" (F5-TTS; XTTS: XTTS_MODEL)
  ============  ==============================================================

  Whisper large-v3-turbo transcribes clean synthetic speech at a few percent CER; a
  checkpoint loaded with the wrong architecture or vocab babbles, far above one half.

Whisper is checked too: it transcribes the reference clip itself, whose words are known
(``asr_reference_cer``). When it mishears even that, the report says the verdict cannot be
trusted (``asr_reliable: false``).
"""

from __future__ import annotations

import time
import unicodedata
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..audio.waveforms import load_reference_audio
from ..errors import EngineUnavailableError, InputError
from ..languages import normalize_language
from ..text.normalize import normalize_text
from ..types import ProgressCallback, SynthesisRequest

if TYPE_CHECKING:
    from .asr import Transcriber
    from ..base import Engine
    from .speaker import SpeakerVerifier
    from ..types import SynthesisResult


class Synthesizer(Protocol):
    """What verification uses of an ``EngineManager``: its engines, its Whisper, its synthesis."""

    asr: "Transcriber"

    def engine(self, name: str) -> "Engine": ...

    def synthesize(self, request: SynthesisRequest, progress: ProgressCallback | None = None) -> "SynthesisResult": ...

# One clear sentence per language, no numbers or names: what any working checkpoint can say.
VERIFY_SENTENCES: dict[str, str] = {
    "pt-BR": "Hoje o céu está limpo, e a brisa da manhã traz o cheiro do mar para a cidade.",
    "en": "Today the sky is clear, and the morning breeze carries the smell of the sea into the city.",
    "es": "Hoy el cielo está despejado, y la brisa de la mañana trae el olor del mar a la ciudad.",
    "fr": "Aujourd'hui le ciel est clair, et la brise du matin apporte l'odeur de la mer en ville.",
    "de": "Heute ist der Himmel klar, und die Morgenbrise trägt den Duft des Meeres in die Stadt.",
    "it": "Oggi il cielo è limpido, e la brezza del mattino porta in città il profumo del mare.",
    "nl": "Vandaag is de lucht helder, en de ochtendbries brengt de geur van de zee naar de stad.",
    "zh-CN": "今天天空晴朗，早晨的微风把大海的气息带进了城市。",
}
VERIFY_SEED = 20240315
PACKAGED_REFERENCE = ("infer/examples/basic/basic_ref_en.wav", "Some call me nature, others call me mother nature.",
                      "en")
GIBBERISH_HINTS = {"f5tts": "check F5TTS_ARCH and F5TTS_VOCAB", "xtts": "check XTTS_MODEL"}
# Scripts written without spaces between words: their "words" are characters.
_UNSPACED = ("zh-CN", "ja")


@dataclass(frozen=True)
class Thresholds:
    clear_cer: float = 0.15
    understandable_cer: float = 0.50
    asr_reliable_cer: float = 0.50


THRESHOLDS = Thresholds()


def score_text(text: str, language: str) -> str:
    """Text as it is compared: numbers as words, lower case, no punctuation or symbols, single spaces."""
    text = normalize_text(text, language).lower()
    kept = "".join(" " if unicodedata.category(ch)[0] in "PSZC" else ch for ch in text)
    words = kept.split()
    return "".join(words) if language in _UNSPACED else " ".join(words)


def error_rates(reference: str, hypothesis: str, language: str) -> tuple[float, float]:
    """(WER, CER) of ``hypothesis`` against ``reference`` after ``score_text`` on both."""
    import jiwer

    ref, hyp = score_text(reference, language), score_text(hypothesis, language)
    if not ref:
        raise InputError("the reference text has nothing to score (no letters or digits)")
    if language in _UNSPACED:  # no word boundaries: score characters as words
        ref, hyp = " ".join(ref), " ".join(hyp)
    return float(jiwer.wer(ref, hyp)), float(jiwer.cer(ref, hyp))


def verdict(cer: float, engine: str, thresholds: Thresholds = THRESHOLDS) -> str:
    if cer <= thresholds.clear_cer:
        return "speaks clearly"
    if cer <= thresholds.understandable_cer:
        return "hard to understand"
    return f"gibberish: {GIBBERISH_HINTS.get(engine, 'check the model weights')}"


def packaged_reference() -> tuple[Path, str, str]:
    """f5-tts's English example clip, its transcript and language."""
    clip, transcript, language = PACKAGED_REFERENCE
    return Path(str(files("f5_tts").joinpath(clip))), transcript, language


def verify_engine(manager: Synthesizer, engine: str, language: str | None = None,
                  reference: str | None = None, reference_text: str | None = None,
                  speaker: "SpeakerVerifier | None" = None, progress: ProgressCallback | None = None,
                  keep_audio: bool = False) -> dict[str, Any]:
    """Synthesise, transcribe and score; returns the report (JSON-ready; with ``keep_audio``,
    also ``"audio": (sample_rate, samples)``).

    Raises ``InputError`` (unknown engine or language, unusable reference),
    ``EngineUnavailableError`` (no speech recognition: the message names
    ``VOICE_STUDIO_ASR_MODEL``) and ``NoEngineAvailableError`` (the engine cannot speak at all).
    """
    def step(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)

    start = time.perf_counter()
    target = manager.engine(engine)
    language = normalize_language(language) if language else target.languages[0]
    if language not in VERIFY_SENTENCES:
        raise InputError(f"no verification sentence for {language}; Verify speaks "
                         + ", ".join(VERIFY_SENTENCES))
    if reference is None:
        clip, reference_text, reference_language = packaged_reference()
        reference_label = clip.name
    else:
        clip, reference_language, reference_label = Path(reference), language, "your clip"
    step(0.05, "Loading speech recognition…")
    try:
        manager.asr.ensure_loaded()
    except EngineUnavailableError as exc:
        raise EngineUnavailableError(f"Verify needs speech recognition to hear the engine: {exc}") from exc
    sentence = VERIFY_SENTENCES[language]
    step(0.15, f"Synthesising with {target.display_name}…")
    result = manager.synthesize(SynthesisRequest(
        text=sentence, language=language, engine=engine, reference_audio=str(clip), reference_text=reference_text,
        seed=VERIFY_SEED, allow_fallback=False))
    step(0.7, "Transcribing the result…")
    heard = manager.asr.transcribe(result.audio, result.sample_rate, language)
    wer, cer = error_rates(sentence, heard, language)
    report: dict[str, Any] = {
        "engine": engine, "language": language, "text": sentence, "transcript": heard,
        "cer": round(cer, 4), "wer": round(wer, 4), "verdict": verdict(cer, engine),
        "thresholds": {"speaks_clearly_cer": THRESHOLDS.clear_cer,
                       "hard_to_understand_cer": THRESHOLDS.understandable_cer},
        "reference": reference_label, "asr_model": manager.asr.spec,
        "synthesis": {key: result.metadata.get(key) for key in
                      ("tts_engine_used", "quality_profile_used", "duration_s", "synth_s", "rtf", "seed", "device",
                       "reference_text_source")},
    }
    reference_audio = load_reference_audio(clip)
    if reference_text:
        step(0.8, "Checking speech recognition on the reference…")
        known = manager.asr.transcribe(reference_audio.samples, reference_audio.sample_rate, reference_language)
        asr_cer = error_rates(reference_text, known, reference_language)[1]
        report["asr_reference_cer"] = round(asr_cer, 4)
        report["asr_reliable"] = asr_cer <= THRESHOLDS.asr_reliable_cer
    report.update(_speaker_similarity(speaker, reference_audio, result))
    report["verify_s"] = round(time.perf_counter() - start, 3)
    if keep_audio:
        report["audio"] = (result.sample_rate, result.audio)
    step(1.0, f"{target.display_name}: {report['verdict']}")
    return report


def _speaker_similarity(speaker: "SpeakerVerifier | None", reference_audio, result) -> dict[str, Any]:
    from .speaker import SAME_SPEAKER_THRESHOLD

    if speaker is None:
        return {"speaker_similarity": None, "speaker_model": None}
    try:
        score = speaker.similarity(reference_audio.samples, result.audio, result.sample_rate)
    except EngineUnavailableError as exc:  # optional: the report says why it is missing
        return {"speaker_similarity": None, "speaker_model": speaker.spec, "speaker_model_error": str(exc)}
    return {"speaker_similarity": round(score, 4), "same_speaker": score >= SAME_SPEAKER_THRESHOLD,
            "speaker_model": speaker.spec}
