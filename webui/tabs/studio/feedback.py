"""What the Studio tells its user when something goes wrong: a message that stays beside the project.

Errors never replace the page: a handler wrapped by ``keeps_work`` answers any error
with the message alone (every other output untouched, so the project, its table and
everything typed stay on screen), a toast besides, and no traceback or server path. The
message stays until the next action that succeeds. API handlers (``guarded``) raise
``gr.Error`` instead, so a client gets the message as an error.
"""

from __future__ import annotations

import functools
import html
import inspect
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr

from dubbing.media import MediaError
from dubbing.render import Cancelled
from engines import InputError, NoEngineAvailableError, VoiceStudioError

logger = logging.getLogger("voice_studio.webui.studio")

INTERNAL = "Something went wrong inside the app; the server log has the details. Your project is saved as it was."
TITLES = {InputError: "Bad input", NoEngineAvailableError: "No engine available",
          MediaError: "Video or audio processing failed", Cancelled: "Stopped"}


def title_of(exc: BaseException) -> str:
    return next((title for kind, title in TITLES.items() if isinstance(exc, kind)), "Dubbing failed")


def ui_error(exc: Exception) -> gr.Error:
    return gr.Error(str(exc), title=title_of(exc), print_exception=False)


def message_html(text: str, title: str = "", kind: str = "error") -> str:
    """A block that stays on the page: ``kind`` is error, note or done."""
    if not text:
        return ""
    head = f"<strong>{html.escape(title)}:</strong> " if title else ""
    role = ' role="alert"' if kind == "error" else ""
    return (f'<div class="vs-studio-message vs-studio-message-{kind}"{role} data-kind="{kind}">'
            f"{head}{html.escape(text)}</div>")


def error_message(exc: BaseException) -> str:
    if isinstance(exc, (VoiceStudioError, Cancelled)):
        return message_html(str(exc), title_of(exc), "note" if isinstance(exc, Cancelled) else "error")
    return message_html(INTERNAL, "Dubbing failed")


def keeps_work(message: gr.components.Component) -> Callable:
    """Decorate a handler that returns (or yields) dicts of outputs: any error becomes ``{message: ...}``
    and a toast; nothing else on the page changes."""

    def decorate(fn: Callable) -> Callable:
        def failed(exc: BaseException) -> dict:
            if not isinstance(exc, (VoiceStudioError, Cancelled)):
                logger.exception("studio handler failed", extra={"handler": fn.__name__})
            text = str(exc) if isinstance(exc, (VoiceStudioError, Cancelled)) else INTERNAL
            (gr.Info if isinstance(exc, Cancelled) else gr.Warning)(text)
            return {message: error_message(exc)}

        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def stream(*args, **kwargs):
                try:
                    yield from fn(*args, **kwargs)
                except Exception as exc:  # shown beside the project; the app keeps serving
                    yield failed(exc)
            return stream

        @functools.wraps(fn)
        def call(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # shown beside the project; the app keeps serving
                return failed(exc)
        return call

    return decorate


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """For API endpoints: errors the service raises on purpose, as ``gr.Error``."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except VoiceStudioError as exc:
            raise ui_error(exc) from exc

    return wrapper
