"""Reference audio in, waveforms out: decoding, mono/resampling, silence, cutting, joining."""

from __future__ import annotations

import hashlib
import math
import os
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .decoding import decode_upload
from ..errors import InputError
from ..settings import number_setting

ENV_MAX_UPLOAD_MB = "VOICE_STUDIO_MAX_UPLOAD_MB"  # shared with the web app's upload cap
DEFAULT_MAX_UPLOAD_MB = 50
MAX_UPLOAD_BYTES = DEFAULT_MAX_UPLOAD_MB * 2**20  # the default; ``max_upload_bytes`` reads the setting
MAX_SOURCE_SECONDS = 600.0  # longer references are cut to this, not refused (and no more is decoded)
MIN_SPEECH_SECONDS = 1.0
SILENCE_DB = -40.0          # relative to the loudest frame
FRAME_SECONDS = 0.02


@dataclass(frozen=True)
class ReferenceAudio:
    """A decoded, mono, resampled, edge-trimmed reference clip."""

    samples: np.ndarray  # float32, mono
    sample_rate: int
    sha256: str          # of the file's bytes: the cache key for engine-side preprocessing
    source_seconds: float
    cut: bool            # True when the source was longer than MAX_SOURCE_SECONDS

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


def max_upload_mb(environ: Mapping[str, str] | None = None, error: type[Exception] = InputError) -> int:
    """``VOICE_STUDIO_MAX_UPLOAD_MB`` (default 50): the web app's upload cap and the largest reference file."""
    env = os.environ if environ is None else environ
    return number_setting(env, ENV_MAX_UPLOAD_MB, DEFAULT_MAX_UPLOAD_MB, low=1, error=error)


def max_upload_bytes(environ: Mapping[str, str] | None = None) -> int:
    """The largest reference file accepted, in bytes (``max_upload_mb``)."""
    return max_upload_mb(environ) * 2**20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def wav_truncation(path: Path) -> str | None:
    """Say how a RIFF/WAVE file is cut short, or None when it is whole (or not a wav).

    libsndfile reads a wav whose data chunk is shorter than its header says without a
    word, so a half-finished upload would silently become a shorter reference.
    Streaming writers that leave the size unset (0 or 0xFFFFFFFF) are not flagged.
    """
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None if head[:4] != b"RIFF" else "it ends inside its header"
        byte_rate = 0
        for _ in range(64):  # real files have a handful of chunks before the audio
            chunk = handle.read(8)
            if len(chunk) < 8:
                return "it ends inside its header, before any audio"
            chunk_id, chunk_size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"fmt " and chunk_size >= 16:
                fmt = handle.read(chunk_size + (chunk_size & 1))
                byte_rate = struct.unpack("<I", fmt[8:12])[0] if len(fmt) >= 12 else 0
                continue
            if chunk_id == b"data":
                present = size - handle.tell()
                if chunk_size in (0, 0xFFFFFFFF) or present >= chunk_size:
                    return None
                if byte_rate:
                    return (f"its header promises {chunk_size / byte_rate:.1f} s of audio, "
                            f"the file holds {max(present, 0) / byte_rate:.1f} s")
                return f"its header promises {chunk_size} bytes of audio, the file holds {max(present, 0)}"
            handle.seek(chunk_size + (chunk_size & 1), os.SEEK_CUR)
    return None  # an odd file: the decoder will judge it


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return samples.astype(np.float32, copy=False)
    import torch
    import torchaudio.functional as AF

    return AF.resample(torch.from_numpy(np.ascontiguousarray(samples)), rate, target).numpy().astype(np.float32)


def frame_db(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Per-frame RMS level in dB relative to the loudest frame."""
    hop = max(1, int(sample_rate * FRAME_SECONDS))
    n = len(samples) // hop
    if n == 0:
        return np.zeros(0)
    frames = samples[: n * hop].reshape(n, hop)
    # einsum sums squares without a squared copy of the clip (up to 10 minutes of it)
    rms = np.sqrt(np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / hop) + 1e-12
    return 20 * np.log10(rms / rms.max())


def voiced_frames(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    peak = max(float(samples.max()), -float(samples.min())) if len(samples) else 0.0
    if peak < 1e-4:
        return np.zeros(len(samples) // max(1, int(sample_rate * FRAME_SECONDS)), dtype=bool)
    return frame_db(samples, sample_rate) > SILENCE_DB


def trim_edge_silence(samples: np.ndarray, sample_rate: int, pad_s: float = 0.05) -> np.ndarray:
    voiced = voiced_frames(samples, sample_rate)
    if not voiced.any():
        return samples[:0]
    hop = int(sample_rate * FRAME_SECONDS)
    first, last = int(np.argmax(voiced)), len(voiced) - int(np.argmax(voiced[::-1]))
    pad = int(pad_s * sample_rate)
    return samples[max(0, first * hop - pad): min(len(samples), last * hop + pad)]


def load_reference_audio(path: str | os.PathLike | None, sample_rate: int = 24000) -> ReferenceAudio:
    """Decode a user's reference clip; every way it can be unusable is a specific ``InputError``.

    At most ``MAX_SOURCE_SECONDS`` of it are decoded (``engines.audio.decoding``), and the file
    may be no larger than ``VOICE_STUDIO_MAX_UPLOAD_MB``.
    """
    if path is None or str(path).strip() == "":
        raise InputError("no reference audio: upload or record a clip of the voice to clone")
    path = Path(path)
    if not path.is_file():
        raise InputError("reference audio file was not found on the server (upload it again)")
    size = path.stat().st_size
    if size == 0:
        raise InputError("reference audio file is empty (0 bytes)")
    limit = max_upload_bytes()
    if size > limit:
        over_mb = math.ceil(size / 2**20 * 10) / 10  # rounded up, so a file just over the limit never reads "50 MB"
        raise InputError(f"reference audio file is {over_mb:.1f} MB, over the upload limit of "
                         f"{limit // 2**20} MB: upload a shorter clip (3-12 s is best)")
    truncated = wav_truncation(path)
    if truncated is not None:
        raise InputError(f"reference audio file is truncated ({truncated}): upload it again")
    digest = file_sha256(path)
    decoded = decode_upload(path, sample_rate, MAX_SOURCE_SECONDS)
    if decoded.samples.size == 0:
        raise InputError("reference audio holds no samples")
    samples = trim_edge_silence(decoded.samples, sample_rate)
    if len(samples) == 0:
        raise InputError("reference audio is silent: record or upload a clip with speech in it")
    if len(samples) / sample_rate < MIN_SPEECH_SECONDS:
        raise InputError(f"reference audio has {len(samples) / sample_rate:.1f} s of sound; "
                         f"at least {MIN_SPEECH_SECONDS:.0f} s is needed (3-12 s works best)")
    cut = decoded.source_seconds > MAX_SOURCE_SECONDS
    return ReferenceAudio(samples.astype(np.float32), sample_rate, digest, decoded.source_seconds, cut)


def cut_at_pause(samples: np.ndarray, sample_rate: int, max_seconds: float) -> tuple[np.ndarray, float]:
    """Cut to at most ``max_seconds``, at the quietest moment of the last half.

    Returns the clip and the fraction of the voiced frames it keeps, which is how far
    into the transcript the kept audio reaches.
    """
    limit = int(max_seconds * sample_rate)
    if len(samples) <= limit:
        return samples, 1.0
    db = frame_db(samples, sample_rate)
    hop = int(sample_rate * FRAME_SECONDS)
    lo, hi = limit // hop // 2, limit // hop
    cut_frame = lo + int(np.argmin(db[lo:hi])) if hi > lo else hi
    voiced = db > SILENCE_DB
    kept_fraction = float(voiced[:cut_frame].sum() / max(1, voiced.sum()))
    return samples[: cut_frame * hop], kept_fraction


def trim_transcript(text: str, fraction: float) -> str:
    """Keep the part of ``text`` spoken in the first ``fraction`` of the voiced audio.

    Speech rate is taken as even, so the cut lands at ``fraction`` of the characters,
    moved to the nearest sentence end if one is close, else to the nearest word end.
    """
    if fraction >= 0.999:
        return text
    target = fraction * len(text)
    sentence_ends = [i + 1 for i, ch in enumerate(text) if ch in ".!?;…。！？"]
    near = [i for i in sentence_ends if abs(i - target) <= 0.15 * len(text)]
    if near:
        cut = min(near, key=lambda i: abs(i - target))
    else:
        spaces = [i for i, ch in enumerate(text) if ch == " "] or [len(text)]
        cut = min(spaces, key=lambda i: abs(i - target))
    return text[:cut].strip() or text.split(" ")[0]


def crossfade_join(waves: list[np.ndarray], sample_rate: int, seconds: float) -> np.ndarray:
    """Join chunks with a linear cross-fade, as upstream F5-TTS joins its batches."""
    if not waves:
        return np.zeros(0, dtype=np.float32)
    out = waves[0].astype(np.float32)
    for nxt in waves[1:]:
        nxt = nxt.astype(np.float32)
        n = min(int(seconds * sample_rate), len(out), len(nxt))
        if n <= 0:
            out = np.concatenate([out, nxt])
            continue
        fade = np.linspace(0.0, 1.0, n, dtype=np.float32)
        out = np.concatenate([out[:-n], out[-n:] * (1 - fade) + nxt[:n] * fade, nxt[n:]])
    return out


def crossfade_stream(waves: Iterable[np.ndarray], sample_rate: int, seconds: float) -> Iterator[np.ndarray]:
    """What ``crossfade_join`` makes, wave by wave (see ``crossfade_pieces``)."""
    return crossfade_pieces(((wave, True) for wave in waves), sample_rate, seconds)


def crossfade_pieces(parts: Iterable[tuple[np.ndarray, bool]], sample_rate: int,
                     seconds: float) -> Iterator[np.ndarray]:
    """What ``crossfade_join`` makes of waves that arrive in pieces, handed out as they come.

    ``parts`` are (piece, whether it ends its wave). Only the last ``seconds`` of what came so
    far are held back, to be blended with the next wave's start; the start of a wave after
    the first is gathered until it is that long (or its wave ends). The pieces handed out
    concatenate to ``crossfade_join`` of the whole waves.
    """
    fade = int(seconds * sample_rate)
    held = np.zeros(0, dtype=np.float32)   # the join's last samples (at most ``fade``), not handed out yet
    head: np.ndarray | None = None          # the start of a wave after the first, not blended yet
    for piece, last in parts:
        piece = np.asarray(piece, dtype=np.float32).reshape(-1)
        if head is None:
            joined = np.concatenate([held, piece])
        else:
            head = np.concatenate([head, piece])
            if len(head) < fade and not last:
                continue
            joined, head = _blend(held, head, fade), None
        keep = min(fade, len(joined))
        if len(joined) > keep:
            yield joined[: len(joined) - keep]
        held = joined[len(joined) - keep:]
        if last:
            head = np.zeros(0, dtype=np.float32)
    if head is not None and len(head):  # the stream ended inside a wave's short start
        held = _blend(held, head, fade)
    if len(held):
        yield held


def _blend(tail: np.ndarray, head: np.ndarray, fade: int) -> np.ndarray:
    """``tail`` then ``head``, overlapped by a linear cross-fade of at most ``fade`` samples
    (``tail`` holds the join's last samples, so this is ``crossfade_join``'s min(fade, len(out), len(nxt)))."""
    n = min(fade, len(tail), len(head))
    ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
    return np.concatenate([tail[: len(tail) - n], tail[len(tail) - n:] * (1 - ramp) + head[:n] * ramp, head[n:]])


def write_wav(path: str | os.PathLike, samples: np.ndarray, sample_rate: int) -> None:
    import soundfile as sf

    sf.write(str(path), samples, sample_rate, subtype="PCM_16", format="WAV")
