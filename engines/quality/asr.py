"""Speech recognition: Whisper through ``transformers``' ASR pipeline.

It transcribes the reference clips F5-TTS needs a transcript for, as upstream's
``f5_tts.infer.utils_infer.transcribe`` does (the same pipeline, model, 30 s chunks,
``task=transcribe`` and the language as a hint), with what upstream lacks: the model loads
on first use (never at start-up), runs on the device worker, works from a local path or
the Hub cache offline, says which variable to set when it cannot load, and each transcript
is cached per clip (content hash), language and model, in memory and on disk.

    VOICE_STUDIO_ASR_MODEL   a Whisper model: a save_pretrained directory, hf://owner/repo,
                             or owner/repo (default openai/whisper-large-v3-turbo)

``manager.asr.transcribe_reference(reference, language)`` is the call for anyone holding a
clip (or a path to one) without its words.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.waveforms import ReferenceAudio, cut_at_pause, load_reference_audio, resample
from ..base import LRUCache
from ..errors import EngineUnavailableError, InputError
from .pretrained import LazyModel, OnDevice, PretrainedSource, half_precision_ok
from ..storage import atomic_write_bytes
from ..text.checks import clean_text, has_speakable_content
from ..types import Voice
from ..voices.catalog import CannotServe

logger = logging.getLogger(__name__)

ASR_VARIABLE = "VOICE_STUDIO_ASR_MODEL"
DEFAULT_ASR_MODEL = "openai/whisper-large-v3-turbo"  # upstream F5-TTS's choice
ASR_SAMPLE_RATE = 16000
CHUNK_SECONDS = 30        # upstream's chunk_length_s
BATCH_SIZE = 16           # chunks per forward (upstream: 128; ours are short clips)
WHISPER_FILES = ("config.json", "preprocessor_config.json", "tokenizer_config.json")
WHISPER_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
WHISPER_OPTIONAL = ("generation_config.json", "tokenizer.json", "vocab.json", "merges.txt", "added_tokens.json",
                    "special_tokens_map.json", "normalizer.json")


class NoSpeechError(InputError):
    """The clip was transcribed and no words were heard in it."""


@dataclass(frozen=True)
class _Whisper:
    pipe: Any
    is_whisper: bool
    multilingual: bool
    language_tokens: frozenset[str]

    def generate_kwargs(self, language: str | None) -> dict[str, Any]:
        """Whisper's task and language hint ("pt" for pt-BR), where this model knows them."""
        if not self.is_whisper or not self.multilingual:
            return {}
        kwargs: dict[str, Any] = {"task": "transcribe"}
        code = (language or "").split("-")[0].lower()
        if code and f"<|{code}|>" in self.language_tokens:
            kwargs["language"] = code
        return kwargs


class Transcriber(LazyModel):
    """Whisper, loaded on first use; transcripts cached per (clip hash, language, cut, model)."""

    display_name = "Speech recognition (Whisper)"

    def __init__(self, source: PretrainedSource | None, device_preference: str, on_device: OnDevice,
                 cache_dir: Path | None = None, load_lock: threading.Lock | None = None,
                 config_error: str | None = None):
        super().__init__(source, device_preference, on_device, load_lock, config_error)
        self.cache_dir = cache_dir
        self._memory = LRUCache(256)
        self._memory_lock = threading.Lock()  # request threads share the cache

    @classmethod
    def from_env(cls, device_preference: str, cache_dir: Path | None, on_device: OnDevice,
                 load_lock: threading.Lock | None = None, environ: Mapping[str, str] | None = None) -> "Transcriber":
        source, problem = PretrainedSource.from_env(environ, ASR_VARIABLE, DEFAULT_ASR_MODEL, "Whisper model",
                                                    WHISPER_FILES, WHISPER_WEIGHTS, WHISPER_OPTIONAL)
        return cls(source, device_preference, on_device, cache_dir, load_lock,
                   config_error=f"{cls.display_name} is unavailable: {problem}" if problem else None)

    # --- loading ------------------------------------------------------------------------
    def _stage(self, path: Path) -> tuple[Any, Any, Any]:
        import torch
        from transformers import AutoFeatureExtractor, AutoModelForSpeechSeq2Seq, AutoTokenizer

        model = AutoModelForSpeechSeq2Seq.from_pretrained(path, local_files_only=True, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        extractor = AutoFeatureExtractor.from_pretrained(path, local_files_only=True)
        return model, tokenizer, extractor

    def _activate(self, staged: tuple[Any, Any, Any], device: str) -> _Whisper:
        import torch
        from transformers import pipeline

        model, tokenizer, extractor = staged
        dtype = torch.float16 if half_precision_ok(device) else torch.float32
        model = model.to(device=device, dtype=dtype).eval()
        pipe = pipeline("automatic-speech-recognition", model=model, tokenizer=tokenizer, feature_extractor=extractor,
                        device=device)
        generation = model.generation_config
        return _Whisper(pipe, is_whisper=model.config.model_type == "whisper",
                        multilingual=bool(getattr(generation, "is_multilingual", False)),
                        language_tokens=frozenset(getattr(generation, "lang_to_id", None) or {}))

    # --- transcribing -------------------------------------------------------------------
    def transcribe_batch(self, clips: Sequence[np.ndarray], sample_rate: int, language: str | None = None) -> list[str]:
        """The words in each clip (float32 mono at ``sample_rate``), cleaned; '' where none were heard."""
        whisper: _Whisper = self.ensure_loaded()
        inputs = [{"raw": resample(np.asarray(c, dtype=np.float32), sample_rate, ASR_SAMPLE_RATE),
                   "sampling_rate": ASR_SAMPLE_RATE} for c in clips]
        kwargs = whisper.generate_kwargs(language)
        # Whisper hears 30 s at a time; longer clips are cut in 30 s chunks, as upstream does.
        longest = max((len(item["raw"]) for item in inputs), default=0) / ASR_SAMPLE_RATE
        chunking = {"chunk_length_s": CHUNK_SECONDS, "ignore_warning": True} if longest > CHUNK_SECONDS else {}

        def run() -> list[dict]:
            import torch

            with torch.inference_mode():
                return whisper.pipe(inputs, batch_size=BATCH_SIZE, generate_kwargs=kwargs, return_timestamps=False,
                                    **chunking)

        outputs = self.on_device(run, "speech recognition")
        return [clean_text(out["text"]) for out in outputs]

    def transcribe(self, samples: np.ndarray, sample_rate: int, language: str | None = None) -> str:
        return self.transcribe_batch([samples], sample_rate, language)[0]

    def transcribe_reference(self, reference: ReferenceAudio | str | os.PathLike, language: str | None) -> str:
        """The words spoken in ``reference`` (a clip or a path to one), cached per (content hash,
        language, model).

        Raises ``EngineUnavailableError`` naming ``VOICE_STUDIO_ASR_MODEL`` when no ASR model can be
        had, ``NoSpeechError`` (an ``InputError``) when no words were heard, ``InputError`` for a
        clip that cannot be read.
        """
        if not isinstance(reference, ReferenceAudio):
            reference = load_reference_audio(reference)
        key = self._cache_key(reference, language)
        with self._memory_lock:
            text = self._memory.get(key)
        if text is None:
            text = self._read_cached(key)
        if text is None:
            start = time.perf_counter()
            text = self.transcribe(reference.samples, reference.sample_rate, language)
            logger.info("reference transcribed", extra={"sha256": reference.sha256[:12], "language": language,
                                                        "seconds": round(time.perf_counter() - start, 3),
                                                        "chars": len(text)})
            if has_speakable_content(text):
                self._write_cached(key, text, language)
        with self._memory_lock:
            self._memory.put(key, text)
        if not has_speakable_content(text):
            raise NoSpeechError("speech recognition heard no words in the reference clip: "
                                "type its transcript, or use a clip with clear speech")
        return text

    def complete_voice(self, voice: Voice, language: str, max_seconds: float | None = None) -> Voice:
        """``voice`` with a transcript: the user's, or one made by speech recognition.

        With ``max_seconds`` (the engine uses that much of the clip), the clip is cut at a pause
        first and the voice carries the cut clip, so its transcript covers exactly what is used.
        Raises ``CannotServe`` (the engine's fallback reason) when no transcript can be had.
        """
        if voice.reference is None:
            return voice
        if voice.has_transcript:
            if voice.kind == "preset" or "reference_text_source" in voice.details:
                return voice
            return replace(voice, details={**voice.details, "reference_text_source": "user"})
        reference = voice.reference
        if max_seconds is not None:
            samples, _ = cut_at_pause(reference.samples, reference.sample_rate, max_seconds)
            reference = replace(reference, samples=samples)
        start = time.perf_counter()
        try:
            text = self.transcribe_reference(reference, language)
        except EngineUnavailableError as exc:
            whose = f"saved voice {voice.id} has" if voice.kind == "saved" else "the reference has"
            fix = (" (or save the voice again with the words of its clip)" if voice.kind == "saved" else "")
            raise CannotServe(f"F5-TTS needs the reference transcript: {whose} none and {exc}{fix}") from exc
        except NoSpeechError as exc:
            raise CannotServe(str(exc)) from exc
        details = {**voice.details, "reference_text_source": "asr", "reference_text": text,
                   "asr_model": self.spec, "asr_s": round(time.perf_counter() - start, 3)}
        return replace(voice, reference=reference, transcript=text, details=details)

    # --- the cache ------------------------------------------------------------------------
    def _cache_key(self, reference: ReferenceAudio, language: str | None) -> str:
        # The clip's length is in the key: a cut clip and the whole one are different audio.
        raw = f"{self.spec}|{reference.sha256}|{len(reference.samples)}|{reference.sample_rate}|{language or ''}"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    def _cache_file(self, key: str) -> Path | None:
        return self.cache_dir / "transcripts" / f"{key}.json" if self.cache_dir is not None else None

    def _read_cached(self, key: str) -> str | None:
        path = self._cache_file(key)
        if path is None or not path.is_file():
            return None
        try:
            text = json.loads(path.read_text(encoding="utf-8")).get("text")
        except (OSError, ValueError, AttributeError) as exc:  # a damaged cache entry: transcribe again
            logger.warning("transcript cache entry unreadable", extra={"file": path.name, "error": str(exc)})
            return None
        return text if isinstance(text, str) else None

    def _write_cached(self, key: str, text: str, language: str | None) -> None:
        path = self._cache_file(key)
        if path is None:
            return
        record = {"text": text, "language": language, "model": self.spec}
        try:
            atomic_write_bytes(path, json.dumps(record, ensure_ascii=False).encode("utf-8"))
        except OSError as exc:  # the transcript is still used; it is made again next time
            logger.warning("transcript not cached", extra={"file": path.name, "error": str(exc)})
