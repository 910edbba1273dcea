"""Logging set-up for ``python app.py``: one line per record, ``extra=`` fields appended."""

from __future__ import annotations

import logging
import os
import sys

from engines.log_format import KeyValueFormatter


def configure_logging(level: str | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or os.environ.get("VOICE_STUDIO_LOG_LEVEL") or "INFO").upper())
