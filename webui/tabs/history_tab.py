"""The History tab: past results and failures from the output folder, newest first, a page at a time.

The list is read from disk (``history.OutputHistory``), so it survives a restart and
shows what every user of this instance produced. Each entry has its badges and, for a
result, a player with a download button; entries can be deleted one by one or all at
once, after the browser asks for confirmation. The output folder itself is never served:
a result's audio reaches the page as a copy in Gradio's cache (``served_files``).

API (extend, never rename): ``/history(limit, offset)`` returns a page of the list as
JSON without server paths; ``/history_delete(entry_id)`` and ``/history_clear(confirm)``
remove entries.
"""

from __future__ import annotations

import html
import logging
from typing import Any

import gradio as gr

from history import HistoryEntry, OutputHistory

from ..serving.served_files import cache_copy
from .badges import render_badges, render_error_badge
from .error_panel import BadInputError

logger = logging.getLogger("voice_studio.webui")

DEFAULT_LIMIT = 20
MAX_LIMIT = 200
TEXT_PREVIEW_CHARS = 160
TRUE_WORDS = ("true", "yes", "1")
# The browser asks before anything is deleted; the answer goes to the handler as its last input.
CONFIRM_ONE_JS = "(limit, offset, confirmed) => [limit, offset, window.confirm('Delete this history entry?')]"
CONFIRM_ALL_JS = ("(limit, offset, confirmed) => [limit, offset, "
                  "window.confirm('Delete every history entry? Everyone using this instance shares it.')]")


def _bad_input(message: str) -> gr.Error:
    return BadInputError(message)


def entry_summary(entry: HistoryEntry) -> dict[str, Any]:
    """What the list and the API show of an entry; no filesystem paths."""
    return {
        "id": entry.id, "created_at": entry.created_at, "status": entry.status, "text": entry.text,
        "metadata": entry.metadata, "error": entry.error, "problem": entry.problem,
    }


def _whole_number(value: Any, name: str, default: int, low: int, high: int | None) -> int:
    try:
        number = float(value) if value not in (None, "") else float(default)
    except (TypeError, ValueError) as exc:
        raise _bad_input(f"{name} {value!r} is not a number") from exc
    if number != number or number != int(number):
        raise _bad_input(f"{name} {value!r} is not a whole number")
    count = int(number)
    if count < low or (high is not None and count > high):
        raise _bad_input(f"{name} {count} is out of range; use {low} to {high if high is not None else 'any'}")
    return count


def list_history(history: OutputHistory, limit: Any = DEFAULT_LIMIT, offset: Any = 0) -> list[dict[str, Any]]:
    """A page of the history, newest first: ``limit`` entries after skipping the newest ``offset``."""
    count = _whole_number(limit, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    skip = _whole_number(offset, "offset", 0, 0, None)
    return [entry_summary(entry) for entry in history.list(limit=count, offset=skip)]


def delete_entry(history: OutputHistory, entry_id: Any) -> dict[str, Any]:
    """Delete one entry by its id; an id that is not in the history is a clear error."""
    if not isinstance(entry_id, str) or not history.delete(entry_id.strip()):
        raise _bad_input(f"no history entry with id {str(entry_id)[:80]!r}; /history lists the ids")
    return {"deleted": 1, "id": entry_id.strip()}


def clear_history(history: OutputHistory, confirm: Any) -> dict[str, Any]:
    """Delete every entry, only when ``confirm`` is true (it removes what every user made)."""
    confirmed = confirm is True or (isinstance(confirm, str) and confirm.strip().lower() in TRUE_WORDS)
    if not confirmed:
        raise _bad_input("the history was not cleared: pass confirm=true to delete every entry")
    return {"deleted": history.clear()}


def position_text(history: OutputHistory, shown: int, offset: Any) -> str:
    total = history.page(limit=0)[1]
    if not shown:
        return f"No entries here ({total} in all)." if total else ""
    first = int(float(offset or 0)) + 1
    return f"Entries {first}–{first + shown - 1} of {total}, newest first."


def entry_html(summary: dict[str, Any]) -> str:
    """The heading and badges of one entry; a damaged entry is marked, and never breaks the list."""
    try:
        badges = (render_badges(summary["metadata"]) if summary["status"] == "ok"
                  else render_error_badge(summary.get("error") or "unknown error",
                                          (summary.get("metadata") or {}).get("error_kind")))
        body = _heading(summary) + badges
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        logger.warning("history entry could not be rendered", extra={"history_id": summary.get("id"),
                                                                     "error": repr(exc)})
        body = _heading_fallback(summary)
        summary = {**summary, "problem": summary.get("problem") or f"its record could not be shown ({exc!r})"}
    if summary.get("problem"):
        body += (f"<div class='vs-history-problem' style='color:#b91c1c;font-size:0.9em'>"
                 f"⚠ This entry is damaged: {html.escape(str(summary['problem']))}</div>")
    return body


def _heading(summary: dict[str, Any]) -> str:
    when = str(summary["created_at"]).replace("T", " ")[:19] + " UTC"
    mode = str(summary["metadata"].get("mode") or "")
    text = str(summary["text"])
    preview = text if len(text) <= TEXT_PREVIEW_CHARS else text[: TEXT_PREVIEW_CHARS - 1] + "…"
    return (f"<div class='vs-history-head'><b>{html.escape(when)}</b> · {html.escape(mode)} · "
            f"<span class='vs-history-text'>{html.escape(preview)}</span></div>")


def _heading_fallback(summary: dict[str, Any]) -> str:
    return f"<div class='vs-history-head'><b>{html.escape(str(summary.get('id', '?')))}</b></div>"


def audio_for(history: OutputHistory, summary: dict[str, Any]) -> str | None:
    """A servable copy of a result's audio (in Gradio's cache), or None for a failure or a lost file."""
    if summary.get("status") != "ok":
        return None
    entry = history.get(summary["id"])
    if entry is None or entry.audio_path is None:
        return None
    try:
        return cache_copy(entry.audio_path)
    except FileNotFoundError:  # deleted between the listing and now: shown without a player
        return None


def build_history_tab(history: OutputHistory) -> tuple[gr.Tab, gr.JSON, Any, list[gr.components.Component]]:
    """Returns the tab, the JSON holding the list, its refresh function and the inputs it takes
    (the page size and the offset), so other tabs can refresh the list when they make a result."""

    def refresh(limit: Any = DEFAULT_LIMIT, offset: Any = 0) -> list[dict[str, Any]]:
        return list_history(history, limit, offset)

    def step(direction: int):
        def move(limit: Any, offset: Any) -> int:
            size = _whole_number(limit, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
            start = _whole_number(offset, "offset", 0, 0, None)
            last_page = (max(0, history.page(limit=0)[1] - 1) // size) * size
            return max(0, min(start + direction * size, last_page))
        return move

    def clear_confirmed(limit: Any, offset: Any, confirmed: bool) -> Any:
        if not confirmed:
            return gr.skip()
        clear_history(history, True)
        return refresh(limit, 0)

    with gr.Tab("History", id="history") as tab:
        gr.Markdown(f"Results saved in `{html.escape(history.root.name)}/` on the server, newest first. "
                    "Everyone using this instance sees the same history.")
        with gr.Row():
            # No precision: Gradio would refuse "abc" with a generic error; list_history names the value.
            limit = gr.Number(value=DEFAULT_LIMIT, step=1, label=f"Show (1 to {MAX_LIMIT})",
                              elem_id="history-limit", scale=1)
            offset = gr.Number(value=0, precision=0, label="Skip the newest", elem_id="history-offset", scale=1)
            newer = gr.Button("◀ Newer", elem_id="history-newer", scale=1)
            older = gr.Button("Older ▶", elem_id="history-older", scale=1)
            refresh_button = gr.Button("Refresh", elem_id="history-refresh", scale=1)
            clear_button = gr.Button("Delete all…", variant="stop", elem_id="history-clear", scale=1)
        entries = gr.JSON(label="History entries", visible=False, elem_id="history-json")
        confirmed = gr.Checkbox(value=False, visible=False)  # the browser's answer to "Delete …?"
        paging = [limit, offset]

        @gr.render(inputs=[entries, *paging], triggers=[entries.change])
        def show(summaries: list[dict[str, Any]] | None, shown_limit: Any, shown_offset: Any) -> None:
            gr.Markdown(position_text(history, len(summaries or []), shown_offset), elem_id="history-position")
            if not summaries:
                gr.Markdown("Nothing yet: results appear here as soon as they are made.")
                return
            for summary in summaries:
                # A panel, not a gr.Group: inside a Group Gradio draws the player with a heavy dark frame.
                with gr.Column(variant="panel", elem_classes=["vs-history-entry"]):
                    gr.HTML(entry_html(summary), elem_id=f"history-{summary['id']}")
                    audio = audio_for(history, summary)
                    if audio is not None:
                        gr.Audio(value=audio, label="Audio", type="filepath", interactive=False,
                                 buttons=["download"], key=f"audio-{summary['id']}")
                    remove = gr.Button("Delete", size="sm", variant="secondary", key=f"delete-{summary['id']}",
                                       elem_classes=["vs-history-delete"])
                    remove.click(_delete_confirmed(history, summary["id"], refresh), inputs=[*paging, confirmed],
                                 outputs=entries, js=CONFIRM_ONE_JS, api_visibility="private",
                                 concurrency_limit=None)

        refresh_button.click(refresh, inputs=paging, outputs=entries, api_name="history", concurrency_limit=None)
        for button, direction in ((newer, -1), (older, 1)):
            button.click(step(direction), inputs=paging, outputs=offset, api_visibility="private",
                         concurrency_limit=None).then(refresh, inputs=paging, outputs=entries,
                                                      api_visibility="private", concurrency_limit=None)
        clear_button.click(clear_confirmed, inputs=[*paging, confirmed], outputs=entries, js=CONFIRM_ALL_JS,
                           api_visibility="private", concurrency_limit=None)
        tab.select(refresh, inputs=paging, outputs=entries, api_visibility="private", concurrency_limit=None)

        def history_delete(entry_id: str) -> dict:
            """Delete one history entry (its audio and its record) by the id /history lists."""
            return delete_entry(history, entry_id)

        def history_clear(confirm: bool) -> dict:
            """Delete every history entry; confirm must be true."""
            return clear_history(history, confirm)

        gr.api(history_delete, api_name="history_delete", concurrency_limit=None)
        gr.api(history_clear, api_name="history_clear", concurrency_limit=None)
    return tab, entries, refresh, paging


def _delete_confirmed(history: OutputHistory, entry_id: str, refresh: Any):
    def delete(limit: Any, offset: Any, confirmed: bool) -> Any:
        if not confirmed:
            return gr.skip()
        if not history.delete(entry_id):
            gr.Warning("That entry was already deleted.")
        return refresh(limit, offset)
    return delete
