"""What the app calls things in front of a user: an engine by its short label, a long reason cut short."""

from __future__ import annotations

import re

ENGINE_LABELS = {"f5tts": "F5-TTS", "xtts": "XTTS"}
MAX_REASON_CHARS = 240
# Where a reason starts saying what to do about it ("...: set VOICE_STUDIO_ASR_MODEL", "run `python -m ...`").
_FIX = re.compile(r"\b(?:set [A-Z][A-Z0-9_]{2,}|run `|pip install |save the voice |upload |use [a-z0-9_.-]+ to )")


def engine_label(name: str | None) -> str:
    return ENGINE_LABELS.get(name or "", name or "?")


def short_reason(reason: str | None, limit: int = MAX_REASON_CHARS) -> str:
    """A fallback reason in at most about ``limit`` characters, never cut before what to do about it.

    A reason that is too long loses words from the middle of its problem ("…"), not its fix:
    "Speech recognition (Whisper) weights missing (hf://openai/…): set VOICE_STUDIO_ASR_MODEL".
    """
    text = " ".join((reason or "unknown reason").split())
    if len(text) <= limit:
        return text
    fix = _FIX.search(text)
    if fix is None or len(text) - fix.start() > limit - 40:  # no fix named, or the fix alone is long: wrap it all
        return text if fix is not None else text[: limit - 1].rstrip() + "…"
    tail = text[fix.start():]
    head = text[: limit - len(tail) - 2].rsplit(" ", 1)[0].rstrip(" :;,(")
    return f"{head} … {tail}"
