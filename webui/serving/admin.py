"""Who may load and unload engines and switch models: nobody by default, everyone with
``VOICE_STUDIO_ADMIN=1``, or the logged-in users named in ``VOICE_STUDIO_ADMINS``.

Hiding the buttons is not the guard: every admin handler calls ``require`` with the
request Gradio hands it, so a call through the API is refused the same way.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass

import gradio as gr

from .config import AppConfig

logger = logging.getLogger("voice_studio.webui")

REFUSAL = ("Loading and unloading engines and switching models is for admins. Start the app with "
           "VOICE_STUDIO_ADMIN=1, or log in as a user named in VOICE_STUDIO_ADMINS.")
# What everyone who is not an admin reads where the admin controls would be.
_ADMIN_CONTROLS = "**Load, Unload and the model picker are for admins.**"
_MEANWHILE = ("Meanwhile each engine loads on its first request, and F5-TTS runs the model that `F5TTS_MODEL` "
              "(or `F5TTS_CKPT`) names.")


@dataclass(frozen=True)
class AdminPolicy:
    everyone: bool = False
    users: frozenset[str] = frozenset()

    @classmethod
    def from_config(cls, config: AppConfig) -> "AdminPolicy":
        return cls(everyone=config.admin_everyone, users=config.admins)

    @property
    def enabled(self) -> bool:
        """Whether anyone at all may be an admin (else the admin controls and API do not exist)."""
        return self.everyone or bool(self.users)

    def allows(self, username: str | None) -> bool:
        return self.everyone or (username is not None and username in self.users)

    def require(self, request: gr.Request | None, action: str) -> None:
        """Raise the app's refusal unless this request's user is an admin."""
        username = getattr(request, "username", None)
        if not self.allows(username):
            logger.warning("admin action refused", extra={"action": action, "user": username})
            raise gr.Error(REFUSAL, title="Not allowed", print_exception=False)


def admin_note(policy: AdminPolicy, username: str | None) -> str:
    """Why the admin controls are missing for ``username`` and which variable enables them (Markdown)."""
    if not policy.enabled:
        return (f"{_ADMIN_CONTROLS} This app has none: start it with `VOICE_STUDIO_ADMIN=1` (everyone who "
                "opens the page may use them), or set `VOICE_STUDIO_ADMINS` to logins of `VOICE_STUDIO_AUTH`. "
                + _MEANWHILE)
    if username is None:
        return (f"{_ADMIN_CONTROLS} Log in as a user named in `VOICE_STUDIO_ADMINS` to use them. " + _MEANWHILE)
    return (f"{_ADMIN_CONTROLS} You are logged in as **{_markdown_safe(username)}**, who is not named in "
            "`VOICE_STUDIO_ADMINS`. " + _MEANWHILE)


def _markdown_safe(text: str) -> str:
    """A login name shown in Markdown: Markdown's and HTML's special characters escaped."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~<>])", r"\\\1", html.escape(text, quote=False))[:80]
