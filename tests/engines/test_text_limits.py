"""Text the engines cannot take, refused with a clear message before any model runs.

- A lone UTF-16 surrogate (half of an emoji, from a client that cut a string in two)
  cannot be written as UTF-8: it is refused with its position, and the history records
  the failure anyway.
- A reference transcript is limited by its clip's length (about 40 characters a second),
  so 10,000 characters for a 3 s clip is a clear refusal, not a tensor-size error.

The manager here has the tiny models' settings but loads nothing: validation needs no model.
"""

from __future__ import annotations

import json

import pytest

from engines import EngineManager, InputError, Settings, SynthesisRequest
from engines.text.checks import validate_text
from history import OutputHistory

BROKEN = "Olá mundo \ud83d."  # the first half of 😀, alone


@pytest.fixture(scope="module")
def unloaded_manager(tiny_env):
    import os

    return EngineManager(Settings.from_env({**os.environ, **tiny_env}))


def dub(text: str) -> SynthesisRequest:
    return SynthesisRequest(text=text, language="pt-BR", engine="f5tts", voice_preset="female_generic")


def clone(reference, transcript: str) -> SynthesisRequest:
    return SynthesisRequest(text="olá, tudo bem?", language="pt-BR", engine="f5tts", reference_audio=str(reference),
                            reference_text=transcript)


# --- broken characters -------------------------------------------------------------------------
def test_a_lone_surrogate_is_refused_with_its_position(unloaded_manager):
    with pytest.raises(InputError) as caught:
        unloaded_manager.synthesize(dub(BROKEN))
    assert str(caught.value) == ("text holds a broken character at position 11 (half of an emoji or other character "
                                 "cut in two): paste the text again")
    str(caught.value).encode("utf-8")  # the message itself is writable
    assert not any(engine.is_loaded for engine in unloaded_manager.engines.values())


def test_a_pair_sent_as_two_code_points_is_the_one_character():
    assert validate_text("Olá \ud83d\ude00 mundo") == "Olá 😀 mundo"


def test_the_history_records_any_text_as_strict_utf8(tmp_path):
    history = OutputHistory(tmp_path)
    entry = history.save_failure(dub(BROKEN), f"text holds a broken character ({BROKEN})")
    raw = (tmp_path / f"{entry.id}.json").read_bytes()
    sidecar = json.loads(raw.decode("utf-8"))  # strict UTF-8: it decodes
    assert sidecar["text"] == entry.text == "Olá mundo \ufffd." and "\ufffd" in sidecar["error"]
    assert history.list() == [entry]


# --- the reference transcript ----------------------------------------------------------------------
def test_a_transcript_far_longer_than_its_clip_is_refused(unloaded_manager, reference_wav):
    with pytest.raises(InputError) as caught:
        unloaded_manager.validate(clone(reference_wav, "palavra " * 1250))
    assert str(caught.value) == ("reference transcript is 10,000 characters, too long for a 3.0 s clip (at most 320: "
                                 "about 40 a second): give only the words spoken in the clip")


def test_a_transcript_of_honest_length_passes(unloaded_manager, reference_wav):
    spoken = "some call me nature, others call me mother nature."
    assert unloaded_manager.validate(clone(reference_wav, spoken)).voice.transcript == spoken
    assert unloaded_manager.validate(clone(reference_wav, "")).voice.transcript == ""


def test_a_transcript_with_a_broken_character_is_refused(unloaded_manager, reference_wav):
    with pytest.raises(InputError, match="reference transcript holds a broken character at position 11"):
        unloaded_manager.validate(clone(reference_wav, BROKEN))


def test_the_transcript_limit_has_an_absolute_cap():
    from engines.text.checks import MAX_REFERENCE_TEXT_CHARS, validate_reference_text

    with pytest.raises(InputError, match=f"at most {MAX_REFERENCE_TEXT_CHARS:,}"):
        validate_reference_text("a" * (MAX_REFERENCE_TEXT_CHARS + 1), clip_seconds=3 * 3600.0)
    assert validate_reference_text(None, 3.0) is None
