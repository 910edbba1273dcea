"""``python -m engines`` end to end, in a subprocess, as scripts use it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from tests.conftest import ENV_VARS
from devtools.tiny_models import write_f5_variant

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def run_cli(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    return subprocess.run([sys.executable, "-m", "engines", *args], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=timeout)


def one_json_object(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"stdout must hold exactly one JSON object, got: {stdout!r}"
    return json.loads(lines[0])


def test_status_offline_without_weights_reports_what_to_set(tmp_path):
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "VOICE_STUDIO_CACHE_DIR": str(tmp_path)}
    proc = run_cli(["status"], env)
    assert proc.returncode == 1, proc.stderr  # unhealthy: no engine can serve
    health = one_json_object(proc.stdout)
    assert health["status"] == "unhealthy"
    f5, xtts = health["engines"]["f5tts"], health["engines"]["xtts"]
    assert f5["status"] == xtts["status"] == "unavailable"
    assert "set F5TTS_CKPT" in f5["error"] and "firstpixel/F5-TTS-pt-br" in f5["model"]
    assert "set XTTS_MODEL" in xtts["error"] and xtts["model"] == "hf://coqui/XTTS-v2"


def test_synth_with_ema_prefixed_checkpoint_uses_f5(tiny, tiny_env, tmp_path):
    from safetensors.torch import load_file

    ema = write_f5_variant(load_file(str(tiny.f5_ckpt)), tmp_path / "ema.safetensors", "ema")
    out = tmp_path / "out.wav"
    proc = run_cli(["synth", "--text", "Olá, isto é um teste.", "--language", "pt-BR", "--engine", "f5tts",
                    "--preset", "female_generic", "--profile", "f5tts_fast", "--seed", "3", "--out", str(out)],
                   {**tiny_env, "F5TTS_CKPT": str(ema)})
    assert proc.returncode == 0, proc.stderr
    meta = one_json_object(proc.stdout)
    assert meta["tts_engine_used"] == "f5tts" and meta["engine_fallback"] is False
    info = sf.info(str(out))
    assert info.samplerate == 24000 and info.duration == pytest.approx(meta["duration_s"], abs=0.01)


def test_synth_with_corrupt_checkpoint_falls_back_to_xtts(tiny, tiny_env, tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(Path(tiny.f5_ckpt).read_bytes()[:5000])
    proc = run_cli(["synth", "--text", "Olá, isto é um teste.", "--language", "pt-BR", "--engine", "f5tts",
                    "--preset", "male_generic", "--profile", "f5tts_ultra_natural", "--out", str(tmp_path / "o.wav")],
                   {**tiny_env, "F5TTS_CKPT": str(bad)})
    assert proc.returncode == 0, proc.stderr
    meta = one_json_object(proc.stdout)
    assert meta["tts_engine_used"] == "xtts" and meta["engine_fallback"] is True
    assert "checkpoint" in meta["fallback_reason"] and "safetensors" in meta["fallback_reason"]
    assert meta["quality_profile_used"] == "xtts_expressive" and meta["quality_profile_mapped"] is True
    assert "engine fallback" in proc.stderr  # logged as a warning


def test_clone(tiny_env, reference_wav, tmp_path):
    proc = run_cli(["clone", "--reference", str(reference_wav), "--reference-text", "My voice for a test.",
                    "--text", "Hello from the command line.", "--language", "en", "--engine", "f5tts",
                    "--out", str(tmp_path / "c.wav")], tiny_env)
    assert proc.returncode == 0, proc.stderr
    meta = one_json_object(proc.stdout)
    assert meta["mode"] == "clone" and meta["tts_engine_used"] == "f5tts"


@pytest.mark.parametrize("args,message", [
    (["synth", "--text", "   ", "--language", "en"], "text is empty"),
    (["synth", "--text", "hi", "--language", "klingon"], "unknown language 'klingon'"),
    (["synth", "--text", "hi", "--language", "en", "--preset", "robot"], "unknown voice 'robot'"),
    (["synth", "--text", "hi", "--language", "en", "--profile", "max"], "unknown quality profile 'max'"),
    (["synth", "--text", "hi", "--language", "en", "--engine", "bark"], "unknown engine 'bark'"),
    (["clone", "--reference", "/nonexistent.wav", "--text", "hi", "--language", "en"], "reference audio file was not found"),
    (["clone", "--reference", "@NOTAUDIO@", "--text", "hi", "--language", "en"], "could not be decoded"),
    (["clone", "--reference", "@SHORT@", "--text", "hi", "--language", "en"], "at least 1 s is needed"),
    (["synth", "--language", "en"], "the following arguments are required: --text"),
])
def test_bad_input_exits_2_with_one_error_line(args, message, tiny_env, tmp_path):
    import numpy as np

    not_audio = tmp_path / "notes.wav"
    not_audio.write_bytes(b"this is not audio at all" * 100)
    short = tmp_path / "short.wav"
    sf.write(short, (0.3 * np.sin(np.arange(4800) * 0.05)).astype("float32"), 24000)
    args = [str(not_audio) if a == "@NOTAUDIO@" else str(short) if a == "@SHORT@" else a for a in args]
    proc = run_cli([*args, "--out", str(tmp_path / "x.wav")], tiny_env)
    assert proc.returncode == 2, proc.stderr
    error_lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and message in error_lines[0]
    assert proc.stdout == ""


def test_no_engine_exits_1(tmp_path):
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "VOICE_STUDIO_CACHE_DIR": str(tmp_path)}
    proc = run_cli(["synth", "--text", "Hello.", "--language", "en", "--out", str(tmp_path / "x.wav")], env)
    assert proc.returncode == 1
    error = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "no engine could serve" in error[0]
    assert "F5-TTS:" in error[0] and "XTTS-v2:" in error[0] and "set XTTS_MODEL" in error[0]


# --- checks made before any engine loads ------------------------------------------------

def _error_line(proc: subprocess.CompletedProcess) -> str:
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return errors[0]


def test_status_load_exits_1_when_no_engine_can_serve(tiny_env, tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    env = {**tiny_env, "F5TTS_CKPT": str(bad), "XTTS_MODEL": str(tmp_path / "no_xtts")}
    proc = run_cli(["status", "--load"], env)
    assert proc.returncode == 1, proc.stderr
    assert one_json_object(proc.stdout)["status"] == "unhealthy"


@pytest.fixture
def cli(use_env, capsys, monkeypatch):
    """``main(argv)`` in this process (fast) for what is refused before any engine loads; a load fails the test."""
    from engines.base import Engine
    from engines.__main__ import main

    def no_load(self, worker):
        raise AssertionError(f"{self.name} was loaded for a request that must be refused first")

    monkeypatch.setattr(Engine, "load", no_load)

    def run(argv: list[str]) -> tuple[int, str, str]:
        code = main(argv)
        captured = capsys.readouterr()
        errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, captured.err
        return code, errors[0], captured.out

    return run


def test_unserved_language_is_bad_input_before_any_load(cli, tmp_path):
    # The tiny XTTS declares en, pt, es, fr, de in its config.json; F5 serves pt-BR and en.
    code, error, out = cli(["synth", "--text", "こんにちは", "--language", "ja", "--out", str(tmp_path / "o.wav")])
    assert code == 2 and "language ja cannot be served" in error and out == ""
    assert not (tmp_path / "o.wav").exists()


def test_a_profile_of_the_other_engine_is_bad_input_with_a_suggestion(cli, tmp_path):
    code, error, _ = cli(["synth", "--text", "Hello.", "--language", "en", "--engine", "f5tts", "--profile",
                          "xtts_fast", "--out", str(tmp_path / "o.wav")])
    assert code == 2 and "did you mean f5tts_fast?" in error


@pytest.mark.parametrize("out", ["@DIR@", "@FILE@/o.wav", "@DIRWAV@", "/proc/voice-studio-out.wav"])
def test_an_unwritable_out_is_refused_before_synthesis(cli, out, tmp_path):
    (tmp_path / "a_file").write_text("a file, not a folder")
    (tmp_path / "folder.wav").mkdir()
    out = (out.replace("@DIRWAV@", str(tmp_path / "folder.wav")).replace("@DIR@", str(tmp_path))
           .replace("@FILE@", str(tmp_path / "a_file")))
    code, error, _ = cli(["synth", "--text", "Hello.", "--language", "en", "--out", out])
    assert code == 2 and "--out" in error


def test_a_log_level_that_does_not_exist_is_a_usage_error(tiny_env):
    proc = run_cli(["--log-level", "LOUD", "status"], tiny_env)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "invalid choice: 'LOUD'" in errors[0]
    assert proc.stdout == "" and "Traceback" not in proc.stderr


def test_messages_are_worded_for_the_command_line(cli, reference_wav, tmp_path):
    truncated = tmp_path / "cut.wav"
    truncated.write_bytes(reference_wav.read_bytes()[:60000])
    for reference, expected in ((truncated, "check the file"), (tmp_path / "missing.wav", "check the path")):
        code, error, _ = cli(["clone", "--reference", str(reference), "--reference-text", "My voice.", "--text",
                              "Hi.", "--language", "en", "--out", str(tmp_path / "o.wav")])
        assert code == 2 and expected in error and "upload" not in error


def test_voice_is_an_alias_of_preset(cli, tmp_path):
    code, error, _ = cli(["synth", "--text", "Hello there.", "--language", "en", "--engine", "xtts", "--voice",
                          "robot", "--out", str(tmp_path / "o.wav")])
    assert code == 2 and "unknown voice 'robot'" in error


def test_readme_commands_run_the_project_venv():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = [line.strip() for line in readme.splitlines() if re.match(r"\s*(\S*python3?|\./)\S*\s", line)]
    bare = [c for c in commands if re.match(r"python3? ", c)]
    assert commands and not bare, f"use .venv/bin/python in the README's commands: {bare}"


# --- without network: the Hub is asked once, briefly, and every variable is named ----------

@pytest.mark.parametrize("hub", ["closed_port", "never_answers"])
def test_no_network_is_reported_within_seconds_with_every_variable(hub, tmp_path):
    from tests.fake_hub import SilentServer, closed_port_url

    env = {"HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf"), "VOICE_STUDIO_CACHE_DIR": str(tmp_path)}
    with contextlib.ExitStack() as stack:
        env["HF_ENDPOINT"] = closed_port_url() if hub == "closed_port" else stack.enter_context(SilentServer()).url
        start = time.monotonic()
        status = run_cli(["status"], env, timeout=60)
        status_s = time.monotonic() - start
        start = time.monotonic()
        synth = run_cli(["synth", "--text", "Olá.", "--language", "pt-BR", "--out", str(tmp_path / "o.wav")], env,
                        timeout=60)
        synth_s = time.monotonic() - start
    health = one_json_object(status.stdout)
    assert status.returncode == 1 and health["status"] == "unhealthy"
    assert "set F5TTS_CKPT" in health["engines"]["f5tts"]["error"]
    assert "set F5TTS_VOCODER" in health["engines"]["f5tts"]["error"]
    assert "set XTTS_MODEL" in health["engines"]["xtts"]["error"]
    line = _error_line(synth)
    assert synth.returncode == 1
    for variable in ("F5TTS_CKPT", "F5TTS_VOCODER", "XTTS_MODEL"):
        assert variable in line
    # One short probe per process, no retries: the rest of the time is the process's own imports.
    for proc in (status, synth):
        assert proc.stderr.count("Hugging Face Hub unreachable") == 1, proc.stderr
    assert status_s < 15 and synth_s < 45, (status_s, synth_s)


def test_stderr_is_quiet_unless_the_log_level_is_debug(tiny_env, tmp_path):
    args = ["synth", "--text", "Olá, tudo bem?", "--language", "pt-BR", "--engine", "f5tts", "--seed", "3",
            "--out", str(tmp_path / "quiet.wav")]
    quiet = run_cli(args, tiny_env)
    assert quiet.returncode == 0, quiet.stderr
    one_json_object(quiet.stdout)
    assert quiet.stderr == ""  # no library prints or warnings (vocos, torch.jit, transformers)
    loud = run_cli(["--log-level", "debug", *args], tiny_env)
    assert loud.returncode == 0, loud.stderr
    one_json_object(loud.stdout)  # what the libraries print still never reaches stdout
    assert "engine loaded" in loud.stderr and "synthesis done" in loud.stderr
    print(loud.stderr[-3000:])


def test_synth_help_describes_every_option():
    proc = run_cli(["synth", "--help"], {})
    assert proc.returncode == 0
    described = " ".join(proc.stdout.split())
    for words in ("--text TEXT the text to speak", "--speed SPEED pace, 0.5 to 2.0",
                  "--seed SEED a whole number: the same seed and settings give the same take"):
        assert words in described, described


def test_knobs_on_the_command_line_reach_the_metadata(tiny_env, tmp_path):
    """``--knob NAME=VALUE`` runs with the engine's setting changed and says so in the JSON it prints."""
    out = tmp_path / "o.wav"
    proc = run_cli(["synth", "--text", "Hello there.", "--language", "en", "--engine", "xtts", "--no-fallback",
                    "--seed", "3", "--knob", "temperature=0.5", "--knob", "top_k=20", "--out", str(out)], tiny_env)
    assert proc.returncode == 0, proc.stderr
    metadata = one_json_object(proc.stdout)
    assert metadata["knobs_changed"]["temperature"] == 0.5 and metadata["knobs_changed"]["top_k"] == 20
    assert sf.info(str(out)).frames > 0


@pytest.mark.parametrize("knob,message", [
    ("nfe_step=100", "nfe_step 100 is out of range; use 4 to 64"),
    ("loudness=3", "use NAME=VALUE with NAME one of"),
    ("temperature=hot", "temperature must be a number"),
])
def test_a_bad_knob_on_the_command_line_is_one_error_line(cli, capsys, knob, message, tmp_path):
    argv = ["synth", "--text", "Hello.", "--language", "en", "--knob", knob, "--out", str(tmp_path / "o.wav")]
    try:
        code, error, out = cli(argv)
    except SystemExit as exit_:  # argparse refuses a malformed NAME=VALUE itself, as a usage error
        captured = capsys.readouterr()
        code, out = exit_.code, captured.out
        errors = [line for line in captured.err.splitlines() if "error:" in line]
        assert len(errors) == 1, captured.err
        error = errors[0]
    assert code == 2 and out == "" and message in error
    assert not (tmp_path / "o.wav").exists()
