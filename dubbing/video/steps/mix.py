"""Mix: the dub over the background, as loud as the original dialogue, then muxed.

The dub's loudness (ITU-R BS.1770, ``pyloudnorm``) is matched to the original
dialogue's, measured on the cues' stretches (at most ``MEASURE_S`` of them, spread over
the whole video, read from the 16 kHz mono copies the speech stages use). With a separated background the dub is laid over it, block by block
(a 3-hour film is never in memory whole), peaks softly limited. Without one, the
original sound is ducked under the dub (ffmpeg's sidechain compressor,
``dubbing.media.DUCK_FILTER``). The MP4 copies the picture (``-c:v copy``), carries the
dub as its first and default audio track and the original as a second one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ... import media
from ...media import VIDEO_FORMATS, _file, _run, ffmpeg
from .extract import SPEECH_FILE
from .separate import DIALOGUE16K_FILE
from ..state import Cue

logger = logging.getLogger("voice_studio.dubbing.video.mix")

RATE = 44100
BLOCK_S = 60.0
MEASURE_S = 300.0
MAX_GAIN_DB = 20.0
KNEE = 0.9                      # peaks above this are bent softly towards 1.0
MIX_FILE, DUB_FILE = "mix.wav", "dub44k.wav"
MP4_AUDIO_CODECS = ("aac", "mp3", "ac3", "eac3", "alac", "opus", "flac")   # copied into the MP4 as they are
TRACK_CODECS = {".wav": ["-c:a", "pcm_s16le", "-f", "wav"], ".flac": ["-c:a", "flac", "-f", "flac"],
                ".mp3": ["-c:a", "libmp3lame", "-b:a", "192k", "-f", "mp3"]}


def stretches(path: Path, cues: list[Cue], limit_s: float = MEASURE_S) -> tuple[np.ndarray, int]:
    """The cues' stretches of the sound file ``path`` joined (at most ``limit_s`` of them, evenly
    spread over the file, read by seeking), and its rate."""
    import soundfile as sf

    with sf.SoundFile(path) as handle:
        rate = handle.samplerate
        total = sum(c.seconds for c in cues)
        step = max(1, int(np.ceil(total / limit_s)))
        parts = []
        for cue in cues[::step]:
            handle.seek(min(handle.frames, int(cue.start_s * rate)))
            parts.append(handle.read(int(cue.seconds * rate), dtype="float32", always_2d=True))
        empty = np.zeros((0, handle.channels), dtype=np.float32)
    return (np.concatenate(parts) if parts else empty), rate


def loudness(samples: np.ndarray, rate: int) -> float | None:
    """Integrated loudness in LUFS, or None when there is too little sound to measure."""
    import pyloudnorm

    if len(samples) < int(0.5 * rate):
        return None
    value = pyloudnorm.Meter(rate).integrated_loudness(np.asarray(samples, dtype=np.float64))
    return float(value) if np.isfinite(value) else None


def matching_gain_db(reference_lufs: float | None, dub_lufs: float | None) -> float:
    if reference_lufs is None or dub_lufs is None:
        return 0.0
    return float(np.clip(reference_lufs - dub_lufs, -MAX_GAIN_DB, MAX_GAIN_DB))


def soft_limit(block: np.ndarray) -> np.ndarray:
    """Samples above ``KNEE`` bent towards 1.0 (tanh), the rest untouched: no clipping, no pumping."""
    over = np.abs(block) > KNEE
    if over.any():
        span = 1.0 - KNEE
        block = block.copy()
        block[over] = np.sign(block[over]) * (KNEE + span * np.tanh((np.abs(block[over]) - KNEE) / span))
    return block


def dub_at_mix_rate(track_wav: Path, out: Path, gain_db: float) -> Path:
    """The 24 kHz mono dub as 44.1 kHz stereo, ``gain_db`` louder (ffmpeg streams it)."""
    _run([ffmpeg(), "-nostdin", "-v", "error", "-y", "-protocol_whitelist", "file", "-f", "wav", "-i", _file(track_wav),
          "-af", f"volume={gain_db:.3f}dB", "-ar", str(RATE), "-ac", "2", "-c:a", "pcm_f32le", "-f", "wav", _file(out)],
         media.MUX_TIMEOUT_S, "resampling the dub", track_wav, out)
    return out


def mix_over_background(dub: Path, background: Path, out: Path, frames: int) -> None:
    """``dub`` + ``background`` (both 44.1 kHz stereo), exactly ``frames`` long, written in blocks."""
    import soundfile as sf

    block = int(BLOCK_S * RATE)
    with sf.SoundFile(dub) as d, sf.SoundFile(background) as b, \
            sf.SoundFile(out, "w", RATE, 2, subtype="PCM_16", format="WAV") as o:
        for start in range(0, frames, block):
            n = min(block, frames - start)
            voice = _read(d, n)
            rest = _read(b, n)
            o.write(soft_limit(voice + rest))


def _read(handle, n: int) -> np.ndarray:
    data = handle.read(n, dtype="float32", always_2d=True)
    if data.shape[1] == 1:
        data = np.repeat(data, 2, axis=1)
    if len(data) < n:
        data = np.concatenate([data, np.zeros((n - len(data), 2), dtype=np.float32)])
    return data


def duck_original(dub: Path, original: Path, out: Path, frames: int) -> None:
    """The original sound ducked under the dub (no separated background), exactly ``frames`` long."""
    filters = media.DUCK_FILTER.format(rate=RATE) + f";[mix]atrim=end_sample={frames},apad=whole_len={frames}[out]"
    _run([ffmpeg(), "-nostdin", "-v", "error", "-y", "-protocol_whitelist", "file", "-f", "flac", "-i", _file(original),
          "-protocol_whitelist", "file", "-f", "wav", "-i", _file(dub), "-filter_complex", filters, "-map", "[out]",
          "-ar", str(RATE), "-ac", "2", "-c:a", "pcm_s16le", "-f", "wav", _file(out)],
         media.MUX_TIMEOUT_S, "ducking the original sound", original, dub, out)


def mix(folder: Path, track_wav: Path, cues: list[Cue], frames: int, separation: dict[str, Any]) -> dict[str, Any]:
    """The final soundtrack ``folder/mix.wav``; returns the stage's result (loudness figures, how it was mixed)."""
    separated = separation.get("status") == "separated"
    # The dialogue at 16 kHz mono: BS.1770's filters are designed for the file's rate, and it is
    # quick to read; the separated one when there is one, else the original sound.
    reference_lufs = loudness(*stretches(folder / (DIALOGUE16K_FILE if separated else SPEECH_FILE), cues))
    dub_lufs = loudness(*stretches(track_wav, cues))
    gain = matching_gain_db(reference_lufs, dub_lufs)
    dub_file = dub_at_mix_rate(track_wav, folder / DUB_FILE, gain)
    out = folder / MIX_FILE
    if separated:
        mix_over_background(dub_file, folder / separation["background"], out, frames)
    else:
        duck_original(dub_file, folder / "original.flac", out, frames)
    dub_file.unlink(missing_ok=True)
    return {"mix": MIX_FILE, "method": "over separated background" if separated else "original ducked under the dub",
            "reference_lufs": None if reference_lufs is None else round(reference_lufs, 2),
            "dub_lufs": None if dub_lufs is None else round(dub_lufs, 2), "gain_db": round(gain, 2),
            "seconds": round(frames / RATE, 3)}


def mux(video: Path, mix_wav: Path, out: Path, language: str, original_codec: str | None = None) -> Path:
    """An MP4: ``video``'s picture copied, the dub first (default), the original sound second
    (copied as it is when an MP4 can hold its codec, else encoded as AAC)."""
    tmp = out.with_name(f".{out.stem}.partial.mp4")
    original = "copy" if original_codec in MP4_AUDIO_CODECS else "aac"
    args = [ffmpeg(), "-nostdin", "-v", "error", "-y", "-protocol_whitelist", "file", "-format_whitelist",
            VIDEO_FORMATS, "-i", _file(video), "-protocol_whitelist", "file", "-f", "wav", "-i", _file(mix_wav),
            "-map", "0:v:0", "-map", "1:a:0", "-map", "0:a:0?", "-c:v", "copy", "-c:a:0", "aac", "-b:a:0", "192k",
            "-c:a:1", original, "-disposition:a:0", "default", "-disposition:a:1", "0",
            "-metadata:s:a:0", f"title=Dub ({language})", "-metadata:s:a:1", "title=Original",
            "-movflags", "+faststart", "-f", "mp4", _file(tmp)]
    try:
        _run(args, media.MUX_TIMEOUT_S, "muxing the video", video, mix_wav, tmp)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def encode_track(mix_wav: Path, target: Path) -> Path:
    """The soundtrack in the format ``target``'s suffix names (.wav, .flac, .mp3), written via a temp file."""
    codec = TRACK_CODECS[target.suffix.lower()]
    tmp = target.with_name(f".{target.name}.partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        _run([ffmpeg(), "-nostdin", "-v", "error", "-y", "-protocol_whitelist", "file", "-f", "wav", "-i",
              _file(mix_wav), *codec, _file(tmp)], media.MUX_TIMEOUT_S, "encoding the soundtrack", mix_wav, tmp)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
