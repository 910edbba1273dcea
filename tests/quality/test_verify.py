"""Verify an engine: synthesise, transcribe with a tiny Whisper, score; and the CLI command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engines import EngineManager
from engines.__main__ import main
from engines.quality.asr import ASR_VARIABLE, Transcriber
from engines.errors import EngineUnavailableError, InputError
from engines.quality.speaker import SPEAKER_VARIABLE, SpeakerVerifier
from engines.quality.verify import THRESHOLDS, VERIFY_SENTENCES, error_rates, score_text, verdict, verify_engine
from devtools.tiny_speech import speech_models

VERDICTS = ("speaks clearly", "hard to understand", "gibberish: check F5TTS_ARCH and F5TTS_VOCAB",
            "gibberish: check XTTS_MODEL")


@pytest.fixture(scope="session")
def speech(tmp_path_factory):
    return speech_models(tmp_path_factory)


@pytest.fixture
def verify_manager(manager, speech):
    fresh = EngineManager(manager.settings, engines=manager.engines)
    fresh.asr = Transcriber.from_env("cpu", None, fresh.on_device, environ={ASR_VARIABLE: str(speech.whisper)})
    return fresh


@pytest.fixture
def speaker(verify_manager, speech):
    return SpeakerVerifier.from_env("cpu", verify_manager.on_device, environ={SPEAKER_VARIABLE: str(speech.wavlm)})


@pytest.mark.slow
def test_verify_reports_numbers_and_a_verdict(verify_manager, speaker):
    steps = []
    report = verify_engine(verify_manager, "f5tts", "pt-BR", speaker=speaker, progress=lambda f, m: steps.append(f))
    assert report["engine"] == "f5tts" and report["language"] == "pt-BR"
    assert report["synthesis"]["tts_engine_used"] == "f5tts"
    assert report["text"] == VERIFY_SENTENCES["pt-BR"] and isinstance(report["transcript"], str)
    assert 0.0 <= report["cer"] and 0.0 <= report["wer"]
    assert report["verdict"] == verdict(report["cer"], "f5tts") and report["verdict"] in VERDICTS
    assert -1.0 <= report["speaker_similarity"] <= 1.0 and isinstance(report["same_speaker"], bool)
    assert report["reference"] == "basic_ref_en.wav"  # the packaged clip, named without its server path
    assert isinstance(report["asr_reliable"], bool) and report["asr_reference_cer"] >= 0.0
    assert steps == sorted(steps) and steps[-1] == 1.0
    json.dumps(report)  # JSON-ready


@pytest.mark.slow
def test_verify_xtts_default_language_without_speaker_model(verify_manager):
    report = verify_engine(verify_manager, "xtts")
    assert report["language"] == verify_manager.engines["xtts"].languages[0]
    assert report["verdict"] in VERDICTS and report["speaker_similarity"] is None


def test_verify_without_asr_says_what_to_set(manager):
    fresh = EngineManager(manager.settings, engines=manager.engines)
    fresh.asr = Transcriber.from_env("cpu", None, fresh.on_device, environ={ASR_VARIABLE: "hf://nobody-here/missing"})
    with pytest.raises(EngineUnavailableError, match=f"Verify needs speech recognition.*{ASR_VARIABLE}"):
        verify_engine(fresh, "f5tts", "en")


def test_verify_bad_input(verify_manager):
    with pytest.raises(InputError, match="unknown engine"):
        verify_engine(verify_manager, "nope")
    with pytest.raises(InputError, match="no verification sentence for ja"):
        verify_engine(verify_manager, "xtts", "ja")


@pytest.mark.slow
def test_speaker_model_missing_is_reported_not_raised(verify_manager, reference_wav):
    missing = SpeakerVerifier.from_env("cpu", verify_manager.on_device, environ={SPEAKER_VARIABLE: "/nowhere/wavlm"})
    report = verify_engine(verify_manager, "xtts", "en", reference=str(reference_wav),
                           reference_text="a tone", speaker=missing)
    assert report["speaker_similarity"] is None and SPEAKER_VARIABLE in report["speaker_model_error"]
    assert report["reference"] == "your clip"


def test_speaker_similarity_of_a_clip_with_itself_is_one(speaker):
    rng = np.random.default_rng(0)
    clip = (0.1 * rng.standard_normal(24000)).astype(np.float32)
    other = (0.1 * rng.standard_normal(36000)).astype(np.float32)
    assert speaker.similarity(clip, clip, 24000) == pytest.approx(1.0, abs=1e-4)
    assert -1.0 <= speaker.similarity(clip, other, 24000) <= 1.0


@pytest.mark.parametrize(("reference", "heard", "language", "wer", "cer"), [
    ("Custa R$ 5, hoje!", "custa cinco reais hoje", "pt-BR", 0.0, 0.0),
    ("Hello there, world.", "hello there world", "en", 0.0, 0.0),
    ("Hello there, world.", "", "en", 1.0, 1.0),
    ("one two three four", "one two three", "en", 0.25, 5 / 18),
    ("今天天空晴朗", "今天天空晴朗。", "zh-CN", 0.0, 0.0),
])
def test_error_rates(reference, heard, language, wer, cer):
    assert error_rates(reference, heard, language) == (pytest.approx(wer), pytest.approx(cer))


def test_score_text_and_verdict_thresholds():
    assert score_text("Dr. Silva, 3º lugar!", "pt-BR") == "doutor silva terceiro lugar"
    assert verdict(0.0, "f5tts") == verdict(THRESHOLDS.clear_cer, "xtts") == "speaks clearly"
    assert verdict(0.3, "f5tts") == "hard to understand"
    assert verdict(0.9, "f5tts") == "gibberish: check F5TTS_ARCH and F5TTS_VOCAB"
    assert verdict(0.9, "xtts") == "gibberish: check XTTS_MODEL"


@pytest.mark.slow
def test_cli_verify_prints_one_json_report(use_env, speech, capsys, tmp_path):
    use_env.setenv(ASR_VARIABLE, str(speech.whisper))
    use_env.setenv(SPEAKER_VARIABLE, str(speech.wavlm))
    out = tmp_path / "verify.wav"
    assert main(["verify", "--engine", "xtts", "--language", "en", "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] in VERDICTS and report["cer"] >= 0 and out.is_file() and report["output"] == str(out)
    assert isinstance(report["speaker_similarity"], float)


def test_cli_verify_without_asr_names_the_variable(use_env, capsys):
    use_env.setenv(ASR_VARIABLE, "hf://nobody-here/whisper-missing")
    assert main(["verify", "--engine", "xtts", "--language", "en"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and ASR_VARIABLE in captured.err and captured.err.startswith("error: ")


def test_cli_verify_bad_language_is_bad_input(use_env, capsys):
    assert main(["verify", "--engine", "xtts", "--language", "tlh"]) == 2
    assert "unknown language" in capsys.readouterr().err
