"""Switching an engine to another model while the app serves, without failing a request.

The order is what makes it safe:

1. the pick is checked (``engine.settings_for``: names, architecture, files there or downloadable)
   and the new weights are read, checked and built on the CPU (``engine.stage``) while the old
   model goes on serving; a bad checkpoint is refused here and nothing changes;
2. under the engine's load lock (requests that need a load wait on it), the old model is
   unloaded on the device worker after the work queued before it, so requests in flight finish
   on the model they started on;
3. the engine is pointed at the new settings and the staged model is made ready on the worker.
   A job queued meanwhile finds the engine unloaded and waits for this load (``dispatch.py``).

If making the new model ready fails, the engine is pointed back at the old settings and the next
request loads the old model again; the error says so.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from .base import Engine
from .errors import EngineUnavailableError
from .types import ProgressCallback
from .weights.downloads import download_progress
from .weights.sources import without_paths
from .worker import DeviceWorker

logger = logging.getLogger("voice_studio.engines")

STEPS = ("checking the new checkpoint", "reading the new checkpoint", "waiting for the requests in flight",
         "moving the new model to the device")


def switch_model(engine: Engine, choice: Any, worker: DeviceWorker, load_lock: threading.Lock,
                 import_lock: AbstractContextManager, mark_loading: Callable[[bool], None],
                 progress: ProgressCallback | None = None) -> None:
    """Switch ``engine`` to ``choice`` (see the module docstring); raises ``InputError`` for a bad pick and
    ``EngineUnavailableError`` when the new model cannot be loaded (the old one then serves on)."""

    def step(index: int) -> None:  # told to the admin and to requests waiting for the load alike
        if progress is not None:
            progress(index / len(STEPS), f"switching {engine.display_name}: step {index + 1} of {len(STEPS)}, "
                                         f"{STEPS[index]}")
        download_progress(engine.name).begin_step(index + 1, len(STEPS), STEPS[index])

    try:
        step(0)
        settings = engine.settings_for(choice)
        step(1)
        with import_lock:
            staged = engine.stage(settings)
    finally:
        _end_steps(engine)
    before = engine.served_model() if engine.is_loaded else None
    with load_lock:
        mark_loading(True)
        previous = engine.settings
        try:
            step(2)
            with engine.unloading():
                worker.call(engine.unload, label=f"unload {engine.name} for a switch")
            engine.configure(settings)
            step(3)
            try:
                with import_lock:
                    engine.load(worker, staged=staged)
            except Exception as exc:  # the new model did not come up: the old settings stay, loaded on next use
                engine.configure(previous)
                worker.call(engine.unload, label=f"unload {engine.name} after a failed switch")
                logger.exception("model switch failed", extra={"engine": engine.name})
                detail = str(exc) if isinstance(exc, EngineUnavailableError) else (
                    f"{type(exc).__name__}: {without_paths(str(exc))}")
                raise EngineUnavailableError(f"{engine.display_name} could not switch models ({detail}); the "
                                             "previous model loads again on the next request") from exc
        finally:
            mark_loading(False)
            _end_steps(engine)
    engine.start_warmup(worker)
    logger.info("model switched", extra={"engine": engine.name, "before": before, "after": engine.served_model()})


def _end_steps(engine: Engine) -> None:
    download_progress(engine.name).end_steps()
