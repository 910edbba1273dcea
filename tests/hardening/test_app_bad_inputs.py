"""The bad-input corpus (``tests/hardening/test_bad_inputs.py``'s table) through the running app's API.

Each refused case must come back as a ``gr.Error`` carrying the same specific message the
manager gives, with no server path in it; the served reference formats must be served.
Uploads go through Gradio as a browser's would, so two cases read differently here:
a file that was never uploaded cannot be sent at all, and a file over the upload cap
is refused by Gradio before any handler runs (its message names the cap).
"""

from __future__ import annotations

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from engines.audio.waveforms import MAX_UPLOAD_BYTES
from devtools.app_process import REQUEST_TIMEOUT_S, AppProcess
from tests.hardening.test_bad_inputs import CASES, REFUSED, Case, corpus  # noqa: F401  (corpus is a fixture)

pytestmark = pytest.mark.app

NOT_THROUGH_AN_UPLOAD = {"reference_missing"}  # a path that was never uploaded cannot be sent
REFUSED_BY_GRADIO = {"reference_over_upload_limit"}
SERVED_FORMATS = [c for c in CASES if c.served_by == "f5tts" and c.reference in
                  ("8k_mono", "96k_6ch", "m4a", "ogg", "flac")]


@pytest.fixture(scope="module")
def app(tiny_env, tmp_path_factory):
    with AppProcess(tiny_env, tmp_path_factory.mktemp("bad_inputs_app"), name="bad_inputs_app") as proc:
        yield proc


@pytest.fixture(scope="module")
def client(app):
    return app.client()


def send(client, case: Case, corpus) -> tuple:
    common = dict(text=case.text, language=case.language, engine=case.engine, quality_profile=case.profile,
                  speed=case.speed, seed=7, allow_fallback=case.allow_fallback)
    if case.reference is None:
        job = client.submit(voice_preset=case.preset, api_name="/dub", **common)
    else:
        reference = None if case.reference == "none" else handle_file(str(corpus[case.reference]))
        job = client.submit(reference_audio=reference, reference_text=case.transcript, api_name="/clone", **common)
    return job.result(timeout=REQUEST_TIMEOUT_S)


@pytest.mark.parametrize("case", [c for c in REFUSED if c.id not in NOT_THROUGH_AN_UPLOAD | REFUSED_BY_GRADIO],
                         ids=lambda c: c.id)
def test_refused_through_the_app(case, app, client, corpus):
    with pytest.raises(AppError) as raised:
        send(client, case, corpus)
    message = str(raised.value)
    for expected in case.refused:
        assert expected in message
    assert str(app.temp_dir) not in message and str(corpus["wav"].parent) not in message


def test_upload_over_the_cap_is_refused_before_the_handler(client, corpus):
    case = next(c for c in CASES if c.id == "reference_over_upload_limit")
    with pytest.raises(ValueError, match=f"exceeds the maximum file size of {MAX_UPLOAD_BYTES} bytes"):
        send(client, case, corpus)


@pytest.mark.parametrize("case", SERVED_FORMATS, ids=lambda c: c.id)
def test_reference_formats_served_through_the_app(case, client, corpus):
    audio, badges, metadata = send(client, case, corpus)
    assert (metadata["tts_engine_used"], metadata["engine_fallback"]) == ("f5tts", False)
    assert "Engine: F5-TTS" in badges


def test_still_serving_after_the_corpus(client, corpus):
    audio, badges, metadata = send(client, Case("after"), corpus)
    assert metadata["tts_engine_used"] == "f5tts" and metadata["mode"] == "clone"
