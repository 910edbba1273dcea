"""``python app.py`` on loopback with tiny real-format checkpoints, driven through gradio_client.

Three app processes: one on the tiny models (shared by most tests), one whose F5-TTS
checkpoint is corrupt (forced fallback), one with no weights at all (offline).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile as sf
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from devtools.app_process import REQUEST_TIMEOUT_S, AppProcess, call, corrupt_f5_env, make_mp3

pytestmark = pytest.mark.app

LONG_TEXT = " ".join(["This sentence is one of many in a long text read in chunks."] * 6)


@pytest.fixture(scope="module")
def app(tiny_env, tmp_path_factory):
    with AppProcess(tiny_env, tmp_path_factory.mktemp("app")) as proc:
        proc.initial_health = proc.health().json()
        yield proc


@pytest.fixture(scope="module")
def client(app):
    return app.client()


@pytest.fixture(scope="module")
def mp3_reference(reference_wav, tmp_path_factory):
    return make_mp3(reference_wav, tmp_path_factory.mktemp("mp3") / "reference.mp3")



def dub(client, **overrides):
    params = dict(text="hello there, this is a short test.", language="en", voice_preset="female_generic",
                  engine="f5tts", quality_profile=None)
    params.update(overrides)
    return call(client, "/dub", **params)


def assert_audio(path, metadata):
    samples, rate = sf.read(path)
    assert rate == metadata["sample_rate"] == 24000
    assert np.isfinite(samples).all() and len(samples) > 0
    assert abs(len(samples) / rate - metadata["duration_s"]) < 0.05


def test_startup_loads_no_model_and_exposes_the_named_api(app, client):
    assert all(h["status"] == "not_loaded" for h in app.initial_health["engines"].values())
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    params = {name: [p["parameter_name"] for p in info["parameters"]] for name, info in endpoints.items()}
    assert params["/dub"][:5] == ["text", "language", "voice_preset", "engine", "quality_profile"]
    assert params["/clone"][:6] == ["reference_audio", "reference_text", "text", "language", "engine",
                                    "quality_profile"]
    assert params["/engine_status"] == []


@pytest.mark.parametrize("engine, profile, label", [("f5tts", "f5tts_fast", "F5-TTS"), ("xtts", "xtts_fast", "XTTS")])
def test_dub_on_each_engine(client, engine, profile, label):
    audio, badges, metadata = dub(client, engine=engine, quality_profile=profile, seed=7)
    assert metadata["tts_engine_requested"] == metadata["tts_engine_used"] == engine
    assert metadata["engine_fallback"] is False and metadata["fallback_reason"] is None
    assert metadata["quality_profile_used"] == profile and metadata["seed"] == 7
    assert metadata["mode"] == "dub" and metadata["language"] == "en"
    assert f"Engine: {label}" in badges and "Fallback" not in badges
    assert_audio(audio, metadata)


def test_clone_from_mp3_with_transcript_uses_f5(client, mp3_reference):
    audio, badges, metadata = call(client, "/clone", reference_audio=handle_file(str(mp3_reference)),
                                   reference_text="a short reference clip for the test.",
                                   text="cloned voice speaking now.", language="en", engine="f5tts",
                                   quality_profile="f5tts_fast")
    assert metadata["tts_engine_used"] == "f5tts" and metadata["mode"] == "clone"
    assert metadata["voice"] == "cloned" and not metadata["engine_fallback"]
    assert_audio(audio, metadata)


def test_clone_without_transcript_falls_back_to_xtts(client, mp3_reference):
    audio, badges, metadata = call(client, "/clone", reference_audio=handle_file(str(mp3_reference)),
                                   reference_text="", text="ola, tudo bem?", language="pt-BR", engine="f5tts",
                                   quality_profile="f5tts_ultra_natural")
    assert metadata["tts_engine_used"] == "xtts" and metadata["engine_fallback"] is True
    assert "transcript" in metadata["fallback_reason"]
    assert metadata["quality_profile_used"] == "xtts_expressive" and metadata["quality_profile_mapped"] is True
    assert "Fallback: F5-TTS → XTTS" in badges and "f5tts_ultra_natural → xtts_expressive" in badges
    assert_audio(audio, metadata)


def test_long_text_reports_progress_per_chunk(client, reference_wav):
    # A 3 s reference with a short transcript gives F5-TTS a budget of about one sentence per chunk.
    job = client.submit(reference_audio=handle_file(str(reference_wav)), reference_text="a short clip.",
                        text=LONG_TEXT, language="en", engine="f5tts", quality_profile="f5tts_fast", seed=1,
                        api_name="/clone")
    seen: list[str] = []
    deadline = time.monotonic() + REQUEST_TIMEOUT_S
    while not job.done() and time.monotonic() < deadline:
        for unit in job.status().progress_data or []:
            if unit.desc and unit.desc not in seen:
                seen.append(unit.desc)
        time.sleep(0.01)
    metadata = job.result(timeout=REQUEST_TIMEOUT_S)[2]
    assert metadata["tts_engine_used"] == "f5tts" and metadata["chunks"] >= 3
    # All chunks are sampled in one batched forward: the bar follows its ODE steps.
    chunk_messages = [d for d in seen if "sampled" in d]
    assert len(chunk_messages) >= 2, seen
    assert all(m.startswith(f"F5-TTS: {metadata['chunks']} chunk(s), ") for m in chunk_messages)


def test_engine_status_and_health_route_agree(app, client):
    status = call(client, "/engine_status")
    response = app.health()
    assert response.status_code == 200
    health = response.json()
    assert set(status["engines"]) == set(health["engines"]) == {"f5tts", "xtts"}
    for name in ("f5tts", "xtts"):
        for key in ("status", "device", "sample_rate", "languages", "model", "weights_present"):
            assert status["engines"][name][key] == health["engines"][name][key]
    assert health["status"] in ("healthy", "degraded")


def _short_wav(path, seconds):
    rate = 24000
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate)
    return path


BAD_INPUTS = [
    # (id, endpoint, overrides, expected message fragment)
    ("empty text", "/dub", dict(text=""), "text is empty"),
    ("text over the limit", "/dub", dict(text="a" * 5001), "the limit is 5,000 characters"),
    ("no reference audio", "/clone", dict(reference_audio=None), "no reference audio"),
    ("unreadable reference", "/clone", dict(reference_audio="random.wav"), "could not be decoded"),
    ("too-short reference", "/clone", dict(reference_audio="short.wav"), "at least 1 s is needed"),
    ("language neither engine serves", "/dub", dict(language="es", engine="f5tts", allow_fallback=False),
     "language es cannot be served by F5-TTS"),
    ("unknown language", "/dub", dict(language="xx"), "unknown language 'xx'"),
    ("unknown engine", "/dub", dict(engine="tortoise"), "unknown engine 'tortoise'"),
    ("unknown profile", "/dub", dict(quality_profile="turbo"), "unknown quality profile 'turbo'"),
    ("unknown preset", "/dub", dict(voice_preset="robot"), "unknown voice 'robot'"),
]


@pytest.mark.parametrize("case, endpoint, overrides, message", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_gets_its_message(client, tmp_path, case, endpoint, overrides, message):
    if endpoint == "/dub":
        params = dict(text="hello there.", language="en", voice_preset="female_generic", engine="f5tts",
                      quality_profile=None)
    else:
        params = dict(reference_audio=None, reference_text="hello there.", text="hello there.", language="en",
                      engine="f5tts", quality_profile=None)
    params.update(overrides)
    if params.get("reference_audio") == "random.wav":
        (tmp_path / "random.wav").write_bytes(np.random.default_rng(0).bytes(4096))
        params["reference_audio"] = handle_file(str(tmp_path / "random.wav"))
    elif params.get("reference_audio") == "short.wav":
        params["reference_audio"] = handle_file(str(_short_wav(tmp_path / "short.wav", 0.3)))
    with pytest.raises(AppError) as raised:
        call(client, endpoint, **params)
    assert message in str(raised.value)


def test_no_server_path_can_be_passed_as_reference(app):
    """A FileData pointing at a server file (not an upload) is refused before any handler runs."""
    import httpx

    secret = "/etc/hostname"
    from webui.tabs.knobs import KNOB_NAMES

    data = [{"path": secret, "meta": {"_type": "gradio.FileData"}}, "a transcript.", "hello there.", "en", "f5tts",
            None, None, None, True, True] + [None] * len(KNOB_NAMES)
    with httpx.Client(base_url=app.url, timeout=30) as http:
        event_id = http.post("gradio_api/call/clone", json={"data": data}).json()["event_id"]
        stream = http.get(f"gradio_api/call/clone/{event_id}").text
    assert "event: error" in stream and "event: complete" not in stream
    assert open(secret).read().strip() not in stream.replace(secret, "")
    # Refused by Gradio before the handler: no request, so not even a failure record names the file.
    from history import OutputHistory

    assert all(e.request.get("reference_audio") != secret for e in OutputHistory(app.output_dir).list())
    assert "not uploaded by a user" in app.log_tail(200_000)


@pytest.mark.parametrize("field, value, message", [
    ("voice_preset", "../../etc/passwd", "unknown voice '../../etc/passwd'"),
    ("engine", "/tmp/my_model.pth", "unknown engine '/tmp/my_model.pth'"),
    ("quality_profile", "/root/.cache/x.yaml", "unknown quality profile '/root/.cache/x.yaml'"),
])
def test_paths_in_selectors_are_just_unknown_names(client, field, value, message):
    with pytest.raises(AppError) as raised:
        dub(client, **{field: value})
    assert message in str(raised.value)


def test_language_the_loaded_engines_cannot_serve(client):
    dub(client, engine="xtts", quality_profile="xtts_fast")  # XTTS loaded: its config's languages are known
    with pytest.raises(AppError, match="language ja cannot be served by F5-TTS or XTTS-v2"):
        dub(client, language="ja")


def test_app_keeps_serving_after_errors(client):
    with pytest.raises(AppError):
        dub(client, text="")
    audio, badges, metadata = dub(client, engine="xtts", quality_profile="xtts_fast")
    assert metadata["tts_engine_used"] == "xtts"


# --- forced fallback: the F5-TTS checkpoint is corrupt ------------------------------------------
@pytest.fixture(scope="module")
def fallback_app(tiny_env, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("fallback_app")
    with AppProcess(corrupt_f5_env(tiny_env, workdir), workdir, name="fallback_app") as proc:
        yield proc


def test_corrupt_f5_checkpoint_falls_back_and_says_so(fallback_app):
    client = fallback_app.client()
    # Seeded: tiny XTTS's random weights stop early for a few seeds, and the sanity guard then refuses it too.
    audio, badges, metadata = dub(client, engine="f5tts", quality_profile="f5tts_ultra_natural", seed=1)
    assert metadata["tts_engine_requested"] == "f5tts" and metadata["tts_engine_used"] == "xtts"
    assert metadata["engine_fallback"] is True
    assert "not a readable safetensors file" in metadata["fallback_reason"]
    assert metadata["quality_profile_used"] == "xtts_expressive" and metadata["quality_profile_mapped"] is True
    assert "Engine: XTTS" in badges and "Fallback: F5-TTS → XTTS — checkpoint f5_corrupt.safetensors" in badges
    assert "Profile: f5tts_ultra_natural → xtts_expressive" in badges
    assert_audio(audio, metadata)

    status = call(client, "/engine_status")
    assert status["status"] == "degraded"
    assert status["engines"]["f5tts"]["status"] == "unavailable"
    assert "not a readable safetensors file" in status["engines"]["f5tts"]["error"]
    assert fallback_app.health().json()["status"] == "degraded"

    with pytest.raises(AppError, match="No engine could serve this request. F5-TTS: checkpoint"):
        dub(client, engine="f5tts", allow_fallback=False)


# --- offline, no weights anywhere ---------------------------------------------------------------
def test_without_weights_the_page_loads_and_status_says_what_to_set(tiny_env, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("offline_app")
    env = {**tiny_env, "F5TTS_CKPT": str(workdir / "missing.safetensors"), "XTTS_MODEL": str(workdir / "no_xtts")}
    with AppProcess(env, workdir, name="offline_app") as proc:
        import httpx

        page = httpx.get(proc.url, timeout=10)
        assert page.status_code == 200 and "Voice Studio" in page.text
        response = proc.health()
        assert response.status_code == 503
        health = response.json()
        assert health["status"] == "unhealthy"
        assert "set F5TTS_CKPT" in health["engines"]["f5tts"]["error"]
        assert "set XTTS_MODEL" in health["engines"]["xtts"]["error"]
        client = proc.client()
        with pytest.raises(AppError, match="No engine could serve this request") as raised:
            dub(client)
        assert "F5-TTS:" in str(raised.value) and "XTTS:" in str(raised.value)
