"""The history through the running app (``python app.py`` on the tiny models, driven by gradio_client).

- Results stay downloadable by whoever asked for them, yet the output folder is not
  served: ``/gradio_api/file=<outputs>/<id>.json`` and ``.wav`` are refused.
- A sidecar names no upload path; a lone UTF-16 surrogate is a clear error and is recorded.
- ``/history(limit, offset)`` pages past 200 entries; ``/history_delete`` and
  ``/history_clear`` remove entries; a damaged sidecar is listed and marked.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest
import soundfile as sf
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from history import OutputHistory
from devtools.app_process import REQUEST_TIMEOUT_S, AppProcess, call
from tests.history.test_history_index import damaged_copy, request, result

pytestmark = pytest.mark.app


@pytest.fixture(scope="module")
def app(tiny_env, tmp_path_factory):
    with AppProcess(tiny_env, tmp_path_factory.mktemp("history_app"), name="history_app") as proc:
        yield proc


@pytest.fixture(scope="module")
def client(app):
    return app.client()



def dub(client, text: str = "a result for the history."):
    return call(client, "/dub", text=text, language="en", voice_preset="male_generic", engine="xtts",
                quality_profile="xtts_fast", seed=3)


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_results_are_downloadable_but_the_output_folder_is_not_served(app, client):
    audio, badges, metadata = dub(client)
    entry = OutputHistory(app.output_dir).get(metadata["history_id"])
    samples, rate = sf.read(audio)  # the requester got the audio, byte for byte the saved file
    assert rate == 24000 and len(samples) > 0 and sha256(audio) == sha256(entry.audio_path)
    assert Path(audio).name == f"{entry.id}.wav"
    outputs = Path(app.output_dir).resolve()
    with httpx.Client(base_url=app.url, timeout=30) as http:
        for name in (f"{entry.id}.json", f"{entry.id}.wav"):
            response = http.get(f"gradio_api/file={outputs / name}")
            assert response.status_code == 403, (name, response.status_code)
            assert b"voice-studio-history" not in response.content and b"RIFF" not in response.content[:4]


def test_a_clone_sidecar_names_no_upload_path(app, client, reference_wav):
    audio, badges, metadata = call(client, "/clone", reference_audio=handle_file(str(reference_wav)),
                                   reference_text="a short reference clip for the test.", text="cloned for the test.",
                                   language="en", engine="f5tts", quality_profile="f5tts_fast", seed=5)
    raw = (Path(app.output_dir) / f"{metadata['history_id']}.json").read_text(encoding="utf-8")
    assert str(app.temp_dir) not in raw and "gradio" not in raw.lower()
    fields = json.loads(raw)["request"]
    assert fields["reference_audio"] == {"file_name": reference_wav.name, "sha256": sha256(reference_wav)}


def test_a_broken_character_is_a_clear_error_and_is_recorded(app, client):
    # gradio_client cannot send half a character (httpx encodes strict UTF-8), a browser's JSON can: "\\ud83d".
    from webui.tabs.knobs import KNOB_NAMES

    data = ["Olá mundo \ud83d.", "en", "male_generic", "xtts", "xtts_fast", None, None, True, True] + [None] * len(
        KNOB_NAMES)
    with httpx.Client(base_url=app.url, timeout=REQUEST_TIMEOUT_S) as http:
        sent = http.post("gradio_api/call/dub", content=json.dumps({"data": data}),
                         headers={"Content-Type": "application/json"})
        stream = http.get(f"gradio_api/call/dub/{sent.json()['event_id']}").text
    assert "event: error" in stream and "text holds a broken character at position 11" in stream, stream
    recorded = call(client, "/history", limit=1)[0]
    assert recorded["status"] == "error" and recorded["text"] == "Olá mundo \ufffd."


def test_history_pages_past_two_hundred(app, client):
    writer = OutputHistory(app.output_dir)  # another process writing the same folder, as a second app would
    for i in range(230):
        writer.save_failure(request(f"take {i}."), f"error {i}")
    total = len(writer.list())
    first = call(client, "/history", limit=200)
    rest = call(client, "/history", limit=200, offset=200)
    assert len(first) == 200 and len(rest) == total - 200
    assert [e["id"] for e in first + rest] == [e.id for e in writer.list()]
    with pytest.raises(AppError, match="offset -5 is out of range"):
        call(client, "/history", limit=20, offset=-5)


def test_history_delete_and_clear(app, client):
    writer = OutputHistory(app.output_dir)
    kept = writer.save_result(request("kept until the clear."), result())  # this test's own, whatever ran before
    doomed = writer.save_result(request("to be deleted."), result())
    assert call(client, "/history_delete", entry_id=doomed.id) == {"deleted": 1, "id": doomed.id}
    assert writer.get(doomed.id) is None and not doomed.audio_path.exists()
    with pytest.raises(AppError, match="no history entry with id"):
        call(client, "/history_delete", entry_id=doomed.id)
    with pytest.raises(AppError, match="pass confirm=true to delete every entry"):
        call(client, "/history_clear", confirm=False)
    assert writer.get(kept.id) is not None, "nothing was cleared without confirmation"
    count = len(writer.list())
    assert call(client, "/history_clear", confirm=True) == {"deleted": count}
    assert call(client, "/history", limit=20) == [] and writer.list() == []


def test_a_damaged_sidecar_is_listed_and_marked(app, client):
    writer = OutputHistory(app.output_dir)
    good = writer.save_result(request("a good one."), result())
    bad_id = damaged_copy(writer, good.id)
    listed = {e["id"]: e for e in call(client, "/history", limit=200)}
    assert listed[good.id]["problem"] is None
    assert listed[bad_id]["problem"].startswith("damaged sidecar: ")
    assert "duration_s" not in listed[bad_id]["metadata"]
