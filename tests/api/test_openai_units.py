"""The pieces of the OpenAI-compatible API and of live playback, without an app process:
request mapping, admission, encoders, steady pieces, header text."""

from __future__ import annotations

import io
import subprocess
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from engines import EngineChoice, EngineManager, Settings
from engines.types import Voice
from engines.voices.catalog import VoiceCatalog
from webui.serving.audio_formats import FORMATS, encode, stream_encoder, wav_bytes
from webui.serving.limits import Admission, QueueFullError
from webui.tabs.speech import steady_pieces
from webui.http.openai_api import header_text, result_headers
from webui.http.openai_requests import OPENAI_VOICES, ApiError, model_table, read_speech, voice_table


class OneSavedVoice:
    """A voice library holding one saved voice (the catalog's library protocol)."""

    def get(self, voice_id):
        return Voice(id="my_voice", kind="saved", language="en") if voice_id == "my_voice" else None

    def list(self):
        return [{"id": "my_voice", "name": "Mine", "kind": "saved", "language": "en"}]


@pytest.fixture(scope="module")
def manager():
    manager = EngineManager(Settings.from_env({"VOICE_STUDIO_DEVICE": "cpu", "HF_HUB_OFFLINE": "1"}))
    manager.voices = VoiceCatalog(manager.settings.cache_dir, None, OneSavedVoice())
    return manager


def speech(manager, default_language=None, **fields):
    body = {"model": "tts-1", "input": "hello there.", "voice": "alloy", **fields}
    return read_speech(body, manager, default_language)


@pytest.mark.parametrize("model, engine, profile", [
    ("tts-1", "f5tts", "f5tts_fast"), ("tts-1-hd", "f5tts", "f5tts_balanced"),
    ("gpt-4o-mini-tts", "f5tts", "f5tts_balanced"), ("xtts", "xtts", None), ("f5tts", "f5tts", None),
    ("xtts_expressive", "xtts", "xtts_expressive"),
])
def test_models_map_to_engine_and_profile(manager, model, engine, profile):
    job = speech(manager, model=model)
    assert (job.request.engine, job.request.quality_profile) == (engine, profile)
    assert model in {row["id"] for row in model_table(manager)}


def test_quality_profile_extension_picks_the_engine_of_a_generic_model(manager):
    job = speech(manager, model="tts-1", quality_profile="xtts_ultra_quality")
    assert (job.request.engine, job.request.quality_profile) == ("xtts", "xtts_ultra_quality")
    with pytest.raises(ApiError, match="contradicts") as raised:
        speech(manager, model="xtts_fast", quality_profile="xtts_balanced")
    assert raised.value.status == 400


def test_voices_openai_names_presets_saved_and_the_object_form(manager):
    assert speech(manager, voice="onyx").request.voice_preset == "male_generic"
    assert speech(manager, voice="nova").request.voice_preset == "female_generic"
    assert speech(manager, voice={"id": "male_generic"}).request.voice_preset == "male_generic"
    assert speech(manager, voice="my_voice").request.voice_preset == "my_voice"
    assert set(OPENAI_VOICES) >= {"alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage",
                                  "shimmer", "verse"}
    listed = {v["id"]: v for v in voice_table(manager)}
    assert listed["my_voice"]["kind"] == "saved" and listed["alloy"]["preset"] == "female_generic"
    with pytest.raises(ApiError) as raised:
        speech(manager, voice="robot")
    assert raised.value.status == 404 and raised.value.code == "voice_not_found"


def test_language_default_order(manager):
    assert speech(manager, language="EN").request.language == "en"
    assert speech(manager, default_language="es", voice="my_voice").request.language == "es"
    assert speech(manager, voice="my_voice").request.language == "en"  # the saved voice's
    assert speech(manager).request.language == "pt-BR"


@pytest.mark.parametrize("fields, status, param, message", [
    ({"speed": 3.0}, 400, "speed", "use 0.5 to 2.0 (OpenAI accepts 0.25 to 4.0"),
    ({"speed": 0.1}, 400, "speed", "speed 0.1 is out of range; use 0.5 to 2.0"),
    ({"response_format": "ogg"}, 400, "response_format", "use one of: mp3, opus, aac, flac, wav, pcm"),
    ({"stream_format": "ws"}, 400, "stream_format", "use one of: audio, sse"),
    ({"input": ""}, 400, "input", "text is empty"),
    ({"input": "a" * 5001}, 400, "input", "the limit is 5,000 characters"),
    ({"input": 5}, 400, "input", "input must be a string"),
    ({"seed": "x"}, 400, "seed", "seed must be a whole number"),
    ({"seed": -1}, 400, "seed", "seed -1 is out of range; use 0 to 4294967295"),
    ({"seed": 10**30}, 400, "seed", f"seed {10**30} is out of range; use 0 to 4294967295"),
    ({"seed": 2**32}, 400, "seed", "seed 4294967296 is out of range"),
    ({"language": "xx"}, 400, "language", "unknown language 'xx'"),
    ({"quality_profile": "turbo"}, 400, "quality_profile", "unknown quality profile 'turbo'"),
    ({"model": "tts-9"}, 404, "model", "unknown model 'tts-9'"),
    ({"voice": 7}, 400, "voice", "voice must be a string"),
])
def test_bad_fields_name_the_field(manager, fields, status, param, message):
    with pytest.raises(ApiError) as raised:
        speech(manager, **fields)
    assert (raised.value.status, raised.value.param) == (status, param)
    assert message in raised.value.message
    body = raised.value.body()["error"]
    assert set(body) == {"message", "type", "param", "code"}


def test_admission_bounds_running_and_waiting_first_come_first_served():
    admission = Admission(max_running=1, max_waiting=1)
    held = admission.enter()
    order, positions = [], []
    waiter = threading.Thread(target=lambda: order.append(admission.enter(on_wait=lambda p, r: positions.append(p))))
    waiter.start()
    deadline = time.monotonic() + 5
    while admission.status()["waiting"] != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(QueueFullError, match="Queue is full: 1 syntheses are running and 1 are waiting"):
        admission.enter()
    held.release()
    held.release()  # idempotent
    waiter.join(5)
    assert positions == [1] and len(order) == 1
    assert admission.status() == {"running": 1, "waiting": 0, "max_running": 1, "max_waiting": 1}
    order[0].release()
    with admission.enter():
        assert admission.status()["running"] == 1
    assert admission.status()["running"] == 0


def _decode(data: bytes, fmt: str, streamed: bool = False) -> np.ndarray:
    """pcm as it is; wav and a whole flac with soundfile; the rest with ffmpeg (a streamed flac does not
    declare its length, which soundfile's ``read`` needs)."""
    if fmt == "pcm":
        return np.frombuffer(data, dtype="<i2")
    if fmt in ("wav", "flac"):
        return sf.read(io.BytesIO(data), dtype="int16")[0]
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", "24000", "pipe:1"],
                         input=data, capture_output=True, check=True).stdout
    return np.frombuffer(out, dtype="<i2")


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_whole_and_streamed_encodings_decode_to_the_same_length(fmt):
    rate = 24000
    audio = (0.5 * np.sin(2 * np.pi * 220 * np.arange(rate) / rate)).astype(np.float32)
    whole = _decode(encode(audio, rate, fmt), fmt)
    encoder = stream_encoder(fmt, rate)
    try:
        for part in np.array_split(audio, 5):
            encoder.feed(part)
        encoder.finish()
        streamed = _decode(b"".join(encoder.chunks(timeout_s=30)), fmt, streamed=True)
    finally:
        encoder.close()
    for decoded in (whole, streamed):  # mp3 and aac add encoder padding: up to about 0.1 s
        assert abs(len(decoded) - rate) <= (0 if fmt in ("pcm", "wav", "flac") else 3000), len(decoded)
    if fmt in ("pcm", "wav", "flac"):
        np.testing.assert_array_equal(whole, streamed)
        assert abs(int(whole.max()) - 16383) <= 1  # 0.5 full scale: no normalising


def test_steady_pieces_regroup_without_losing_samples():
    chunks = [np.arange(n, dtype=np.float32) for n in (10, 2500, 700, 24000, 5)]
    pieces = list(steady_pieces(chunks, sample_rate=1000, piece_s=1.0))
    assert [len(p) for p in pieces[:-1]] == [1000] * (len(pieces) - 1) and 0 < len(pieces[-1]) <= 1000
    np.testing.assert_array_equal(np.concatenate(pieces), np.concatenate(chunks))
    one = list(steady_pieces([np.zeros(2500, dtype=np.float32)], 1000))
    assert [len(p) for p in one] == [1000, 1000, 500]  # a single engine chunk still plays as several pieces


def test_live_pieces_are_16_bit_wav_at_a_fixed_scale():
    quiet, loud = np.full(100, 0.1, dtype=np.float32), np.full(100, 0.9, dtype=np.float32)
    for chunk, level in ((quiet, 3277), (loud, 29490)):
        samples, rate = sf.read(io.BytesIO(wav_bytes(chunk, 24000)), dtype="int16")
        assert rate == 24000 and abs(int(samples[0]) - level) <= 1


def test_headers_are_plain_ascii_on_one_line():
    reason = "F5-TTS → XTTS: ção\nsecond line"
    assert header_text(reason) == "F5-TTS -> XTTS: cao second line"
    headers = result_headers(EngineChoice("f5tts", "xtts", None, "xtts_fast", True, 3, {"f5tts": reason}))
    assert headers == {"X-Engine-Used": "xtts", "X-Engine-Fallback": "true", "X-Quality-Profile-Used": "xtts_fast",
                       "X-Fallback-Reason": "F5-TTS -> XTTS: cao second line", "X-Seed": "3"}
