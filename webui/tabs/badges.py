"""The what-really-ran badges shown beside every output, built from a result's metadata.

Pure functions from the metadata dict to text/HTML, so the Dubbing, Cloning and
History tabs (and the API, which returns the same HTML) show one wording.
"""

from __future__ import annotations

import html
from typing import Any

from ..serving.labels import engine_label, short_reason

MAX_ERROR_BADGE_CHARS = 200

# Inline styles: they must survive Gradio's theming and read at a glance in light and dark mode.
_STYLE = {
    "engine": "background:#1d4ed8;color:#fff",
    "fallback": "background:#f59e0b;color:#1f1300",
    "profile": "background:#e5e7eb;color:#111827",
    "mapped": "background:#fde68a;color:#1f1300",
    "info": "background:#f3f4f6;color:#374151",
    "error": "background:#dc2626;color:#fff",
    "input_error": "background:#e0e7ff;color:#1e1b4b",
}
# A failure's kind, as recorded in the history: the user's input was wrong, or no engine could do it.
ERROR_KINDS = {"input": ("input_error", "Input mistake"), "engine": ("error", "Engine failure")}
_UNKNOWN_KIND = ("error", "Failed")
_BASE_STYLE = ("display:inline-block;margin:2px 6px 2px 0;padding:3px 10px;border-radius:999px;"
               "font-size:0.9em;font-weight:600;line-height:1.5")


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


# A badge that may take several lines (a fallback's reason) wraps as a rounded block, not a pill.
_WRAPPING = "border-radius:10px;white-space:normal;overflow-wrap:anywhere;max-width:100%"


def _span(kind: str, text: str, title: str | None = None) -> str:
    title_attr = f' title="{html.escape(title)}"' if title else ""
    wrap = f";{_WRAPPING}" if len(text) > 60 else ""
    return (f'<span class="vs-badge vs-badge-{kind}" data-badge="{kind}" style="{_BASE_STYLE};{_STYLE[kind]}{wrap}"'
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


def render_error_badge(message: str, kind: str | None = None) -> str:
    """For a failed request in the History tab: input mistakes and engine failures look apart.

    The badge shows the first ``MAX_ERROR_BADGE_CHARS``; the full reason is its tooltip and,
    when it was cut, an expandable line under it.
    """
    badge_kind, label = ERROR_KINDS.get(kind or "", _UNKNOWN_KIND)
    full = " ".join((message or "unknown error").split())
    short = short_reason(full, MAX_ERROR_BADGE_CHARS)
    details = ""
    if short != full:
        details = ("<details class='vs-error-details' style='margin:2px 0 0;font-size:0.9em'>"
                   "<summary style='cursor:pointer'>Full reason</summary>"
                   f"<div style='white-space:pre-wrap;word-break:break-word'>{html.escape(full, quote=False)}</div>"
                   "</details>")
    data_kind = html.escape(kind or "unknown")
    return (f'<div class="vs-badges" data-error-kind="{data_kind}">'
            f"{_span(badge_kind, f'{label}: {short}', full)}{details}</div>")


def render_error_block(message: str, kind: str | None = None) -> str:
    """The failure beside the Dubbing / Cloning output: stays until the next result."""
    badge_kind, label = ERROR_KINDS.get(kind or "", _UNKNOWN_KIND)
    colour = "#4f46e5" if badge_kind == "input_error" else "#dc2626"
    hint = "Correct it and try again." if kind == "input" else ""
    data_kind = html.escape(kind or "unknown")
    return (f"<div class='vs-error' role='alert' data-error-kind='{data_kind}' style='border:1px solid {colour};"
            f"border-left:5px solid {colour};border-radius:8px;padding:10px 12px;margin:4px 0;"
            f"background:rgba(127,127,127,0.06)'><b style='color:{colour}'>{html.escape(label)}</b>"
            f"<div class='vs-error-message' style='white-space:pre-wrap;word-break:break-word;margin-top:4px'>"
            f"{html.escape(' '.join((message or 'unknown error').split()), quote=False)}</div>"
            + (f"<small style='opacity:0.8'>{hint}</small>" if hint else "") + "</div>")
