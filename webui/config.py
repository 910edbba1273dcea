"""The web app's own settings, read once from the environment (the engines read theirs).

Variables (a public contract; extend, never rename):
  GRADIO_SERVER_NAME        interface to listen on (default 127.0.0.1: this machine only)
  GRADIO_SERVER_PORT        port (default 7860)
  GRADIO_ANALYTICS_ENABLED  gradio's telemetry; off unless set to a true value
  VOICE_STUDIO_AUTH         user:password turns on Gradio's login (off by default)
  VOICE_STUDIO_QUEUE_SIZE   requests that may wait in the queue before new ones are refused (default 32)
  VOICE_STUDIO_MAX_UPLOAD_MB  largest accepted upload (default 50); the engines read the same variable,
                            so a reference clip Gradio accepts is never refused for its size
  VOICE_STUDIO_CACHE_TTL_S  Gradio temp files (uploads, outputs) older than this are deleted (default 3600);
                            keep it well above the longest queue wait, or a waiting upload can be swept
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from engines.audio import DEFAULT_MAX_UPLOAD_MB, ENV_MAX_UPLOAD_MB
from engines.settings import number_setting

TRUE_WORDS = ("1", "true", "yes", "on")


class ConfigError(ValueError):
    """A web-app variable is malformed; the message names the variable and the fix."""


@dataclass(frozen=True)
class AppConfig:
    server_name: str = "127.0.0.1"
    server_port: int = 7860
    analytics_enabled: bool = False
    auth: tuple[str, str] | None = None
    queue_size: int = 32
    max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB
    cache_ttl_s: int = 3600

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "AppConfig":
        env = os.environ if environ is None else environ

        def number(name: str, default: int, low: int, high: int | None = None) -> int:
            return number_setting(env, name, default, low=low, high=high, error=ConfigError)

        return cls(
            server_name=env.get("GRADIO_SERVER_NAME") or "127.0.0.1",
            server_port=number("GRADIO_SERVER_PORT", 7860, low=1, high=65535),
            analytics_enabled=(env.get("GRADIO_ANALYTICS_ENABLED") or "").strip().lower() in TRUE_WORDS,
            auth=_auth(env.get("VOICE_STUDIO_AUTH")),
            queue_size=number("VOICE_STUDIO_QUEUE_SIZE", 32, low=1),
            max_upload_mb=number(ENV_MAX_UPLOAD_MB, DEFAULT_MAX_UPLOAD_MB, low=1),
            cache_ttl_s=number("VOICE_STUDIO_CACHE_TTL_S", 3600, low=10),
        )

    @property
    def cache_sweep_s(self) -> int:
        """How often Gradio looks for expired temp files: a quarter of the TTL, 5 s to 15 min."""
        return max(5, min(self.cache_ttl_s // 4, 900))

    @property
    def max_file_size(self) -> str:
        """In the form Gradio's ``launch(max_file_size=...)`` takes."""
        return f"{self.max_upload_mb}mb"


def _auth(raw: str | None) -> tuple[str, str] | None:
    if not raw:
        return None
    user, sep, password = raw.partition(":")
    if not sep or not user or not password:
        raise ConfigError("VOICE_STUDIO_AUTH must be user:password (both non-empty)")
    return user, password
