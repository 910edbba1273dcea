"""Limits set on purpose, on one app: login, upload cap, bounded queue, unwritable output folder."""

from __future__ import annotations

import concurrent.futures as futures

import httpx
import numpy as np
import pytest
import soundfile as sf
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from gradio_client.utils import QueueError

from devtools.app_process import REQUEST_TIMEOUT_S, AppProcess

pytestmark = pytest.mark.app

AUTH = ("ana", "s3cret")


@pytest.fixture(scope="module")
def app(tiny_env, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("limits_app")
    not_a_folder = workdir / "outputs-is-a-file"
    not_a_folder.write_text("a file where the output folder should be")
    env = {**tiny_env, "VOICE_STUDIO_AUTH": ":".join(AUTH), "VOICE_STUDIO_MAX_UPLOAD_MB": "1",
           "VOICE_STUDIO_QUEUE_SIZE": "1", "VOICE_STUDIO_OUTPUT_DIR": str(not_a_folder)}
    with AppProcess(env, workdir, name="limits_app") as proc:
        yield proc


@pytest.fixture(scope="module")
def client(app):
    return app.client(auth=AUTH)


def dub(client, text="a short line for the limits test."):
    return client.submit(text=text, language="en", voice_preset="male_generic", engine="xtts",
                         quality_profile="xtts_fast", api_name="/dub").result(timeout=REQUEST_TIMEOUT_S)


def test_login_is_required_when_auth_is_set(app):
    assert httpx.get(app.url + "config", timeout=10).status_code == 401
    with pytest.raises(Exception, match="(?i)login|auth|401"):
        app.client()
    assert app.health().status_code == 200  # monitors need no login; the body holds no secrets


def test_unwritable_output_folder_still_hands_out_the_audio(client):
    audio, badges, metadata = dub(client)
    assert "is not writable" in metadata["history_error"] and "VOICE_STUDIO_OUTPUT_DIR" in metadata["history_error"]
    assert "history_id" not in metadata
    samples, rate = sf.read(audio)
    assert rate == 24000 and len(samples) > 0
    assert dub(client, "the next request is served too.")[2]["tts_engine_used"] == "xtts"


def test_upload_over_the_cap_is_refused_with_the_limit(app, client, tmp_path):
    big = tmp_path / "big.wav"
    sf.write(big, np.zeros(24000 * 30, dtype=np.float32), 24000, subtype="FLOAT")  # about 2.9 MB
    # gradio_client reads the cap from the app and refuses before sending ...
    with pytest.raises(ValueError, match="exceeds the maximum file size of 1048576 bytes"):
        client.submit(reference_audio=handle_file(str(big)), reference_text="x", text="hello.", language="en",
                      engine="xtts", quality_profile=None, api_name="/clone").result(timeout=REQUEST_TIMEOUT_S)
    # ... and the server refuses a raw upload over it.
    with httpx.Client(base_url=app.url, timeout=30) as http:
        assert http.post("login", data={"username": AUTH[0], "password": AUTH[1]}).status_code == 200
        small = http.post("gradio_api/upload", files={"files": ("small.wav", b"RIFF" + bytes(1000))})
        assert small.status_code == 200
        response = http.post("gradio_api/upload", files={"files": ("big.wav", big.read_bytes())})
    assert response.status_code == 413 and "file size" in response.text.lower()


def test_a_full_queue_refuses_with_a_clear_error(client):
    dub(client)  # XTTS loaded, so the burst below is about queueing only
    with futures.ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda i: _outcome(client, f"burst request {i}."), range(8)))
    assert "queue full" in outcomes and "done" in outcomes, outcomes
    assert set(outcomes) <= {"done", "queue full"}, outcomes


def _outcome(client, text: str) -> str:
    try:
        dub(client, text)
    except QueueError as exc:
        assert "Queue is full" in str(exc)
        return "queue full"
    except AppError as exc:
        return f"app error: {exc}"
    return "done"
