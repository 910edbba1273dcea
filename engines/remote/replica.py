"""``EngineReplica``: one engine in one Ray Serve replica.

Inside, it is the app as it runs on one device: an ``EngineManager`` holding that one engine,
with its device worker, batching, captures and voice caches. Ray gives the replica its GPU
(or a fraction of one) through ``CUDA_VISIBLE_DEVICES``, so ``cuda`` means that card; a
replica given no GPU runs on the CPU.

The engine starts loading when the replica starts (a replica added by the autoscaler should
not make its first user wait for the weights); requests wait for the load. The methods are
plain functions: Serve runs them on its threads, and every one returns plain data (an
``EngineOutput``, floats, dicts) or raises the engine's own exception, which the caller gets
back as it was raised (``engines.remote.remote_engine``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np

from ..errors import EngineUnavailableError
from ..manager import EngineManager, default_engines
from ..settings import Settings
from ..types import EngineJob, EngineOutput

logger = logging.getLogger("voice_studio.remote")


class EngineReplica:
    """``engine`` (f5tts or xtts) served by this process's manager and device worker."""

    def __init__(self, engine: str, preload: bool = True):
        from ..voices.library import VoiceLibrary

        settings = Settings.from_env()
        settings = replace(settings, device=_replica_device(settings.device))
        engines = default_engines(settings)
        if engine not in engines:
            raise ValueError(f"unknown engine {engine!r}; engines: {', '.join(engines)}")
        self.name = engine
        self.manager = EngineManager(settings, engines={engine: engines[engine]}, library=VoiceLibrary.from_env())
        self.identity = {"replica": _replica_id(), "host": socket.gethostname(), "pid": os.getpid()}
        if preload:
            threading.Thread(target=self.manager.ensure_loaded, args=(engine,), name=f"preload-{engine}",
                             daemon=True).start()
        logger.info("replica started", extra={"engine": engine, "device": settings.device, **self.identity})

    # --- work -----------------------------------------------------------------------------
    def render(self, job: EngineJob) -> EngineOutput:
        engine = self._ready(job)
        output = self.manager.dispatch.render(engine, job)
        return replace(output, details={**output.details, **self._where(engine)})

    def stream(self, job: EngineJob) -> Iterator[np.ndarray | dict[str, Any]]:
        """Where it runs first (a dict: device, replica), then the chunks."""
        engine = self._ready(job)
        yield self._where(engine)
        yield from self.manager.dispatch.stream(engine, job)

    def natural_seconds(self, job: EngineJob) -> float | None:
        return self._ready(job).natural_seconds(job)

    def knows_speaker(self, speaker: str) -> bool:
        return self.manager.ensure_loaded(self.name) is None and self.manager.engine(self.name).knows_speaker(speaker)

    def _ready(self, job: EngineJob):
        """The loaded engine, if it can take ``job``; else the reason, raised."""
        reason = self.manager.ensure_loaded(self.name)
        if reason is not None:
            raise EngineUnavailableError(reason)
        engine = self.manager.engine(self.name)
        reason = engine.cannot_serve(job)  # what only the loaded model knows (XTTS's studio speakers)
        if reason is not None:
            raise EngineUnavailableError(reason)
        return engine

    def _where(self, engine) -> dict[str, Any]:
        return {"device": f"{engine.device}@{self.identity['host']}", "replica": self.identity["replica"]}

    # --- lifecycle and health -------------------------------------------------------------
    def load(self) -> dict[str, Any]:
        self.manager.load(self.name)
        return self.health()

    def unload(self) -> dict[str, Any]:
        self.manager.unload(self.name)
        return self.health()

    def health(self) -> dict[str, Any]:
        return {**self.identity, "engine": self.manager.engine_health(self.name).to_dict(),
                "worker": self.manager.worker.status()}

    def check_health(self) -> None:
        """Serve's periodic probe: a broken device makes Serve replace this replica."""
        poisoned = self.manager.worker.poisoned
        if poisoned is not None:
            raise RuntimeError(poisoned)


def _replica_device(preference: str) -> str:
    """``cuda`` when Ray gave this replica a GPU, else ``cpu`` (unless the settings insist on the CPU)."""
    if preference == "cpu":
        return "cpu"
    import ray

    return "cuda" if ray.get_gpu_ids() else "cpu"


def _replica_id() -> str:
    from ray import serve

    context = serve.get_replica_context()
    return f"{context.replica_id.deployment_id.name}#{context.replica_id.unique_id}"
