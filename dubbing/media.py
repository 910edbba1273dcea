"""ffmpeg and ffprobe: probing an uploaded video, time-stretching, encoding, muxing.

Every input is an explicit file this code names (``file:`` + an absolute path) or a
pipe, read with the ``file``/``pipe`` protocols only and, for videos, a whitelist of
container formats: a playlist or concat list disguised as a video can make ffmpeg open
the paths or URLs written inside it, and that is refused. Uploaded videos are probed
and bounded (size, duration, streams) before anything else reads them. Every call has a
timeout, and ffmpeg's messages are stripped of server paths before they reach a user.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.errors import InputError, VoiceStudioError
from engines.settings import number_setting

logger = logging.getLogger("voice_studio.dubbing.media")

SAMPLE_RATE = 24000
VIDEO_FORMATS = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,flv"
# Video codecs an MP4 holds as they are (``-c:v copy``).
MP4_VIDEO_CODECS = ("h264", "hevc", "mpeg4", "av1", "vp9", "mpeg2video", "mjpeg")
ENV_MAX_VIDEO_MB = "VOICE_STUDIO_MAX_VIDEO_MB"
ENV_MAX_VIDEO_S = "VOICE_STUDIO_MAX_VIDEO_S"
DEFAULT_MAX_VIDEO_MB = 2048
DEFAULT_MAX_VIDEO_S = 3 * 3600
PROBE_TIMEOUT_S = 30
STRETCH_TIMEOUT_S = 60
STRETCH_PAD_S = 0.25
MUX_TIMEOUT_S = 900
COPY_BLOCK_FRAMES = 240_000        # 10 s at 24 kHz: what a re-encode holds at once
COPY_BLOCK_BYTES = 4 * 2**20
# Ducking: the original is compressed by the voice (sidechain), then the voice is laid on top.
DUCK_FILTER = ("[0:a:0]aresample={rate},aformat=channel_layouts=stereo[orig];"
               "[1:a:0]aresample={rate},aformat=channel_layouts=stereo,asplit=2[voice][key];"
               "[orig][key]sidechaincompress=threshold=0.02:ratio=12:attack=15:release=350:makeup=1[ducked];"
               "[ducked][voice]amix=inputs=2:duration=longest:normalize=0[mix]")


class MediaError(VoiceStudioError):
    """ffmpeg is missing or failed on a file this code wrote; the message says which step."""


@dataclass(frozen=True)
class VideoInfo:
    duration_s: float
    video_codec: str
    width: int
    height: int
    has_audio: bool
    audio_codec: str | None
    size_bytes: int


@functools.lru_cache(maxsize=2)
def _tool(name: str) -> str:
    """The path of ``name`` (ffmpeg or ffprobe, both from the ffmpeg package); a failure is not cached."""
    path = shutil.which(name)
    if path is None:
        raise MediaError(f"{name} is not installed: apt-get install ffmpeg (scripts/install.sh does it)")
    return path


def ffmpeg() -> str:
    return _tool("ffmpeg")


def ffprobe() -> str:
    return _tool("ffprobe")


@functools.lru_cache(maxsize=1)
def has_rubberband() -> bool:
    """Whether this ffmpeg was built with librubberband (better time-stretching than atempo)."""
    try:
        proc = subprocess.run([ffmpeg(), "-hide_banner", "-h", "filter=rubberband"], capture_output=True,
                              timeout=PROBE_TIMEOUT_S, check=False)
    except (MediaError, OSError, subprocess.TimeoutExpired) as exc:
        logger.info("rubberband check failed", extra={"error": str(exc)})
        return False
    return proc.returncode == 0 and b"Unknown filter" not in proc.stdout + proc.stderr


def _file(path: str | os.PathLike) -> str:
    """An explicit local file for ffmpeg: never a URL or protocol spelled by a file name."""
    return "file:" + str(Path(path).resolve())


def _clean(stderr: bytes, *paths: str | os.PathLike) -> str:
    text = stderr.decode(errors="replace").strip()
    for path in paths:
        text = text.replace(_file(path), "").replace(str(Path(path).resolve()), "").replace(str(path), "")
    lines = [line.strip(" :") for line in text.splitlines() if line.strip(" :")]
    return lines[-1][:200] if lines else "no details"


def _run(args: list[str], timeout: float, what: str, *paths, stdin: bytes | None = None) -> bytes:
    try:
        proc = subprocess.run(args, input=stdin, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise MediaError(f"{what} took longer than {timeout:.0f} s") from exc
    if proc.returncode != 0:
        raise MediaError(f"{what} failed: {_clean(proc.stderr, *paths)}")
    return proc.stdout


# --- videos ------------------------------------------------------------------------------
def max_video_seconds(environ: Mapping[str, str] | None = None) -> float:
    """``VOICE_STUDIO_MAX_VIDEO_S``: the longest video accepted, and the default bound of a dubbed track."""
    env = os.environ if environ is None else environ
    return number_setting(env, ENV_MAX_VIDEO_S, DEFAULT_MAX_VIDEO_S, low=1, kind=float)


def video_limits(environ: Mapping[str, str] | None = None) -> tuple[int, float]:
    """(largest file in bytes, longest duration in seconds) a video may have."""
    env = os.environ if environ is None else environ
    mb = number_setting(env, ENV_MAX_VIDEO_MB, DEFAULT_MAX_VIDEO_MB, low=1)
    return mb * 2**20, max_video_seconds(env)


def probe_video(path: str | os.PathLike, environ: Mapping[str, str] | None = None) -> VideoInfo:
    """What the uploaded file is, or ``InputError`` when it is not a usable video with sound."""
    path = Path(path)
    max_bytes, max_seconds = video_limits(environ)
    if not path.is_file():
        raise InputError("video file is missing")
    size = path.stat().st_size
    if size > max_bytes:
        raise InputError(f"video is {size / 2**20:.0f} MB; the limit is {max_bytes // 2**20} MB ({ENV_MAX_VIDEO_MB})")
    info, video, audio = probe_upload(path, VIDEO_FORMATS, "the uploaded file is not a video (ffprobe could not read "
                                      "it as MP4, MOV, MKV, WebM, AVI, MPEG-TS or FLV: {reason})")
    if not video:
        raise InputError("the uploaded file is not a video: it has no video stream")
    try:
        duration = float(info.get("format", {}).get("duration") or video[0].get("duration") or 0)
    except ValueError:
        duration = 0.0
    if duration <= 0:
        raise InputError("the video has no duration (empty or damaged file)")
    if duration > max_seconds:
        raise InputError(f"video is {_span(duration)} long; the limit is {_span(max_seconds)} ({ENV_MAX_VIDEO_S})")
    if not audio:
        raise InputError("the video has no audio track: dubbing replaces or ducks the original sound, so "
                         "upload the video with its sound")
    codec = video[0].get("codec_name", "unknown")
    if codec not in MP4_VIDEO_CODECS:
        raise InputError(f"the video's codec ({codec}) cannot be copied into an MP4; "
                         f"use a video in {', '.join(MP4_VIDEO_CODECS)}")
    return VideoInfo(duration, codec, int(video[0].get("width") or 0), int(video[0].get("height") or 0),
                     True, audio[0].get("codec_name"), size)


def probe_upload(path: Path, formats: str, refusal: str) -> tuple[dict, list[dict], list[dict]]:
    """ffprobe's JSON of an upload read with the container ``formats`` only, its picture streams
    (cover art left out) and its sound streams; ``InputError(refusal)`` (``{reason}``: ffprobe's
    last line, without paths) when ffprobe cannot read it."""
    proc = subprocess.run([ffprobe(), "-v", "error", "-protocol_whitelist", "file", "-format_whitelist", formats,
                           "-of", "json", "-show_format", "-show_streams", _file(path)],
                          capture_output=True, timeout=PROBE_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        raise InputError(refusal.format(reason=_clean(proc.stderr, path)))
    info = json.loads(proc.stdout or b"{}")
    streams = info.get("streams", [])
    video = [s for s in streams if s.get("codec_type") == "video"
             and not s.get("disposition", {}).get("attached_pic")]
    return info, video, [s for s in streams if s.get("codec_type") == "audio"]


def _span(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def mux_video(video: str | os.PathLike, track_wav: str | os.PathLike, out: str | os.PathLike,
              keep_original: bool = False) -> Path:
    """An MP4 of ``video``'s picture (copied, not re-encoded) with the new track as its sound.

    ``keep_original``: the original sound stays under the voice, ducked while the voice speaks.
    """
    out = Path(out)
    tmp = out.with_name(f".{out.stem}.partial.mp4")
    common = [ffmpeg(), "-nostdin", "-v", "error", "-y", "-protocol_whitelist", "file",
              "-format_whitelist", VIDEO_FORMATS, "-i", _file(video),
              "-protocol_whitelist", "file", "-f", "wav", "-i", _file(track_wav)]
    if keep_original:
        maps = ["-filter_complex", DUCK_FILTER.format(rate=48000), "-map", "0:v:0", "-map", "[mix]"]
    else:
        maps = ["-map", "0:v:0", "-map", "1:a:0"]
    args = common + maps + ["-c:v", "copy", "-c:a", "aac", "-b:a", "192k", "-movflags", "+faststart",
                            "-f", "mp4", _file(tmp)]
    try:
        _run(args, MUX_TIMEOUT_S, "muxing the video", video, track_wav, tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def probe_streams(path: str | os.PathLike) -> dict:
    """ffprobe's JSON (format and streams) of a file this code wrote."""
    out = _run([ffprobe(), "-v", "error", "-protocol_whitelist", "file", "-of", "json", "-show_format",
                "-show_streams", _file(path)], PROBE_TIMEOUT_S, "probing", path)
    return json.loads(out)


# --- audio -------------------------------------------------------------------------------
def stretch_filter(factor: float) -> str:
    """A pitch-preserving tempo change: rubberband where this ffmpeg has it, else atempo."""
    if has_rubberband():
        return f"rubberband=tempo={factor:.6f}:transients=mixed:formant=preserved"
    return f"atempo={factor:.6f}"


def time_stretch(audio: np.ndarray, factor: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """``audio`` played ``factor`` times faster at the same pitch (1.1: 10 % shorter)."""
    audio = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
    if abs(factor - 1.0) < 1e-4 or audio.size == 0:
        return audio.copy()
    if not 0.5 <= factor <= 2.0:
        raise ValueError(f"time-stretch factor {factor} is outside 0.5-2.0")
    # Both filters mishandle the end of their input (rubberband drops part of the last block,
    # atempo flushes extra samples): stretch the line with silence after it, then keep
    # exactly the stretched length, so the line's timing is exact.
    padded = np.concatenate([audio, np.zeros(int(STRETCH_PAD_S * sample_rate), dtype=np.float32)])
    raw = _run([ffmpeg(), "-nostdin", "-v", "error", "-protocol_whitelist", "pipe", "-f", "f32le", "-ar",
                str(sample_rate), "-ac", "1", "-i", "pipe:0", "-af", stretch_filter(factor), "-f", "f32le",
                "-ar", str(sample_rate), "-ac", "1", "pipe:1"],
               STRETCH_TIMEOUT_S, "time-stretching a line", stdin=padded.tobytes())
    stretched = np.frombuffer(raw, dtype=np.float32)
    wanted = int(round(audio.size / factor))
    out = np.zeros(wanted, dtype=np.float32)
    out[:min(wanted, stretched.size)] = stretched[:wanted]
    return out


AUDIO_FORMATS = ("wav", "flac", "mp3")


def encode_file(wav: str | os.PathLike, handle, fmt: str) -> None:
    """A WAV this code wrote, re-encoded into an open binary file in ``fmt``, a block at a time.

    FLAC is copied sample for sample (16-bit in, 16-bit out) through soundfile; MP3 is encoded by
    ffmpeg's LAME reading the file, writing straight into ``handle``. Neither holds the whole
    track in memory.
    """
    import soundfile as sf

    if fmt == "wav":
        with open(wav, "rb") as source:
            shutil.copyfileobj(source, handle, COPY_BLOCK_BYTES)
    elif fmt == "flac":
        info = sf.info(str(wav))
        with sf.SoundFile(handle, "w", info.samplerate, info.channels, subtype="PCM_16", format="FLAC") as out:
            for block in sf.blocks(str(wav), blocksize=COPY_BLOCK_FRAMES, dtype="int16"):
                out.write(block)
    elif fmt == "mp3":
        args = [ffmpeg(), "-nostdin", "-v", "error", "-protocol_whitelist", "file,pipe", "-f", "wav",
                "-i", _file(wav), "-c:a", "libmp3lame", "-b:a", "160k", "-f", "mp3", "pipe:1"]
        try:
            proc = subprocess.run(args, stdout=handle, stderr=subprocess.PIPE, timeout=MUX_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            raise MediaError(f"encoding MP3 took longer than {MUX_TIMEOUT_S:.0f} s") from exc
        if proc.returncode != 0:
            raise MediaError(f"encoding MP3 failed: {_clean(proc.stderr, wav)}")
    else:
        raise InputError(f"audio format {fmt!r} is not offered; use {', '.join(AUDIO_FORMATS)}")


def encode_audio(audio: np.ndarray, handle, fmt: str, sample_rate: int = SAMPLE_RATE) -> None:
    """Write ``audio`` to an open binary file in ``fmt`` (wav/flac: soundfile; mp3: ffmpeg's LAME)."""
    import soundfile as sf

    audio = np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0)
    if fmt in ("wav", "flac"):
        sf.write(handle, audio, sample_rate, subtype="PCM_16", format=fmt.upper())
        return
    if fmt != "mp3":
        raise InputError(f"audio format {fmt!r} is not offered; use {', '.join(AUDIO_FORMATS)}")
    data = _run([ffmpeg(), "-nostdin", "-v", "error", "-protocol_whitelist", "pipe", "-f", "f32le", "-ar",
                 str(sample_rate), "-ac", "1", "-i", "pipe:0", "-c:a", "libmp3lame", "-b:a", "160k", "-f", "mp3",
                 "pipe:1"], MUX_TIMEOUT_S, "encoding MP3", stdin=audio.tobytes())
    handle.write(data)
