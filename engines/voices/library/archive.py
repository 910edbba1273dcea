"""A voice as one file (``maria.voice.zip``): writing it, and reading a stranger's safely.

An archive holds ``voice.json`` and ``reference.wav`` at its top. Import is the one place
where someone else's file reaches the server, so ``read_voice_archive`` bounds the work
before doing it and trusts nothing inside:

- the file is at most ``MAX_ARCHIVE_BYTES`` and holds at most ``MAX_MEMBERS`` members;
- every member name is checked before anything is read: no absolute path, no ``..``,
  no backslash or NUL, no symlink, no duplicate, no encryption, nothing but the expected
  names (``cache/*.safetensors`` is tolerated and ignored: caches are rebuilt here,
  never taken from a file);
- sizes are checked as declared, then reads are bounded anyway (a forged header gets
  no further than the limit, and zipfile's CRC check catches the rest);
- nothing is extracted by its own name: the bytes come back in memory, and the caller
  decodes the audio and validates ``voice.json`` (``records.parse_record``).
"""

from __future__ import annotations

import json
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from ...errors import InputError
from ...json_input import parse_json
from .records import VoiceRecord, parse_record

MAX_ARCHIVE_BYTES = 16 * 2**20
MAX_MEMBERS = 16
MAX_RECORD_BYTES = 64 * 2**10
MAX_REFERENCE_BYTES = 16 * 2**20
RECORD_MEMBER = "voice.json"
REFERENCE_MEMBER = "reference.wav"
ARCHIVE_SUFFIX = ".voice.zip"
_CACHE_MEMBER = re.compile(r"cache/([A-Za-z0-9_.-]{1,160}\.safetensors)?")
_COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


@dataclass(frozen=True)
class ArchiveContents:
    record: VoiceRecord
    reference: bytes
    ignored: tuple[str, ...]  # cache members: never read, rebuilt here


def _shown(name: str) -> str:
    return repr(name if len(name) <= 60 else name[:60] + "…")


def _refusal(info: zipfile.ZipInfo) -> str | None:
    """Why this member may not be in a voice archive, or None."""
    name = info.filename
    if "\x00" in name or "\\" in name:
        return "its name holds a backslash or NUL"
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return "it is an absolute path"
    if ".." in PurePosixPath(name).parts:
        return "its path holds '..' (it would point outside the voice's folder)"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "it is a symbolic link"
    if info.flag_bits & 0x1:
        return "it is encrypted"
    if info.compress_type not in _COMPRESSIONS:
        return "it uses a compression other than stored or deflate"
    if name not in (RECORD_MEMBER, REFERENCE_MEMBER) and not _CACHE_MEMBER.fullmatch(name):
        return f"a voice file holds only {RECORD_MEMBER} and {REFERENCE_MEMBER}"
    limit = MAX_RECORD_BYTES if name == RECORD_MEMBER else MAX_REFERENCE_BYTES
    if info.file_size > limit:
        return f"it unpacks to {info.file_size:,} bytes; at most {limit:,}"
    return None


def check_members(members: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
    """The expected members by name, after every member passed ``_refusal``; else ``InputError``."""
    if len(members) > MAX_MEMBERS:
        raise InputError(f"voice file holds {len(members):,} members; a voice file holds at most {MAX_MEMBERS}")
    by_name: dict[str, zipfile.ZipInfo] = {}
    for info in members:
        reason = _refusal(info)
        if reason is not None:
            raise InputError(f"voice file member {_shown(info.filename)} is refused: {reason}")
        if info.filename in by_name:
            raise InputError(f"voice file holds {_shown(info.filename)} twice")
        by_name[info.filename] = info
    for required in (RECORD_MEMBER, REFERENCE_MEMBER):
        if required not in by_name:
            raise InputError(f"voice file has no {required} (a voice file made by 'Export' holds "
                             f"{RECORD_MEMBER} and {REFERENCE_MEMBER})")
    return by_name


def _read_bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    with archive.open(info) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"voice file member {_shown(info.filename)} unpacks to more than {limit:,} bytes")
    return data


def _parse_record_bytes(data: bytes) -> VoiceRecord:
    parsed = parse_json(data, f"{RECORD_MEMBER} in the voice file", max_bytes=len(data))
    return parse_record(parsed, f"{RECORD_MEMBER} in the voice file")


def read_voice_archive(path: str | Path) -> ArchiveContents:
    """Check and read a voice file; every way it can be refused is a specific ``InputError``."""
    path = Path(path)
    if not path.is_file():
        raise InputError("voice file was not found on the server (upload it again)")
    size = path.stat().st_size
    if size == 0:
        raise InputError("voice file is empty (0 bytes)")
    if size > MAX_ARCHIVE_BYTES:
        raise InputError(f"voice file is {size / 2**20:,.1f} MB; a voice file is at most "
                         f"{MAX_ARCHIVE_BYTES // 2**20} MB")
    try:
        with zipfile.ZipFile(path) as archive:
            members = check_members(archive.infolist())
            record = _parse_record_bytes(_read_bounded(archive, members[RECORD_MEMBER], MAX_RECORD_BYTES))
            reference = _read_bounded(archive, members[REFERENCE_MEMBER], MAX_REFERENCE_BYTES)
    except zipfile.BadZipFile as exc:  # not a zip, truncated, or a member whose CRC does not match
        raise InputError(f"voice file is not a readable zip archive ({exc})") from exc
    except (zipfile.LargeZipFile, NotImplementedError, EOFError, zlib.error) as exc:
        raise InputError(f"voice file could not be unpacked ({type(exc).__name__}: {exc})") from exc
    if reference[:4] != b"RIFF" or reference[8:12] != b"WAVE":
        raise InputError(f"{REFERENCE_MEMBER} in the voice file is not a WAV file")
    ignored = tuple(name for name in members if name not in (RECORD_MEMBER, REFERENCE_MEMBER))
    return ArchiveContents(record, reference, ignored)


def write_voice_archive(handle: IO[bytes], record: VoiceRecord, reference: Path) -> None:
    """A voice file: ``voice.json`` and ``reference.wav``, no caches (they belong to one model here)."""
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(RECORD_MEMBER, json.dumps(record.to_json(), ensure_ascii=False, indent=2))
        archive.write(reference, REFERENCE_MEMBER)
