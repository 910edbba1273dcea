"""Who may load and unload engines: nobody by default, everyone with ``VOICE_STUDIO_ADMIN=1``,
or the logged-in users named in ``VOICE_STUDIO_ADMINS``.

Hiding the buttons is not the guard: every admin handler calls ``require`` with the
request Gradio hands it, so a call through the API is refused the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import gradio as gr

from .config import AppConfig

logger = logging.getLogger("voice_studio.webui")

REFUSAL = ("Loading and unloading engines is for admins. Start the app with VOICE_STUDIO_ADMIN=1, "
           "or log in as a user named in VOICE_STUDIO_ADMINS.")


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
