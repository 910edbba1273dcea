"""The web app's own settings, read once from the environment (the engines read theirs).

Variables (a public contract; extend, never rename):
  GRADIO_SERVER_NAME        interface to listen on (default 127.0.0.1: this machine only)
  GRADIO_SERVER_PORT        port (default 7860)
  GRADIO_ANALYTICS_ENABLED  gradio's telemetry; off unless set to a true value
  VOICE_STUDIO_AUTH         user:password turns on Gradio's login (off by default); several logins:
                            one user:password per line
  VOICE_STUDIO_ADMIN        1: everyone who can open the page may load and unload engines (off by default)
  VOICE_STUDIO_ADMINS       comma list of VOICE_STUDIO_AUTH users who may load and unload engines
  VOICE_STUDIO_QUEUE_SIZE   requests that may wait in the queue before new ones are refused (default 32)
  VOICE_STUDIO_MAX_UPLOAD_MB  largest accepted upload (default 50); the engines read the same variable,
                            so a reference clip Gradio accepts is never refused for its size
  VOICE_STUDIO_CACHE_TTL_S  Gradio temp files (uploads, outputs) older than this are deleted (default 3600);
                            keep it well above the longest queue wait, or a waiting upload can be swept
  VOICE_STUDIO_API_KEY      the key /v1 requires as ``Authorization: Bearer <key>`` (unset: /v1 is open,
                            unless VOICE_STUDIO_AUTH is set, which closes it)
  VOICE_STUDIO_DEFAULT_LANGUAGE  /v1's language when a request names none (else the saved voice's, else pt-BR)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from engines.audio.waveforms import DEFAULT_MAX_UPLOAD_MB, max_upload_mb
from engines.settings import flag_setting, number_setting


class ConfigError(ValueError):
    """A web-app variable is malformed; the message names the variable and the fix."""


@dataclass(frozen=True)
class AppConfig:
    server_name: str = "127.0.0.1"
    server_port: int = 7860
    analytics_enabled: bool = False
    auth: tuple[tuple[str, str], ...] | None = None  # (user, password) per login
    queue_size: int = 32
    max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB
    cache_ttl_s: int = 3600
    admin_everyone: bool = False
    admins: frozenset[str] = frozenset()
    api_key: str | None = None
    default_language: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "AppConfig":
        env = os.environ if environ is None else environ

        def number(name: str, default: int, low: int, high: int | None = None) -> int:
            return number_setting(env, name, default, low=low, high=high, error=ConfigError)

        auth = _auth(env.get("VOICE_STUDIO_AUTH"))
        return cls(
            server_name=env.get("GRADIO_SERVER_NAME") or "127.0.0.1",
            server_port=number("GRADIO_SERVER_PORT", 7860, low=1, high=65535),
            analytics_enabled=flag_setting(env, "GRADIO_ANALYTICS_ENABLED"),
            auth=auth,
            queue_size=number("VOICE_STUDIO_QUEUE_SIZE", 32, low=1),
            max_upload_mb=max_upload_mb(env, error=ConfigError),
            cache_ttl_s=number("VOICE_STUDIO_CACHE_TTL_S", 3600, low=10),
            admin_everyone=flag_setting(env, "VOICE_STUDIO_ADMIN"),
            admins=_admins(env.get("VOICE_STUDIO_ADMINS"), auth),
            api_key=_api_key(env.get("VOICE_STUDIO_API_KEY")),
            default_language=_language(env.get("VOICE_STUDIO_DEFAULT_LANGUAGE")),
        )

    def __repr__(self) -> str:  # never print the secrets
        return (f"AppConfig(server_name={self.server_name!r}, server_port={self.server_port}, "
                f"auth={'set' if self.auth else None}, api_key={'set' if self.api_key else None}, "
                f"queue_size={self.queue_size}, default_language={self.default_language!r})")

    @property
    def cache_sweep_s(self) -> int:
        """How often Gradio looks for expired temp files: a quarter of the TTL, 5 s to 15 min."""
        return max(5, min(self.cache_ttl_s // 4, 900))

    @property
    def max_file_size(self) -> str:
        """In the form Gradio's ``launch(max_file_size=...)`` takes."""
        return f"{self.max_upload_mb}mb"


def _auth(raw: str | None) -> tuple[tuple[str, str], ...] | None:
    """One ``user:password`` per line (a password may hold colons; a line break ends it)."""
    if not raw or not raw.strip():
        return None
    logins: dict[str, str] = {}
    for line in raw.splitlines():
        if not line.strip():
            continue
        user, sep, password = line.strip().partition(":")
        if not sep or not user or not password:
            raise ConfigError("VOICE_STUDIO_AUTH must be user:password (both non-empty), one login per line")
        if user in logins:
            raise ConfigError(f"VOICE_STUDIO_AUTH names user {user!r} twice")
        logins[user] = password
    return tuple(logins.items())


def _admins(raw: str | None, auth: tuple[tuple[str, str], ...] | None) -> frozenset[str]:
    """Admin user names; each must be a login of VOICE_STUDIO_AUTH (a typo would lock everyone out)."""
    names = frozenset(name.strip() for name in (raw or "").split(",") if name.strip())
    if not names:
        return names
    if not auth:
        raise ConfigError("VOICE_STUDIO_ADMINS names users of VOICE_STUDIO_AUTH, which is not set; "
                          "set VOICE_STUDIO_AUTH, or VOICE_STUDIO_ADMIN=1 to let everyone load and unload engines")
    unknown = sorted(names - {user for user, _ in auth})
    if unknown:
        raise ConfigError(f"VOICE_STUDIO_ADMINS names {', '.join(map(repr, unknown))}, not a user of VOICE_STUDIO_AUTH")
    return names


def _api_key(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    key = raw.strip()
    if len(key) < 8 or any(c.isspace() for c in key) or not key.isascii():
        raise ConfigError("VOICE_STUDIO_API_KEY must be at least 8 printable ASCII characters without spaces "
                          "(use a long random string)")
    return key


def _language(raw: str | None) -> str | None:
    if not (raw or "").strip():
        return None
    from engines.errors import InputError
    from engines.languages import normalize_language

    try:
        return normalize_language(raw)
    except InputError as exc:
        raise ConfigError(f"VOICE_STUDIO_DEFAULT_LANGUAGE: {exc}") from exc
