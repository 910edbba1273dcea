"""Knobs through the public doors of ``python app.py`` on the tiny models: the Gradio API (``/dub``,
``/clone``) and ``/v1`` (``extra_body``), good values reported in the metadata, bad ones refused
with the knob's name and range; and a saved voice's preferred knobs applied when it is named."""

from __future__ import annotations

import json

import openai
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from devtools.app_process import REQUEST_TIMEOUT_S, AppProcess, call
from engines.knobs import KNOBS
from engines.voices.library import VoiceLibrary

pytestmark = pytest.mark.app

TEXT = "hello there, this is a short test."


@pytest.fixture(scope="module")
def app(tiny_env, tmp_path_factory, reference_wav):
    voices = tmp_path_factory.mktemp("knob_voices")
    library = VoiceLibrary(voices)
    library.add("Knobby", reference_wav, "This is my voice, recorded for a test.", "en")
    library.set_knobs("knobby", {"nfe_step": 6, "temperature": 0.4, "speed": 1.25})
    env = {**tiny_env, "VOICE_STUDIO_VOICES_DIR": str(voices)}
    with AppProcess(env, tmp_path_factory.mktemp("knobs_app"), name="knobs_app") as proc:
        yield proc


@pytest.fixture(scope="module")
def client(app):
    return app.client()


def dub(client, **overrides):
    params = dict(text=TEXT, language="en", voice_preset="female_generic", engine="f5tts", quality_profile=None,
                  seed=3)
    return call(client, "/dub", **{**params, **overrides})


def test_the_api_names_every_knob_as_an_optional_parameter(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for name in ("/dub", "/clone"):
        params = {p["parameter_name"]: p for p in endpoints[name]["parameters"]}
        assert list(params)[-len(KNOBS):] == list(KNOBS)
        assert all(params[k]["parameter_has_default"] and params[k]["parameter_default"] is None for k in KNOBS)


def test_dub_without_knobs_changes_none_and_with_them_lists_them(client):
    _, _, plain = dub(client)
    assert plain["knobs_changed"] == {"seed": 3}
    _, _, tuned = dub(client, nfe_step=6, cfg_strength=1.5, temperature=0.5)
    assert tuned["knobs_changed"] == {"nfe_step": 6, "cfg_strength": 1.5, "seed": 3}
    assert tuned["knobs_ignored"] == ["temperature"]
    _, _, xtts = dub(client, engine="xtts", top_k=5, repetition_penalty=8.0)
    assert xtts["knobs_changed"] == {"top_k": 5, "repetition_penalty": 8.0, "seed": 3}


@pytest.mark.parametrize("knob,value,message", [
    ("nfe_step", 100, "nfe_step 100 is out of range; use 4 to 64"),
    ("top_p", 0, "top_p 0 is out of range; use 0.01 to 1"),
    ("nfe_step", 7.5, "nfe_step must be a whole number (4 to 64), not 7.5"),
])
def test_dub_with_a_bad_knob_is_refused_naming_it(client, knob, value, message):
    with pytest.raises(AppError, match=message.replace("(", r"\(").replace(")", r"\)")):
        dub(client, **{knob: value})


def test_clone_takes_knobs_too(client, reference_wav):
    _, _, meta = call(client, "/clone", reference_audio=handle_file(str(reference_wav)),
                      reference_text="This is my voice, recorded for a test.", text=TEXT, language="en",
                      engine="f5tts", quality_profile="f5tts_fast", seed=4, sway_sampling_coef=0.25,
                      remove_silence=True)
    assert meta["knobs_changed"] == {"sway_sampling_coef": 0.25, "remove_silence": True, "seed": 4}
    assert meta["quality_profile_used"] == "f5tts_fast"


def test_a_saved_voices_preferred_knobs_apply_and_the_request_wins(client):
    _, _, meta = dub(client, voice_preset="knobby")
    assert meta["knobs_changed"] == {"nfe_step": 6, "speed": 1.25, "seed": 3}
    assert meta["knobs_from_voice"] == ["nfe_step", "speed"] and meta["speed"] == 1.25
    _, _, mine = dub(client, voice_preset="knobby", nfe_step=8, speed="1.0")
    assert mine["knobs_changed"] == {"nfe_step": 8, "seed": 3} and "knobs_from_voice" not in mine
    _, _, xtts = dub(client, voice_preset="knobby", engine="xtts")
    assert xtts["knobs_changed"] == {"temperature": 0.4, "speed": 1.25, "seed": 3}


def test_v1_takes_knobs_in_extra_body(app):
    client = openai.OpenAI(base_url=app.url + "v1", api_key="unused", timeout=REQUEST_TIMEOUT_S, max_retries=0)
    response = client.audio.speech.create(
        model="xtts_fast", voice="alloy", input=TEXT, response_format="wav",
        extra_body={"language": "en", "seed": 5, "stream": False, "temperature": 0.5, "top_k": 7})
    assert response.content[:4] == b"RIFF"
    for knob, value, message in (("temperature", 5, "temperature 5 is out of range; use 0.01 to 2"),
                                 ("top_k", "many", "top_k must be a number (1 to 1024), not 'many'"),
                                 ("remove_silence", 1, "remove_silence must be true or false, not 1")):
        with pytest.raises(openai.BadRequestError) as caught:
            client.audio.speech.create(model="f5tts", voice="alloy", input=TEXT, extra_body={knob: value})
        error = caught.value.body
        assert (error["message"], error["param"], error["code"]) == (message, knob, "invalid_value"), json.dumps(error)
