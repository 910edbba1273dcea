"""``VoiceLibrary``: saved voices as folders under ``VOICE_STUDIO_VOICES_DIR`` (default ``./voices``).

    voices/
      maria/
        voice.json        id, name, language, transcript, created, hashes, notes, consent
        reference.wav     the clip, normalised: mono, 24 kHz, 16-bit, cut to F5's 12 s at a pause
        cache/xtts-<model key>.safetensors   conditioning latents + speaker embedding (rebuilt per model)
      .staging-…/         a voice being written (never listed)

A voice is built in a hidden staging folder (clip first, ``voice.json`` last, each file
atomic) and renamed into place in one step, so a half-written voice is never listed.
Removal renames the folder away first, so it leaves every listing at once; a request
that already holds the ``Voice`` keeps its decoded audio and finishes.

The engine catalog (``engines.voices.VoiceCatalog``) asks ``get(id)`` and ``list()``;
the CLI and the web UI also ``add``, ``remove``, ``export`` and ``import_archive``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ...audio.waveforms import ReferenceAudio, cut_at_pause, load_reference_audio, trim_transcript
from ...base import LRUCache
from ...errors import InputError, VoiceStudioError
from ...f5.f5_reference import MAX_REFERENCE_SECONDS
from ...knobs import VOICE_KNOBS, check_knobs
from ...storage import atomic_write, atomic_write_bytes, fsync_dir
from ...types import Voice
from .archive import read_voice_archive, write_voice_archive
from .cache import RECORD_FILE, FolderVoiceCache
from .records import (
    MAX_CONSENT_CHARS,
    MAX_NOTES_CHARS,
    VoiceRecord,
    check_voice_id,
    clean_language,
    clean_name,
    clean_text_field,
    clean_transcript,
    is_preset_id,
    now_iso,
    parse_record,
    refuse_preset_id,
    slugify,
)

logger = logging.getLogger("voice_studio.voices")

ENV_VOICES_DIR = "VOICE_STUDIO_VOICES_DIR"
DEFAULT_VOICES_DIR = "voices"
REFERENCE_FILE = "reference.wav"
STAGING_PREFIX = ".staging-"
TRASH_PREFIX = ".trash-"
STALE_SECONDS = 3600.0  # staging/trash folders older than this are debris of a killed process
SAMPLE_RATE = 24000


class VoiceLibraryError(VoiceStudioError):
    """The voice folder cannot be read or written. The message says why and what to set;
    the server's path goes to the log only."""


class VoiceLibrary:
    """Saved voices on disk. Safe to share between threads; processes share it through the folder."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).expanduser()
        self._lock = threading.Lock()
        self._references = LRUCache(64)  # (id, file identity) -> ReferenceAudio: decoded once

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "VoiceLibrary":
        env = os.environ if environ is None else environ
        return cls(Path(env.get(ENV_VOICES_DIR) or DEFAULT_VOICES_DIR))

    def __repr__(self) -> str:
        return f"VoiceLibrary({str(self.root)!r})"

    # --- reading ------------------------------------------------------------------------
    def records(self) -> list[VoiceRecord]:
        """Every complete voice, by name."""
        try:
            folders = [p for p in self.root.iterdir() if not p.name.startswith(".") and p.is_dir()]
        except FileNotFoundError:
            return []
        except OSError as exc:
            logger.error("voice folder unreadable", extra={"root": str(self.root), "error": str(exc)})
            return []
        records = [r for r in (self._read_record(folder) for folder in folders) if r is not None]
        return sorted(records, key=lambda r: (r.name.casefold(), r.id))

    def list(self) -> list[dict[str, Any]]:
        return [record.summary() for record in self.records()]

    def record(self, voice_id: str) -> VoiceRecord | None:
        try:
            check_voice_id(voice_id)
        except InputError:
            return None
        return self._read_record(self.root / voice_id)

    def get(self, voice_id: str) -> Voice | None:
        """The ``Voice`` the engines take, or None when there is no such saved voice."""
        record = self.record(voice_id)
        if record is None:
            return None
        folder = self.root / record.id
        return Voice(id=record.id, kind="saved", reference=self._reference(folder), transcript=record.transcript,
                     language=record.language, cache=FolderVoiceCache(folder),
                     details={"voice_name": record.name}, knobs=dict(record.knobs))

    def reference_audio(self, voice_id: str) -> ReferenceAudio:
        """A saved voice's clip, decoded (for players); ``InputError`` when there is no such voice."""
        return self._reference(self.root / self._require(voice_id).id)

    def _read_record(self, folder: Path) -> VoiceRecord | None:
        """The folder's record when the voice is complete and valid; a broken one is logged and skipped."""
        record_path, reference_path = folder / RECORD_FILE, folder / "reference.wav"
        if not (record_path.is_file() and reference_path.is_file()):
            return None
        try:
            record = parse_record(json.loads(record_path.read_text(encoding="utf-8")), f"{folder.name}/voice.json")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError, InputError) as exc:
            logger.warning("saved voice skipped: unreadable voice.json", extra={"voice": folder.name,
                                                                                "error": str(exc)})
            return None
        if record.id != folder.name:
            logger.warning("saved voice skipped: id differs from its folder",
                           extra={"voice": folder.name, "id": record.id})
            return None
        return record

    def _reference(self, folder: Path) -> ReferenceAudio:
        path = folder / REFERENCE_FILE
        try:
            info = path.stat()
        except OSError as exc:
            raise InputError(f"saved voice {folder.name} was just removed") from exc
        key = (folder.name, info.st_ino, info.st_mtime_ns, info.st_size)
        with self._lock:
            cached = self._references.get(key)
        if cached is not None:
            return cached
        try:
            reference = load_reference_audio(path, SAMPLE_RATE)
        except InputError as exc:
            raise InputError(f"saved voice {folder.name} has an unusable reference.wav ({exc}); "
                             "remove the voice and add it again") from exc
        with self._lock:
            self._references.put(key, reference)
        return reference

    def _require(self, voice_id: str) -> VoiceRecord:
        check_voice_id(voice_id)
        if is_preset_id(voice_id):
            raise InputError(f"{voice_id} is a built-in preset, not a saved voice")
        record = self._read_record(self.root / voice_id)
        if record is None:
            saved = ", ".join(r.id for r in self.records()) or "none yet"
            raise InputError(f"no saved voice {voice_id!r}; saved voices: {saved}")
        return record

    # --- writing ------------------------------------------------------------------------
    def add(self, name: str, reference: str | os.PathLike | None, transcript: str | None = "",
            language: str | None = None, notes: str | None = "", consent: str | None = "") -> dict[str, Any]:
        """Save a voice from a clip and its transcript; returns its summary (with ``id``).

        An empty transcript is accepted: such a voice serves XTTS only.
        """
        name = clean_name(name)
        voice_id = slugify(name)
        refuse_preset_id(voice_id, name)
        fields = dict(transcript=clean_transcript(transcript), language=clean_language(language),
                      notes=clean_text_field(notes, "notes", MAX_NOTES_CHARS),
                      consent=clean_text_field(consent, "consent", MAX_CONSENT_CHARS))
        self._refuse_duplicate(voice_id, name)
        audio = load_reference_audio(reference, SAMPLE_RATE)
        return self._create(voice_id, name, audio, source_sha256=audio.sha256, created=now_iso(), **fields)

    def import_archive(self, path: str | os.PathLike | None) -> dict[str, Any]:
        """Add the voice in a voice file (``export``'s zip); see ``archive.py`` for what is checked."""
        if path is None or not str(path).strip():
            raise InputError("no voice file: choose a .voice.zip made by Export")
        contents = read_voice_archive(path)
        record = contents.record
        self._refuse_duplicate(record.id, record.name)
        with tempfile.TemporaryDirectory(prefix="voice-import-") as tmp:
            clip = Path(tmp) / REFERENCE_FILE  # our own name: nothing from the archive names a path
            clip.write_bytes(contents.reference)
            try:
                audio = load_reference_audio(clip, SAMPLE_RATE)
            except InputError as exc:
                raise InputError(f"the voice file's reference.wav is unusable: {exc}") from exc
        if contents.ignored:
            logger.info("voice import: caches in the file ignored (rebuilt here)",
                        extra={"voice": record.id, "ignored": list(contents.ignored)})
        return self._create(record.id, record.name, audio, transcript=record.transcript, language=record.language,
                            notes=record.notes, consent=record.consent, knobs=record.knobs,
                            source_sha256=record.source_sha256 or audio.sha256, created=record.created)

    def set_knobs(self, voice_id: str, knobs: Mapping[str, Any]) -> dict[str, Any]:
        """Store the voice's preferred knobs (``engines.knobs.VOICE_KNOBS``; ``{}`` clears them); returns its
        summary. Only ``voice.json`` is rewritten, atomically."""
        checked = check_knobs(knobs, VOICE_KNOBS)
        with self._lock:
            record = replace(self._require(voice_id), knobs=checked)
            try:
                atomic_write_bytes(self.root / record.id / RECORD_FILE,
                                   json.dumps(record.to_json(), ensure_ascii=False, indent=2).encode("utf-8"))
            except OSError as exc:
                raise self._disk_error("saved", exc) from exc
        logger.info("voice knobs saved", extra={"voice": record.id, "knobs": checked})
        return record.summary()

    def remove(self, voice_id: str) -> dict[str, Any]:
        """Remove a saved voice; returns the summary it had. Requests already using it finish."""
        with self._lock:
            record = self._require(voice_id)
            trash = self.root / f"{TRASH_PREFIX}{record.id}-{secrets.token_hex(4)}"
            try:
                os.rename(self.root / record.id, trash)  # out of every listing at once
            except OSError as exc:
                raise self._disk_error("removed", exc) from exc
        shutil.rmtree(trash, onerror=self._log_leftover)
        logger.info("voice removed", extra={"voice": record.id})
        return record.summary()

    def export(self, voice_id: str, target: str | os.PathLike) -> Path:
        """Write the voice file (``voice.json`` + ``reference.wav``) to ``target``, atomically."""
        record = self._require(voice_id)
        target = Path(target)
        try:
            atomic_write(target, lambda handle: write_voice_archive(handle, record,
                                                                     self.root / record.id / REFERENCE_FILE))
        except FileNotFoundError as exc:
            raise InputError(f"saved voice {record.id} was removed while being exported") from exc
        except OSError as exc:
            raise VoiceLibraryError(f"voice file {target.name} could not be written ({exc.strerror or exc})") from exc
        logger.info("voice exported", extra={"voice": record.id, "file": target.name})
        return target

    def _refuse_duplicate(self, voice_id: str, name: str) -> None:
        for record in self.records():
            if record.id == voice_id or record.name.casefold() == name.casefold():
                raise InputError(f"a voice named {record.name!r} already exists (id {record.id}); "
                                 "pick another name, or remove that voice first")

    def _create(self, voice_id: str, name: str, audio: ReferenceAudio, *, transcript: str, language: str | None,
                notes: str, consent: str, source_sha256: str | None, created: str,
                knobs: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Normalise the clip the way F5-TTS needs it, then write the folder and rename it into place."""
        samples, kept = cut_at_pause(audio.samples, audio.sample_rate, MAX_REFERENCE_SECONDS)
        kept_transcript = trim_transcript(transcript, kept) if transcript else ""
        wav = _wav_bytes(samples, audio.sample_rate)
        record = VoiceRecord(id=voice_id, name=name, language=language, transcript=kept_transcript, created=created,
                             reference_sha256=hashlib.sha256(wav).hexdigest(), source_sha256=source_sha256,
                             duration_s=round(len(samples) / audio.sample_rate, 3),
                             transcript_trimmed=kept_transcript != transcript, notes=notes, consent=consent,
                             knobs=dict(knobs or {}))
        staging = self._staging_folder()
        try:
            atomic_write_bytes(staging / REFERENCE_FILE, wav)
            # voice.json last: with it the folder is a voice, and the rename makes it visible whole.
            atomic_write_bytes(staging / RECORD_FILE,
                               json.dumps(record.to_json(), ensure_ascii=False, indent=2).encode("utf-8"))
            with self._lock:
                self._refuse_duplicate(voice_id, name)
                self._move_into_place(staging, self.root / voice_id)
        except OSError as exc:
            raise self._disk_error("saved", exc) from exc
        finally:
            if staging.exists():
                shutil.rmtree(staging, onerror=self._log_leftover)
        logger.info("voice saved", extra={"voice": voice_id, "duration_s": record.duration_s,
                                          "transcript_trimmed": record.transcript_trimmed})
        return record.summary()

    def _staging_folder(self) -> Path:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._sweep_debris()
            return Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.root))
        except OSError as exc:
            raise self._disk_error("saved", exc) from exc

    def _move_into_place(self, staging: Path, target: Path) -> None:
        if (target / RECORD_FILE).exists():  # another process saved this id a moment ago
            raise InputError(f"a voice with id {target.name} already exists; pick another name")
        if target.exists():  # a folder with no voice.json: debris of a removal racing a cache write
            os.rename(target, self.root / f"{TRASH_PREFIX}{target.name}-{secrets.token_hex(4)}")
        os.rename(staging, target)
        fsync_dir(self.root)

    def _sweep_debris(self) -> None:
        cutoff = time.time() - STALE_SECONDS
        for path in self.root.iterdir():
            if not path.name.startswith((STAGING_PREFIX, TRASH_PREFIX)):
                continue
            try:
                stale = path.stat().st_mtime < cutoff
            except FileNotFoundError:  # another process finished with it meanwhile
                continue
            if stale:
                shutil.rmtree(path, onerror=self._log_leftover)

    def _disk_error(self, action: str, exc: OSError) -> VoiceLibraryError:
        logger.error("voice folder not writable", extra={"root": str(self.root), "error": str(exc)})
        return VoiceLibraryError(f"the voice could not be {action}: the voice folder is not writable "
                                 f"({exc.strerror or type(exc).__name__}); set {ENV_VOICES_DIR} to a writable folder")

    @staticmethod
    def _log_leftover(function, path, exc_info) -> None:
        logger.warning("voice folder debris not removed", extra={"path": os.path.basename(path),
                                                                 "error": str(exc_info[1])})


def _wav_bytes(samples, sample_rate: int) -> bytes:
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, samples, sample_rate, subtype="PCM_16", format="WAV")
    return buffer.getvalue()
