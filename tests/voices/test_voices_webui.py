"""The Voices tab's handlers and HTML without a browser: escaping, dropdowns, errors, export files."""

from __future__ import annotations

import os
import time

import gradio as gr
import pytest

from engines import EngineManager, Settings
from engines.voices.library import VoiceLibrary
from webui import build_app
from webui.tabs.choices import follow_voices, voice_choices
from webui.tabs.voices_tab import ExportFiles, VoiceHandlers, voice_card

TRANSCRIPT = "This is my voice, recorded for a test."


@pytest.fixture
def handlers(tmp_path) -> VoiceHandlers:
    settings = Settings.from_env({"VOICE_STUDIO_CACHE_DIR": str(tmp_path / "cache")})
    library = VoiceLibrary(tmp_path / "voices")
    return VoiceHandlers(EngineManager(settings, library=library), library)


def test_user_text_is_escaped_in_the_voice_card():
    card = voice_card({"id": "bob", "name": "<img src=x onerror=alert(1)>", "kind": "saved", "language": "en",
                       "engines": ["xtts"], "duration_s": 3.0, "transcript": "a <b>bold</b> claim & more",
                       "notes": "<script>alert(2)</script>", "consent": "\"quoted\" <i>"})
    assert "<img" not in card and "<script" not in card and "<b>bold" not in card and "<i>" not in card
    assert "&lt;img src=x onerror=alert(1)&gt;" in card and "&lt;script&gt;alert(2)&lt;/script&gt;" in card
    assert "XTTS (no transcript)" in voice_card({"id": "x", "name": "X", "kind": "saved", "engines": ["xtts"],
                                                 "duration_s": 2.0, "transcript": ""})


def test_the_voice_dropdown_lists_presets_then_saved_voices_and_keeps_the_choice(handlers, reference_wav):
    handlers.library.add("Maria", reference_wav, TRANSCRIPT)
    handlers.library.add("Quiet One", reference_wav, "")
    payload = handlers.voices()
    assert voice_choices(payload["voices"]) == [("Female (generic)", "female_generic"),
                                                ("Male (generic)", "male_generic"), ("Maria · saved", "maria"),
                                                ("Quiet One · saved · XTTS only", "quiet-one")]
    assert follow_voices(payload, "maria").value == "maria"
    handlers.voice_delete("maria")
    assert follow_voices(handlers.voices(), "maria").value == "female_generic"  # a removed voice is not kept


def test_handler_errors_name_the_problem_and_no_server_path(handlers, reference_wav, tmp_path):
    with pytest.raises(gr.Error, match="a voice named 'Maria' already exists") as raised:
        handlers.voice_save("Maria", str(reference_wav), TRANSCRIPT, "pt-BR")
        handlers.voice_save("maria", str(reference_wav), TRANSCRIPT, "pt-BR")
    assert raised.value.title == "Bad input"
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the voice folder should be")
    library = VoiceLibrary(blocked / "voices")
    broken = VoiceHandlers(handlers.manager, library)
    with pytest.raises(gr.Error) as raised:
        broken.voice_save("Ana", str(reference_wav), TRANSCRIPT)
    message = str(raised.value)
    assert raised.value.title == "Voice not saved" and "set VOICE_STUDIO_VOICES_DIR to a writable folder" in message
    assert str(tmp_path) not in message
    with pytest.raises(gr.Error, match=r"voice id '\.\./x' is not valid"):
        handlers.voice_export("../x")


def test_export_files_are_removed_after_a_while(handlers, reference_wav, tmp_path):
    handlers.library.add("Maria", reference_wav, TRANSCRIPT)
    exports = ExportFiles(keep_s=60, root=tmp_path / "exports")
    handlers.exports = exports
    first = handlers.voice_export("maria")
    assert first.endswith("maria.voice.zip") and os.path.getsize(first) > 1000
    old = time.time() - 120
    os.utime(os.path.dirname(first), (old, old))
    second = handlers.voice_export("maria")
    assert os.path.isfile(second) and not os.path.exists(first)
    assert oct((tmp_path / "exports").stat().st_mode & 0o777) == "0o700"


def test_the_app_has_the_voice_api_only_with_a_library(handlers, tmp_path):
    with_library = build_app(handlers.manager).get_api_info()["named_endpoints"]
    assert {"/voices", "/voice_save", "/voice_delete", "/voice_export", "/voice_import"} <= set(with_library)
    settings = Settings.from_env({"VOICE_STUDIO_CACHE_DIR": str(tmp_path / "cache")})
    without = build_app(EngineManager(settings)).get_api_info()["named_endpoints"]
    assert not any(name.startswith("/voice") for name in without) and "/dub" in without
