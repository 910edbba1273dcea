"""The History tab: past results and failures from the output folder, newest first.

The list is read from disk (``history.OutputHistory``), so it survives a restart and
shows what every user of this instance produced. Each entry has its badges and, for a
result, a player with a download button. ``/history(limit)`` returns the same list as
JSON (without server paths).
"""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from history import HistoryEntry, OutputHistory

from .badges import render_badges, render_error_badge
from .synthesis import BadInputError, optional_number

DEFAULT_LIMIT = 20
MAX_LIMIT = 200
TEXT_PREVIEW_CHARS = 160


def entry_summary(entry: HistoryEntry) -> dict[str, Any]:
    """What the list and the API show of an entry; no filesystem paths."""
    return {
        "id": entry.id, "created_at": entry.created_at, "status": entry.status, "text": entry.text,
        "metadata": entry.metadata, "error": entry.error,
    }


def list_history(history: OutputHistory, limit: Any = DEFAULT_LIMIT) -> list[dict[str, Any]]:
    number = optional_number(limit, "limit")
    if number is not None and number != int(number):
        raise BadInputError(f"limit {limit!r} is not a whole number")
    count = DEFAULT_LIMIT if number is None else int(number)
    if not 1 <= count <= MAX_LIMIT:
        raise gr.Error(f"limit {count} is out of range; use 1 to {MAX_LIMIT}", title="Bad input",
                       print_exception=False)
    return [entry_summary(entry) for entry in history.list(limit=count)]


def _heading(summary: dict[str, Any]) -> str:
    when = summary["created_at"].replace("T", " ")[:19] + " UTC"
    mode = summary["metadata"].get("mode", "")
    text = summary["text"]
    preview = text if len(text) <= TEXT_PREVIEW_CHARS else text[: TEXT_PREVIEW_CHARS - 1] + "…"
    return (f"<div class='vs-history-head'><b>{html.escape(when)}</b> · {html.escape(mode)} · "
            f"<span class='vs-history-text'>{html.escape(preview)}</span></div>")


def build_history_tab(history: OutputHistory) -> tuple[gr.Tab, gr.JSON, Any, gr.Number]:
    """Returns the tab, the JSON holding the list, its refresh function and the limit box (for other tabs)."""

    def refresh(limit: Any = DEFAULT_LIMIT) -> list[dict[str, Any]]:
        return list_history(history, limit)

    with gr.Tab("History", id="history") as tab:
        gr.Markdown(f"Results saved in `{html.escape(history.root.name)}/` on the server, newest first. "
                    "Everyone using this instance sees the same history.")
        with gr.Row():
            # No precision: Gradio would refuse "abc" with a generic error; list_history names the value.
            limit = gr.Number(value=DEFAULT_LIMIT, step=1, label=f"Show the last (1 to {MAX_LIMIT})",
                              elem_id="history-limit", scale=1)
            refresh_button = gr.Button("Refresh", elem_id="history-refresh", scale=1)
        entries = gr.JSON(label="History entries", visible=False, elem_id="history-json")

        @gr.render(inputs=entries, triggers=[entries.change])
        def show(summaries: list[dict[str, Any]] | None) -> None:
            if not summaries:
                gr.Markdown("Nothing yet: results appear here as soon as they are made.")
                return
            for summary in summaries:
                # A panel, not a gr.Group: inside a Group Gradio draws the player with a heavy dark frame.
                with gr.Column(variant="panel", elem_classes=["vs-history-entry"]):
                    badges = (render_badges(summary["metadata"]) if summary["status"] == "ok"
                              else render_error_badge(summary.get("error") or "unknown error",
                                                      summary["metadata"].get("error_kind")))
                    gr.HTML(_heading(summary) + badges, elem_id=f"history-{summary['id']}")
                    entry = history.get(summary["id"]) if summary["status"] == "ok" else None
                    if entry is not None and entry.audio_path is not None:
                        gr.Audio(value=str(entry.audio_path), label="Audio", type="filepath", interactive=False,
                                 buttons=["download"], key=f"audio-{summary['id']}")

        refresh_button.click(refresh, inputs=limit, outputs=entries, api_name="history", concurrency_limit=None)
        tab.select(refresh, inputs=limit, outputs=entries, api_visibility="private", concurrency_limit=None)
    return tab, entries, refresh, limit
