"""The History tab's data through the API: every result and failure kept, newest first, across a restart."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from gradio_client.exceptions import AppError

from history import OutputHistory
from devtools.app_process import AppProcess, call

pytestmark = pytest.mark.app



def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_results_and_failures_are_listed_newest_first_and_survive_a_restart(tiny_env, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("history_app")
    with AppProcess(tiny_env, workdir, name="history_app") as app:
        client = app.client()
        assert call(client, "/history", limit=5) == []
        with pytest.raises(AppError, match="limit 0 is out of range; use 1 to 200"):
            call(client, "/history", limit=0)
        audio, badges, metadata = call(client, "/dub", text="first result for the history.", language="en",
                                       voice_preset="male_generic", engine="xtts", quality_profile="xtts_fast")
        with pytest.raises(AppError, match="text is empty"):
            call(client, "/dub", text="   ", language="en", voice_preset="male_generic", engine="xtts",
                 quality_profile="xtts_fast")
        listed = call(client, "/history", limit=10)

        # The returned audio is the saved file, named by its history id, byte for byte.
        saved = OutputHistory(app.output_dir).get(metadata["history_id"])
        assert saved is not None and saved.text == "first result for the history."
        assert Path(audio).name == f"{metadata['history_id']}.wav" and sha256(audio) == sha256(saved.audio_path)
        assert metadata["text"] == "first result for the history."

    assert [e["status"] for e in listed] == ["error", "ok"]
    failure, result = listed
    assert "text is empty" in failure["error"] and failure["metadata"]["tts_engine_requested"] == "xtts"
    assert result["id"] == metadata["history_id"] and result["metadata"]["tts_engine_used"] == "xtts"
    assert all("path" not in key for entry in listed for key in entry)  # no server paths through the API

    with AppProcess(tiny_env, workdir, name="history_app_restarted") as app:
        after = call(app.client(), "/history", limit=10)
    assert [e["id"] for e in after] == [e["id"] for e in listed]
