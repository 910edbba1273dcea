"""Finding entries in the history: by words of their text, by engine and by kind (dub, clone, studio).

Pure functions over ``HistoryEntry`` values (the store lists them, newest first); nothing
here touches the folder. ``HistoryQuery`` is what the History tab and ``/history_search``
send; a query with nothing set matches every entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .records import HistoryEntry

MAX_QUERY_CHARS = 200
MODES = ("dub", "clone", "studio")
STATUSES = ("ok", "error")


class QueryError(ValueError):
    """A query that cannot be run (a value too long, an unknown mode); the message says which."""


@dataclass(frozen=True)
class HistoryQuery:
    """Which entries to show. Empty fields match everything."""

    text: str = ""      # words that must all appear (any case) in the text, the voice or the error
    engine: str = ""    # the engine that ran (a failure: the one asked for), e.g. "f5tts"
    mode: str = ""      # "dub" | "clone" | "studio"
    status: str = ""    # "ok" (results) | "error" (failures)

    @classmethod
    def from_form(cls, text: object = "", engine: object = "", mode: object = "", status: object = "",
                  engines: Iterable[str] = ()) -> "HistoryQuery":
        """Checked values from a form or an API call; ``engines``: the engine names to accept."""
        values = {name: _text(value, name) for name, value in
                  (("text", text), ("engine", engine), ("mode", mode), ("status", status))}
        allowed = {"engine": tuple(engines), "mode": MODES, "status": STATUSES}
        for name, choices in allowed.items():
            if values[name] and choices and values[name] not in choices:
                raise QueryError(f"{name} {values[name][:40]!r} is unknown; use one of: {', '.join(choices)} "
                                 "(or nothing, for all)")
        return cls(**values)

    @property
    def empty(self) -> bool:
        return not (self.text or self.engine or self.mode or self.status)

    def matches(self, entry: HistoryEntry) -> bool:
        metadata = entry.metadata
        if self.mode and metadata.get("mode") != self.mode:
            return False
        if self.status and entry.status != self.status:
            return False
        if self.engine and entry_engine(entry) != self.engine:
            return False
        if self.text:
            voice = metadata.get("voice") or entry.request.get("voice_preset") or ""
            haystack = " ".join(str(part) for part in (entry.text, voice, entry.error or "")).casefold()
            return all(word in haystack for word in self.text.casefold().split())
        return True


def entry_engine(entry: HistoryEntry) -> str | None:
    """The engine that made a result, or the one a failure asked for."""
    metadata = entry.metadata
    return metadata.get("tts_engine_used") or metadata.get("tts_engine_requested") or entry.request.get("engine")


def search(entries: Sequence[HistoryEntry], query: HistoryQuery, limit: int | None = None,
           offset: int = 0) -> tuple[list[HistoryEntry], int]:
    """(the page of ``entries`` that match, how many match in all); ``entries`` keep their order."""
    found = list(entries) if query.empty else [entry for entry in entries if query.matches(entry)]
    page = found[offset:] if limit is None else found[offset: offset + limit]
    return page, len(found)


def _text(value: object, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise QueryError(f"{name} must be text, got {type(value).__name__}")
    if len(value) > MAX_QUERY_CHARS:
        raise QueryError(f"{name} is {len(value)} characters long; at most {MAX_QUERY_CHARS}")
    return " ".join(value.split())
