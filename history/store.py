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
  before audio. The newest entry is always kept. ``delete`` and ``clear`` remove entries
  the same way.
- A sidecar names no server path: an uploaded reference clip is recorded by its file
  name and sha256 only (the clip itself is not kept).
- Listing does not re-read every sidecar: ``index.SidecarIndex`` parses each once.

The format of a sidecar is ``records``. This module uses the engines' file and setting
helpers (``engines.storage``, ``engines.settings``), no model code, and takes their
request/result objects as they are.
"""

from __future__ import annotations

import errno
import itertools
import json
import logging
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import soundfile as sf

from engines.settings import number_setting
from engines.storage import ENV_OUTPUT_DIR, TMP_SUFFIX, atomic_write, output_dir

from .index import Parsed, SidecarIndex
from .records import (
    AUDIO_SUFFIX,
    ENTRY_ID,
    MAX_FAILURE_TEXT_CHARS,
    SIDECAR_FORMAT,
    SIDECAR_SUFFIX,
    HistoryEntry,
    plain_json,
    record_to_entry,
    request_fields,
)

if TYPE_CHECKING:
    from engines.types import SynthesisRequest, SynthesisResult

logger = logging.getLogger("voice_studio.history")

ENV_MAX_ENTRIES = "VOICE_STUDIO_HISTORY_MAX_ENTRIES"
ENV_MAX_MB = "VOICE_STUDIO_HISTORY_MAX_MB"

# Temp files and audio without a sidecar older than this are debris of a killed writer.
STALE_SECONDS = 3600.0

_sequence = itertools.count()
_sequence_lock = threading.Lock()


class HistoryError(Exception):
    """The output folder cannot be written (missing, not a folder, no permission, disk full).

    The message names the folder, the reason and the fix. The caller decides whether
    the audio is still handed to the user.
    """


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
        self._index = SidecarIndex(self.root)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "OutputHistory":
        """``VOICE_STUDIO_OUTPUT_DIR`` (default ./outputs), ``VOICE_STUDIO_HISTORY_MAX_ENTRIES``,
        ``VOICE_STUDIO_HISTORY_MAX_MB``; no cap unless one is set."""
        env = os.environ if environ is None else environ
        root = output_dir(env)
        max_entries = _cap_setting(env, ENV_MAX_ENTRIES, int, low=1)
        max_mb = _cap_setting(env, ENV_MAX_MB, float, low=0.01)
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
        return self._save(request, lambda handle: _write_wav(handle, audio, sample_rate), sample_rate,
                          audio.size, result.metadata)

    def save_wav_file(self, request: "SynthesisRequest", wav: Path, metadata: Mapping[str, Any]) -> HistoryEntry:
        """Save a 16-bit WAV this app wrote (a Studio track), copied a block at a time, then its sidecar."""
        info = sf.info(str(wav))
        if info.format != "WAV" or info.subtype != "PCM_16":
            raise ValueError(f"expected a 16-bit PCM WAV, got {info.format}/{info.subtype}")

        def copy(handle: IO[bytes]) -> None:
            with open(wav, "rb") as source:
                shutil.copyfileobj(source, handle, 4 * 2**20)

        return self._save(request, copy, int(info.samplerate), int(info.frames), metadata)

    def _save(self, request: "SynthesisRequest", write_audio: Callable[[IO[bytes]], object], sample_rate: int,
              samples: int, metadata: Mapping[str, Any]) -> HistoryEntry:
        self._ensure_root()
        entry_id, created_at = self._new_id()
        audio_path = self.root / f"{entry_id}{AUDIO_SUFFIX}"
        try:
            audio_bytes = atomic_write(audio_path, write_audio)
        except OSError as exc:
            raise HistoryError(self._explain(exc)) from exc
        record = {
            "format": SIDECAR_FORMAT, "id": entry_id, "created_at": created_at, "status": "ok",
            "audio_file": audio_path.name, "audio_bytes": audio_bytes, "sample_rate": sample_rate,
            "duration_s": round(samples / sample_rate, 3), "text": str(request.text),
            "request": request_fields(request), "metadata": dict(metadata), "error": None,
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
        fields = request_fields(request)
        truncated = len(text) > MAX_FAILURE_TEXT_CHARS
        if truncated:
            text = text[:MAX_FAILURE_TEXT_CHARS]
            fields["text"] = text
        transcript = fields.get("reference_text")
        if isinstance(transcript, str) and len(transcript) > MAX_FAILURE_TEXT_CHARS:
            fields["reference_text"] = transcript[:MAX_FAILURE_TEXT_CHARS]
            truncated = True
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
        logger.info("failure recorded", extra={"history_id": entry_id, "error": entry.error})
        self._after_save(entry_id)
        return entry

    # --- reading ------------------------------------------------------------------------
    def list(self, limit: int | None = None, offset: int = 0) -> list[HistoryEntry]:
        """Complete entries, newest first, skipping the newest ``offset``; half-written or corrupt
        ones are skipped (and logged once). A damaged but readable sidecar is listed, with its
        ``problem``."""
        return self.page(limit, offset)[0]

    def page(self, limit: int | None = None, offset: int = 0) -> tuple[list[HistoryEntry], int]:
        """(``list(limit, offset)``, how many entries there are in all)."""
        if limit is not None and int(limit) < 0:
            raise ValueError(f"limit must be zero or more, got {limit}")
        if int(offset) < 0:
            raise ValueError(f"offset must be zero or more, got {offset}")
        entries = self._index.entries()
        entries.sort(key=lambda e: (e.created_at, e.id), reverse=True)
        start = int(offset)
        return (entries[start:] if limit is None else entries[start: start + int(limit)]), len(entries)

    def get(self, entry_id: str) -> HistoryEntry | None:
        """The entry with this id, or None. Ids that are not ours never reach the filesystem."""
        if not isinstance(entry_id, str) or not ENTRY_ID.fullmatch(entry_id):
            return None
        return self._index.entry(f"{entry_id}{SIDECAR_SUFFIX}")

    # --- removing -----------------------------------------------------------------------
    def delete(self, entry_id: str) -> bool:
        """Remove one entry (sidecar first, so it leaves the listing in one step); False if there is none."""
        if not isinstance(entry_id, str) or not ENTRY_ID.fullmatch(entry_id):
            return False
        with self._lock:
            removed = self._remove_entry(entry_id, "deleted by a user")
        if removed:
            logger.info("history entry deleted", extra={"history_id": entry_id})
        return removed

    def clear(self) -> int:
        """Remove every entry; returns how many there were."""
        with self._lock:
            removed = sum(self._remove_entry(entry_id, "cleared by a user") for entry_id in sorted(self._sizes_by_id()))
        logger.info("history cleared", extra={"folder": str(self.root), "removed": removed})
        return removed

    def _remove_entry(self, entry_id: str, why: str) -> bool:
        sidecar = f"{entry_id}{SIDECAR_SUFFIX}"
        removed = _remove(self.root / sidecar, f"sidecar {why}")
        self._index.forget(sidecar)
        return _remove(self.root / f"{entry_id}{AUDIO_SUFFIX}", f"audio {why}") or removed

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
                self._remove_entry(entry_id, "over the cap")
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

    def _write_sidecar(self, record: dict[str, Any]) -> HistoryEntry:
        # Strict UTF-8 JSON: no NaN/Infinity (browsers' JSON.parse rejects them), no half characters.
        plain = plain_json(record)
        payload = json.dumps(plain, ensure_ascii=False, allow_nan=False, indent=1).encode("utf-8")
        name = f"{record['id']}{SIDECAR_SUFFIX}"
        try:
            atomic_write(self.root / name, lambda handle: handle.write(payload))
        except OSError as exc:
            raise HistoryError(self._explain(exc)) from exc
        entry = record_to_entry(plain, self.root)
        assert entry is not None, "a record this module wrote must read back"
        self._index.remember(name, Parsed(entry, plain.get("audio_bytes") if entry.audio_path else None))
        return entry

    def _after_save(self, entry_id: str) -> None:
        """Housekeeping; the entry is already safe on disk, so a failure here is logged, not raised."""
        try:
            self.remove_stale()
            self.enforce_caps(keep=entry_id)
        except OSError as exc:
            logger.warning("history housekeeping failed", extra={"folder": str(self.root), "error": str(exc)})

    def _explain(self, exc: OSError) -> str:
        reason = exc.strerror or str(exc) or type(exc).__name__
        if exc.errno == errno.ENOSPC:
            fix = (f"free space there, set {ENV_MAX_MB} or {ENV_MAX_ENTRIES} to cap the history, "
                   f"or set {ENV_OUTPUT_DIR} to another folder")
        else:
            fix = f"set {ENV_OUTPUT_DIR} to a writable folder"
        return f"output folder {self.root} is not writable ({reason}): {fix}"


def _write_wav(handle: IO[bytes], audio: np.ndarray, sample_rate: int) -> None:
    import soundfile as sf

    pcm = np.clip(np.nan_to_num(audio, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0)
    sf.write(handle, pcm, sample_rate, subtype="PCM_16", format="WAV")


def _cap_setting(env: Mapping[str, str], name: str, kind: type, low: float) -> Any:
    """A cap from the environment through the one numeric-setting parser; None (no cap) when unset."""
    try:
        value = number_setting(env, name, None, low=low, kind=kind, error=HistoryError)
    except HistoryError as exc:
        raise HistoryError(f"{exc}; unset it for no cap") from exc
    if value is not None and not np.isfinite(value):
        raise HistoryError(f"{name}={value!r} is not a finite number; unset it for no cap")
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
