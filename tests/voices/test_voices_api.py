"""The voice library through the app's Gradio API (``python app.py`` in a subprocess, gradio_client).

Save, list, dub with the saved voice on both engines; restart the app on the same voice
folder and dub again from the latents cache; export, delete, import, dub again; and the
bad input each endpoint refuses, with its message.
"""

from __future__ import annotations

import zipfile

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from devtools.app_process import AppProcess, call, make_mp3

pytestmark = pytest.mark.app

TRANSCRIPT = "This is my voice, recorded for a test."


def dub(client, voice: str, engine: str) -> dict:
    _, badges, meta = call(client, "/dub", text="Hello there, a short test.", language="en", voice_preset=voice,
                           engine=engine, quality_profile=f"{engine}_fast", seed=9)
    assert meta["tts_engine_used"] == engine and meta["engine_fallback"] is False, meta["fallback_reason"]
    assert meta["voice"] == voice and meta["voice_kind"] == "saved"
    assert voice in badges
    return meta


@pytest.fixture(scope="module")
def env(tiny_env, tmp_path_factory):
    return {**tiny_env, "VOICE_STUDIO_VOICES_DIR": str(tmp_path_factory.mktemp("voices"))}


def test_voice_library_round_trip_through_the_api_and_a_restart(env, tmp_path, reference_wav):
    clip = make_mp3(reference_wav, tmp_path / "maria.mp3")
    with AppProcess(env, tmp_path / "first") as app:
        client = app.client()
        endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        params = {name: [p["parameter_name"] for p in info["parameters"]] for name, info in endpoints.items()}
        assert params["/voices"] == [] and params["/voice_delete"] == ["voice_id"]
        assert params["/voice_save"][:4] == ["name", "reference_audio", "reference_text", "language"]
        assert params["/voice_export"] == ["voice_id"] and params["/voice_import"] == ["voice_file"]

        saved = call(client, "/voice_save", name="Maria", reference_audio=handle_file(str(clip)),
                     reference_text=TRANSCRIPT, language="pt-BR")
        assert saved["id"] == "maria" and saved["kind"] == "saved" and saved["engines"] == ["f5tts", "xtts"]
        listed = call(client, "/voices")["voices"]
        assert [(v["id"], v["kind"]) for v in listed] == [("female_generic", "preset"), ("male_generic", "preset"),
                                                          ("maria", "saved")]
        dub(client, "maria", "f5tts")
        assert dub(client, "maria", "xtts")["latents_source"] == "computed"

    with AppProcess(env, tmp_path / "second") as app:  # a restart on the same voice folder
        client = app.client()
        assert [v["id"] for v in call(client, "/voices")["voices"]][-1] == "maria"
        assert dub(client, "maria", "xtts")["latents_source"] == "voice_cache"

        exported = call(client, "/voice_export", voice_id="maria")
        assert exported.endswith("maria.voice.zip")
        assert sorted(zipfile.ZipFile(exported).namelist()) == ["reference.wav", "voice.json"]
        assert call(client, "/voice_delete", voice_id="maria")["id"] == "maria"
        assert [v["kind"] for v in call(client, "/voices")["voices"]] == ["preset", "preset"]
        with pytest.raises(AppError, match="unknown voice 'maria'"):
            dub(client, "maria", "f5tts")
        imported = call(client, "/voice_import", voice_file=handle_file(exported))
        assert {k: imported[k] for k in ("id", "name", "transcript", "language")} == {
            k: saved[k] for k in ("id", "name", "transcript", "language")}
        dub(client, "maria", "f5tts")
        assert dub(client, "maria", "xtts")["latents_source"] != "voice_cache"  # the file's caches are not used

        _bad_inputs(client, clip, tmp_path)
        assert "Traceback" not in app.log_tail(200_000)


def _bad_inputs(client, clip, tmp_path) -> None:
    evil = tmp_path / "evil.voice.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("voice.json", '{"id": "evil", "name": "Evil"}')
        archive.writestr("../../evil", "x")
    not_json = tmp_path / "broken.voice.zip"
    with zipfile.ZipFile(not_json, "w") as archive:
        archive.writestr("voice.json", "this is not json")
        archive.writestr("reference.wav", b"RIFF0000WAVE")
    cases = [
        ("/voice_save", dict(name="MARIA", reference_audio=handle_file(str(clip)), reference_text="",
                             language=""), "a voice named 'Maria' already exists"),
        ("/voice_save", dict(name="Female generic", reference_audio=handle_file(str(clip)), reference_text="",
                             language=""), "name of a built-in preset"),
        ("/voice_save", dict(name="Ana", reference_audio=None, reference_text="", language=""),
         "no reference audio"),
        ("/voice_delete", dict(voice_id="a/b"), "voice id 'a/b' is not valid"),
        ("/voice_delete", dict(voice_id="nobody"), "no saved voice 'nobody'; saved voices: maria"),
        ("/voice_export", dict(voice_id="../maria"), "voice id '../maria' is not valid"),
        ("/voice_import", dict(voice_file=handle_file(str(evil))), "member '../../evil' is refused"),
        ("/voice_import", dict(voice_file=handle_file(str(not_json))), "voice.json in the voice file is not valid JSON"),
        ("/voice_import", dict(voice_file=None), "no voice file"),
    ]
    for endpoint, params, message in cases:
        with pytest.raises(AppError) as raised:
            call(client, endpoint, **params)
        assert message in str(raised.value), (endpoint, str(raised.value))
    assert [v["id"] for v in call(client, "/voices")["voices"]] == ["female_generic", "male_generic", "maria"]
