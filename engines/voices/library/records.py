"""What a saved voice is on paper: its id, its ``voice.json`` record, and the rules both follow.

Pure functions, no files: the store (``store.py``) and the archive reader (``archive.py``)
both validate through ``parse_record``, so a hand-edited folder and a stranger's zip meet
the same checks and get the same messages.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from ...errors import InputError
from ...knobs import VOICE_KNOBS, check_knobs
from ...languages import normalize_language
from ..presets import PRESETS

RECORD_FORMAT = "voice-studio-voice/1"
ID_PATTERN = re.compile(r"[a-z0-9_-]{1,64}")
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
MAX_ID_CHARS = 64
MAX_NAME_CHARS = 80
MAX_TRANSCRIPT_CHARS = 2000
MAX_NOTES_CHARS = 2000
MAX_CONSENT_CHARS = 500
ENGINES_WITH_TRANSCRIPT = ("f5tts", "xtts")
ENGINES_WITHOUT_TRANSCRIPT = ("xtts",)  # F5-TTS speaks only from a clip whose words it knows


@dataclass(frozen=True)
class VoiceRecord:
    """The contents of ``voice.json``: everything about a voice except its audio."""

    id: str
    name: str
    language: str | None            # the language spoken in the clip, when known
    transcript: str                 # the words of reference.wav ("" : XTTS only)
    created: str                    # ISO 8601, UTC
    reference_sha256: str | None    # of reference.wav as stored
    source_sha256: str | None       # of the clip the user gave (provenance)
    duration_s: float               # of reference.wav
    transcript_trimmed: bool = False  # the clip was cut to F5's 12 s and the transcript with it
    notes: str = ""
    consent: str = ""               # licence or consent: who agreed to this voice being cloned, on what terms
    knobs: dict[str, Any] = field(default_factory=dict)  # preferred knobs and speed (engines/knobs.py)

    @property
    def engines(self) -> tuple[str, ...]:
        return ENGINES_WITH_TRANSCRIPT if self.transcript else ENGINES_WITHOUT_TRANSCRIPT

    def to_json(self) -> dict[str, Any]:
        return {"format": RECORD_FORMAT, **asdict(self)}

    def summary(self) -> dict[str, Any]:
        """What listings show (``voices list``, ``/voices``): the record, its kind and the engines it serves."""
        return {"id": self.id, "name": self.name, "kind": "saved", "language": self.language,
                "transcript": self.transcript, "engines": list(self.engines), "duration_s": self.duration_s,
                "created": self.created, "notes": self.notes, "consent": self.consent,
                "source_sha256": self.source_sha256, "knobs": dict(self.knobs)}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def slugify(name: str) -> str:
    """The id a name gets: lower-case ASCII letters, digits, ``-`` and ``_``, at most 64.

    Accents are dropped ("Mária" -> "maria"); a name with no such characters at all
    (e.g. in Japanese script) gets ``voice-`` and a short hash of the name.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9_-]+", "-", ascii_name.lower())
    slug = re.sub(r"-{2,}", "-", slug).strip("-_")[:MAX_ID_CHARS].strip("-_")
    return slug or "voice-" + hashlib.sha256(name.encode()).hexdigest()[:8]


def check_voice_id(voice_id: Any, what: str = "voice id") -> str:
    """``voice_id`` when it is a valid id; else ``InputError`` saying what ids look like."""
    if not isinstance(voice_id, str) or not ID_PATTERN.fullmatch(voice_id):
        shown = repr(voice_id) if not isinstance(voice_id, str) or len(voice_id) <= 80 else repr(voice_id[:80] + "…")
        raise InputError(f"{what} {shown} is not valid: an id is 1 to {MAX_ID_CHARS} characters of "
                         "a-z, 0-9, '-' and '_'")
    return voice_id


def is_preset_id(voice_id: str) -> bool:
    """True when the id is, or reads as, a built-in preset's name (``female-generic`` too)."""
    return voice_id in PRESETS or voice_id.replace("-", "_") in PRESETS


def refuse_preset_id(voice_id: str, name: str) -> None:
    if is_preset_id(voice_id):
        raise InputError(f"{name!r} is the name of a built-in preset ({voice_id.replace('-', '_')}); "
                         "pick another name for your voice")


def _has_control_chars(text: str, allow_newlines: bool = False) -> bool:
    allowed = "\n\t" if allow_newlines else ""
    return any(unicodedata.category(ch) in ("Cc", "Cf") and ch not in allowed for ch in text)


def clean_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InputError("the voice needs a name (e.g. 'Maria')")
    name = " ".join(name.split())
    if len(name) > MAX_NAME_CHARS:
        raise InputError(f"voice name is {len(name)} characters; at most {MAX_NAME_CHARS}")
    if _has_control_chars(name):
        raise InputError("voice name holds control characters; use letters, digits, spaces and punctuation")
    return name


def clean_transcript(text: Any) -> str:
    """One line of words ("" when there is none); long or odd text is refused with its reason."""
    if text is None:
        return ""
    if not isinstance(text, str):
        raise InputError("reference transcript must be text")
    text = " ".join(text.split())
    if len(text) > MAX_TRANSCRIPT_CHARS:
        raise InputError(f"reference transcript is {len(text)} characters; at most {MAX_TRANSCRIPT_CHARS} "
                         "(the clip keeps at most 12 s of speech)")
    if _has_control_chars(text):
        raise InputError("reference transcript holds control characters")
    return text


def clean_language(language: Any) -> str | None:
    if language is None or (isinstance(language, str) and not language.strip()):
        return None
    if not isinstance(language, str):
        raise InputError("language must be a code such as pt-BR or en")
    return normalize_language(language)


def clean_text_field(value: Any, field_name: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"{field_name} must be text")
    value = value.strip()
    if len(value) > limit:
        raise InputError(f"{field_name} is {len(value)} characters; at most {limit}")
    if _has_control_chars(value, allow_newlines=True):
        raise InputError(f"{field_name} holds control characters")
    return value


def parse_record(data: Any, where: str = "voice.json") -> VoiceRecord:
    """A ``VoiceRecord`` from parsed JSON, every field checked; ``InputError`` naming the field otherwise.

    Unknown keys are ignored (a newer version may add some); known ones must have the right type.
    """
    if not isinstance(data, dict):
        raise InputError(f"{where} must hold a JSON object")
    fmt = data.get("format", RECORD_FORMAT)
    if fmt != RECORD_FORMAT:
        raise InputError(f"{where} has format {str(fmt)[:40]!r}; this version reads {RECORD_FORMAT!r}")
    voice_id = check_voice_id(data.get("id"), f"the id in {where}")
    name = clean_name(data.get("name"))
    refuse_preset_id(voice_id, voice_id)
    refuse_preset_id(slugify(name), name)
    reference_sha = data.get("reference_sha256")
    source_sha = data.get("source_sha256")
    for key, value in (("reference_sha256", reference_sha), ("source_sha256", source_sha)):
        if value is not None and (not isinstance(value, str) or not SHA256_PATTERN.fullmatch(value)):
            raise InputError(f"{where}: {key} must be 64 hexadecimal digits")
    duration = data.get("duration_s", 0.0)
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not 0 <= duration <= 600:
        raise InputError(f"{where}: duration_s must be a number of seconds (0 to 600)")
    created = data.get("created") or now_iso()
    try:
        datetime.fromisoformat(created)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: created must be an ISO 8601 time") from exc
    trimmed = data.get("transcript_trimmed", False)
    if not isinstance(trimmed, bool):
        raise InputError(f"{where}: transcript_trimmed must be true or false")
    try:
        knobs = check_knobs(data.get("knobs") or {}, VOICE_KNOBS)
    except InputError as exc:
        raise InputError(f"{where}: knobs: {exc}") from exc
    return VoiceRecord(
        id=voice_id, name=name, language=clean_language(data.get("language")),
        transcript=clean_transcript(data.get("transcript")), created=created,
        reference_sha256=reference_sha, source_sha256=source_sha, duration_s=float(duration),
        transcript_trimmed=trimmed, notes=clean_text_field(data.get("notes"), "notes", MAX_NOTES_CHARS),
        consent=clean_text_field(data.get("consent"), "consent", MAX_CONSENT_CHARS), knobs=knobs,
    )
