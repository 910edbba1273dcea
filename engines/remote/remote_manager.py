"""``RemoteManager``: the manager of an app whose engines run as Ray Serve deployments.

It is an ``EngineManager`` whose engines are ``RemoteEngine``s over the deployments'
handles, so the UI, ``/v1``, the Studio and the video pipeline call it exactly as they call
the in-process manager: validation, the fallback loop, voices (the saved-voice library on
the shared filesystem), speech recognition for a clip without its transcript and the
results' metadata all run here, and only the engines' work crosses to the replicas.
``on_device`` work (speech recognition, the video pipeline's models) runs in this process,
on its own device.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..devices.front import FrontManager
from ..manager import default_engines
from ..settings import Settings
from ..voices.catalog import VoiceLibrary
from .remote_engine import RemoteEngine


class RemoteManager(FrontManager):
    """``handles``: engine name -> the ``DeploymentHandle`` of its deployment.

    ``capacity`` is how many syntheses the app may run at once (the replicas' most, all together).
    """

    def __init__(self, handles: Mapping[str, Any], settings: Settings | None = None,
                 library: VoiceLibrary | None = None, capacity: int | None = None):
        settings = settings or Settings.from_env()
        templates = default_engines(settings)
        unknown = sorted(set(handles) - set(templates))
        if unknown:
            raise ValueError(f"no engine called {', '.join(unknown)}; engines: {', '.join(templates)}")
        engines = {name: RemoteEngine(templates[name], handle) for name, handle in handles.items()}
        super().__init__(settings, engines=engines, library=library)
        self._capacity = capacity

    @property
    def concurrency(self) -> int:
        return self._capacity or super().concurrency

    def health(self) -> dict[str, Any]:
        """The manager's health, each engine aggregated over its replicas, plus ``replicas``:
        per engine, how many are up, loading and failed."""
        health = super().health()
        health["replicas"] = {name: engine.replicas.to_dict() for name, engine in self.engines.items()}
        return health
