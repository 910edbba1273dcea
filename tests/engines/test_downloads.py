"""First-run downloads from a local server that answers like the Hub (``tests/fake_hub.py``).

The tiny models are served as Hub repositories; the variables name them as ``hf://`` sources,
``HF_ENDPOINT`` points at the local server and ``HF_HOME`` is the test's own folder, so the real
huggingface_hub download code runs with no network. Checked: ``python -m engines download``
fetches every file and prints one JSON object; a request that makes an engine load hears
which file is downloading and how many MB; health reports it under ``details.download``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from engines.weights.downloads import DownloadProgress, bar_class
from tests.fake_hub import FakeHub
from tests.engines.test_cli import ROOT, run_cli, one_json_object

REPO = "tiny/models"
TINY_XTTS_FILES = ("config.json", "model.pth", "vocab.json", "speakers_xtts.pth")


@pytest.fixture
def hub(tiny):
    with FakeHub({REPO: tiny.f5_ckpt.parent}) as server:
        yield server


@pytest.fixture
def hub_env(tiny, hub, tmp_path) -> dict[str, str]:
    """Every weight from the local Hub, into an empty Hugging Face cache of this test's own."""
    return {
        "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_DISABLE_PROGRESS_BARS": "1", "VOICE_STUDIO_CACHE_DIR": str(tmp_path / "cache"),
        "VOICE_STUDIO_DEVICE": "cpu", "COQUI_TOS_AGREED": "1",
        "F5TTS_CKPT": f"hf://{REPO}/{tiny.f5_ckpt.name}", "F5TTS_VOCAB": f"hf://{REPO}/{tiny.f5_vocab.name}",
        "F5TTS_ARCH": str(tiny.f5_arch), "F5TTS_LANGUAGES": "pt-BR,en",
        "F5TTS_VOCODER": f"hf://{REPO}/{tiny.vocos_dir.name}", "XTTS_MODEL": f"hf://{REPO}/{tiny.xtts_dir.name}",
    }


@pytest.mark.slow
def test_download_fetches_every_file_once_then_works_offline(hub, hub_env):
    proc = run_cli(["download"], hub_env, timeout=180)
    assert proc.returncode == 0, proc.stderr
    report = one_json_object(proc.stdout)
    assert report["ready"] is True
    f5, xtts = report["engines"]["f5tts"], report["engines"]["xtts"]
    assert [s["variable"] for s in f5["sources"]] == ["F5TTS_CKPT", "F5TTS_VOCAB", "F5TTS_VOCODER"]
    assert {s["status"] for s in f5["sources"] + xtts["sources"]} == {"downloaded"}
    assert xtts["sources"][0]["mb"] > 50 and report["downloaded_mb"] >= xtts["sources"][0]["mb"]
    fetched = {path.rsplit("/", 1)[-1] for method, path in hub.requests if method == "GET"}
    assert fetched >= {"f5_tiny.safetensors", "vocab.txt", "config.yaml", "pytorch_model.bin", *TINY_XTTS_FILES}
    assert "downloading model.pth (XTTS-v2 model)" in proc.stderr  # progress on stderr

    asked = len(hub.requests)
    again = run_cli(["download", "--engine", "xtts"], hub_env, timeout=120)
    assert again.returncode == 0, again.stderr
    assert [s["status"] for s in one_json_object(again.stdout)["engines"]["xtts"]["sources"]] == ["present"]
    assert len(hub.requests) == asked, "what is on disk is not asked for again"

    status = run_cli(["status"], {**hub_env, "HF_HUB_OFFLINE": "1"})
    health = one_json_object(status.stdout)
    assert status.returncode == 0 and health["status"] == "healthy"
    assert all(engine["weights_present"] for engine in health["engines"].values())


def test_download_of_a_file_the_hub_lacks_fails_naming_the_variable(hub_env):
    proc = run_cli(["download", "--engine", "f5tts"], {**hub_env, "F5TTS_CKPT": f"hf://{REPO}/missing.safetensors"},
                   timeout=120)
    assert proc.returncode == 1
    report = one_json_object(proc.stdout)
    assert report["ready"] is False and "set F5TTS_CKPT" in report["engines"]["f5tts"]["error"]
    assert [line for line in proc.stderr.splitlines() if line.startswith("error:")]


@pytest.mark.slow
def test_a_request_that_loads_an_engine_hears_its_download_progress(hub_env, reference_wav):
    script = textwrap.dedent(f"""
        import json
        from engines import EngineManager, SynthesisRequest

        manager = EngineManager.from_env()
        heard = []
        result = manager.synthesize(
            SynthesisRequest(text="Hello there, a short line.", language="en", engine="f5tts",
                             reference_audio={str(reference_wav)!r}, reference_text="This is my voice.", seed=1,
                             allow_fallback=False),
            progress=lambda fraction, message: heard.append([fraction, message]))
        health = manager.health()["engines"]["f5tts"]
        print(json.dumps({{"heard": heard, "download": health["details"].get("download"),
                           "engine": result.metadata["tts_engine_used"]}}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env={**_base_env(), **hub_env},
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["engine"] == "f5tts"
    downloads = [message for _, message in out["heard"] if "downloading" in message]
    assert any(m.startswith("loading F5-TTS: downloading f5_tiny.safetensors (F5-TTS checkpoint)") for m in downloads)
    steps = [message for _, message in out["heard"] if message.startswith("loading F5-TTS: step")]
    assert list(dict.fromkeys(steps)) == [f"loading F5-TTS: step {i} of 4, {what}" for i, what in enumerate(
        ("finding the weights", "reading the checkpoint", "building the model", "moving the model to cpu"), 1)]
    assert any("pytorch_model.bin (Vocos vocoder)" in m and " MB" in m for m in downloads)
    assert all(0.0 <= fraction <= 1.0 for fraction, _ in out["heard"])
    assert out["download"]["state"] == "done" and out["download"]["files_done"] == out["download"]["files"] == 4
    assert out["download"]["total_mb"] > 0


def test_a_request_that_comes_during_a_load_hears_its_step_at_once():
    """A second request waiting for a load another one started is told the step now, not at the next one;
    after the load, nothing more is told."""
    progress = DownloadProgress("f5tts-steps")
    first, second = [], []
    with progress.reporting(lambda f, m: first.append((f, m)), "loading F5-TTS"):
        progress.begin_step(2, 4, "reading the checkpoint")
        with progress.reporting(lambda f, m: second.append((f, m)), "loading F5-TTS"):
            assert second == [(0.25, "loading F5-TTS: step 2 of 4, reading the checkpoint")]
            progress.begin_step(3, 4, "building the model")
        progress.end_steps()
    assert first == [(0.25, "loading F5-TTS: step 2 of 4, reading the checkpoint"),
                     (0.5, "loading F5-TTS: step 3 of 4, building the model")]
    assert second[-1] == (0.5, "loading F5-TTS: step 3 of 4, building the model")
    late = []
    with progress.reporting(lambda f, m: late.append(m), "loading F5-TTS"):
        pass
    assert late == [] and progress.describe_step() is None


def _base_env() -> dict[str, str]:
    import os

    from tests.conftest import ENV_VARS

    return {k: v for k, v in os.environ.items() if k not in ENV_VARS}


def test_progress_counts_what_the_download_writes():
    progress = DownloadProgress("xtts")
    heard = []
    with progress.reporting(lambda fraction, message: heard.append((fraction, message)), "XTTS-v2"):
        bar = bar_class(progress, "model.pth", "XTTS-v2 model")(total=4 * 2**20, desc="model.pth")
        with bar:
            for _ in range(3):
                bar.update(2**20)
            snapshot = progress.snapshot()
        progress.end_file("model.pth")
    assert snapshot["state"] == "downloading" and snapshot["file"] == "model.pth"
    assert (snapshot["file_done_mb"], snapshot["file_total_mb"]) == (3.0, 4.0)
    assert heard[0] == (0.0, "XTTS-v2: downloading model.pth (XTTS-v2 model): 0.0 of 4.0 MB")
    final = progress.snapshot()
    assert final["state"] == "done" and final["done_mb"] == final["total_mb"] == 4.0 and final["files_done"] == 1
    assert progress.describe() == "downloaded 1 file(s), 4.0 MB"


def test_a_listener_that_fails_does_not_break_the_download():
    progress = DownloadProgress("f5tts")

    def broken(fraction, message):
        raise RuntimeError("the page was closed")

    with progress.reporting(broken, "F5-TTS"):
        bar = bar_class(progress, "model.safetensors", "F5-TTS checkpoint")(total=10)
        bar.update(10)
    progress.end_file("model.safetensors")
    assert progress.snapshot()["done_mb"] == pytest.approx(10 / 2**20, abs=0.1)


def test_the_status_card_shows_the_download():
    from webui.tabs.status.tab import render_card

    progress = DownloadProgress("xtts")
    bar_class(progress, "model.pth", "XTTS-v2 model")(total=8 * 2**20).update(2 * 2**20)
    health = {"status": "not_loaded", "device": "cpu", "sample_rate": 24000, "languages": ["en"],
              "model": "hf://coqui/XTTS-v2", "weights_present": False, "details": {"download": progress.snapshot()}}
    assert "downloading model.pth (XTTS-v2 model): 2.0 of 8.0 MB" in render_card("xtts", health)
