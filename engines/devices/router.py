"""``DeviceRouter``: the manager over every device of one host.

Each device gets its own ``EngineManager`` (the engines placed on it, its one worker thread,
its batching and captures, its load errors). The router is itself an ``EngineManager``
(a ``FrontManager``) whose engines are ``EnginePool``s over those devices, so validation, the fallback loop,
voices and results are the manager's own code, and the UI, ``/v1``, the Studio and the
video pipeline call it exactly as they call one device's manager.

A request is given its device when it arrives (the least-loaded one serving its engine) and
counted there until it ends; a fallback to the other engine picks that engine's least-loaded
device. Work that is not an engine's (speech recognition, the video pipeline's models:
``on_device``) runs on the first device.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from ..manager import EngineManager, default_engines
from ..settings import Settings
from ..types import ENGINE_NAMES, ProgressCallback, SynthesisRequest, SynthesisResult
from ..voices.catalog import VoiceLibrary
from ..worker import shared_worker
from .front import FrontManager
from .placement import DevicePlan
from .pool import DeviceLoad, EnginePool, Member


class DeviceRouter(FrontManager):
    """Several devices behind the one manager interface."""

    def __init__(self, settings: Settings, plan: DevicePlan, library: VoiceLibrary | None = None):
        self.plan = plan
        self.load_counter = DeviceLoad([slot.label for slot in plan.slots])
        self.devices: dict[str, EngineManager] = {}
        for slot in plan.slots:
            placed = plan.engines_on(slot.label)
            if not placed:
                continue  # a device no engine is placed on stays idle
            on_slot = replace(settings, device=slot.kind)
            engines = {name: engine for name, engine in default_engines(on_slot).items() if name in placed}
            worker = shared_worker(slot.kind, index=slot.index, label=slot.label)
            self.devices[slot.label] = EngineManager(on_slot, engines=engines, worker=worker, library=library)
        pools = {name: EnginePool(name, [Member(slot.label, self.devices[slot.label])
                                         for slot in plan.devices_of(name)], self.load_counter)
                 for name in ENGINE_NAMES if plan.devices_of(name)}
        first = next(iter(self.devices.values()))
        super().__init__(first.settings, engines=pools, worker=first.worker, library=library)

    @property
    def concurrency(self) -> int:
        """One synthesis at a time per engine and device, as one device runs one per engine."""
        return sum(len(pool.members) for pool in self.engines.values())

    # --- synthesis: the device is chosen on arrival -------------------------------------------
    def synthesize(self, request: SynthesisRequest, progress: ProgressCallback | None = None) -> SynthesisResult:
        pool = self.engines.get(request.engine)
        if pool is None:  # an unknown engine: validation says so
            return self._synthesize(request, progress)
        with pool.reserve():
            return self._synthesize(request, progress)

    # --- health -------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """The manager's health (each engine at its best device), plus each device and the placement."""
        health = super().health()
        in_flight = self.load_counter.snapshot()
        health["devices"] = [
            {"device": label, "in_flight": in_flight.get(label, 0), "worker": manager.worker.status(),
             "engines": {name: manager.engine_health(name).status for name in manager.engines}}
            for label, manager in self.devices.items()]
        health["placement"] = self.plan.describe()
        health["timestamp"] = datetime.now(timezone.utc).isoformat()
        return health
