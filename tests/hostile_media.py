"""Hostile uploads for the tests, made in a second or two each.

- Hours-long clips that are small on disk: a short tone, then silence. FLAC is encoded
  by ffmpeg from ``anullsrc`` at 16 kHz; MP3 repeats a one-minute piece by stream copy
  (no re-encoding); Ogg Opus is written here, page by page, from one empty 20 ms packet
  (which decoders render as silence), because encoding hours of Opus takes minutes.
- Files that ask ffmpeg to open other files: HLS playlists and concat scripts.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

FFMPEG_TIMEOUT_S = 120


def ffmpeg(*args: str) -> None:
    tool = shutil.which("ffmpeg")
    if tool is None:
        raise RuntimeError("ffmpeg is not installed (scripts/install.sh installs it)")
    subprocess.run([tool, "-nostdin", "-v", "error", "-y", *args], check=True, timeout=FFMPEG_TIMEOUT_S)


def tone_then_silence(seconds: float, rate: int, tone_s: float = 3.0) -> list[str]:
    """ffmpeg input arguments for a 220 Hz tone followed by silence, ``seconds`` in all."""
    return ["-f", "lavfi", "-i", f"sine=frequency=220:duration={tone_s}:sample_rate={rate}",
            "-f", "lavfi", "-i", f"anullsrc=r={rate}:cl=mono:d={seconds - tone_s}",
            "-filter_complex", "[0][1]concat=n=2:v=0:a=1"]


def long_flac(path: Path, seconds: float, rate: int = 16000) -> Path:
    ffmpeg(*tone_then_silence(seconds, rate), "-c:a", "flac", str(path))
    return path


def long_by_repetition(path: Path, seconds: float, codec: list[str], rate: int = 16000, piece_s: float = 60.0) -> Path:
    """A one-minute piece (tone, then silence) repeated by stream copy: MP3 frames, Matroska packets."""
    piece = path.with_name(path.stem + ".piece" + path.suffix)
    ffmpeg(*tone_then_silence(piece_s, rate), *codec, str(piece))
    ffmpeg("-stream_loop", str(int(seconds // piece_s) - 1), "-i", str(piece), "-c", "copy", str(path))
    piece.unlink()
    return path


# --- Ogg Opus, written by hand --------------------------------------------------------------
def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return table


_CRC = _crc_table()


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC[((crc >> 24) ^ byte) & 0xFF]
    return crc


def _ogg_page(packets: list[bytes], granule: int, sequence: int, flags: int = 0, serial: int = 0x5EC2E7) -> bytes:
    lacing = b"".join(bytes([255] * (len(p) // 255) + [len(p) % 255]) for p in packets)
    head = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, serial, sequence, 0, len(lacing)) + lacing
    body = b"".join(packets)
    return head[:22] + struct.pack("<I", _ogg_crc(head + body)) + head[26:] + body


def silent_opus(path: Path, seconds: float, pre_skip: int = 312) -> Path:
    """Ogg Opus (RFC 7845) of ``seconds`` of silence at 48 kHz: about 100 bytes a second."""
    packets = int(seconds * 50)
    pages = [_ogg_page([b"OpusHead" + struct.pack("<BBHIhB", 1, 1, pre_skip, 48000, 0, 0)], 0, 0, flags=2),
             _ogg_page([b"OpusTags" + struct.pack("<I", 4) + b"test" + struct.pack("<I", 0)], 0, 1)]
    empty_frame = bytes([0xF8])  # TOC: CELT fullband 20 ms, mono, one frame with no data
    done, sequence = 0, 2
    while done < packets:
        count = min(255, packets - done)
        done += count
        pages.append(_ogg_page([empty_frame] * count, done * 960, sequence, flags=4 if done == packets else 0))
        sequence += 1
    path.write_bytes(b"".join(pages))
    return path


# --- files that name other files -------------------------------------------------------------
def hls_playlist(target: str) -> bytes:
    return (f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\n{target}\n"
            "#EXT-X-ENDLIST\n").encode()


def m3u_playlist(target: str) -> bytes:
    return f"#EXTM3U\n#EXTINF:10,secret\n{target}\n".encode()


def concat_script(target: str) -> bytes:
    return f"ffconcat version 1.0\nfile '{target}'\n".encode()
