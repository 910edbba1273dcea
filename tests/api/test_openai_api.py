"""``/v1`` through the official ``openai`` client against ``python app.py`` on the tiny models.

Three app processes, one per configuration: open (most tests), with an API key, a waiting
line of one and no F5-TTS weights (key, 429, 503, the line shared with the page), and
with only the page's login (``/v1`` closed).
"""

from __future__ import annotations

import base64
import concurrent.futures as futures
import io
import json
import struct
import subprocess
import time

import httpx
import numpy as np
import openai
import pytest
import soundfile as sf
from gradio_client.exceptions import AppError

from history import OutputHistory
from devtools.app_process import REQUEST_TIMEOUT_S, AppProcess
from tests.browser_support import browser  # noqa: F401  (a fixture; it skips without Chromium)

pytestmark = pytest.mark.app

LONG_TEXT = ("This is the first sentence of a longer text, read in pieces. Here comes the second one, "
             "a little longer than the first. And a third sentence closes the paragraph for the test.")
KEY = "test-key-0123456789"


def make_client(app: AppProcess, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=app.url + "v1", api_key=key, timeout=REQUEST_TIMEOUT_S, max_retries=0)


def entry_for(app: AppProcess, text: str):
    found = [e for e in OutputHistory(app.output_dir).list() if e.text == text]
    return found[0] if found else None


@pytest.fixture(scope="module")
def app(tiny_env, tmp_path_factory):
    with AppProcess(tiny_env, tmp_path_factory.mktemp("openai_app"), name="openai_app") as proc:
        yield proc


@pytest.fixture(scope="module")
def client(app):
    return make_client(app)


def speak(client, text: str, **kwargs):
    params = dict(model="xtts_fast", voice="alloy", input=text, extra_body={"language": "en", "seed": 5})
    params.update(kwargs)
    return client.audio.speech.create(**params)


def test_models_and_voices_are_listed(client):
    models = {m.id: m for m in client.models.list()}
    assert {"tts-1", "tts-1-hd", "gpt-4o-mini-tts", "f5tts", "xtts", "xtts_fast", "f5tts_balanced"} <= set(models)
    assert models["tts-1"].model_extra["quality_profile"] == "f5tts_fast"
    voices = client.get("/audio/voices", cast_to=object)["voices"]
    by_id = {v["id"]: v for v in voices}
    assert by_id["female_generic"]["kind"] == "preset" and set(by_id["female_generic"]) >= {"id", "name", "kind",
                                                                                             "language"}
    assert by_id["onyx"]["preset"] == "male_generic"


def opus_input_rate(data: bytes) -> int:
    head = data.index(b"OpusHead")
    return struct.unpack("<I", data[head + 12: head + 16])[0]


def decode(data: bytes, fmt: str) -> tuple[np.ndarray, int]:
    """Samples and the rate the file declares."""
    if fmt == "pcm":
        return np.frombuffer(data, dtype="<i2"), 24000
    if fmt == "wav":
        samples, rate = sf.read(io.BytesIO(data), dtype="int16")
        return samples, rate
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=sample_rate", "-of", "json", "pipe:0"],
                           input=data, capture_output=True, check=True).stdout
    rate = int(json.loads(probe)["streams"][0]["sample_rate"])
    if fmt == "opus":  # Opus always decodes at 48 kHz; the header keeps the rate that went in
        rate = opus_input_rate(data)
    pcm = subprocess.run(["ffmpeg", "-v", "error", "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", "24000", "pipe:1"],
                         input=data, capture_output=True, check=True).stdout
    return np.frombuffer(pcm, dtype="<i2"), rate


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav", "pcm"])
def test_every_format_decodes_at_24k_with_the_saved_length(app, client, fmt):
    text = f"the {fmt} format, spoken by the tiny model."
    response = speak(client, text, response_format=fmt)
    samples, rate = decode(response.content, fmt)
    assert rate == 24000
    content_type = {"mp3": "audio/mpeg", "opus": "audio/opus", "aac": "audio/aac", "flac": "audio/flac",
                    "wav": "audio/wav", "pcm": "audio/pcm"}[fmt]
    assert response.response.headers["content-type"] == content_type
    saved = entry_for(app, text)
    assert saved is not None and saved.ok and saved.metadata["tts_engine_used"] == "xtts"
    padding = 0 if fmt in ("pcm", "wav", "flac") else 0.12 * 24000  # mp3 and aac encoders pad a frame or two
    assert abs(len(samples) - sf.info(saved.audio_path).frames) <= padding
    assert np.abs(samples).max() > 0


# Which reader opens which format. libsndfile has no AAC decoder, and raw PCM has no container a
# browser could recognise: those two pairs are outside what any server can send.
READERS = [(fmt, reader) for fmt in ("mp3", "opus", "aac", "flac", "wav", "pcm")
           for reader in ("soundfile", "ffmpeg") if (fmt, reader) != ("aac", "soundfile")]


def read_back(data: bytes, fmt: str, reader: str) -> float:
    """Seconds of audio ``reader`` finds in ``data``."""
    if reader == "soundfile":
        raw = dict(format="RAW", samplerate=24000, channels=1, subtype="PCM_16") if fmt == "pcm" else {}
        samples, rate = sf.read(io.BytesIO(data), **raw)
        return len(samples) / rate
    source = ["-f", "s16le", "-ar", "24000", "-ac", "1"] if fmt == "pcm" else []
    pcm = subprocess.run(["ffmpeg", "-v", "error", *source, "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar",
                          "24000", "pipe:1"], input=data, capture_output=True, check=True).stdout
    return len(pcm) / 2 / 24000


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("fmt, reader", READERS)
def test_every_format_opens_in_every_reader_whole_and_streamed(app, client, fmt, reader, streamed):
    text = f"the {fmt} format, {'streamed' if streamed else 'whole'}, read back by {reader}."
    response = speak(client, text, response_format=fmt,
                     extra_body={"language": "en", "seed": 5, "stream": streamed})
    seconds = read_back(response.content, fmt, reader)
    saved = entry_for(app, text)
    assert saved is not None
    assert seconds == pytest.approx(sf.info(saved.audio_path).duration, abs=0.13)  # mp3/aac pad a frame or two


@pytest.mark.browser
@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
def test_every_container_format_plays_in_a_browser_audio_element(app, browser, streamed):  # noqa: F811
    """Chromium fetches each format from /v1 and loads it into an <audio> element."""
    browser.get(app.url)
    script = """
        const [body, done] = [arguments[0], arguments[arguments.length - 1]];
        fetch('/v1/audio/speech', {method: 'POST', headers: {'content-type': 'application/json'},
                                   body: JSON.stringify(body)})
          .then(r => r.blob())
          .then(blob => {
            const audio = new Audio();
            audio.onloadedmetadata = () => done({ok: true, duration: audio.duration});
            audio.onerror = () => done({ok: false, error: audio.error && audio.error.message});
            audio.src = URL.createObjectURL(blob);
          })
          .catch(e => done({ok: false, error: String(e)}));"""
    browser.set_script_timeout(REQUEST_TIMEOUT_S)
    for fmt in ("mp3", "opus", "aac", "flac", "wav"):
        body = {"model": "xtts_fast", "voice": "alloy", "input": f"the {fmt} format in a browser.",
                "response_format": fmt, "language": "en", "seed": 5, "stream": streamed}
        loaded = browser.execute_async_script(script, body)
        assert loaded["ok"], (fmt, loaded)
        assert loaded["duration"] is None or loaded["duration"] > 0.1, (fmt, loaded)


def test_stream_first_chunk_arrives_before_the_audio_is_complete(app, client):
    with client.audio.speech.with_streaming_response.create(
            model="xtts", voice="echo", input=LONG_TEXT, response_format="pcm",
            extra_body={"language": "en", "seed": 11}) as response:
        assert response.headers["x-accel-buffering"] == "no"
        assert response.headers["x-engine-used"] == "xtts" and response.headers["x-engine-fallback"] == "false"
        chunks = []
        for data in response.iter_bytes():
            if not chunks:
                # The result is saved once the last chunk is made: not yet when the first arrives.
                assert entry_for(app, LONG_TEXT) is None
            chunks.append(data)
    assert len(chunks) >= 2
    saved = entry_for(app, LONG_TEXT)
    assert saved is not None and saved.metadata["streamed"] is True
    assert len(b"".join(chunks)) == sf.info(saved.audio_path).frames * 2  # every sample of the saved clip


def test_sse_events_carry_base64_audio_then_done_with_the_history_id(app, client):
    text = "events for a browser, base64 in each."
    with client.audio.speech.with_streaming_response.create(
            model="xtts_fast", voice="male_generic", input=text, response_format="pcm", stream_format="sse",
            extra_body={"language": "en"}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[len("data: "):]) for line in response.iter_lines() if line.startswith("data: ")]
    deltas = [e for e in events if e["type"] == "speech.audio.delta"]
    done = events[-1]
    assert deltas and done["type"] == "speech.audio.done" and "usage" in done
    audio = b"".join(base64.b64decode(e["audio"]) for e in deltas)
    saved = OutputHistory(app.output_dir).get(done["history_id"])
    assert saved is not None and saved.text == text and done["tts_engine_used"] == "xtts"
    assert len(audio) == sf.info(saved.audio_path).frames * 2


def test_headers_say_what_ran_and_an_unstreamed_answer_names_its_history_entry(app, client):
    text = "one whole clip, then the answer."
    raw = client.audio.speech.with_raw_response.create(
        model="xtts_fast", voice={"id": "female_generic"}, input=text, response_format="wav",
        extra_body={"language": "en", "stream": False, "seed": 9})
    assert raw.headers["x-engine-used"] == "xtts" and raw.headers["x-quality-profile-used"] == "xtts_fast"
    assert raw.headers["x-seed"] == "9" and int(raw.headers["content-length"]) == len(raw.content)
    saved = OutputHistory(app.output_dir).get(raw.headers["x-history-id"])
    assert saved is not None and saved.text == text and saved.metadata["seed"] == 9


def test_tts_1_is_f5_fast_and_a_language_f5_lacks_falls_back_with_its_reason(app, client):
    raw = client.audio.speech.with_raw_response.create(model="tts-1", voice="nova", input="hello from the default.",
                                                        response_format="pcm", extra_body={"language": "en"})
    assert raw.headers["x-engine-used"] == "f5tts" and raw.headers["x-quality-profile-used"] == "f5tts_fast"
    raw = client.audio.speech.with_raw_response.create(model="f5tts_fast", voice="nova", input="hola a todos.",
                                                        response_format="pcm", extra_body={"language": "es"})
    assert raw.headers["x-engine-used"] == "xtts" and raw.headers["x-engine-fallback"] == "true"
    assert raw.headers["x-quality-profile-used"] == "xtts_fast"
    assert "does not serve language es" in raw.headers["x-fallback-reason"]


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(input=""), openai.BadRequestError, "text is empty"),
    (dict(input="a" * 5001), openai.BadRequestError, "the limit is 5,000 characters"),
    (dict(speed=3.0), openai.BadRequestError, "speed 3.0 is out of range; use 0.5 to 2.0"),
    (dict(response_format="ogg"), openai.BadRequestError, "response_format 'ogg' is not supported"),
    (dict(voice="robot"), openai.NotFoundError, "unknown voice 'robot'"),
    (dict(model="tts-9"), openai.NotFoundError, "unknown model 'tts-9'"),
])
def test_bad_requests_get_openai_errors_before_anything_runs(app, client, kwargs, error, message):
    before = len(OutputHistory(app.output_dir).list())
    with pytest.raises(error) as raised:
        speak(client, "a line that is never spoken.", **kwargs)
    body = raised.value.body
    assert message in body["message"] and set(body) == {"message", "type", "param", "code"}
    assert len(OutputHistory(app.output_dir).list()) == before  # refused before anything ran


def test_a_language_the_loaded_engines_cannot_serve_is_400(client):
    speak(client, "load xtts: its config says which languages it serves.")
    with pytest.raises(openai.BadRequestError, match="language ja cannot be served by XTTS-v2 or F5-TTS"):
        speak(client, "a line in a language nobody here speaks.", extra_body={"language": "ja"})


def test_an_oversized_body_is_refused_unread(app):
    response = httpx.post(app.url + "v1/audio/speech", content=b"{" + b" " * 2_000_000 + b"}",
                          headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"


def test_a_deeply_nested_body_is_a_400_in_openais_shape(app):
    """80 KB of valid JSON nested 40,000 levels deep once crashed the route with a RecursionError (500)."""
    body = b'{"model": "tts-1", "voice": "alloy", "input": "hi", "x": ' + b"[" * 40_000 + b"]" * 40_000 + b"}"
    response = httpx.post(app.url + "v1/audio/speech", content=body, headers={"content-type": "application/json"},
                          timeout=30)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error == {"message": "the request body is nested 40,001 levels deep; the limit is 32",
                     "type": "invalid_request_error", "param": None, "code": "invalid_json"}
    assert speak(make_client(app), "still serving after that.").content  # the app keeps serving


def test_range_errors_name_their_field(client):
    for seed in (-1, 10**30):
        with pytest.raises(openai.BadRequestError) as raised:
            speak(client, "a seed out of range.", extra_body={"language": "en", "seed": seed})
        assert raised.value.body["param"] == "seed" and "out of range; use 0 to 4294967295" in \
            raised.value.body["message"]


# --- an API key, a waiting line of one, no F5-TTS weights --------------------------------------
@pytest.fixture(scope="module")
def keyed_app(tiny_env, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("openai_keyed")
    env = {**tiny_env, "VOICE_STUDIO_API_KEY": KEY, "VOICE_STUDIO_QUEUE_SIZE": "1",
           "F5TTS_CKPT": str(workdir / "missing.safetensors")}
    with AppProcess(env, workdir, name="openai_keyed") as proc:
        yield proc


def test_the_key_is_required_and_a_wrong_one_refused(keyed_app):
    with pytest.raises(openai.AuthenticationError, match="incorrect API key"):
        make_client(keyed_app, "wrong-key-000").models.list()
    response = httpx.get(keyed_app.url + "v1/models", timeout=10)
    assert response.status_code == 401 and response.json()["error"]["code"] == "missing_api_key"
    assert "VOICE_STUDIO_API_KEY" in response.json()["error"]["message"]
    assert [m.id for m in make_client(keyed_app, KEY).models.list()][0] == "tts-1"


def test_no_engine_is_503_with_each_reason(keyed_app):
    with pytest.raises(openai.InternalServerError) as raised:
        speak(make_client(keyed_app, KEY), "nobody can say this.", model="f5tts",
              extra_body={"language": "en", "allow_fallback": False})
    assert raised.value.status_code == 503
    assert "No engine could serve this request. F5-TTS:" in raised.value.body["message"]
    assert raised.value.body["code"] == "engine_unavailable"


def test_a_full_line_is_429_and_the_page_shares_it(keyed_app):
    client = make_client(keyed_app, KEY)
    speak(client, "load the engine first.")

    def attempt(i: int) -> str:
        try:
            speak(client, f"{LONG_TEXT} {LONG_TEXT} Request {i}.", model="xtts")
        except openai.RateLimitError as exc:
            assert exc.body["code"] == "queue_full" and "Queue is full" in exc.body["message"]
            return "429"
        return "done"

    with futures.ThreadPoolExecutor(6) as pool:
        pending = [pool.submit(attempt, i) for i in range(5)]
        # Two refusals mean two run and one waits (a slot each for two engines, a line of one): the line is
        # full now, and stays so while those long requests run, for the page too.
        deadline = time.monotonic() + REQUEST_TIMEOUT_S
        while sum(f.done() and f.result() == "429" for f in pending) < 2:
            assert time.monotonic() < deadline, [f.result() if f.done() else "running" for f in pending]
            time.sleep(0.05)
        with pytest.raises(AppError, match="Queue is full"):
            keyed_app.client().submit(text="the page waits in the same line.", language="en",
                                      voice_preset="male_generic", engine="xtts", quality_profile="xtts_fast",
                                      api_name="/dub").result(timeout=REQUEST_TIMEOUT_S)
        outcomes = [f.result() for f in pending]
    assert outcomes.count("done") >= 3 and outcomes.count("429") >= 1, outcomes


# --- the page has a login and no key is set: /v1 is closed --------------------------------------
def test_v1_is_closed_behind_a_page_login_without_a_key(tiny_env, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("openai_login")
    with AppProcess({**tiny_env, "VOICE_STUDIO_AUTH": "ana:s3cret"}, workdir, name="openai_login") as proc:
        with pytest.raises(openai.AuthenticationError) as raised:
            make_client(proc, "anything").models.list()
        assert raised.value.body["code"] == "api_closed" and "VOICE_STUDIO_API_KEY" in raised.value.body["message"]
        response = httpx.post(proc.url + "v1/audio/speech", json={"model": "tts-1", "input": "hi", "voice": "alloy"},
                              timeout=10)
        assert response.status_code == 401
        assert httpx.get(proc.url + "config", timeout=10).status_code == 401  # the page's own login still holds
