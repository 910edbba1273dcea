"""``OutputHistory``: each result as an audio file plus a sidecar JSON, written atomically.

Layout of the output folder (flat, one pair of files per entry)::

    20261125T150605.123456Z-000001-a3f9c2d1.wav    the audio (16-bit PCM wav)
    20261125T150605.123456Z-000001-a3f9c2d1.json   the sidecar: metadata, text, request, status

Rules that keep anything from being lost or mixed up:

- Every file is written to a hidden temp file in the same folder, flushed, fsynced and
  renamed into place (``os.replace``), so a reader never sees half a file.
- The sidecar is written last. An entry exists (is listed) only once its sidecar does,
  and a sidecar of an ``ok`` entry records the size of its audio file, which ``list``
  checks. A writer killed at any moment leaves at most a hidden temp file or an audio
  file with no sidecar; neither is listed, and ``remove_stale`` clears them later.
- Names carry the time to the microsecond, a per-process counter and 32 random bits,
  and a name already taken is never reused, so two results never share a file, even
  from the same second or from several processes.
- A cap (entries or bytes), where one is set, removes the oldest entries first, sidecar
  before audio. The newest entry is always kept.

This module does not import the engines (it takes their request/result objects as
they are), so a process that only reads the history starts fast.
"""

from __future__ import annotations

import dataclasses
import errno
import itertools
import json
import logging
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from engines.types import SynthesisRequest, SynthesisResult

logger = logging.getLogger("voice_studio.history")

ENV_OUTPUT_DIR = "VOICE_STUDIO_OUTPUT_DIR"
ENV_MAX_ENTRIES = "VOICE_STUDIO_HISTORY_MAX_ENTRIES"
ENV_MAX_MB = "VOICE_STUDIO_HISTORY_MAX_MB"
DEFAULT_OUTPUT_DIR = "outputs"

SIDECAR_FORMAT = "voice-studio-history/1"
AUDIO_SUFFIX = ".wav"
SIDECAR_SUFFIX = ".json"
TMP_SUFFIX = ".tmp"
STATUSES = ("ok", "error")
# Temp files and audio without a sidecar older than this are debris of a killed writer.
STALE_SECONDS = 3600.0
# A failed request may carry any text (a 10 MB paste is one way to fail): keep this much.
MAX_FAILURE_TEXT_CHARS = 10_000

ENTRY_ID = re.compile(r"\d{8}T\d{6}\.\d{6}Z-\d{6}-[0-9a-f]{8}")
_REQUIRED = {"format": str, "id": str, "created_at": str, "status": str, "text": str, "request": dict,
             "metadata": dict}

_sequence = itertools.count()
_sequence_lock = threading.Lock()


class HistoryError(Exception):
    """The output folder cannot be written (missing, not a folder, no permission, disk full).

    The message names the folder, the reason and the fix. The caller decides whether
    the audio is still handed to the user.
    """


@dataclass(frozen=True)
class HistoryEntry:
    """One saved result or failure, as read back from its sidecar."""

    id: str
    created_at: str               # ISO 8601, UTC, microseconds
    status: str                   # "ok" | "error"
    audio_path: Path | None       # None for a failure record
    metadata: dict[str, Any]      # the result metadata (engine used, fallback, profile, timings, ...)
    text: str                     # the text as the user sent it
    request: dict[str, Any]       # the SynthesisRequest's fields
    error: str | None = None      # why the request failed (status "error")

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self.created_at)


class OutputHistory:
    """The output folder: save results and failures, list them newest first, apply caps.

    Safe to share between threads (one instance) and between processes (one folder).
    Nothing touches the disk until the first save or list.
    """

    def __init__(self, root: Path, max_entries: int | None = None, max_bytes: int | None = None):
        if max_entries is not None and int(max_entries) < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        if max_bytes is not None and int(max_bytes) < 1:
            raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
        self.root = Path(root).expanduser()
        self.max_entries = int(max_entries) if max_entries is not None else None
        self.max_bytes = int(max_bytes) if max_bytes is not None else None
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "OutputHistory":
        """``VOICE_STUDIO_OUTPUT_DIR`` (default ./outputs), ``VOICE_STUDIO_HISTORY_MAX_ENTRIES``,
        ``VOICE_STUDIO_HISTORY_MAX_MB``; no cap unless one is set."""
        env = os.environ if environ is None else environ
        root = Path(env.get(ENV_OUTPUT_DIR) or DEFAULT_OUTPUT_DIR)
        max_entries = _positive_number(env, ENV_MAX_ENTRIES, int)
        max_mb = _positive_number(env, ENV_MAX_MB, float)
        return cls(root, max_entries=max_entries, max_bytes=int(max_mb * 2**20) if max_mb is not None else None)

    def __repr__(self) -> str:
        return f"OutputHistory({str(self.root)!r}, max_entries={self.max_entries}, max_bytes={self.max_bytes})"

    # --- writing ------------------------------------------------------------------------
    def save_result(self, request: "SynthesisRequest", result: "SynthesisResult") -> HistoryEntry:
        """Save the audio, then its sidecar; return the entry as ``list`` will show it."""
        audio = np.asarray(result.audio, dtype=np.float32).reshape(-1)
        sample_rate = int(result.sample_rate)
        if sample_rate <= 0:
            raise ValueError(f"result sample rate must be positive, got {result.sample_rate}")
        self._ensure_root()
        entry_id, created_at = self._new_id()
        audio_path = self.root / f"{entry_id}{AUDIO_SUFFIX}"
        try:
            audio_bytes = self._write_atomically(audio_path, lambda handle: _write_wav(handle, audio, sample_rate))
        except OSError as exc:
            raise HistoryError(self._explain(exc)) from exc
        record = {
            "format": SIDECAR_FORMAT, "id": entry_id, "created_at": created_at, "status": "ok",
            "audio_file": audio_path.name, "audio_bytes": audio_bytes, "sample_rate": sample_rate,
            "duration_s": round(audio.size / sample_rate, 3), "text": str(request.text),
            "request": _request_fields(request), "metadata": dict(result.metadata), "error": None,
        }
        try:
            entry = self._write_sidecar(record)
        except HistoryError:
            _remove(audio_path, "audio of an entry whose sidecar could not be written")
            raise
        logger.info("output saved", extra={"history_id": entry_id, "audio_bytes": audio_bytes,
                                           "engine": entry.metadata.get("tts_engine_used")})
        self._after_save(entry_id)
        return entry

    def save_failure(self, request: "SynthesisRequest", error: str, kind: str | None = None) -> HistoryEntry:
        """Record a request that produced no audio, with its error.

        ``kind`` ("input": the request was wrong; "engine": no engine could do it) goes into
        the metadata as ``error_kind``, so the History can tell typos from engine failures.
        """
        self._ensure_root()
        entry_id, created_at = self._new_id()
        text = str(getattr(request, "text", "") or "")
        fields = _request_fields(request)
        truncated = len(text) > MAX_FAILURE_TEXT_CHARS
        if truncated:
            text = text[:MAX_FAILURE_TEXT_CHARS]
            fields["text"] = text
        record = {
            "format": SIDECAR_FORMAT, "id": entry_id, "created_at": created_at, "status": "error",
            "audio_file": None, "audio_bytes": 0, "text": text, "text_truncated": truncated, "request": fields,
            "metadata": {
                "tts_engine_requested": fields.get("engine"),
                "quality_profile_requested": fields.get("quality_profile"),
                "language": fields.get("language"),
                "mode": "clone" if fields.get("reference_audio") is not None else "dub",
                **({"error_kind": str(kind)} if kind else {}),
            },
            "error": str(error),
        }
        entry = self._write_sidecar(record)
        logger.info("failure recorded", extra={"history_id": entry_id, "error": record["error"]})
        self._after_save(entry_id)
        return entry

    # --- reading ------------------------------------------------------------------------
    def list(self, limit: int | None = None) -> list[HistoryEntry]:
        """Complete entries, newest first; half-written or corrupt ones are skipped (and logged)."""
        if limit is not None and int(limit) < 0:
            raise ValueError(f"limit must be zero or more, got {limit}")
        entries = [entry for entry, _ in self._scan()]
        entries.sort(key=lambda e: (e.created_at, e.id), reverse=True)
        return entries if limit is None else entries[: int(limit)]

    def get(self, entry_id: str) -> HistoryEntry | None:
        """The entry with this id, or None. Ids that are not ours never reach the filesystem."""
        if not isinstance(entry_id, str) or not ENTRY_ID.fullmatch(entry_id):
            return None
        found = self._read(self.root / f"{entry_id}{SIDECAR_SUFFIX}")
        return found[0] if found else None

    # --- housekeeping -------------------------------------------------------------------
    def remove_stale(self, max_age_s: float = STALE_SECONDS) -> int:
        """Remove temp files and sidecar-less audio older than ``max_age_s`` (a killed writer's debris)."""
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - max_age_s
        removed = 0
        with os.scandir(self.root) as listing:
            names = {item.name: item for item in listing if item.is_file(follow_symlinks=False)}
        for name, item in names.items():
            debris = name.startswith(".") and name.endswith(TMP_SUFFIX)
            if (not debris and name.endswith(AUDIO_SUFFIX) and ENTRY_ID.fullmatch(name[: -len(AUDIO_SUFFIX)])
                    and name[: -len(AUDIO_SUFFIX)] + SIDECAR_SUFFIX not in names):
                debris = True
            if not debris:
                continue
            try:
                if item.stat(follow_symlinks=False).st_mtime >= cutoff:
                    continue
            except FileNotFoundError:
                continue  # its writer finished (renamed it) or another process removed it
            if _remove(self.root / name, "stale debris of an interrupted write"):
                removed += 1
        if removed:
            logger.info("stale history debris removed", extra={"folder": str(self.root), "files": removed})
        return removed

    def enforce_caps(self, keep: str | None = None) -> int:
        """Remove the oldest entries until the caps hold; never ``keep`` (the newest). Returns how many.

        Works from names and sizes only (ids sort by time), so it stays cheap with many
        entries, and an unreadable sidecar still counts against the cap.
        """
        if self.max_entries is None and self.max_bytes is None:
            return 0
        with self._lock:
            on_disk = self._sizes_by_id()
            count, total = len(on_disk), sum(on_disk.values())
            removed = 0
            for entry_id in sorted(on_disk):
                over_count = self.max_entries is not None and count > self.max_entries
                over_bytes = self.max_bytes is not None and total > self.max_bytes
                if not (over_count or over_bytes):
                    break
                if entry_id == keep:
                    continue
                # Sidecar first: the entry leaves the listing in one step, then its audio goes.
                _remove(self.root / f"{entry_id}{SIDECAR_SUFFIX}", "sidecar of an entry over the cap")
                _remove(self.root / f"{entry_id}{AUDIO_SUFFIX}", "audio of an entry over the cap")
                count, total, removed = count - 1, total - on_disk[entry_id], removed + 1
        if removed:
            logger.info("history cap applied", extra={"removed": removed, "entries": count, "bytes": total,
                                                      "max_entries": self.max_entries, "max_bytes": self.max_bytes})
        return removed

    def _sizes_by_id(self) -> dict[str, int]:
        """Bytes on disk (sidecar + audio) of every entry that has a sidecar."""
        sizes: dict[str, int] = {}
        if not self.root.is_dir():
            return sizes
        with os.scandir(self.root) as listing:
            files = {}
            for item in listing:
                try:
                    if item.is_file(follow_symlinks=False):
                        files[item.name] = item.stat(follow_symlinks=False).st_size
                except FileNotFoundError:
                    continue  # removed while we listed
        for name, size in files.items():
            stem = name[: -len(SIDECAR_SUFFIX)]
            if name.endswith(SIDECAR_SUFFIX) and ENTRY_ID.fullmatch(stem):
                sizes[stem] = size + files.get(f"{stem}{AUDIO_SUFFIX}", 0)
        return sizes

    # --- internals ----------------------------------------------------------------------
    def _ensure_root(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HistoryError(self._explain(exc)) from exc

    def _new_id(self) -> tuple[str, str]:
        while True:
            now = datetime.now(timezone.utc)
            with _sequence_lock:
                seq = next(_sequence) % 1_000_000
            entry_id = f"{now:%Y%m%dT%H%M%S.%f}Z-{seq:06d}-{secrets.token_hex(4)}"
            if not any((self.root / f"{entry_id}{suffix}").exists() for suffix in (AUDIO_SUFFIX, SIDECAR_SUFFIX)):
                return entry_id, now.isoformat()

    def _write_atomically(self, target: Path, write: Callable[[IO[bytes]], None]) -> int:
        """Write through a hidden temp file in the same folder, fsync, rename; return the size."""
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=f".{target.name}.", suffix=TMP_SUFFIX)
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            size = os.path.getsize(tmp_name)
            os.replace(tmp_name, target)
        except BaseException:
            _remove(Path(tmp_name), "temp file of a failed write")
            raise
        _fsync_dir(self.root)
        return size

    def _write_sidecar(self, record: dict[str, Any]) -> HistoryEntry:
        # Strict JSON (no NaN/Infinity, which browsers' JSON.parse rejects): non-finite numbers become null.
        plain = _finite(json.loads(json.dumps(record, default=_jsonable)))
        payload = json.dumps(plain, ensure_ascii=False, allow_nan=False, indent=1).encode("utf-8")
        target = self.root / f"{record['id']}{SIDECAR_SUFFIX}"
        try:
            self._write_atomically(target, lambda handle: handle.write(payload))
        except OSError as exc:
            raise HistoryError(self._explain(exc)) from exc
        entry = _entry_from_record(json.loads(payload), self.root)
        assert entry is not None, "a record this module wrote must read back"
        return entry

    def _after_save(self, entry_id: str) -> None:
        """Housekeeping; the entry is already safe on disk, so a failure here is logged, not raised."""
        try:
            self.remove_stale()
            self.enforce_caps(keep=entry_id)
        except OSError as exc:
            logger.warning("history housekeeping failed", extra={"folder": str(self.root), "error": str(exc)})

    def _scan(self) -> list[tuple[HistoryEntry, int]]:
        if not self.root.is_dir():
            return []
        found = []
        for sidecar in self.root.iterdir():
            if sidecar.suffix == SIDECAR_SUFFIX and ENTRY_ID.fullmatch(sidecar.stem):
                pair = self._read(sidecar)
                if pair is not None:
                    found.append(pair)
        return found

    def _read(self, sidecar: Path) -> tuple[HistoryEntry, int] | None:
        """(entry, bytes on disk), or None when the sidecar is missing, corrupt or its audio incomplete."""
        try:
            raw = sidecar.read_bytes()
            record = json.loads(raw)
            entry = _entry_from_record(record, self.root)
            if entry is None or entry.id != sidecar.stem:
                raise ValueError("sidecar fields are missing or of the wrong type")
            size = len(raw)
            if entry.audio_path is not None:
                audio_bytes = entry.audio_path.stat().st_size
                if audio_bytes != record.get("audio_bytes"):
                    raise ValueError(f"audio file has {audio_bytes} bytes, the sidecar recorded "
                                     f"{record.get('audio_bytes')}")
                size += audio_bytes
        except FileNotFoundError as exc:
            if sidecar.exists():  # the sidecar stays but its audio is gone: damage, not a race
                logger.warning("history entry skipped", extra={"sidecar": str(sidecar),
                                                               "reason": f"audio file missing: {exc.filename}"})
            else:  # a cap removed the entry while we read it
                logger.debug("history entry vanished", extra={"sidecar": str(sidecar), "reason": str(exc)})
            return None
        except (OSError, ValueError) as exc:  # ValueError covers bad JSON and bad UTF-8
            logger.warning("history entry skipped", extra={"sidecar": str(sidecar), "reason": str(exc)})
            return None
        return entry, size

    def _explain(self, exc: OSError) -> str:
        reason = exc.strerror or str(exc) or type(exc).__name__
        if exc.errno == errno.ENOSPC:
            fix = (f"free space there, set {ENV_MAX_MB} or {ENV_MAX_ENTRIES} to cap the history, "
                   f"or set {ENV_OUTPUT_DIR} to another folder")
        else:
            fix = f"set {ENV_OUTPUT_DIR} to a writable folder"
        return f"output folder {self.root} is not writable ({reason}): {fix}"


def _entry_from_record(record: Any, root: Path) -> HistoryEntry | None:
    if not isinstance(record, dict) or record.get("format") != SIDECAR_FORMAT:
        return None
    if any(not isinstance(record.get(key), kind) for key, kind in _REQUIRED.items()):
        return None
    status = record["status"]
    if status not in STATUSES or not ENTRY_ID.fullmatch(record["id"]):
        return None
    audio_path = None
    if status == "ok":
        audio_file = record.get("audio_file")
        if audio_file != f"{record['id']}{AUDIO_SUFFIX}" or not isinstance(record.get("audio_bytes"), int):
            return None
        audio_path = root / audio_file
    error = record.get("error")
    return HistoryEntry(id=record["id"], created_at=record["created_at"], status=status, audio_path=audio_path,
                        metadata=record["metadata"], text=record["text"], request=record["request"],
                        error=str(error) if error is not None else None)


def _write_wav(handle: IO[bytes], audio: np.ndarray, sample_rate: int) -> None:
    import soundfile as sf

    pcm = np.clip(np.nan_to_num(audio, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0)
    sf.write(handle, pcm, sample_rate, subtype="PCM_16", format="WAV")


def _request_fields(request: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(request) and not isinstance(request, type):
        fields = dataclasses.asdict(request)
    elif isinstance(request, Mapping):
        fields = dict(request)
    else:
        fields = dict(vars(request))
    return json.loads(json.dumps(fields, default=_jsonable))


def _jsonable(value: Any) -> Any:
    """JSON for what metadata and requests hold besides plain types."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size <= 64 else f"<array shape={value.shape} dtype={value.dtype}>"
    if isinstance(value, (Path, datetime)):
        return str(value) if isinstance(value, Path) else value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return repr(value)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def _positive_number(env: Mapping[str, str], name: str, kind: type) -> Any:
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = kind(raw)
    except ValueError as exc:
        raise HistoryError(f"{name}={raw!r} is not a number; unset it for no cap") from exc
    if not value > 0:
        raise HistoryError(f"{name} must be positive, got {raw!r}; unset it for no cap")
    return value


def _remove(path: Path, what: str) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        logger.warning("could not remove file", extra={"path": str(path), "what": what, "error": str(exc)})
        return False
    return True


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (POSIX); where folders cannot be opened (Windows) this is skipped."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
