"""Waiting on a condition other threads make true, instead of sleeping a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable


def until(condition: Callable[[], object], timeout_s: float = 30.0) -> bool:
    """Wait for ``condition()`` to hold (polled); False when it did not within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True
