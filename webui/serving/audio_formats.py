"""Float32 audio to the formats OpenAI's speech API answers in, whole or as it is made.

``pcm`` is raw 16-bit little-endian mono at the engines' 24 kHz, as OpenAI's is; ``wav``
is that with a RIFF header; ``flac`` (soundfile for a whole clip); ``mp3``, ``opus`` (in
Ogg) and ``aac`` (ADTS) come from one ffmpeg process per response, fed through a pipe.
Streaming encoders take chunks as the engine makes them and hand back whatever encoded
bytes exist so far, so the first bytes leave before the clip is finished. FLAC is the
exception: its header (STREAMINFO) holds the total sample count, which libsndfile needs
to open the file and a pipe cannot patch afterwards, so a streamed FLAC is encoded once
the clip is complete and leaves whole. Samples are clipped to [-1, 1] and never
normalised per chunk (loudness would jump between chunks).
"""

from __future__ import annotations

import io
import logging
import queue
import shutil
import struct
import subprocess
import threading
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger("voice_studio.audio_formats")

FFMPEG_TIMEOUT_S = 120


@dataclass(frozen=True)
class AudioFormat:
    name: str
    content_type: str
    ffmpeg: tuple[str, ...] | None  # ffmpeg output options, or None when encoded here


FORMATS: dict[str, AudioFormat] = {f.name: f for f in (
    AudioFormat("mp3", "audio/mpeg", ("-f", "mp3", "-codec:a", "libmp3lame", "-b:a", "128k")),
    AudioFormat("opus", "audio/opus", ("-f", "ogg", "-codec:a", "libopus", "-b:a", "64k", "-page_duration", "100000")),
    AudioFormat("aac", "audio/aac", ("-f", "adts", "-codec:a", "aac", "-b:a", "128k")),
    AudioFormat("flac", "audio/flac", None),
    AudioFormat("wav", "audio/wav", None),
    AudioFormat("pcm", "audio/pcm", None),
)}


# Formats a stream still answers with the whole clip (see the module's docstring).
WHOLE_ONLY = ("flac",)


class EncodingError(RuntimeError):
    """ffmpeg is missing or failed; the message says which and why."""


def to_int16(audio: np.ndarray) -> np.ndarray:
    """Clip to [-1, 1] and scale to 16-bit, as every writer here does (no per-chunk normalising)."""
    samples = np.nan_to_num(np.asarray(audio, dtype=np.float32).reshape(-1))
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")


def wav_header(sample_rate: int, data_bytes: int | None = None) -> bytes:
    """A 16-bit mono RIFF header; ``None`` (a stream of unknown length) writes 0xFFFFFFFF sizes, as OpenAI does."""
    data = 0xFFFFFFFF if data_bytes is None else data_bytes
    riff = 0xFFFFFFFF if data_bytes is None else 36 + data_bytes
    return (b"RIFF" + struct.pack("<I", riff) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
            + b"data" + struct.pack("<I", data))


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """A complete 16-bit wav of ``audio`` (what the page's streaming player is fed, chunk by chunk)."""
    pcm = to_int16(audio).tobytes()
    return wav_header(sample_rate, len(pcm)) + pcm


def encode(audio: np.ndarray, sample_rate: int, fmt: str) -> bytes:
    """The whole clip in ``fmt``."""
    spec = FORMATS[fmt]
    if fmt == "pcm":
        return to_int16(audio).tobytes()
    if fmt in ("wav", "flac"):
        import soundfile as sf

        buffer = io.BytesIO()
        sf.write(buffer, to_int16(audio), sample_rate, subtype="PCM_16", format=fmt.upper())
        return buffer.getvalue()
    result = subprocess.run(_ffmpeg_command(spec, sample_rate), input=to_int16(audio).tobytes(),
                            capture_output=True, timeout=FFMPEG_TIMEOUT_S, check=False)
    if result.returncode != 0:
        raise EncodingError(f"ffmpeg could not encode {fmt}: {_last_line(result.stderr)}")
    return result.stdout


class StreamEncoder:
    """Chunks in through ``feed``, encoded bytes out through ``output`` as soon as they exist.

    The producer calls ``feed(chunk)`` for each chunk, then ``finish()`` (or ``fail(exc)``);
    the consumer reads ``chunks()``, which yields bytes until the end and raises what
    ``fail`` was given. ``close()`` releases everything (an ffmpeg process) at any point.
    """

    def __init__(self) -> None:
        self.output: queue.Queue[bytes | BaseException | None] = queue.Queue()

    def feed(self, audio: np.ndarray) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        self.output.put(None)

    def fail(self, exc: BaseException) -> None:
        self.output.put(exc)

    def take(self, timeout_s: float | None = None) -> bytes | None:
        """The next encoded bytes (possibly none yet), or None at the end; raises the encoder's failure."""
        item = self.output.get(timeout=timeout_s)
        if isinstance(item, BaseException):
            raise item
        return item

    def chunks(self, timeout_s: float | None = None):
        while (item := self.take(timeout_s)) is not None:
            if item:
                yield item

    def close(self) -> None:
        """Nothing to release here."""


class PcmStreamEncoder(StreamEncoder):
    def __init__(self, sample_rate: int, header: bool):
        super().__init__()
        if header:
            self.output.put(wav_header(sample_rate))

    def feed(self, audio: np.ndarray) -> None:
        self.output.put(to_int16(audio).tobytes())


class FfmpegStreamEncoder(StreamEncoder):
    """One ffmpeg process: raw PCM into its stdin, encoded bytes from its stdout read on a thread.

    Started when the response is admitted, so its start-up overlaps the synthesis.
    """

    def __init__(self, spec: AudioFormat, sample_rate: int):
        super().__init__()
        self.spec = spec
        try:
            self._proc = subprocess.Popen(_ffmpeg_command(spec, sample_rate), stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:
            raise EncodingError(f"ffmpeg could not start for {spec.name}: {exc}") from exc
        self._stderr = b""
        self._finishing = False
        self._reader = threading.Thread(target=self._read, name=f"ffmpeg-{spec.name}-out", daemon=True)
        self._reader.start()
        self._errors = threading.Thread(target=self._read_errors, name=f"ffmpeg-{spec.name}-err", daemon=True)
        self._errors.start()

    def _read(self) -> None:
        stdout = self._proc.stdout
        while True:
            try:
                data = stdout.read1(65536)
            except (OSError, ValueError):  # closed by close(): the response is gone
                return
            if not data:
                break
            self.output.put(data)
        if not self._finishing:  # ffmpeg ended before the audio did
            return
        code = self._proc.wait(timeout=FFMPEG_TIMEOUT_S)
        self._errors.join(timeout=5)
        if code != 0:
            self.output.put(EncodingError(f"ffmpeg could not encode {self.spec.name}: {_last_line(self._stderr)}"))
        self.output.put(None)

    def _read_errors(self) -> None:
        try:
            self._stderr = self._proc.stderr.read()[-2000:]
        except (OSError, ValueError):
            return  # closed by close()

    def feed(self, audio: np.ndarray) -> None:
        try:
            self._proc.stdin.write(to_int16(audio).tobytes())
            self._proc.stdin.flush()
        except (BrokenPipeError, ValueError) as exc:
            raise EncodingError(f"ffmpeg stopped while encoding {self.spec.name}: "
                                f"{_last_line(self._stderr) or exc}") from exc

    def finish(self) -> None:
        """Close ffmpeg's input; the reader hands on the last bytes, then the end (or the error)."""
        self._finishing = True
        try:
            self._proc.stdin.close()
        except BrokenPipeError:
            self._finishing = True  # ffmpeg already exited; the reader reports its return code

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=10)
        for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            try:
                stream.close()
            except (BrokenPipeError, OSError):
                pass  # the process is gone; nothing left to flush


class WholeClipEncoder(StreamEncoder):
    """Keeps the chunks and encodes the whole clip at ``finish``: for formats whose header needs the length."""

    def __init__(self, fmt: str, sample_rate: int):
        super().__init__()
        self.fmt, self.sample_rate = fmt, sample_rate
        self._chunks: list[np.ndarray] = []

    def feed(self, audio: np.ndarray) -> None:
        self._chunks.append(np.asarray(audio, dtype=np.float32).reshape(-1))

    def finish(self) -> None:
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.float32)
        try:
            self.output.put(encode(audio, self.sample_rate, self.fmt))
        except EncodingError as exc:
            self.output.put(exc)
            return
        self.output.put(None)


def stream_encoder(fmt: str, sample_rate: int) -> StreamEncoder:
    spec = FORMATS[fmt]
    if fmt in WHOLE_ONLY:
        return WholeClipEncoder(fmt, sample_rate)
    if spec.ffmpeg is None:
        return PcmStreamEncoder(sample_rate, header=(fmt == "wav"))
    return FfmpegStreamEncoder(spec, sample_rate)


def _ffmpeg_command(spec: AudioFormat, sample_rate: int) -> list[str]:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise EncodingError(f"{spec.name} needs ffmpeg, which is not installed (scripts/install.sh installs it)")
    # No probing or input buffering: ffmpeg otherwise holds the first chunks back for its probe.
    return [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
            "-probesize", "32", "-analyzeduration", "0",
            "-f", "s16le", "-ar", str(sample_rate), "-ac", "1", "-i", "pipe:0",
            *spec.ffmpeg, "-flush_packets", "1", "pipe:1"]


def _last_line(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "no message"
