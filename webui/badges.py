"""The what-really-ran badges shown beside every output, built from a result's metadata.

Pure functions from the metadata dict to text/HTML, so the Dubbing, Cloning and
History tabs (and the API, which returns the same HTML) show one wording.
"""

from __future__ import annotations

import html
from typing import Any

ENGINE_LABELS = {"f5tts": "F5-TTS", "xtts": "XTTS"}
MAX_REASON_CHARS = 140

# Inline styles: they must survive Gradio's theming and read at a glance in light and dark mode.
_STYLE = {
    "engine": "background:#1d4ed8;color:#fff",
    "fallback": "background:#f59e0b;color:#1f1300",
    "profile": "background:#e5e7eb;color:#111827",
    "mapped": "background:#fde68a;color:#1f1300",
    "info": "background:#f3f4f6;color:#374151",
    "error": "background:#dc2626;color:#fff",
}
_BASE_STYLE = ("display:inline-block;margin:2px 6px 2px 0;padding:3px 10px;border-radius:999px;"
               "font-size:0.9em;font-weight:600;line-height:1.5")


def engine_label(name: str | None) -> str:
    return ENGINE_LABELS.get(name or "", name or "?")


def short_reason(reason: str | None, limit: int = MAX_REASON_CHARS) -> str:
    """The first clause of a fallback reason, cut to ``limit`` characters."""
    text = " ".join((reason or "unknown reason").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def fallback_text(metadata: dict[str, Any]) -> str | None:
    """E.g. "Fallback: F5-TTS → XTTS — checkpoint vocab mismatch: …", or None when none happened."""
    if not metadata.get("engine_fallback"):
        return None
    requested = engine_label(metadata.get("tts_engine_requested"))
    used = engine_label(metadata.get("tts_engine_used"))
    return f"Fallback: {requested} → {used} — {short_reason(metadata.get('fallback_reason'))}"


def profile_text(metadata: dict[str, Any]) -> str:
    used = metadata.get("quality_profile_used") or "?"
    if metadata.get("quality_profile_mapped"):
        return f"Profile: {metadata.get('quality_profile_requested')} → {used}"
    return f"Profile: {used}"


def badge_texts(metadata: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, text) for each badge, in display order."""
    badges = [("engine", f"Engine: {engine_label(metadata.get('tts_engine_used'))}")]
    fallback = fallback_text(metadata)
    if fallback:
        badges.append(("fallback", fallback))
    badges.append(("mapped" if metadata.get("quality_profile_mapped") else "profile", profile_text(metadata)))
    details = [metadata.get("language"), metadata.get("voice")]
    if metadata.get("duration_s") is not None:
        details.append(f"{metadata['duration_s']:.1f} s")
    if metadata.get("seed") is not None:
        details.append(f"seed {metadata['seed']}")
    badges.append(("info", " · ".join(str(d) for d in details if d)))
    return badges


def _span(kind: str, text: str, title: str | None = None) -> str:
    title_attr = f' title="{html.escape(title)}"' if title else ""
    return (f'<span class="vs-badge vs-badge-{kind}" data-badge="{kind}" style="{_BASE_STYLE};{_STYLE[kind]}"'
            f"{title_attr}>{html.escape(text, quote=False)}</span>")


def render_badges(metadata: dict[str, Any] | None) -> str:
    """The badges as one HTML fragment; empty before any result."""
    if not metadata:
        return ""
    spans = []
    for kind, text in badge_texts(metadata):
        title = metadata.get("fallback_reason") if kind == "fallback" else None
        spans.append(_span(kind, text, title))
    return f'<div class="vs-badges">{"".join(spans)}</div>'


def render_error_badge(message: str) -> str:
    """For a failed request in the History tab."""
    return f'<div class="vs-badges">{_span("error", "Failed: " + short_reason(message, 200))}</div>'
