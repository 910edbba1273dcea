"""The error shown under a Dubbing / Cloning result until the next one succeeds.

A ``gr.Error`` toast can be closed or missed. The handler still raises it (so an API
client gets the message as an ``AppError``), and ``watch`` remembers the message for the
browser session that sent the request; a ``.failure`` listener then shows it under the
output, and a ``.success`` listener clears it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gradio as gr

from .badges import render_error_block

# API clients never trigger the .failure listener that collects their message: keep only the newest few.
MAX_SESSIONS = 256
UNKNOWN_FAILURE = "The request failed before it reached the engines (for example, the queue was full). Try again."
INTERNAL_FAILURE = "Something went wrong inside the app; the server log has the details. Try again."


class BadInputError(gr.Error):
    """A mistake in the request (the user can fix it), as opposed to something the engines could not do."""

    def __init__(self, message: str):
        super().__init__(message, title="Bad input", print_exception=False)


def error_kind(exc: gr.Error) -> str:
    """``input`` for a mistake in the request, ``engine`` for anything the engines could not do."""
    return "input" if isinstance(exc, BadInputError) else "engine"


class ErrorPanel:
    """The last error per browser session (one panel per tab), bounded to ``MAX_SESSIONS``."""

    def __init__(self, max_sessions: int = MAX_SESSIONS):
        self.max_sessions = max_sessions
        self._last: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._lock = threading.Lock()

    @contextmanager
    def watch(self, request: gr.Request | None) -> Iterator[None]:
        """Remember the error raised inside the block for ``request``'s session, then re-raise it."""
        try:
            yield
        except gr.Error as exc:
            self._remember(request, str(exc.message), error_kind(exc))
            raise
        except Exception:
            self._remember(request, INTERNAL_FAILURE, "engine")
            raise

    def _remember(self, request: gr.Request | None, message: str, kind: str) -> None:
        session = getattr(request, "session_hash", None)
        if not session:
            return
        with self._lock:
            self._last[session] = (message, kind)
            self._last.move_to_end(session)
            while len(self._last) > self.max_sessions:
                self._last.popitem(last=False)

    def take(self, request: gr.Request | None) -> tuple[str, str] | None:
        session = getattr(request, "session_hash", None)
        with self._lock:
            return self._last.pop(session, None) if session else None

    def show(self, request: gr.Request) -> tuple[Any, ...]:
        """For ``.failure``: the error block, and the outputs of the earlier result cleared."""
        message, kind = self.take(request) or (UNKNOWN_FAILURE, "engine")
        return render_error_block(message, kind), None, "", None

    def clear(self, request: gr.Request) -> str:
        """For ``.success``: no error block (and nothing left remembered for this session)."""
        self.take(request)
        return ""

    def attach(self, event: Any, error_html: gr.HTML, outputs: list) -> None:
        """Chain the show/clear listeners to a synthesis ``event`` whose result ``outputs`` they reset."""
        quiet = dict(api_visibility="private", show_progress="hidden", concurrency_limit=None)
        event.success(self.clear, outputs=error_html, **quiet)
        event.failure(self.show, outputs=[error_html, *outputs], **quiet)
