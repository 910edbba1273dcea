"""A Studio track is bounded, and mixing it costs memory for speech, not for silence.

A cue far in the future used to make the mixer allocate the whole track at once (a cue
at 99:00:00 asked for 32 GiB). Now a cue past ``VOICE_STUDIO_MAX_TRACK_S`` is refused
by name before anything is rendered, and a track within the limit is mixed block by
block into its WAV.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from tests.conftest import ENV_VARS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
FAR_CUE = b"1\n00:00:01,000 --> 00:00:02,000\nHi.\n\n2\n99:00:00,000 --> 99:00:01,000\nBye.\n"

# Runs the CLI as a child and prints the child's peak resident memory (KiB), so the figure
# is that one command's, whatever else the test process has run before.
PEAK_RSS = """
import json, resource, subprocess, sys
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"code": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr,
                  "max_rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def cli_env(tiny_env: dict[str, str], tmp_path: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    return {**base, **tiny_env, "VOICE_STUDIO_OUTPUT_DIR": str(tmp_path / "outputs"), **extra}


def dub_subtitles(subtitles: Path, out: Path, env: dict[str, str]) -> dict:
    """``python -m engines dub-subtitles`` in a child process, with its peak memory."""
    argv = [sys.executable, "-m", "engines", "dub-subtitles", "--subtitles", str(subtitles), "--language", "en",
            "--engine", "f5tts", "--fit", "natural", "--seed", "1", "--out", str(out)]
    proc = subprocess.run([sys.executable, "-c", PEAK_RSS, *argv], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_cli_refuses_a_cue_past_the_longest_track_before_loading_anything(tiny_env, tmp_path):
    subtitles = tmp_path / "far.srt"
    subtitles.write_bytes(FAR_CUE)
    assert len(FAR_CUE) < 80
    run = dub_subtitles(subtitles, tmp_path / "track.wav", cli_env(tiny_env, tmp_path))
    assert run["code"] == 2 and run["stdout"] == ""
    assert run["stderr"] == ("error: cue 2 (line 6) ends at 99:00:01,000, past the longest track allowed "
                             "(03:00:00,000, VOICE_STUDIO_MAX_TRACK_S=10800)\n")
    assert not (tmp_path / "track.wav").exists() and not (tmp_path / "outputs" / "projects").exists()
    assert run["max_rss_kb"] < 2 * 2**20  # nothing near the 32 GiB the track would have taken


def test_the_limit_follows_the_video_limit_and_its_own_variable(tiny_env, tmp_path):
    subtitles = tmp_path / "late.srt"
    subtitles.write_bytes(b"1\n00:00:01,000 --> 00:00:02,000\nHi.\n\n2\n00:01:00,000 --> 00:01:01,000\nBye.\n")
    by_video = dub_subtitles(subtitles, tmp_path / "a.wav", cli_env(tiny_env, tmp_path, VOICE_STUDIO_MAX_VIDEO_S="30"))
    assert by_video["code"] == 2 and "VOICE_STUDIO_MAX_TRACK_S=30" in by_video["stderr"]
    own = dub_subtitles(subtitles, tmp_path / "b.wav",
                        cli_env(tiny_env, tmp_path, VOICE_STUDIO_MAX_VIDEO_S="30", VOICE_STUDIO_MAX_TRACK_S="45.5"))
    assert own["code"] == 2 and "past the longest track allowed (00:00:45,500, VOICE_STUDIO_MAX_TRACK_S=45.5)" \
        in own["stderr"]


def test_render_memory_does_not_grow_with_the_silence_between_cues(tiny_env, tmp_path):
    """Two cues 2.5 s apart, then the same two 2 h 59 min apart: the same peak memory, give or take."""
    near, far = tmp_path / "near.srt", tmp_path / "far.srt"
    near.write_bytes(b"1\n00:00:00,500 --> 00:00:02,500\nHello there.\n\n"
                     b"2\n00:00:03,000 --> 00:00:05,000\nGoodbye now.\n")
    far.write_bytes(b"1\n00:00:00,500 --> 00:00:02,500\nHello there.\n\n"
                    b"2\n02:59:00,000 --> 02:59:02,000\nGoodbye now.\n")
    env = cli_env(tiny_env, tmp_path)
    near_run = dub_subtitles(near, tmp_path / "near.wav", env)
    far_run = dub_subtitles(far, tmp_path / "far.wav", env)
    assert near_run["code"] == 0 and far_run["code"] == 0, far_run["stderr"]
    info = sf.info(str(tmp_path / "far.wav"))
    assert info.samplerate == 24000 and info.duration == pytest.approx(2 * 3600 + 59 * 60 + 2, abs=1.0)
    # The whole track as float32 would be 1 GB (and twice that with a clipped copy).
    growth_mb = (far_run["max_rss_kb"] - near_run["max_rss_kb"]) / 1024
    assert growth_mb < 64, f"peak memory grew by {growth_mb:.0f} MB with the silence between two cues"
