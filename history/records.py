"""The sidecar format: what a history entry is, and how it is written to and read from JSON.

Pure functions, no filesystem: ``record_to_entry`` turns a parsed sidecar into a
``HistoryEntry`` (or None when it is not a whole record of ours), ``plain_record``
makes a record safe to write as strict UTF-8 JSON, ``request_fields`` turns a request
into plain fields that name no server path.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

SIDECAR_FORMAT = "voice-studio-history/1"
AUDIO_SUFFIX = ".wav"
SIDECAR_SUFFIX = ".json"
STATUSES = ("ok", "error")
ENTRY_ID = re.compile(r"\d{8}T\d{6}\.\d{6}Z-\d{6}-[0-9a-f]{8}")
# A failed request may carry any text (a 10 MB paste is one way to fail): keep this much.
MAX_FAILURE_TEXT_CHARS = 10_000

_REQUIRED = {"format": str, "id": str, "created_at": str, "status": str, "text": str, "request": dict,
             "metadata": dict}
# Fields the UI reads, with the type each must have (None is always allowed). A sidecar
# edited by hand or by another tool may hold anything; a field of the wrong type is left
# out of the entry and named in its ``problem``, so the rest of it still shows.
_NUMBER, _INTEGER, _TEXT, _FLAG = "a number", "a whole number", "text", "true or false"
_FIELD_TYPES = {
    "duration_s": _NUMBER, "speed": _NUMBER, "rtf": _NUMBER, "load_s": _NUMBER, "synth_s": _NUMBER,
    "target_duration_s": _NUMBER, "seed": _INTEGER, "sample_rate": _INTEGER, "chunks": _INTEGER,
    "text_chars": _INTEGER, "tts_engine_requested": _TEXT, "tts_engine_used": _TEXT, "fallback_reason": _TEXT,
    "quality_profile_requested": _TEXT, "quality_profile_used": _TEXT, "language": _TEXT, "voice": _TEXT,
    "voice_kind": _TEXT, "mode": _TEXT, "device": _TEXT, "engine_fallback": _FLAG, "quality_profile_mapped": _FLAG,
}
_TOP_LEVEL_TYPES = {"duration_s": _NUMBER, "sample_rate": _INTEGER}


@dataclass(frozen=True)
class HistoryEntry:
    """One saved result or failure, as read back from its sidecar."""

    id: str
    created_at: str               # ISO 8601, UTC, microseconds
    status: str                   # "ok" | "error"
    audio_path: Path | None       # None for a failure record
    metadata: dict[str, Any]      # the result metadata (engine used, fallback, profile, timings, ...)
    text: str                     # the text as the user sent it
    request: dict[str, Any]       # the SynthesisRequest's fields (the reference clip by name and hash only)
    error: str | None = None      # why the request failed (status "error")
    problem: str | None = None    # what is wrong with a damaged sidecar (its bad fields are left out)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self.created_at)


def record_to_entry(record: Any, root: Path) -> HistoryEntry | None:
    """The entry a parsed sidecar describes, or None when it is not a whole record of ours."""
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
        if audio_file != f"{record['id']}{AUDIO_SUFFIX}" or not _is_integer(record.get("audio_bytes")):
            return None
        audio_path = root / audio_file
    metadata, problems = _typed_fields(record["metadata"], _FIELD_TYPES, "metadata.")
    problems += _typed_fields({k: record.get(k) for k in _TOP_LEVEL_TYPES}, _TOP_LEVEL_TYPES, "")[1]
    error = record.get("error")
    return HistoryEntry(id=record["id"], created_at=record["created_at"], status=status, audio_path=audio_path,
                        metadata=metadata, text=record["text"], request=record["request"],
                        error=str(error) if error is not None else None,
                        problem=("damaged sidecar: " + "; ".join(problems)) if problems else None)


def _typed_fields(fields: dict[str, Any], types: dict[str, str], prefix: str) -> tuple[dict[str, Any], list[str]]:
    kept, problems = {}, []
    for key, value in fields.items():
        want = types.get(key)
        if want is None or value is None or _has_type(value, want):
            kept[key] = value
        else:
            problems.append(f"{prefix}{key} is {_preview(value)}, not {want}")
    return kept, problems


def _has_type(value: Any, want: str) -> bool:
    if want == _NUMBER:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if want == _INTEGER:
        return _is_integer(value)
    if want == _FLAG:
        return isinstance(value, bool)
    return isinstance(value, str)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _preview(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- writing --------------------------------------------------------------------------------
def request_fields(request: Any) -> dict[str, Any]:
    """The request as plain JSON fields. The reference clip is kept by file name and sha256,
    never by its server path (an upload's temp path must not reach anyone who reads the history)."""
    if dataclasses.is_dataclass(request) and not isinstance(request, type):
        fields = dataclasses.asdict(request)
    elif isinstance(request, Mapping):
        fields = dict(request)
    else:
        fields = dict(vars(request))
    reference = fields.get("reference_audio")
    if reference not in (None, ""):
        fields["reference_audio"] = reference_summary(reference)
    return plain_json(fields)


def reference_summary(reference: Any) -> dict[str, Any]:
    """{"file_name", "sha256"} of an uploaded clip; sha256 is None when the file is gone."""
    path = Path(str(reference))
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        sha256 = digest.hexdigest()
    except OSError:
        sha256 = None
    return {"file_name": path.name, "sha256": sha256}


def plain_json(value: Any) -> Any:
    """Plain JSON types only: numpy scalars and paths made plain, non-finite numbers as null, and
    text that UTF-8 can hold (a lone UTF-16 surrogate, half of a character, becomes U+FFFD)."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, Mapping):
        return {safe_text(str(key)): plain_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain_json(item) for item in value]
    return plain_json(_jsonable(value))


def safe_text(text: str) -> str:
    if not any("\ud800" <= ch <= "\udfff" for ch in text):
        return text
    # Pairs sent as two code points join into their character; halves become U+FFFD.
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _jsonable(value: Any) -> Any:
    """JSON for what metadata and requests hold besides plain types."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size <= 64 else f"<array shape={value.shape} dtype={value.dtype}>"
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return repr(value)
