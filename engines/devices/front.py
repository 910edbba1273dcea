"""``EngineFront``: the manager's engine, when the engine's work runs somewhere else;
``FrontManager``: the manager over such engines.

An ``EngineManager`` holds one ``Engine`` per name and never asks where the work goes. A
front stands in that place for an engine that runs on other devices' workers
(``EnginePool``) or in Ray Serve replicas (``engines.remote.RemoteEngine``), so validation,
the fallback loop, voices and results stay the manager's own code, whatever the layout.

What the manager asks before running (the name, the languages, whether a job can be served,
the reference a voice needs) comes from ``template``: an adapter of the same engine with the
same settings. The work goes through ``render_scheduled`` / ``stream_scheduled``, which the
manager's dispatcher calls on the request's own thread, as it does for an engine that
schedules its own work: the front hands the job on and waits.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ..base import Engine
from ..errors import InputError
from ..manager import EngineManager
from ..types import EngineHealth, EngineJob, EngineOutput

if TYPE_CHECKING:
    from ..worker import DeviceWorker


class EngineFront(Engine):
    """An engine seen from the manager; subclasses say where its work runs."""

    def __init__(self, template: Engine):
        super().__init__(template.device_preference)
        self.template = template
        self.name = template.name
        self.display_name = template.display_name
        self.sample_rate = template.sample_rate
        self.needs_reference = template.needs_reference
        self.normalizes_text = template.normalizes_text
        self.max_reference_seconds = template.max_reference_seconds

    # --- identity: the template's ------------------------------------------------------
    @property
    def languages(self) -> tuple[str, ...]:
        return self.template.languages

    @property
    def model_spec(self) -> str:
        return self.template.model_spec

    def missing_weights(self) -> list[tuple[str, str, str]]:
        return self.template.missing_weights()

    @property
    def license(self) -> str | None:
        return self.template.license

    def cannot_serve(self, job: EngineJob) -> str | None:
        return self.template.cannot_serve(job)

    # --- work: handed on ----------------------------------------------------------------
    def schedules_itself(self) -> bool:
        return True

    def synthesize(self, job: EngineJob) -> EngineOutput:
        return self.render_scheduled(job, None)

    def stream(self, job: EngineJob) -> Iterator[np.ndarray]:
        yield from self.stream_scheduled(job, None)

    @abstractmethod
    def render_scheduled(self, job: EngineJob, worker: "DeviceWorker | None") -> EngineOutput:
        """On the request's thread: run ``job`` where the engine runs and wait for its output."""

    @abstractmethod
    def stream_scheduled(self, job: EngineJob, worker: "DeviceWorker | None") -> Iterator[np.ndarray]:
        """On the request's thread: ``job``'s chunks as they are made (returns once the first exists)."""

    # --- lifecycle: where the engine runs ----------------------------------------------------
    @abstractmethod
    def ready(self) -> str | None:
        """None when the engine serves somewhere (loading it where it must), else why it cannot."""

    @abstractmethod
    def load_everywhere(self) -> None:
        """Load (or retry loading) the engine wherever it runs."""

    @abstractmethod
    def unload(self) -> None:
        """Unload the engine wherever it runs; the next request loads it again."""

    def _load(self, device: str) -> Any:
        raise TypeError(f"{type(self).__name__} loads {self.display_name} where it runs: call load()")

    def _activate(self, staged: Any) -> None:
        raise TypeError(f"{type(self).__name__} loads {self.display_name} where it runs: call load()")

    def _unload(self) -> None:
        raise TypeError(f"{type(self).__name__} unloads {self.display_name} where it runs: call unload()")


class FrontManager(EngineManager):
    """A manager whose engines are fronts: loading, unloading and health are theirs, done wherever
    the engine runs (every device it is placed on, every replica)."""

    def ensure_loaded(self, name: str) -> str | None:
        return self.engine(name).ready()

    def load(self, name: str) -> dict[str, Any]:
        self.engine(name).load_everywhere()
        return self.engine_health(name).to_dict()

    def unload(self, name: str) -> dict[str, Any]:
        self.engine(name).unload()
        return self.engine_health(name).to_dict()

    def engine_health(self, name: str) -> EngineHealth:
        return self.engine(name).health()

    switches_models = False

    def switch_model(self, name: str, choice: Any, progress: Any = None) -> dict[str, Any]:
        """Refused: a model switch swaps one worker's weights; over several devices or replicas every
        one of them would have to switch together, so the model is chosen at start instead."""
        raise InputError("the model cannot be switched while the engines run on several devices or Ray Serve "
                         "replicas; set F5TTS_MODEL (or F5TTS_CKPT) and restart")
