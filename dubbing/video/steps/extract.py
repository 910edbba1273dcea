"""Extract: what the uploaded file is, then its sound, decoded once into the project.

The hostile-media rules of ``dubbing.media`` apply: ffprobe and ffmpeg read an explicit
``file:`` path with the ``file`` protocol only and a whitelist of container formats (a
playlist or concat list disguised as media is refused), every call has a timeout, and
the file is probed and bounded (size, duration) before anything decodes it. A video's
picture is never decoded here; an audio file (no picture) is accepted too, and then no
MP4 is made.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engines.errors import InputError

from ... import media
from ...media import MP4_VIDEO_CODECS, VIDEO_FORMATS, _file, _run, _span, ffmpeg, probe_upload, video_limits

# Containers an audio-only upload may come in, beside the video ones.
AUDIO_FORMATS = "wav,w64,mp3,flac,ogg,aac,aiff"
MEDIA_FORMATS = f"{VIDEO_FORMATS},{AUDIO_FORMATS}"
SOURCE_RATE = 44100          # Demucs' rate; the extracted sound is kept at it, in stereo
SPEECH_RATE = 16000          # what VAD, Whisper and the speaker model hear
ORIGINAL_FILE, SPEECH_FILE = "original.flac", "speech16k.wav"


@dataclass(frozen=True)
class MediaInfo:
    duration_s: float
    size_bytes: int
    audio_codec: str
    video_codec: str | None = None       # None: an audio file
    width: int = 0
    height: int = 0

    @property
    def has_video(self) -> bool:
        return self.video_codec is not None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "has_video": self.has_video}


def probe_media(path: str | os.PathLike, environ: Mapping[str, str] | None = None) -> MediaInfo:
    """What the file is, or ``InputError``: missing, too large or long, not media, no sound."""
    path = Path(path)
    max_bytes, max_seconds = video_limits(environ)
    if not path.is_file():
        raise InputError(f"the file to dub ({path.name!r}) is missing")
    size = path.stat().st_size
    if size == 0:
        raise InputError("the file to dub is empty (0 bytes)")
    if size > max_bytes:
        raise InputError(f"the file is {size / 2**20:.0f} MB; the limit is {max_bytes // 2**20} MB "
                         f"({media.ENV_MAX_VIDEO_MB})")
    info, video, audio = probe_upload(path, MEDIA_FORMATS, "the file is not a video or audio file ffprobe can read "
                                      "(MP4, MOV, MKV, WebM, AVI, MPEG-TS, FLV, WAV, MP3, FLAC, Ogg, AAC): {reason}")
    if not audio:
        what = "the video has" if video else "the file has"
        raise InputError(f"{what} no audio stream: there is no speech to dub")
    try:
        duration = float(info.get("format", {}).get("duration") or audio[0].get("duration") or 0)
    except ValueError:
        duration = 0.0
    if duration <= 0:
        raise InputError("the file has no duration (empty or damaged)")
    if duration > max_seconds:
        raise InputError(f"the file is {_span(duration)} long; the limit is {_span(max_seconds)} "
                         f"({media.ENV_MAX_VIDEO_S})")
    codec = video[0].get("codec_name", "unknown") if video else None
    if codec is not None and codec not in MP4_VIDEO_CODECS:
        raise InputError(f"the video's codec ({codec}) cannot be copied into an MP4; "
                         f"use a video in {', '.join(MP4_VIDEO_CODECS)}")
    return MediaInfo(duration, size, audio[0].get("codec_name", "unknown"), codec,
                     int(video[0].get("width") or 0) if video else 0, int(video[0].get("height") or 0) if video else 0)


def extract_audio(source: Path, folder: Path, info: MediaInfo) -> dict[str, Any]:
    """The first audio stream, decoded once: 44.1 kHz stereo FLAC (separation, the mix) and
    16 kHz mono WAV (speech detection, Whisper, speaker embeddings). Returns the stage's result."""
    folder.mkdir(parents=True, exist_ok=True)
    original, speech = folder / ORIGINAL_FILE, folder / SPEECH_FILE
    timeout = 120 + info.duration_s / 4          # decoding runs far faster than real time
    _run([ffmpeg(), "-nostdin", "-v", "error", "-y", "-protocol_whitelist", "file", "-format_whitelist",
          MEDIA_FORMATS, "-i", _file(source),
          "-map", "0:a:0", "-vn", "-ac", "2", "-ar", str(SOURCE_RATE), "-c:a", "flac", "-f", "flac", _file(original),
          "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(SPEECH_RATE), "-c:a", "pcm_s16le", "-f", "wav", _file(speech)],
         timeout, "extracting the sound", source, original, speech)
    return {"media": info.to_dict(), "original": ORIGINAL_FILE, "speech": SPEECH_FILE}


def media_info(result: dict[str, Any]) -> MediaInfo:
    data = {k: v for k, v in result["media"].items() if k != "has_video"}
    return MediaInfo(**data)
