"""What every engine adapter provides to the manager.

Lifecycle: ``_load(device)`` reads and builds the model on the caller's thread (CPU work:
files, state dicts) and returns it staged; ``_activate(staged)`` runs on the device
worker (moving weights to the device, building accelerators) and makes the engine ready
in one assignment, so an engine is never seen half-loaded. ``start_warmup`` then prepares
the fast paths in the background (compile, graph captures) while the engine already
serves. Everything that touches the device runs on the worker (``engines/worker.py``).
"""

from __future__ import annotations

import gc
import logging
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import EngineUnavailableError
from .settings import resolve_device
from .weights.sources import DOWNLOAD_HINT, hub_offline
from .types import EngineHealth, EngineJob, EngineOutput

if TYPE_CHECKING:
    from .worker import DeviceWorker

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

    ``needs_reference``: the engine speaks only from a reference clip with its transcript
    (a preset gets one from the voice catalog). ``max_batch``: jobs that share a
    ``batch_key`` may be rendered together, this many at most. ``normalizes_text``: the
    engine reads text as written, so the manager writes numbers, money, dates... as words
    first (``engines/text/normalize``). ``max_reference_seconds``: how much of a reference clip
    the engine uses (a transcript made by speech recognition covers exactly that).
    """

    name: str
    display_name: str
    # The steps of a load, as a request waiting for it sees them ("loading F5-TTS: step 2 of 4, ...").
    # ``load`` reports the first before ``_load`` and the last before ``_activate``; ``_load`` may
    # report the ones between (``load_step``).
    load_steps: tuple[str, ...] = ("reading the weights", "moving the model to the device")
    sample_rate: int = 24000
    needs_reference: bool = False
    max_batch: int = 1
    normalizes_text: bool = False
    max_reference_seconds: float | None = None

    def __init__(self, device_preference: str = "auto"):
        self._loaded: Any = None  # the loaded parts (model, accelerator...), assigned in one step by _activate
        self.device_preference = device_preference
        self.device: str | None = None
        self.load_s: float | None = None
        self.gpu_memory_mb: float | None = None
        self.load_details: dict[str, Any] = {}
        self.warmup: dict[str, Any] = {}

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

    @property
    def license(self) -> str | None:
        return None

    @property
    def model_key(self) -> str | None:
        """Identifies the loaded model's weights, for caches derived from them (None before load)."""
        return None

    def served_model(self) -> dict[str, str]:
        """Which model the loaded engine runs, for a result's metadata: ``model`` (what was picked) and
        ``checkpoint`` (its weights, named as health names them)."""
        return {"model": self.model_spec, "checkpoint": self.model_spec}

    def settings_for(self, choice: Any) -> Any:
        """The settings that run the model ``choice`` names (``engines/switching.py``). An engine with a
        model picker overrides this and provides ``settings``, ``stage(settings)`` and ``configure(settings)``."""
        from .errors import InputError

        raise InputError(f"{self.display_name} has no model picker; its model is set with the environment")

    def knows_speaker(self, speaker: str) -> bool:
        """Whether this engine can speak as a named built-in speaker (loaded engines only)."""
        return False

    # --- lifecycle --------------------------------------------------------------------
    @property
    def is_loaded(self) -> bool:
        """True only when everything a request needs is ready."""
        return self._loaded is not None

    # The loaded parts, for benchmarks and tests that call upstream on the same objects.
    @property
    def model(self):
        return self._loaded.model if self._loaded is not None else None

    @property
    def accelerator(self):
        return self._loaded.accelerator if self._loaded is not None else None

    def load(self, worker: "DeviceWorker | None" = None, staged: Any = None) -> None:
        """Load the weights; raises ``EngineUnavailableError`` (or a subclass) on failure.

        The device part runs on ``worker`` (default: the process's worker for the device).
        ``staged``: what ``_load`` returned earlier (a model switch reads the new weights while the
        old model still serves); None reads them now. Each step is told to requests waiting for
        the load (``load_steps``).
        """
        import torch

        from .weights.downloads import download_progress
        from .worker import shared_worker

        self.device = resolve_device(self.device_preference)
        worker = worker or shared_worker(self.device)
        on_gpu = self.device == "cuda"
        start = time.perf_counter()
        try:
            if staged is None:
                self.load_step(self.load_steps[0])
                staged = self._load(self.device)
            before = worker.call(torch.cuda.memory_allocated, label="memory") if on_gpu else 0
            self.load_step(self.load_steps[-1])
            worker.call(lambda: self._activate(staged), label=f"activate {self.name}")
        finally:
            download_progress(self.name).end_steps()
        self.load_s = round(time.perf_counter() - start, 3)
        if on_gpu:
            self.gpu_memory_mb = round((worker.call(torch.cuda.memory_allocated, label="memory") - before) / 2**20, 1)
        logger.info("engine loaded", extra={"engine": self.name, "device": self.device, "load_s": self.load_s,
                                            **self.load_details})

    def load_step(self, what: str) -> None:
        """Tell requests waiting for this load that it is now doing ``what`` (one of ``load_steps``)."""
        from .weights.downloads import download_progress

        index = self.load_steps.index(what) + 1 if what in self.load_steps else len(self.load_steps)
        download_progress(self.name).begin_step(index, len(self.load_steps), what.replace(
            "the device", self.device or "the device"))

    @abstractmethod
    def _load(self, device: str) -> Any:
        """Read and build the model on the calling thread; return what ``_activate`` needs."""

    @abstractmethod
    def _activate(self, staged: Any) -> None:
        """On the device worker: put the staged model on ``self.device`` and make the engine ready."""

    def start_warmup(self, worker: "DeviceWorker") -> None:
        """Prepare the fast paths in the background; the engine serves meanwhile. Default: nothing."""

    @contextmanager
    def unloading(self) -> Iterator[None]:
        """On the caller's thread, around queueing an unload: an engine that schedules its own work
        lets the work in flight end first. Default: nothing."""
        yield

    def unload(self) -> None:
        """On the device worker, after the jobs queued before it."""
        self._unload()
        self.gpu_memory_mb = None
        self.warmup = {}
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
            if any(where.startswith("hf://") for _, where, _ in missing):
                error += f"; or {DOWNLOAD_HINT}"
        else:
            status = "not_loaded"  # weights on disk, or downloadable on first load
        details = {**self.load_details, "served_model": self.served_model()}
        if self.warmup:
            details["warmup"] = dict(self.warmup)
        return EngineHealth(
            engine_name=self.name, status=status, device=self.device or self._planned_device(),
            sample_rate=self.sample_rate, languages=list(self.languages), model=self.model_spec,
            weights_present=self.is_loaded or not missing, load_s=self.load_s, error=error,
            license=self.license, gpu_memory_mb=self.gpu_memory_mb, details=details,
        )

    def _planned_device(self) -> str:
        try:
            return resolve_device(self.device_preference)
        except EngineUnavailableError:
            return f"{self.device_preference} (not available)"

    # --- work (on the device worker) ----------------------------------------------------
    def cannot_serve(self, job: EngineJob) -> str | None:
        """Why this engine cannot take ``job`` (checked before running), or None."""
        if job.language not in self.languages:
            return f"{self.display_name} does not serve language {job.language} (serves {', '.join(self.languages)})"
        return None

    @abstractmethod
    def synthesize(self, job: EngineJob) -> EngineOutput:
        """Render ``job`` whole: ``EngineOutput.audio`` is float32 ``[samples]``, mono, at ``sample_rate``."""

    def batch_key(self, job: EngineJob) -> Hashable | None:
        """Jobs with equal keys may share ``synthesize_batch``; None: this job runs alone."""
        return None

    def synthesize_batch(self, jobs: Sequence[EngineJob]) -> list[EngineOutput | Exception]:
        """Render ``len(jobs)`` jobs; one output (audio float32 ``[samples_i]``) or exception per job, in
        order. Default: one after another."""
        results: list[EngineOutput | Exception] = []
        for job in jobs:
            try:
                results.append(self.synthesize(job))
            except Exception as exc:  # that job's own failure; the others still run
                results.append(exc)
        return results

    def schedules_itself(self) -> bool:
        """Whether this engine queues its own device work in pieces (continuous batching:
        ``render_scheduled`` / ``stream_scheduled``) instead of running a request as one job."""
        return False

    def render_scheduled(self, job: EngineJob, worker: "DeviceWorker") -> EngineOutput:
        """On the caller's thread: hand ``job``'s work to ``worker`` and wait for its output
        (audio float32 ``[samples]``)."""
        raise NotImplementedError(f"{self.display_name} does not schedule its own work")

    def stream_scheduled(self, job: EngineJob, worker: "DeviceWorker") -> Iterator[np.ndarray]:
        """On the caller's thread: ``job``'s chunks, float32 ``[samples_i]`` each, as ``worker`` makes
        them (returns once the first exists)."""
        raise NotImplementedError(f"{self.display_name} does not schedule its own work")

    def natural_seconds(self, job: EngineJob) -> float | None:
        """How long ``job`` will speak at its natural pace, where the engine knows before rendering."""
        return None

    def stream(self, job: EngineJob) -> Iterator[np.ndarray]:
        """Audio chunks as they are made, float32 ``[samples_i]`` each at ``sample_rate``, which joined
        are the whole clip; the default renders the whole clip as one chunk."""
        yield self.synthesize(job).audio


def free_gpu_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def report(job: EngineJob, fraction: float, message: str) -> None:
    if job.progress is not None:
        job.progress(min(1.0, max(0.0, fraction)), message)


def seed_everything(seed: int) -> None:
    """For upstream code that draws from the global generators (its CPU paths).

    Every engine job runs on the one device worker, so no other request draws between
    this call and the job's own draws.
    """
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
