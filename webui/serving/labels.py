"""What the app calls things in front of a user: an engine by its short label, a long reason cut short."""

from __future__ import annotations

ENGINE_LABELS = {"f5tts": "F5-TTS", "xtts": "XTTS"}
MAX_REASON_CHARS = 140


def engine_label(name: str | None) -> str:
    return ENGINE_LABELS.get(name or "", name or "?")


def short_reason(reason: str | None, limit: int = MAX_REASON_CHARS) -> str:
    """The first clause of a fallback reason, cut to ``limit`` characters."""
    text = " ".join((reason or "unknown reason").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
