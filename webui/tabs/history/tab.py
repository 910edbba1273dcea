"""The History tab: past results and failures from the output folder, newest first, a page at a time.

The list is read from disk (``history.OutputHistory``), so it survives a restart and
shows what every user of this instance produced. It is compact: one row per entry (its
time, kind, text and badges) with Play, "Use again" and Delete; one player above the list
plays the entry picked. Words of the text, the engine and the kind narrow the list
(``history.search``). "Use again" puts an entry's settings back into the Dubbing or
Cloning form (``reuse``). Deleting asks the browser first. The output folder itself
is never served: a result's audio reaches the page as a copy in Gradio's cache.

API (extend, never rename): ``/history(limit, offset)`` returns a page of the list as JSON
without server paths; ``/history_search(query, engine, mode, status, limit, offset)`` a page
of the entries that match, with their number; ``/history_delete(entry_id)`` and
``/history_clear(confirm)`` remove entries.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from history import HistoryEntry, OutputHistory
from history.search import MODES, HistoryQuery, QueryError, search

from ...serving.labels import ENGINE_LABELS, engine_label
from ...serving.served_files import cache_copy
from ..badges import render_badges, render_error_badge
from ..error_panel import BadInputError
from .reuse import ReuseTargets, fill, filled_message, reusable

logger = logging.getLogger("voice_studio.webui")

DEFAULT_LIMIT = 20
MAX_LIMIT = 200
PAGE_SIZES = (10, 20, 50, 100)
TEXT_PREVIEW_CHARS = 160
TRUE_WORDS = ("true", "yes", "1")
MODE_LABELS = {"dub": "Dub", "clone": "Clone", "studio": "Studio"}
# The browser asks before anything is deleted; its answer replaces the handler's last input.
CONFIRM_ONE_JS = "(...args) => [...args.slice(0, -1), window.confirm('Delete this history entry?')]"
CONFIRM_ALL_JS = ("(...args) => [...args.slice(0, -1), "
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


def search_history(history: OutputHistory, query: Any = "", engine: Any = "", mode: Any = "", status: Any = "",
                   limit: Any = DEFAULT_LIMIT, offset: Any = 0) -> dict[str, Any]:
    """The entries that match, a page at a time: {"entries", "total" (that match), "offset", "limit"}."""
    count = _whole_number(limit, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    skip = _whole_number(offset, "offset", 0, 0, None)
    try:
        wanted = HistoryQuery.from_form(query, engine, mode, status, engines=tuple(ENGINE_LABELS))
    except QueryError as exc:
        raise _bad_input(str(exc)) from exc
    entries, total = search(history.list(), wanted, count, skip)
    return {"entries": [entry_summary(entry) for entry in entries], "total": total, "offset": skip, "limit": count,
            "filtered": not wanted.empty}


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


def position_text(page: dict[str, Any] | None) -> str:
    """E.g. "Entries 1–20 of 25, newest first." or "3 entries match." for a search."""
    page = page or {}
    shown, total = len(page.get("entries") or []), int(page.get("total") or 0)
    matching = " that match" if page.get("filtered") else ""
    if not shown:
        return f"No entries{matching} here ({total} in all)." if total else ""
    first = int(page.get("offset") or 0) + 1
    return f"Entries {first}–{first + shown - 1} of {total}{matching}, newest first."


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
    return f"<div class='vs-history-body' style='font-size:0.92em'>{body}</div>"


def _heading(summary: dict[str, Any]) -> str:
    """One line: when, what kind, and the text (cut to the line; the whole text in its tooltip)."""
    when = str(summary["created_at"]).replace("T", " ")[:16] + " UTC"
    mode = str(summary["metadata"].get("mode") or "")
    text = str(summary["text"])
    preview = text if len(text) <= TEXT_PREVIEW_CHARS else text[: TEXT_PREVIEW_CHARS - 1] + "…"
    return (f"<div class='vs-history-head' style='white-space:nowrap;overflow:hidden;text-overflow:ellipsis'>"
            f"<b>{html.escape(when)}</b> · {html.escape(MODE_LABELS.get(mode, mode))} · "
            f"<span class='vs-history-text' title='{html.escape(text)}'>{html.escape(preview)}</span></div>")


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


@dataclass
class HistoryView:
    """What ``build_app`` wires: the JSON holding the page, its refresh and the inputs it takes."""

    entries: gr.JSON
    refresh: Callable[..., dict[str, Any]]
    inputs: list[gr.components.Component]


def build_history_tab(history: OutputHistory, reuse: ReuseTargets | None = None) -> HistoryView:
    """The tab; with ``reuse``, each dub and clone entry has "Use again" (fills that tab's form)."""

    def refresh(query: Any = "", engine: Any = "", mode: Any = "", limit: Any = DEFAULT_LIMIT,
                offset: Any = 0) -> dict[str, Any]:
        return search_history(history, query, engine, mode, "", limit, offset)

    def step(direction: int):
        def move(query: Any, engine: Any, mode: Any, limit: Any, offset: Any) -> int:
            size = _whole_number(limit, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
            start = _whole_number(offset, "offset", 0, 0, None)
            total = search_history(history, query, engine, mode, "", 1, 0)["total"]
            return max(0, min(start + direction * size, (max(0, total - 1) // size) * size))
        return move

    with gr.Tab("History", id="history") as tab:
        gr.Markdown(f"Results saved in `{html.escape(history.root.name)}/` on the server, newest first. "
                    "Everyone using this instance sees the same history.")
        with gr.Row(equal_height=True):
            query = gr.Textbox(label="Search", placeholder="words of the text, the voice or the error", max_lines=1,
                               scale=3, min_width=200, elem_id="history-search")
            engine = gr.Dropdown([("Every engine", "")] + [(label, name) for name, label in ENGINE_LABELS.items()],
                                 value="", label="Engine", scale=1, min_width=140, elem_id="history-engine")
            mode = gr.Dropdown([("Every kind", "")] + [(MODE_LABELS[m], m) for m in MODES], value="",
                               label="Kind", scale=1, min_width=140, elem_id="history-mode")
            limit = gr.Dropdown([(f"{n} a page", n) for n in PAGE_SIZES], value=DEFAULT_LIMIT, label="Page",
                                scale=1, min_width=120, elem_id="history-limit")
        with gr.Row(elem_id="history-paging"):
            newer = gr.Button("◀ Newer", size="sm", scale=0, min_width=90, elem_id="history-newer")
            older = gr.Button("Older ▶", size="sm", scale=0, min_width=90, elem_id="history-older")
            with gr.Column(scale=1, min_width=200):
                position = gr.Markdown(elem_id="history-position")
            refresh_button = gr.Button("Refresh", size="sm", scale=0, min_width=90, elem_id="history-refresh")
            clear_button = gr.Button("Delete all…", size="sm", variant="stop", scale=0, min_width=110,
                                     elem_id="history-clear")
        # One player for the whole list, shown once an entry is played.
        player = gr.Audio(label="Entry", type="filepath", interactive=False, autoplay=True, visible=False,
                          buttons=["download"], elem_id="history-player")
        offset = gr.Number(value=0, precision=0, visible=False, elem_id="history-offset")
        entries = gr.JSON(label="History entries", visible=False, elem_id="history-json")
        confirmed = gr.Checkbox(value=False, visible=False)  # the browser's answer to "Delete …?"
        paging = [query, engine, mode, limit, offset]

        @gr.render(inputs=[entries], triggers=[entries.change])
        def show(page: dict[str, Any] | None) -> None:
            summaries = (page or {}).get("entries") or []
            if not summaries:
                gr.Markdown("Nothing here: results appear as soon as they are made." if not (page or {}).get(
                    "filtered") else "No entry matches: change the search or the filters.")
                return
            for summary in summaries:
                _entry_row(history, summary, paging, confirmed, entries, player, refresh, reuse)

        entries.change(position_text, inputs=entries, outputs=position, api_visibility="private",
                       show_progress="hidden")
        listed = dict(outputs=entries, api_visibility="private", concurrency_limit=None, show_progress="hidden")
        refresh_button.click(refresh, inputs=paging, **listed)
        to_offset = {**listed, "outputs": offset}
        for box in (engine, mode, limit):  # a new search starts at the newest entry
            box.change(_first_page, **to_offset).then(refresh, inputs=paging, **listed)
        query.change(_first_page, trigger_mode="always_last", **to_offset).then(refresh, inputs=paging, **listed)
        for button, direction in ((newer, -1), (older, 1)):
            button.click(step(direction), inputs=paging, **to_offset).then(refresh, inputs=paging, **listed)
        clear_button.click(_clear_confirmed(history, refresh), inputs=[*paging, confirmed], js=CONFIRM_ALL_JS,
                           **listed)
        tab.select(refresh, inputs=paging, **listed)

        # The public API: /history keeps its parameters (limit, offset) and its answer (a list).
        api_limit = gr.Number(value=DEFAULT_LIMIT, step=1, label=f"Show (1 to {MAX_LIMIT})", visible=False)
        api_offset = gr.Number(value=0, precision=0, label="Skip the newest", visible=False)
        api_list = gr.JSON(label="History entries", visible=False)

        def page_of_history(limit: Any = DEFAULT_LIMIT, offset: Any = 0) -> list[dict[str, Any]]:
            return list_history(history, limit, offset)

        gr.on([], page_of_history, inputs=[api_limit, api_offset], outputs=api_list, api_name="history",
              concurrency_limit=None)

        def history_search(query: str = "", engine: str = "", mode: str = "", status: str = "",
                           limit: float = DEFAULT_LIMIT, offset: float = 0) -> dict:
            """A page of the entries that match: words of the text, voice or error (all of them, any case), the
            engine (f5tts, xtts), the kind (dub, clone, studio), the status (ok, error); empty: any."""
            return search_history(history, query, engine, mode, status, limit, offset)

        def history_delete(entry_id: str) -> dict:
            """Delete one history entry (its audio and its record) by the id /history lists."""
            return delete_entry(history, entry_id)

        def history_clear(confirm: bool) -> dict:
            """Delete every history entry; confirm must be true."""
            return clear_history(history, confirm)

        gr.api(history_search, api_name="history_search", concurrency_limit=None)
        gr.api(history_delete, api_name="history_delete", concurrency_limit=None)
        gr.api(history_clear, api_name="history_clear", concurrency_limit=None)
    return HistoryView(entries, refresh, paging)


def _entry_row(history: OutputHistory, summary: dict[str, Any], paging: list, confirmed: gr.Checkbox,
               entries: gr.JSON, player: gr.Audio, refresh: Callable[..., dict[str, Any]],
               reuse: ReuseTargets | None) -> None:
    """One entry: its heading and badges, then Play, Use again and Delete (they wrap under it on a phone)."""
    entry_id = summary["id"]
    quiet = dict(api_visibility="private", concurrency_limit=None)
    # Side by side where there is room; on a phone the buttons wrap under the text (the columns' min widths).
    with gr.Row(variant="panel", elem_classes=["vs-history-entry"], key=f"row-{entry_id}"):
        with gr.Column(scale=5, min_width=320):
            gr.HTML(entry_html(summary), elem_id=f"history-{entry_id}", padding=False)
        with gr.Column(scale=0, min_width=300, elem_classes=["vs-history-actions"]), gr.Row():
            if summary.get("status") == "ok":
                play = gr.Button("▶ Play", size="sm", min_width=70, key=f"play-{entry_id}",
                                 elem_classes=["vs-history-play"])
                play.click(_player_for(history, summary), outputs=player, **quiet)
            if reuse is not None and reusable((summary.get("metadata") or {}).get("mode")):
                again = gr.Button("Use again", size="sm", min_width=90, key=f"again-{entry_id}",
                                  elem_classes=["vs-history-again"])
                again.click(_reuse(history, entry_id, reuse), outputs=reuse.outputs(), **quiet).then(
                    _reuse(history, entry_id, reuse, last=True), outputs=reuse.outputs(last=True), **quiet)
            remove = gr.Button("Delete", size="sm", variant="secondary", min_width=70, key=f"delete-{entry_id}",
                               elem_classes=["vs-history-delete"])
            remove.click(_delete_confirmed(history, entry_id, refresh), inputs=[*paging, confirmed], outputs=entries,
                         js=CONFIRM_ONE_JS, **quiet)


def _first_page() -> int:
    return 0


def _player_for(history: OutputHistory, summary: dict[str, Any]):
    def play() -> Any:
        audio = audio_for(history, summary)
        if audio is None:
            raise _bad_input("this entry's audio is gone (deleted meanwhile)")
        when = str(summary["created_at"]).replace("T", " ")[:16]
        return gr.Audio(value=audio, visible=True, label=f"{when} UTC · "
                        f"{engine_label(summary['metadata'].get('tts_engine_used'))} · {str(summary['text'])[:60]}")
    return play


def _reuse(history: OutputHistory, entry_id: str, reuse: ReuseTargets, last: bool = False):
    def use_again() -> list[Any]:
        entry = history.get(entry_id)
        if entry is None:
            raise _bad_input("that history entry was deleted meanwhile")
        if last:
            gr.Info(filled_message(entry))
        return fill(reuse, entry, last)
    return use_again


def _delete_confirmed(history: OutputHistory, entry_id: str, refresh: Callable[..., dict[str, Any]]):
    def delete(query: Any, engine: Any, mode: Any, limit: Any, offset: Any, confirmed: bool) -> Any:
        if not confirmed:
            return gr.skip()
        if not history.delete(entry_id):
            gr.Warning("That entry was already deleted.")
        return refresh(query, engine, mode, limit, offset)
    return delete


def _clear_confirmed(history: OutputHistory, refresh: Callable[..., dict[str, Any]]):
    def clear(query: Any, engine: Any, mode: Any, limit: Any, offset: Any, confirmed: bool) -> Any:
        if not confirmed:
            return gr.skip()
        clear_history(history, True)
        return refresh(query, engine, mode, limit, 0)
    return clear
