"""``python -m engines voices ...`` and ``synth --voice`` end to end, each call its own process.

Bad input through the CLI is in ``test_voices_bad_inputs.py``. Every process is a restart: the second XTTS dub of a saved voice takes its latents from the
voice's cache, and a voice that travelled as a file works again after import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import soundfile as sf

from devtools.app_process import make_mp3
from tests.conftest import ENV_VARS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TRANSCRIPT = "This is my voice, recorded for a test."


def run_cli(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    return subprocess.run([sys.executable, "-m", "engines", *args], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=timeout)


def ok_json(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"stdout must hold exactly one JSON object, got: {proc.stdout!r}"
    return json.loads(lines[0])


def bad_input(proc: subprocess.CompletedProcess) -> str:
    """Exit 2, nothing on stdout, exactly one ``error:`` line on stderr; returns it."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr[-2000:])
    assert proc.stdout == ""
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return errors[0]


@pytest.fixture
def env(tiny_env, tmp_path) -> dict[str, str]:
    return {**tiny_env, "VOICE_STUDIO_VOICES_DIR": str(tmp_path / "voices"), "VOICE_STUDIO_LOG_LEVEL": "WARNING"}


def synth(env, tmp_path, voice: str, engine: str, flag: str = "--voice") -> dict:
    out = tmp_path / f"{engine}.wav"
    meta = ok_json(run_cli(["synth", "--text", "Hello there, a short test.", "--language", "en", "--engine", engine,
                            flag, voice, "--profile", f"{engine}_fast", "--seed", "4", "--out", str(out)], env))
    assert meta["tts_engine_used"] == engine and meta["engine_fallback"] is False, meta["fallback_reason"]
    assert meta["voice"] == voice and meta["voice_kind"] == "saved"
    assert sf.info(str(out)).samplerate == 24000
    return meta


def test_voices_round_trip_through_the_cli(env, tmp_path, reference_wav):
    clip = make_mp3(reference_wav, tmp_path / "maria.mp3")
    added = ok_json(run_cli(["voices", "add", "--name", "Maria", "--reference", str(clip), "--reference-text",
                             TRANSCRIPT, "--language", "pt-BR", "--consent", "recorded by Maria, for tests"], env))
    assert added["id"] == "maria" and added["language"] == "pt-BR" and added["engines"] == ["f5tts", "xtts"]
    listed = ok_json(run_cli(["voices", "list"], env))["voices"]
    assert [(v["id"], v["kind"]) for v in listed] == [("female_generic", "preset"), ("male_generic", "preset"),
                                                      ("maria", "saved")]

    assert synth(env, tmp_path, "maria", "xtts")["latents_source"] == "computed"
    # A new process: nothing in memory, the latents come from the voice's cache.
    assert synth(env, tmp_path, "maria", "xtts", flag="--preset")["latents_source"] == "voice_cache"

    archive = tmp_path / "maria.voice.zip"
    exported = ok_json(run_cli(["voices", "export", "maria", "--out", str(archive)], env))
    assert exported["bytes"] == archive.stat().st_size
    assert sorted(zipfile.ZipFile(archive).namelist()) == ["reference.wav", "voice.json"]
    assert ok_json(run_cli(["voices", "remove", "maria"], env))["removed"]["id"] == "maria"
    assert not (Path(env["VOICE_STUDIO_VOICES_DIR"]) / "maria").exists()
    imported = ok_json(run_cli(["voices", "import", str(archive)], env))
    assert {k: imported[k] for k in ("id", "name", "language", "transcript", "consent")} == {
        k: added[k] for k in ("id", "name", "language", "transcript", "consent")}
    synth(env, tmp_path, "maria", "f5tts")
