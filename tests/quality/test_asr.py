"""Reference transcription: a tiny random Whisper through the real transformers ASR pipeline.

Random weights give random letters, so these tests check the plumbing (what is
transcribed, cached, reported and fallen back to), never the words.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from engines import EngineManager, NoEngineAvailableError, SynthesisRequest
from engines.quality.asr import ASR_VARIABLE, NoSpeechError, Transcriber, _Whisper
from engines.audio.waveforms import load_reference_audio
from engines.errors import EngineUnavailableError
from engines.types import Voice
from engines.voices.catalog import CannotServe
from devtools.tiny_speech import speech_models


@pytest.fixture(scope="session")
def speech(tmp_path_factory):
    return speech_models(tmp_path_factory)


class CountingDevice:
    """The manager's real device worker, counting the calls by label."""

    def __init__(self, manager):
        self.manager = manager
        self.labels: list[str] = []

    def __call__(self, fn, label="device call"):
        self.labels.append(label)
        return self.manager.on_device(fn, label)

    def count(self, label: str) -> int:
        return self.labels.count(label)


def make_transcriber(manager, spec: str, cache_dir=None) -> tuple[Transcriber, CountingDevice]:
    device = CountingDevice(manager)
    transcriber = Transcriber.from_env("cpu", cache_dir, device, environ={ASR_VARIABLE: spec})
    return transcriber, device


@pytest.fixture
def asr_manager(manager, speech, tmp_path):
    """A manager on the session's tiny engines, with the tiny Whisper as its ASR model."""
    fresh = EngineManager(manager.settings, engines=manager.engines)
    fresh.asr, fresh.asr_device = make_transcriber(fresh, str(speech.whisper), tmp_path / "cache")
    return fresh


def clone(reference, text="hello there", transcript=None, **kwargs) -> SynthesisRequest:
    return SynthesisRequest(text=text, language="en", engine="f5tts", reference_audio=str(reference),
                            reference_text=transcript, seed=7, **kwargs)


def test_f5_clone_without_transcript_gets_one_from_asr(asr_manager, reference_wav, speech):
    result = asr_manager.synthesize(clone(reference_wav, allow_fallback=False))
    meta = result.metadata
    assert meta["tts_engine_used"] == "f5tts" and not meta["engine_fallback"]
    assert meta["reference_text_source"] == "asr"
    assert isinstance(meta["reference_text"], str) and any(ch.isalpha() for ch in meta["reference_text"])
    assert meta["asr_model"] == str(speech.whisper)
    assert np.isfinite(result.audio).all() and result.audio.size > 0
    assert asr_manager.health()["asr"]["status"] == "available"


def test_user_transcript_is_used_and_marked_user(asr_manager, reference_wav):
    meta = asr_manager.synthesize(clone(reference_wav, transcript="some words", allow_fallback=False)).metadata
    assert meta["reference_text_source"] == "user" and "reference_text" not in meta
    assert asr_manager.asr_device.count("speech recognition") == 0


def test_transcripts_are_cached_per_clip_and_language_in_memory_and_on_disk(asr_manager, reference_wav, tmp_path):
    reference = load_reference_audio(reference_wav)
    first = asr_manager.asr.transcribe_reference(reference, "en")
    assert asr_manager.asr.transcribe_reference(reference, "en") == first
    assert asr_manager.asr_device.count("speech recognition") == 1
    asr_manager.asr.transcribe_reference(reference, "pt-BR")  # another language hint: transcribed again
    assert asr_manager.asr_device.count("speech recognition") == 2
    # A new process (a new transcriber on the same cache folder) reads it from disk, loading nothing.
    again, device = make_transcriber(asr_manager, asr_manager.asr.spec, tmp_path / "cache")
    assert again.transcribe_reference(reference, "en") == first
    assert device.labels == [] and not again.is_loaded


def test_long_reference_is_cut_before_transcribing(asr_manager, tmp_path):
    rate = 24000
    t = np.arange(20 * rate) / rate
    clip = (0.3 * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))).astype(np.float32)
    path = tmp_path / "long.wav"
    sf.write(path, clip, rate)
    voice = Voice(id="cloned", kind="upload", reference=load_reference_audio(path))
    completed = asr_manager.asr.complete_voice(voice, "en", max_seconds=12.0)
    assert completed.reference.duration_s <= 12.0 < voice.reference.duration_s
    assert completed.transcript and completed.details["reference_text_source"] == "asr"


def test_transcribe_reference_takes_a_path(asr_manager, reference_wav):
    text = asr_manager.asr.transcribe_reference(str(reference_wav), "pt-BR")
    assert isinstance(text, str) and text.strip()


def test_language_hint_follows_the_model():
    whisper = _Whisper(pipe=None, is_whisper=True, multilingual=True, language_tokens=frozenset({"<|pt|>", "<|en|>"}))
    assert whisper.generate_kwargs("pt-BR") == {"task": "transcribe", "language": "pt"}
    assert whisper.generate_kwargs("ja") == {"task": "transcribe"}  # a language this model does not know: no hint
    english_only = _Whisper(pipe=None, is_whisper=True, multilingual=False, language_tokens=frozenset())
    assert english_only.generate_kwargs("en") == {}


def test_no_words_heard_means_f5_cannot_serve(asr_manager, reference_wav, monkeypatch):
    monkeypatch.setattr(asr_manager.asr, "transcribe_batch", lambda clips, rate, language=None: ["  ...  "])
    with pytest.raises(NoSpeechError, match="heard no words"):
        asr_manager.asr.transcribe_reference(load_reference_audio(reference_wav), "en")
    voice = Voice(id="cloned", kind="upload", reference=load_reference_audio(reference_wav))
    with pytest.raises(CannotServe, match="type its transcript"):
        asr_manager.asr.complete_voice(voice, "en")


@pytest.fixture
def offline_asr_manager(manager):
    fresh = EngineManager(manager.settings, engines=manager.engines)
    fresh.asr, _ = make_transcriber(fresh, "hf://nobody-here/whisper-missing")
    return fresh


@pytest.mark.slow
def test_offline_without_asr_weights_falls_back_to_xtts_naming_the_variable(offline_asr_manager, reference_wav):
    health = offline_asr_manager.health()["asr"]
    assert health["status"] == "unavailable" and ASR_VARIABLE in health["error"]
    result = offline_asr_manager.synthesize(clone(reference_wav))
    assert result.metadata["tts_engine_used"] == "xtts" and result.metadata["engine_fallback"]
    assert ASR_VARIABLE in result.metadata["fallback_reason"]
    with pytest.raises(NoEngineAvailableError) as caught:
        offline_asr_manager.synthesize(clone(reference_wav, allow_fallback=False))
    assert ASR_VARIABLE in caught.value.reasons["f5tts"]


def test_offline_transcribe_reference_says_what_to_set(offline_asr_manager, reference_wav):
    with pytest.raises(EngineUnavailableError, match=ASR_VARIABLE):
        offline_asr_manager.asr.transcribe_reference(reference_wav, "en")


def test_a_broken_model_directory_is_reported_not_raised(manager, tmp_path):
    (tmp_path / "config.json").write_text("{}")
    transcriber, _ = make_transcriber(manager, str(tmp_path))
    health = transcriber.health()
    assert health["status"] == "unavailable" and ASR_VARIABLE in health["error"]
    assert "model.safetensors or pytorch_model.bin" in health["error"]
    assert transcriber.load()["status"] == "unavailable"
    with pytest.raises(EngineUnavailableError, match=ASR_VARIABLE):
        transcriber.ensure_loaded()


def test_a_malformed_variable_does_not_stop_the_app(manager):
    transcriber, _ = make_transcriber(manager, "hf://only-owner")
    assert transcriber.health()["status"] == "unavailable"
    assert "hf://owner/repo" in transcriber.health()["error"]
