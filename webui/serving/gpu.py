"""``spaces.GPU`` on a Hugging Face ZeroGPU Space, a no-op everywhere else.

Only the smallest GPU-bound call is wrapped (one synthesis), so queue waiting, input
checks and file writing never hold a ZeroGPU slot.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from typing import TypeVar

logger = logging.getLogger("voice_studio.webui")

F = TypeVar("F", bound=Callable)

GPU_DURATION_S = 120  # the longest a single synthesis may hold a ZeroGPU slot


def spaces_available() -> bool:
    return importlib.util.find_spec("spaces") is not None


def gpu_bound(fn: F) -> F:
    """Return ``spaces.GPU(duration=...)(fn)`` when the ``spaces`` package is installed, else ``fn``."""
    if not spaces_available():
        return fn
    import spaces

    logger.info("spaces.GPU wraps synthesis", extra={"function": fn.__name__, "duration_s": GPU_DURATION_S})
    return spaces.GPU(duration=GPU_DURATION_S)(fn)
