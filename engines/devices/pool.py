"""One engine on several devices: ``EnginePool`` sends each job to the least-loaded one.

Each device has its own ``EngineManager`` (its engines, its one worker thread, its batching
and captures); a pool holds the devices an engine is placed on (``Member``) and speaks for
the engine to the router's manager (``EngineFront``). A request goes to the device with the
fewest requests in flight (``DeviceLoad``: queued or running, every engine of that device
counted, since they share its worker), among those whose copy of the engine is loaded and
whose device works; ties go to the emptier worker queue, then in turn.

What an engine derives from a voice (F5's prepared reference, XTTS's conditioning latents)
is cached by the engine adapter, so each device keeps its own copy.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ..base import Engine, free_gpu_cache
from ..errors import EngineUnavailableError
from ..types import EngineHealth, EngineJob, EngineOutput
from .front import EngineFront

if TYPE_CHECKING:
    from ..manager import EngineManager

logger = logging.getLogger("voice_studio.devices")

# The device a request was given when it arrived (``EnginePool.reserve``), so its job runs
# where its batch was told to wait for it.
_RESERVED: contextvars.ContextVar["tuple[EnginePool, Member] | None"] = contextvars.ContextVar(
    "reserved_device", default=None)

# A merged health takes the best status its devices have, in this order.
_STATUS_RANK = ("available", "loading", "not_loaded", "unavailable")


class DeviceLoad:
    """Requests in flight per device, as the router counts them (every engine of the device)."""

    def __init__(self, labels: Sequence[str]):
        self._counts = {label: 0 for label in labels}
        self._lock = threading.Lock()
        self._turn = itertools.count()

    def least(self, members: Sequence["Member"]) -> "Member":
        """The member whose device has the fewest requests in flight; then the emptier queue; then in turn."""
        turn = next(self._turn)
        with self._lock:
            counts = {m.label: self._counts[m.label] for m in members}
        order = {m.label: (i - turn) % len(members) for i, m in enumerate(members)}
        return min(members, key=lambda m: (counts[m.label], m.manager.worker.queued, order[m.label]))

    def acquire(self, label: str) -> None:
        with self._lock:
            self._counts[label] += 1

    def release(self, label: str) -> None:
        with self._lock:
            self._counts[label] -= 1

    @contextmanager
    def holding(self, label: str) -> Iterator[None]:
        self.acquire(label)
        try:
            yield
        finally:
            self.release(label)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


@dataclass(frozen=True)
class Member:
    """One device an engine runs on: its label and the device's own manager."""

    label: str
    manager: "EngineManager"


class EnginePool(EngineFront):
    """``name`` on every device in ``members``; jobs go to the least-loaded one."""

    def __init__(self, name: str, members: Sequence[Member], load: DeviceLoad):
        if not members:
            raise ValueError(f"engine {name} is placed on no device")
        super().__init__(members[0].manager.engine(name))
        self.members = tuple(members)
        self.load_counter = load
        self.device = ", ".join(m.label for m in self.members)

    def engine_on(self, member: Member) -> Engine:
        return member.manager.engines[self.name]

    @property
    def is_loaded(self) -> bool:
        return any(self.engine_on(m).is_loaded for m in self.members)

    def knows_speaker(self, speaker: str) -> bool:
        return any(self.engine_on(m).knows_speaker(speaker) for m in self._ready())

    def natural_seconds(self, job: EngineJob) -> float | None:
        return self.engine_on(self._pick()).natural_seconds(job)

    # --- choosing a device ----------------------------------------------------------------
    def _ready(self) -> list[Member]:
        return [m for m in self.members if self.engine_on(m).is_loaded and m.manager.worker.poisoned is None]

    def _pick(self) -> Member:
        """The least-loaded device with the engine loaded; before the first load, any working device."""
        working = [m for m in self.members if m.manager.worker.poisoned is None]
        return self.load_counter.least(self._ready() or working or list(self.members))

    @contextmanager
    def reserve(self) -> Iterator[Member]:
        """Around a whole request for this engine: its device, chosen now and counted until the
        end; the device's batches may wait for it while it is prepared (``arriving``)."""
        member = self._pick()
        token = _RESERVED.set((self, member))
        try:
            with self.load_counter.holding(member.label), member.manager.worker.arriving(self.name):
                yield member
        finally:
            _RESERVED.reset(token)

    def _reserved_member(self) -> Member | None:
        """The device ``reserve`` chose for this request, if it is this engine's and can still serve."""
        reserved = _RESERVED.get()
        if reserved is not None and reserved[0] is self and reserved[1] in self._ready():
            return reserved[1]
        return None

    @contextmanager
    def _placed(self) -> Iterator[Member]:
        """The device reserved for this request (already counted); else the least-loaded, counted."""
        member = self._reserved_member()
        if member is not None:
            yield member
            return
        member = self._pick()
        with self.load_counter.holding(member.label):
            yield member

    # --- work ---------------------------------------------------------------------------
    def render_scheduled(self, job: EngineJob, worker=None) -> EngineOutput:
        with self._placed() as member:
            output = self._on(member, lambda: member.manager.dispatch.render(self.engine_on(member), job))
        return replace(output, details={**output.details, "device": member.label})

    def stream_scheduled(self, job: EngineJob, worker=None) -> Iterator[np.ndarray]:
        member = self._reserved_member() or self._pick()
        self.load_counter.acquire(member.label)
        try:
            chunks = self._on(member, lambda: member.manager.dispatch.stream(self.engine_on(member), job))
        except BaseException:
            self.load_counter.release(member.label)
            raise
        return _HeldChunks(chunks, lambda: self.load_counter.release(member.label), {"device": member.label})

    def _on(self, member: Member, run):
        try:
            return run()
        except Exception as exc:
            if _is_out_of_memory(exc):  # that device's cache, not the router's first device
                member.manager.worker.call(free_gpu_cache, label="free GPU cache")
            raise

    # --- lifecycle ----------------------------------------------------------------------
    def ready(self) -> str | None:
        """Load the engine on every device it is placed on (one after another: loads are
        serialised in the process); None when at least one device serves it, else every reason."""
        reasons = {m.label: m.manager.worker.poisoned or m.manager.ensure_loaded(self.name) for m in self.members}
        failed = {label: why for label, why in reasons.items() if why is not None}
        if failed and len(failed) < len(reasons):
            logger.warning("engine unavailable on some devices", extra={"engine": self.name, "failed": failed})
        if len(failed) == len(reasons):
            return "; ".join(f"{label}: {why}" for label, why in failed.items())
        return None

    def load(self, worker=None) -> None:
        """Load on every device; raises when no device could."""
        reason = self.ready()
        if reason is not None:
            raise EngineUnavailableError(reason)

    def load_everywhere(self) -> None:
        """Load (or retry) on every device; each device's health says how it went."""
        for member in self.members:
            member.manager.load(self.name)

    def unload(self) -> None:
        """Unload on every device, each after the work queued there before it."""
        for member in self.members:
            member.manager.unload(self.name)

    def health(self, load_error: str | None = None) -> EngineHealth:
        """The best device's health, with every device's status under ``details["devices"]``."""
        each = {m.label: m.manager.engine_health(self.name) for m in self.members}
        best = min(each.values(), key=lambda h: _STATUS_RANK.index(h.status) if h.status in _STATUS_RANK else 9)
        devices = {label: {"status": h.status, "error": h.error, "load_s": h.load_s, "gpu_memory_mb": h.gpu_memory_mb,
                           **({"warmup": h.details["warmup"]} if "warmup" in h.details else {})}
                   for label, h in each.items()}
        up = sum(1 for h in each.values() if h.status == "available")
        memory = [h.gpu_memory_mb for h in each.values() if h.gpu_memory_mb is not None]
        error = best.error if best.status == "unavailable" else None
        errors = {label: h.error for label, h in each.items() if h.error}
        if error is not None and len(set(errors.values())) > 1:  # the devices disagree: each says its own
            error = "; ".join(f"{label}: {why}" for label, why in errors.items())
        return replace(best, device=self.device, error=error, gpu_memory_mb=round(sum(memory), 1) if memory else None,
                       details={**best.details, "devices": devices, "devices_up": up})


class _HeldChunks:
    """A stream's chunks; ``release`` is called once, when they end, fail or are closed (or dropped)."""

    def __init__(self, chunks: Iterator[np.ndarray], release, details: dict[str, str]):
        self._chunks = chunks
        self._release = release
        self.details = details  # where the stream runs, for the result's metadata
        self._closed = False

    def __iter__(self) -> "_HeldChunks":
        return self

    def __next__(self) -> np.ndarray:
        try:
            return next(self._chunks)
        except BaseException:  # the end (StopIteration) or a failure: the device is free of it either way
            self.close()
            raise

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()
        finally:
            self._release()

    def __del__(self) -> None:
        self.close()


def _is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError)
