"""The bad-input corpus (``tests/hardening/test_bad_inputs.py``'s table) through the running app's API.

Each refused case must come back as a ``gr.Error`` carrying the same specific message the
manager gives, with no server path in it; the served reference formats must be served.
Uploads go through Gradio as a browser's would, so two cases read differently here:
a file that was never uploaded cannot be sent at all, and a file over the upload cap
is refused by Gradio before any handler runs (its message names the cap).
"""

from __future__ import annotations

from pathlib import Path

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


@pytest.fixture(scope="module")
def truncated_mp3s(tmp_path_factory) -> dict[str, Path]:
    """The packaged English reference as MP3s cut to their first 30 % (about 1.6 s of speech).

    libsndfile decoded such files into samples the file does not hold (silence, noise, NaN),
    differently in each process: one process heard 0.1 s of sound, another 1.3 s."""
    import subprocess

    from webui.tabs.cloning import packaged_examples_dir

    source = packaged_examples_dir() / "basic" / "basic_ref_en.wav"
    folder = tmp_path_factory.mktemp("truncated_mp3")
    made = {}
    for name, options in {"44k_stereo": ["-ar", "44100", "-ac", "2", "-b:a", "128k"],
                          "16k_mono": ["-ar", "16000", "-ac", "1", "-b:a", "32k"]}.items():
        whole = folder / f"{name}.mp3"
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(source), *options, str(whole)], check=True)
        data = whole.read_bytes()
        made[name] = folder / f"{name}.truncated.mp3"
        made[name].write_bytes(data[: int(len(data) * 0.3)])
    return made


@pytest.mark.parametrize("name", ["44k_stereo", "16k_mono"])
def test_a_truncated_mp3_is_heard_alike_by_the_app_and_the_cli(name, client, truncated_mp3s, tiny_env, tmp_path):
    from tests.engines.test_cli import one_json_object, run_cli

    clip = truncated_mp3s[name]
    text, transcript = "A truncated clip still speaks.", "Some call me nature, others call me mother nature."
    _, _, app_meta = client.submit(reference_audio=handle_file(str(clip)), reference_text=transcript, text=text,
                                   language="en", engine="f5tts", seed=3, allow_fallback=False,
                                   api_name="/clone").result(timeout=REQUEST_TIMEOUT_S)
    proc = run_cli(["clone", "--reference", str(clip), "--reference-text", transcript, "--text", text,
                    "--language", "en", "--engine", "f5tts", "--seed", "3", "--no-fallback",
                    "--out", str(tmp_path / "out.wav")], tiny_env)
    assert proc.returncode == 0, proc.stderr
    cli_meta = one_json_object(proc.stdout)
    assert app_meta["tts_engine_used"] == cli_meta["tts_engine_used"] == "f5tts"
    assert app_meta["reference_seconds"] == cli_meta["reference_seconds"], (app_meta, cli_meta)
    assert 1.3 <= app_meta["reference_seconds"] <= 1.8, app_meta  # what the 30 % holds, as ffmpeg decodes it
