"""``manager_from_env``: the manager the environment asks for (app, command line, Studio).

One device (``VOICE_STUDIO_DEVICES`` unset, or one entry): the plain ``EngineManager``, as the
app always ran. Several: a ``DeviceRouter`` over them, placed per ``VOICE_STUDIO_PLACEMENT``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import replace

from ..manager import EngineManager
from ..settings import Settings
from ..types import ENGINE_NAMES
from ..voices.catalog import VoiceLibrary
from ..worker import shared_worker
from .placement import plan_from_env
from .router import DeviceRouter

logger = logging.getLogger("voice_studio.devices")


def manager_from_env(library: VoiceLibrary | None = None, environ: Mapping[str, str] | None = None) -> EngineManager:
    """Engines, devices and the saved-voice library (``VOICE_STUDIO_VOICES_DIR``) from the environment."""
    env = os.environ if environ is None else environ
    if library is None:
        from ..voices.library import VoiceLibrary as FolderLibrary

        library = FolderLibrary.from_env(env)
    settings = Settings.from_env(env)
    plan = plan_from_env(env, ENGINE_NAMES)
    if plan is None:
        return EngineManager(settings, library=library)
    logger.info("devices", extra={"devices": [slot.label for slot in plan.slots], "placement": plan.describe()})
    if len(plan.slots) == 1:
        slot = plan.slots[0]
        worker = shared_worker(slot.kind, index=slot.index, label=slot.label)
        return EngineManager(replace(settings, device=slot.kind), worker=worker, library=library)
    return DeviceRouter(settings, plan, library)
