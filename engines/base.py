"""What every engine adapter provides to the manager."""

from __future__ import annotations

import gc
import logging
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from typing import Any, Hashable

from .errors import EngineUnavailableError
from .settings import resolve_device
from .sources import hub_offline
from .types import EngineHealth, EngineJob, EngineOutput

logger = logging.getLogger(__name__)


class LRUCache:
    """A small bounded mapping for per-voice preprocessing results."""

    def __init__(self, capacity: int = 32):
        self.capacity = capacity
        self._items: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable) -> Any | None:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        return None

    def put(self, key: Hashable, value: Any) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class Engine(ABC):
    """One TTS model: loads it, runs it, says what it is. The manager decides when.

    Adapters are not thread-safe on their own; the manager serialises loads and
    synthesis per engine.
    """

    name: str
    display_name: str
    sample_rate: int = 24000

    def __init__(self, device_preference: str = "auto"):
        self.device_preference = device_preference
        self.device: str | None = None
        self.load_s: float | None = None
        self.gpu_memory_mb: float | None = None
        self.load_details: dict[str, Any] = {}

    # --- identity -------------------------------------------------------------------
    @property
    @abstractmethod
    def languages(self) -> tuple[str, ...]:
        """Canonical language codes this engine serves (declared before load, exact after)."""

    @property
    @abstractmethod
    def model_spec(self) -> str:
        """Where the weights come from (a path or hf:// spec)."""

    @abstractmethod
    def missing_weights(self) -> list[tuple[str, str, str]]:
        """(what, where, variable to set) for each weight source not on this machine (no network)."""

    def weights_present(self) -> bool:
        return not self.missing_weights()

    @property
    def license(self) -> str | None:
        return None

    # --- lifecycle --------------------------------------------------------------------
    @property
    @abstractmethod
    def is_loaded(self) -> bool: ...

    def load(self) -> None:
        """Load the weights; raises ``EngineUnavailableError`` (or a subclass) on failure."""
        import torch

        self.device = resolve_device(self.device_preference)
        on_gpu = self.device == "cuda"
        before = torch.cuda.memory_allocated() if on_gpu else 0
        start = time.perf_counter()
        self._load(self.device)
        self.load_s = round(time.perf_counter() - start, 3)
        if on_gpu:
            self.gpu_memory_mb = round((torch.cuda.memory_allocated() - before) / 2**20, 1)
        logger.info("engine loaded", extra={"engine": self.name, "device": self.device, "load_s": self.load_s,
                                            **self.load_details})

    @abstractmethod
    def _load(self, device: str) -> None: ...

    def unload(self) -> None:
        self._unload()
        self.gpu_memory_mb = None
        gc.collect()
        free_gpu_cache()

    @abstractmethod
    def _unload(self) -> None: ...

    def health(self, load_error: str | None = None) -> EngineHealth:
        """What this engine is and whether it can serve; never loads or downloads anything.

        ``load_error`` is the manager's remembered load failure, if any.
        """
        missing = [] if self.is_loaded else self.missing_weights()
        error = load_error
        if self.is_loaded:
            status = "available"
        elif error is not None:
            status = "unavailable"
        elif missing and (hub_offline() or any(not where.startswith("hf://") for _, where, _ in missing)):
            status = "unavailable"
            error = "; ".join(f"{what} missing ({where}): set {var}" for what, where, var in missing)
        else:
            status = "not_loaded"  # weights on disk, or downloadable on first load
        return EngineHealth(
            engine_name=self.name, status=status, device=self.device or self._planned_device(),
            sample_rate=self.sample_rate, languages=list(self.languages), model=self.model_spec,
            weights_present=self.is_loaded or not missing, load_s=self.load_s, error=error,
            license=self.license, gpu_memory_mb=self.gpu_memory_mb, details=dict(self.load_details),
        )

    def _planned_device(self) -> str:
        try:
            return resolve_device(self.device_preference)
        except EngineUnavailableError:
            return f"{self.device_preference} (not available)"

    # --- work -------------------------------------------------------------------------
    def cannot_serve(self, job: EngineJob) -> str | None:
        """Why this engine cannot take ``job`` (checked before running), or None."""
        if job.language not in self.languages:
            return f"{self.name} does not serve language {job.language} (serves {', '.join(self.languages)})"
        return None

    @abstractmethod
    def synthesize(self, job: EngineJob) -> EngineOutput: ...


def free_gpu_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def report(job: EngineJob, fraction: float, message: str) -> None:
    if job.progress is not None:
        job.progress(min(1.0, max(0.0, fraction)), message)


def seed_everything(seed: int) -> None:
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
