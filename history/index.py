"""An in-memory index of the output folder: each sidecar is parsed once, not on every listing.

A listing lists the folder and stats its files (cheap), then parses only the sidecars
that are new or changed since it last saw them: a sidecar is known by its inode,
modification time and size. Entries written by this process are added as they are
saved, and entries that another process adds or removes are picked up by the next
listing. Unreadable sidecars are remembered too, so each one is logged once.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from .records import AUDIO_SUFFIX, ENTRY_ID, SIDECAR_SUFFIX, HistoryEntry, record_to_entry

logger = logging.getLogger("voice_studio.history")

FileKey = tuple[int, int, int]  # (inode, mtime_ns, size)


@dataclass(frozen=True)
class Parsed:
    """What one sidecar holds: its entry and the audio size it recorded, or why it is unusable."""

    entry: HistoryEntry | None
    audio_bytes: int | None = None
    reason: str | None = None


def read_sidecar(path: Path, root: Path) -> Parsed:
    """Parse one sidecar (the only place sidecars are read)."""
    try:
        record = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:  # ValueError covers bad JSON and bad UTF-8
        return Parsed(None, reason=str(exc))
    entry = record_to_entry(record, root)
    if entry is None or entry.id != path.name[: -len(SIDECAR_SUFFIX)]:
        return Parsed(None, reason="sidecar fields are missing or of the wrong type")
    return Parsed(entry, record.get("audio_bytes") if entry.audio_path is not None else None)


class SidecarIndex:
    def __init__(self, root: Path):
        self.root = root
        self._known: dict[str, tuple[FileKey, Parsed]] = {}
        self._reported: dict[str, str] = {}  # sidecar name -> the damage last logged for it
        self._lock = threading.Lock()

    def entries(self) -> list[HistoryEntry]:
        """Every complete entry in the folder (unordered); damaged ones are skipped and logged once."""
        files = self._files()
        with self._lock:
            for gone in set(self._known) - set(files):
                del self._known[gone]
                self._reported.pop(gone, None)
            found = []
            for name, key in files.items():
                if not (name.endswith(SIDECAR_SUFFIX) and ENTRY_ID.fullmatch(name[: -len(SIDECAR_SUFFIX)])):
                    continue
                entry = self._usable(name, key, files)
                if entry is not None:
                    found.append(entry)
            return found

    def entry(self, name: str) -> HistoryEntry | None:
        """The entry of one sidecar (by file name), checked as ``entries`` checks it."""
        names = (name, name[: -len(SIDECAR_SUFFIX)] + AUDIO_SUFFIX)
        files = {n: key for n in names if (key := self._stat(self.root / n)) is not None}
        if name not in files:
            return None
        with self._lock:
            return self._usable(name, files[name], files)

    def remember(self, name: str, parsed: Parsed) -> None:
        """Add a sidecar this process has just written (so no listing needs to read it back)."""
        key = self._stat(self.root / name)
        if key is not None:
            with self._lock:
                self._known[name] = (key, parsed)

    def forget(self, name: str) -> None:
        with self._lock:
            self._known.pop(name, None)
            self._reported.pop(name, None)

    # --- internals ----------------------------------------------------------------------
    def _usable(self, name: str, key: FileKey, files: dict[str, FileKey]) -> HistoryEntry | None:
        known = self._known.get(name)
        if known is not None and known[0] == key:
            parsed = known[1]
        else:
            try:
                parsed = read_sidecar(self.root / name, self.root)
            except FileNotFoundError:  # a cap or a delete removed it while we listed
                logger.debug("history entry vanished", extra={"sidecar": str(self.root / name)})
                return None
            self._known[name] = (key, parsed)
        reason = parsed.reason
        if parsed.entry is not None and parsed.entry.audio_path is not None:
            audio = files.get(parsed.entry.audio_path.name)
            if audio is None:
                reason = f"audio file missing: {parsed.entry.audio_path}"
            elif audio[2] != parsed.audio_bytes:
                reason = f"audio file has {audio[2]} bytes, the sidecar recorded {parsed.audio_bytes}"
        if reason is None:
            self._reported.pop(name, None)
            return parsed.entry
        if self._reported.get(name) != reason:
            self._reported[name] = reason
            logger.warning("history entry skipped", extra={"sidecar": str(self.root / name), "reason": reason})
        return None

    def _files(self) -> dict[str, FileKey]:
        files: dict[str, FileKey] = {}
        if not self.root.is_dir():
            return files
        with os.scandir(self.root) as listing:
            for item in listing:
                try:
                    if item.is_file(follow_symlinks=False):
                        stat = item.stat(follow_symlinks=False)
                        files[item.name] = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
                except FileNotFoundError:
                    continue  # removed while we listed
        return files

    @staticmethod
    def _stat(path: Path) -> FileKey | None:
        """As ``_files`` sees a file: regular files only, links not followed."""
        try:
            found = path.lstat()
        except FileNotFoundError:
            return None
        return (found.st_ino, found.st_mtime_ns, found.st_size) if stat.S_ISREG(found.st_mode) else None
