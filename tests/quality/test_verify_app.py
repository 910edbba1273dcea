"""Speech quality in the app: the /dub and /clone switch, the ASR transcript, /verify_engine.

One ``python app.py`` on the tiny engines, a tiny Whisper (VOICE_STUDIO_ASR_MODEL) and a
tiny WavLM (VOICE_STUDIO_SPEAKER_MODEL), driven through gradio_client; plus the panel's
pure functions.
"""

from __future__ import annotations

import gradio as gr
import pytest
from gradio_client import handle_file

from engines import EngineManager
from engines.quality.asr import ASR_VARIABLE, Transcriber
from engines.quality.speaker import SPEAKER_VARIABLE, SpeakerVerifier
from devtools.app_process import AppProcess, call
from devtools.tiny_speech import speech_models
from webui.tabs.cloning import transcript_from_result
from webui.tabs.status.verify_panel import make_verify, render_asr, render_verdict

pytestmark = pytest.mark.app


@pytest.fixture(scope="module")
def app(tiny_env, tmp_path_factory):
    speech = speech_models(tmp_path_factory)
    env = {**tiny_env, ASR_VARIABLE: str(speech.whisper), SPEAKER_VARIABLE: str(speech.wavlm)}
    with AppProcess(env, tmp_path_factory.mktemp("quality_app")) as proc:
        yield proc


@pytest.fixture(scope="module")
def client(app):
    return app.client()



def test_new_parameters_are_appended_and_verify_is_named(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    params = {name: [p["parameter_name"] for p in info["parameters"]] for name, info in endpoints.items()}
    from webui.tabs.knobs import KNOB_NAMES

    # Each new parameter comes after the ones before it: a positional caller of an older version still lines up.
    assert params["/dub"] == ["text", "language", "voice_preset", "engine", "quality_profile", "speed", "seed",
                              "allow_fallback", "text_normalization", *KNOB_NAMES]
    assert params["/clone"][-4 - len(KNOB_NAMES):] == ["speed", "seed", "allow_fallback", "text_normalization",
                                                      *KNOB_NAMES]
    assert params["/verify_engine"] == ["engine", "language"]


def test_dub_normalises_for_f5_unless_switched_off(client):
    common = dict(text="Custa R$ 5.", language="pt-BR", voice_preset="female_generic", engine="f5tts",
                  quality_profile="f5tts_fast", seed=1, allow_fallback=False)
    _, _, meta = call(client, "/dub", **common)
    assert meta["normalized_text"] == "Custa cinco reais."
    _, _, meta = call(client, "/dub", **common, text_normalization=False)
    assert "normalized_text" not in meta and meta["tts_engine_used"] == "f5tts"


def test_clone_without_transcript_is_transcribed(client, reference_wav):
    _, _, meta = call(client, "/clone", reference_audio=handle_file(str(reference_wav)), reference_text="",
                      text="hello there", language="en", engine="f5tts", quality_profile="f5tts_fast",
                      allow_fallback=False)
    assert meta["tts_engine_used"] == "f5tts" and meta["reference_text_source"] == "asr"
    assert meta["reference_text"].strip()


def test_verify_engine_api_and_status(client, app):
    report = call(client, "/verify_engine", engine="xtts", language="en")
    assert report["engine"] == "xtts" and report["cer"] >= 0 and report["verdict"]
    assert isinstance(report["speaker_similarity"], float)
    assert app.health().json()["asr"]["status"] == "available"


def test_verify_engine_api_bad_input(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="unknown engine"):
        call(client, "/verify_engine", engine="nope", language="")


def test_verify_handler_without_asr_names_the_variable(manager):
    fresh = EngineManager(manager.settings, engines=manager.engines)
    fresh.asr = Transcriber.from_env("cpu", None, fresh.on_device, environ={ASR_VARIABLE: "hf://nobody-here/gone"})
    speaker = SpeakerVerifier.from_env("cpu", fresh.on_device, environ={SPEAKER_VARIABLE: "hf://nobody-here/gone"})
    with pytest.raises(gr.Error, match=ASR_VARIABLE):
        make_verify(fresh, speaker)("f5tts", "en")


def test_transcript_box_shows_what_asr_heard():
    assert transcript_from_result({"reference_text_source": "asr", "reference_text": "heard"}, "") == "heard"
    assert transcript_from_result({"reference_text_source": "user"}, "typed") == "typed"
    assert transcript_from_result(None, None) == ""


def test_panel_renders_escape_what_they_show():
    card = render_asr({"asr": {"name": "Speech recognition (Whisper)", "status": "unavailable", "model": "<x>",
                               "variable": ASR_VARIABLE, "device": "cpu", "error": "set <b>"}})
    assert "data-status='unavailable'" in card and "&lt;x&gt;" in card and "<b>" not in card.replace("<b>Speech", "")
    summary = render_verdict({"engine": "f5tts", "language": "pt-BR", "verdict": "speaks clearly", "cer": 0.02,
                              "wer": 0.05, "speaker_similarity": 0.91, "asr_reliable": True})
    assert "speaks clearly" in summary and "CER 2.0%" in summary and "0.91" in summary
    assert render_verdict(None) == "" and render_asr({}) == ""
