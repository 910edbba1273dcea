"""Decoding an uploaded clip with bounded work, reading nothing but the upload.

Every upload is hostile, so two rules hold here:

- The work is bounded before it is done. The clip's declared length is read first, and
  at most ``max_seconds`` of it are decoded (soundfile ``frames=``, ffmpeg ``-t``). Blocks
  are mixed to mono and resampled as they arrive, so a 3-hour clip that compresses to a
  megabyte costs what ten minutes cost, whatever its sample rate or channel count.
- ffmpeg reads only the uploaded file. It gets an explicit ``file:`` URL, may use no other
  protocol (``-protocol_whitelist file``) and no demuxer but those of real audio
  containers (``-format_whitelist``), checked by a probe before anything is decoded.
  Playlists (HLS/M3U), concat scripts and every other demuxer that opens further files
  or URLs are refused before they open anything, with one message whatever they name,
  so a refusal says nothing about which server files exist.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

# Demuxers of self-contained audio containers (each name matches ffmpeg's demuxer name,
# e.g. "mov" covers mov/mp4/m4a, "matroska" covers webm). None of them opens other files.
AUDIO_CONTAINERS = ("wav", "w64", "aiff", "caf", "au", "flac", "ogg", "mp3", "aac", "mov", "matroska", "amr", "wv")
CONTAINER_NAMES = "WAV, FLAC, Ogg (Vorbis/Opus), MP3, AAC, M4A/MP4, WebM/Matroska, AIFF, CAF, AMR or WavPack"
logger = logging.getLogger("voice_studio.audio")
NOT_DECODABLE = "reference audio could not be decoded (not an audio file, or corrupt)"
NOT_A_CONTAINER = f"{NOT_DECODABLE}: it is not in an accepted audio format ({CONTAINER_NAMES})"

# libsndfile's MP3 decoder (mpg123) hands back samples for frames a truncated file does not
# have (silence, noise, even NaN), and not the same ones from one process to the next, so the
# same upload was 1.3 s of speech in one process and 0.1 s in another. ffmpeg stops where the
# data stops: MP3 goes to ffmpeg.
LEFT_TO_FFMPEG = ("MP3",)

BLOCK_SAMPLES = 1 << 20        # samples (all channels together) read from soundfile at a time
PIECE_SECONDS = 10.0           # input resampled per piece
MAX_KERNEL_ELEMENTS = 4 << 20  # torchaudio's sinc kernel for an odd rate pair can take gigabytes
LOWPASS_WIDTH, ROLLOFF = 6, 0.99  # torchaudio's resample defaults, passed explicitly
PROBE_TIMEOUT_S, DECODE_TIMEOUT_S = 30, 120


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray    # mono float32 at ``sample_rate``, at most ``max_seconds`` long
    sample_rate: int
    source_seconds: float  # the whole clip's length: as declared, else as far as it was decoded


def decode_upload(path: Path, sample_rate: int, max_seconds: float) -> DecodedAudio:
    """Mono float32 at ``sample_rate``; soundfile first (wav/flac/ogg/opus/mp3), else ffmpeg."""
    decoded = _decode_with_soundfile(path, sample_rate, max_seconds)
    return decoded if decoded is not None else _decode_with_ffmpeg(path, sample_rate, max_seconds)


# --- soundfile -----------------------------------------------------------------------------
def _decode_with_soundfile(path: Path, target: int, max_seconds: float) -> DecodedAudio | None:
    """None when libsndfile cannot read the file (ffmpeg is tried next) or its rate needs ffmpeg."""
    import soundfile as sf

    unreadable = (sf.SoundFileError, OSError, EOFError)  # open fails, or decoding fails mid-file
    try:
        handle = sf.SoundFile(str(path))
    except unreadable:
        return None
    with handle:
        rate, channels, declared = handle.samplerate, handle.channels, handle.frames
        if rate <= 0 or channels <= 0 or not resampling_is_bounded(rate, target):
            return None
        if handle.format in LEFT_TO_FFMPEG:
            return None
        # With no declared length, one second past the limit tells a clip longer than the limit.
        limit = int(max_seconds * rate)
        wanted = min(declared, limit) if declared > 0 else limit + rate
        resampler = BlockResampler(rate, target, capacity=wanted)
        blocks = handle.blocks(blocksize=max(1, BLOCK_SAMPLES // channels), frames=wanted, dtype="float32",
                               always_2d=True)
        read = 0
        while True:
            try:
                block = next(blocks)
            except StopIteration:
                break
            except unreadable:
                return None
            mono = block.mean(axis=1, dtype=np.float32) if channels > 1 else block[:, 0]
            _check_finite(mono)
            resampler.push(mono)
            read += len(block)
    source = declared if declared > 0 and read >= wanted else read
    return DecodedAudio(resampler.finish()[: int(max_seconds * target)], target, source / rate)


def _check_finite(samples: np.ndarray) -> None:
    if not np.isfinite(samples).all():
        raise InputError("reference audio holds NaN or infinite samples (a corrupt float wav)")


def resampling_is_bounded(rate: int, target: int) -> bool:
    """False for rate pairs (e.g. 44101 Hz) whose sinc kernel would take more memory than a clip."""
    a, b = _reduced(rate, target)
    return b * (2 * _kernel_width(a, b) + a) <= MAX_KERNEL_ELEMENTS


def _reduced(rate: int, target: int) -> tuple[int, int]:
    g = math.gcd(rate, target)
    return rate // g, target // g


def _kernel_width(a: int, b: int) -> int:
    """Input samples torchaudio's resampler reads on each side of an output sample (its own formula)."""
    return math.ceil(LOWPASS_WIDTH * a / (min(a, b) * ROLLOFF))


class BlockResampler:
    """Resample a mono stream piece by piece; the result equals one ``resample`` of the whole.

    Each piece is resampled with ``context`` extra input samples on each side, and the
    outputs that would see those edges are dropped. Pieces start at multiples of the
    reduced input step, so the output grid lines up with the whole stream's. Output goes
    into one array sized from ``capacity`` (input samples), so memory is the output plus
    one piece.
    """

    def __init__(self, rate: int, target: int, capacity: int, piece_seconds: float = PIECE_SECONDS):
        self.rate, self.target = rate, target
        self.a, self.b = _reduced(rate, target)
        self.context = self.a * math.ceil(_kernel_width(self.a, self.b) / self.a)
        self.piece = self.a * max(1, math.ceil(rate * piece_seconds / self.a))
        self.out = np.empty(math.ceil(self.b * max(capacity, 0) / self.a), dtype=np.float32)
        self.written = 0
        self.consumed = 0  # input samples whose outputs are written
        self.head = 0      # context samples at the start of ``pending`` (none at the stream's start)
        self.pending = np.zeros(0, dtype=np.float32)

    def push(self, block: np.ndarray) -> None:
        if self.rate == self.target:
            self._emit(block)
            return
        self.pending = np.concatenate([self.pending, np.asarray(block, dtype=np.float32)])
        while len(self.pending) - self.head >= self.piece + self.context:
            done = self._resample(self.pending[: self.head + self.piece + self.context])
            skip = self.head * self.b // self.a
            self._emit(done[skip: skip + self.piece * self.b // self.a])
            self.consumed += self.piece
            self.pending = self.pending[self.head + self.piece - self.context:]
            self.head = self.context

    def finish(self) -> np.ndarray:
        if self.rate != self.target and len(self.pending) > self.head:
            tail = len(self.pending) - self.head
            done = self._resample(self.pending)  # the stream's end: zero padding, as in one whole call
            skip = self.head * self.b // self.a
            self._emit(done[skip: skip + math.ceil(self.b * tail / self.a)])
            self.pending = np.zeros(0, dtype=np.float32)
        return self.out[: self.written]

    def _resample(self, samples: np.ndarray) -> np.ndarray:
        import torch
        import torchaudio.functional as AF

        return AF.resample(torch.from_numpy(np.ascontiguousarray(samples)), self.rate, self.target,
                           lowpass_filter_width=LOWPASS_WIDTH, rolloff=ROLLOFF).numpy()

    def _emit(self, samples: np.ndarray) -> None:
        end = self.written + len(samples)
        if end > len(self.out):  # a stream longer than declared: grow (never past the caller's frame limit)
            self.out = np.concatenate([self.out[: self.written], np.empty(end - self.written, dtype=np.float32)])
        self.out[self.written: end] = samples
        self.written = end


# --- ffmpeg --------------------------------------------------------------------------------
def _ffmpeg_tools() -> tuple[str, str]:
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    if ffmpeg is None or ffprobe is None:
        raise InputError("reference audio format needs ffmpeg, which is not installed (apt-get install ffmpeg)")
    return ffmpeg, ffprobe


def _restricted_input(path: Path) -> list[str]:
    """ffmpeg input options that confine it to this one file, in an audio container."""
    return ["-protocol_whitelist", "file", "-format_whitelist", ",".join(AUDIO_CONTAINERS),
            "-i", f"file:{path.resolve()}"]


def probe(path: Path) -> float | None:
    """Check the container and its audio stream before decoding; return the declared seconds, if any."""
    _, ffprobe = _ffmpeg_tools()
    proc = _run([ffprobe, "-v", "error", *_restricted_input(path), "-show_entries",
                 "format=format_name,duration:stream=codec_type", "-of", "json"], PROBE_TIMEOUT_S)
    if proc.returncode != 0:
        _refuse(proc.stderr, path)
    try:
        found = json.loads(proc.stdout or b"{}")
    except ValueError as exc:
        raise InputError(NOT_DECODABLE) from exc
    if not any(stream.get("codec_type") == "audio" for stream in found.get("streams", [])):
        raise InputError("reference audio file holds no audio stream")
    try:
        seconds = float(found.get("format", {}).get("duration"))
    except (TypeError, ValueError):
        return None  # not declared (e.g. a stream without an index): the decoded length is used
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def _decode_with_ffmpeg(path: Path, target: int, max_seconds: float) -> DecodedAudio:
    """Any accepted container ffmpeg knows (m4a/aac, webm, ...), at most ``max_seconds`` plus one."""
    declared = probe(path)
    ffmpeg, _ = _ffmpeg_tools()
    # One second past the limit tells a clip that is longer than the limit when none is declared.
    proc = _run([ffmpeg, "-nostdin", "-v", "error", *_restricted_input(path), "-map", "0:a:0",
                 "-t", f"{max_seconds + 1:g}", "-f", "f32le", "-ac", "1", "-ar", str(target), "pipe:1"],
                DECODE_TIMEOUT_S)
    if proc.returncode != 0 or not proc.stdout:
        _refuse(proc.stderr, path)
    decoded = np.frombuffer(proc.stdout, dtype=np.float32)
    _check_finite(decoded)
    kept = decoded[: int(max_seconds * target)].copy()
    # A stream that ended before the limit is as long as what was decoded, whatever its header
    # declares (a truncated MP3 keeps the whole file's length in its Xing header).
    ended = len(decoded) < int((max_seconds + 1) * target)
    source = len(decoded) / target if ended or declared is None else declared
    return DecodedAudio(kept, target, source)


def _run(command: list[str], timeout_s: float) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, capture_output=True, timeout=timeout_s, check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise InputError(f"{NOT_DECODABLE}: reading it took longer than {timeout_s:.0f} s") from exc


def _refuse(stderr: bytes, path: Path) -> None:
    """Our own words for ffmpeg's refusal; its text (which names the upload's path) only goes to the log."""
    detail = stderr.decode(errors="replace").strip().splitlines()
    if any("not on whitelist" in line or "Invalid data found" in line for line in detail):
        raise InputError(NOT_A_CONTAINER)
    reason = detail[-1] if detail else ""
    for shown in (f"file:{path.resolve()}", str(path.resolve()), str(path)):
        reason = reason.replace(shown, "")
    logger.info("ffmpeg could not decode an upload", extra={"ffmpeg": reason.lstrip(": ").strip()[:300]})
    raise InputError(NOT_DECODABLE)
