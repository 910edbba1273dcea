"""Hostile reference uploads: the work is bounded, ffmpeg reads only the upload, the size cap is the setting's.

- Clips hours long but a few MB on disk (FLAC, MP3, Ogg Opus, WebM) are decoded only
  up to the 10-minute limit: the peak memory of a fresh process stays far below what
  decoding the whole clip takes (about 0.7 GB for 3 h at 16 kHz, 2 GB at 48 kHz).
- A "voice.wav" that is a playlist or a concat script naming a server file is refused
  before ffmpeg opens anything, with one message whether or not the named file exists.
- ``VOICE_STUDIO_MAX_UPLOAD_MB`` above the default is honoured by the engines too.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engines import InputError, SynthesisRequest
from engines.audio.waveforms import load_reference_audio, resample
from tests.hostile_media import (
    concat_script,
    ffmpeg,
    hls_playlist,
    long_by_repetition,
    long_flac,
    m3u_playlist,
    silent_opus,
)

REPO = Path(__file__).resolve().parents[2]
HOURS_3 = 3 * 3600.0
LIMIT_S = 600.0
MAX_GROWTH_MB = 200  # decoding 10 minutes takes under 100 MB; the whole clip takes 700-2000 MB


@pytest.fixture(scope="module")
def long_clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("long_clips")
    return {
        "flac": long_flac(d / "three_hours.flac", HOURS_3),
        "mp3": long_by_repetition(d / "three_hours.mp3", HOURS_3, ["-c:a", "libmp3lame", "-b:a", "8k"]),
        "opus": silent_opus(d / "three_hours.opus", HOURS_3),
        "webm": long_by_repetition(d / "three_hours.webm", HOURS_3, ["-c:a", "libopus", "-b:a", "6k"], rate=48000),
    }


@pytest.fixture(scope="module")
def odd_rate_clip(tmp_path_factory) -> Path:
    # 44101 Hz and 24000 Hz share no factor: one sinc kernel for the pair would take gigabytes.
    t = np.arange(3 * 44101) / 44101
    path = tmp_path_factory.mktemp("odd_rate") / "odd_rate.wav"
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 44101)
    return path


@pytest.fixture(scope="module")
def memory_report(long_clips, odd_rate_clip) -> dict:
    """One fresh process loads every clip (the peak is reset between them)."""
    return measure([*long_clips.values(), odd_rate_clip])


def measure(paths: list[Path]) -> dict:
    def run(batch: list[Path]) -> dict:
        proc = subprocess.run([sys.executable, "-m", "tests.peak_memory", *map(str, batch)], cwd=REPO,
                              capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    report = run(paths)
    if not report.pop("resettable"):  # no way to reset the peak here: one process per file
        report = {k: v for path in paths for k, v in run([path]).items() if k != "resettable"}
    return report


@pytest.mark.slow
def test_hours_long_clips_are_decoded_only_up_to_the_limit(long_clips, memory_report):
    assert all(path.stat().st_size < 12 * 2**20 for path in long_clips.values()), "small uploads"
    for kind, path in long_clips.items():
        found = memory_report[str(path)]
        assert found["growth_mb"] < MAX_GROWTH_MB, (kind, found)
        if kind == "opus":  # silence only: refused after ten minutes, not after three hours
            assert found["error"] == "reference audio is silent: record or upload a clip with speech in it"
            continue
        # The clip is cut, and says how long the upload was (its declared length).
        assert found["cut"] is True and abs(found["source_seconds"] - HOURS_3) < 10, (kind, found)
        assert 0 < found["seconds"] <= LIMIT_S, (kind, found)


@pytest.mark.slow
def test_an_odd_sample_rate_is_resampled_with_bounded_memory(odd_rate_clip, memory_report):
    found = memory_report[str(odd_rate_clip)]
    assert found["growth_mb"] < MAX_GROWTH_MB and abs(found["seconds"] - 3.0) < 0.1, found


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000, 96000])
def test_block_resampling_equals_one_resample(rate):
    from engines.audio.decoding import BlockResampler

    samples = np.random.default_rng(rate).standard_normal(int(rate * 7.3) + 11).astype(np.float32)
    blocks = BlockResampler(rate, 24000, capacity=len(samples), piece_seconds=2.0)
    for start in range(0, len(samples), 30011):
        blocks.push(samples[start: start + 30011])
    whole = resample(samples, rate, 24000)
    pieces = blocks.finish()
    assert len(pieces) == len(whole)
    np.testing.assert_allclose(pieces, whole, atol=1e-5)


# --- ffmpeg reads the upload and nothing else ------------------------------------------------------
@pytest.fixture
def secret(tmp_path) -> Path:
    """A server file that would decode as a perfectly good voice if ffmpeg were led to it."""
    path = tmp_path / "server" / "secret.mp3"
    path.parent.mkdir()
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:duration=4", "-c:a", "libmp3lame", str(path))
    return path


TRICKS = {
    "hls_absolute_path": lambda target: hls_playlist(target),
    "hls_file_url": lambda target: hls_playlist(f"file:{target}"),
    "hls_file_url_with_host": lambda target: hls_playlist(f"file://{target}"),
    "m3u_absolute_path": lambda target: m3u_playlist(target),
    "concat_absolute_path": lambda target: concat_script(target),
    "concat_beside_the_upload": lambda target: concat_script(Path(target).name),
}
NOT_A_CONTAINER = ("reference audio could not be decoded (not an audio file, or corrupt): it is not in an accepted "
                   "audio format (WAV, FLAC, Ogg (Vorbis/Opus), MP3, AAC, M4A/MP4, WebM/Matroska, AIFF, CAF, AMR "
                   "or WavPack)")
# Demuxers ffmpeg would pick for these, and that would open the file they name.
FOLLOWED_BY_FFMPEG = {"hls_absolute_path", "hls_file_url", "hls_file_url_with_host", "concat_absolute_path",
                      "concat_beside_the_upload"}


def refusal(upload: Path) -> str:
    with pytest.raises(InputError) as caught:
        load_reference_audio(upload)
    return str(caught.value)


@pytest.mark.parametrize("trick", sorted(TRICKS))
def test_an_upload_that_names_other_files_is_refused_before_they_are_opened(trick, secret):
    upload = secret.parent / "voice.wav"  # beside the secret: a relative name would resolve to it
    upload.write_bytes(TRICKS[trick](str(secret)))
    message = refusal(upload)
    assert message.startswith("reference audio could not be decoded (not an audio file, or corrupt)")
    if trick in FOLLOWED_BY_FFMPEG:
        assert message == NOT_A_CONTAINER
    assert str(secret.parent) not in message
    # The same words whether the named file exists or not: a refusal tells nothing about the server's files.
    upload.write_bytes(TRICKS[trick](str(secret.with_name("no_such_file.mp3"))))
    assert refusal(upload) == message


def test_the_named_file_is_never_opened(tmp_path):
    """The secret is a FIFO: opening it for writing without blocking works only while a reader has it open."""
    secret = tmp_path / "secret.mp3"
    os.mkfifo(secret)
    opened, stop = threading.Event(), threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                fd = os.open(secret, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                assert exc.errno == errno.ENXIO  # no reader: the expected state
                stop.wait(0.002)
                continue
            opened.set()
            os.close(fd)  # the reader sees end of file and gives up
            return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        for make in (hls_playlist, m3u_playlist, concat_script):
            upload = tmp_path / "voice.wav"
            upload.write_bytes(make(str(secret)))
            with pytest.raises(InputError):
                load_reference_audio(upload)
    finally:
        stop.set()
        watcher.join(timeout=10)
    assert not opened.is_set(), "ffmpeg opened the file the upload named"


def test_the_manager_refuses_a_playlist_with_the_same_message(secret):
    from engines import EngineManager, Settings

    manager = EngineManager(Settings.from_env({"VOICE_STUDIO_DEVICE": "cpu", "HF_HUB_OFFLINE": "1"}))
    upload = secret.parent / "voice.wav"
    upload.write_bytes(hls_playlist(str(secret)))
    request = SynthesisRequest(text="olá, tudo bem?", language="pt-BR", reference_audio=str(upload),
                               reference_text="um tom.")
    with pytest.raises(InputError, match=r"^reference audio could not be decoded \(not an audio file, or corrupt\)"):
        manager.validate(request)


def test_real_containers_still_decode_through_ffmpeg(reference_wav, tmp_path):
    for suffix, codec in ((".m4a", ["-c:a", "aac"]), (".webm", ["-c:a", "libopus"])):
        path = tmp_path / f"ref{suffix}"
        ffmpeg("-i", str(reference_wav), *codec, str(path))
        ref = load_reference_audio(path)
        assert ref.sample_rate == 24000 and 2.5 < ref.duration_s <= 3.2 and not ref.cut


# --- the upload cap is the setting -----------------------------------------------------------------
def test_an_upload_cap_above_the_default_is_honoured(tmp_path, monkeypatch):
    from webui.serving.config import AppConfig

    rate = 24000
    audio = np.zeros(int(1150 * rate), dtype=np.int16)  # 16-bit mono: about 55 MB
    t = np.arange(3 * rate) / rate
    audio[: 3 * rate] = (8000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)
    big = tmp_path / "fifty_five_mb.wav"
    sf.write(big, audio, rate, subtype="PCM_16")
    assert 52 * 2**20 < big.stat().st_size < 60 * 2**20
    monkeypatch.setenv("VOICE_STUDIO_MAX_UPLOAD_MB", "60")
    assert AppConfig.from_env().max_upload_mb == 60  # the web app's cap and the engines' are one setting
    ref = load_reference_audio(big)
    assert 2.5 < ref.duration_s < 3.5
    over = tmp_path / "over.wav"
    over.write_bytes(big.read_bytes()[:44])
    with open(over, "r+b") as handle:
        handle.truncate(60 * 2**20 + 1)
    with pytest.raises(InputError, match=r"reference audio file is 60\.1 MB, over the upload limit of 60 MB"):
        load_reference_audio(over)


def test_a_decoder_that_hangs_is_a_clear_error(reference_wav, tmp_path, monkeypatch):
    from engines.audio import decoding

    path = tmp_path / "ref.m4a"
    ffmpeg("-i", str(reference_wav), "-c:a", "aac", str(path))
    monkeypatch.setattr(decoding, "PROBE_TIMEOUT_S", 0.001)  # fault injection: no probe finishes in time
    with pytest.raises(InputError, match=r"could not be decoded \(not an audio file, or corrupt\): reading it took "
                                         r"longer than 0 s"):
        load_reference_audio(path)
