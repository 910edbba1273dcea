"""``RemoteEngine``: an engine whose replicas run on Ray Serve, seen from the app's manager.

Each job goes through the engine deployment's ``DeploymentHandle``; Serve picks the replica
(its router balances on ongoing requests). A replica that dies while it holds a job (a
crash, a lost node) is dropped by Serve's router, and the job is sent once more, unchanged
(same seed, same text), to another replica; a second death is a clear error that the
manager's fallback loop records like any other. A stream is retried only before its first
chunk: after that the audio has left, and the stream ends with the error instead.

An exception the engine raises in a replica is raised here as it was raised there (Ray's
wrapper is taken off), so ``InputError`` still ends the fallback loop and messages stay the
engine's own. Health aggregates the replicas: ``broadcast("health")`` to each running one,
and Serve's own count of replicas still starting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..base import Engine, report
from ..errors import EngineUnavailableError
from ..types import EngineHealth, EngineJob, EngineOutput
from ..devices.front import EngineFront

logger = logging.getLogger("voice_studio.remote")

TRIES = 2               # a job's first try and its one retry on another replica
HEALTH_TIMEOUT_S = 5.0  # a replica that cannot say how it is within this is counted as failed
_STARTING_STATES = ("STARTING", "UPDATING", "RECOVERING")


@dataclass
class ReplicaCounts:
    """How many replicas of one engine are up, loading or failed, and what Serve says."""

    up: int = 0
    loading: int = 0
    failed: int = 0
    error: str | None = None
    serve: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"up": self.up, "loading": self.loading, "failed": self.failed, "error": self.error,
                "serve": dict(self.serve)}


class RemoteEngine(EngineFront):
    """``template``'s engine, served by the Ray Serve deployment behind ``handle``."""

    def __init__(self, template: Engine, handle: Any):
        super().__init__(template)
        self.handle = handle
        self.device = "ray"
        self._served = False  # a replica has said it serves the engine (the base's ``_loaded`` holds local parts)
        self._languages: tuple[str, ...] | None = None
        self._speakers: dict[str, bool] = {}
        self.replicas = ReplicaCounts()

    @property
    def languages(self) -> tuple[str, ...]:
        return self._languages or self.template.languages

    @property
    def is_loaded(self) -> bool:
        return self._served

    # --- calls ----------------------------------------------------------------------------
    def _retried(self, attempt_once: Callable[[], Any], doing: str) -> Any:
        """``attempt_once()`` (one call, on the replica Serve picks), once more on another replica
        when that one dies; a replica's own exception is raised as it was raised there."""
        from ray.exceptions import ActorDiedError, ActorUnavailableError, RayTaskError
        from ray.serve.exceptions import DeploymentUnavailableError

        for attempt in range(1, TRIES + 1):
            try:
                return attempt_once()
            except RayTaskError as exc:
                raise _cause(exc) from None
            except DeploymentUnavailableError as exc:
                raise EngineUnavailableError(f"{self.display_name}: no replica can take requests now "
                                             "(Serve reports its deployment unavailable)") from exc
            except (ActorDiedError, ActorUnavailableError) as exc:
                if attempt == TRIES:
                    raise EngineUnavailableError(f"{self.display_name}: {TRIES} replicas stopped while {doing}; "
                                                 "the request was not served (see the replicas under health)") from exc
                logger.warning("replica stopped; retrying on another", extra={
                    "engine": self.name, "doing": doing, "error": type(exc).__name__})
        raise AssertionError("unreachable")

    def _call(self, method: str, *args: Any, doing: str) -> Any:
        return self._retried(lambda: getattr(self.handle, method).remote(*args).result(), doing)

    def render_scheduled(self, job: EngineJob, worker=None) -> EngineOutput:
        report(job, 0.02, f"{self.display_name} on a Ray Serve replica…")
        output = self._call("render", _portable(job), doing="rendering")
        self._served = True
        return output

    def stream_scheduled(self, job: EngineJob, worker=None) -> Iterator[np.ndarray]:
        portable = _portable(job)

        def open_stream() -> _RemoteChunks:
            chunks = self.handle.options(stream=True).stream.remote(portable)
            where = next(chunks, None)  # the replica's device and id, then the audio
            first = next(chunks, None)
            if first is None:
                raise RuntimeError(f"{self.display_name} produced no audio")
            return _RemoteChunks(first, chunks, self.display_name, where)

        stream = self._retried(open_stream, doing="opening a stream")
        self._served = True
        return stream

    def natural_seconds(self, job: EngineJob) -> float | None:
        return self._call("natural_seconds", _portable(job), doing="measuring a text")

    def knows_speaker(self, speaker: str) -> bool:
        if speaker not in self._speakers:
            self._speakers[speaker] = bool(self._call("knows_speaker", speaker, doing="looking up a speaker"))
        return self._speakers[speaker]

    # --- lifecycle --------------------------------------------------------------------------
    def load(self, worker=None) -> None:
        """Make sure one replica has the engine loaded (replicas load when they start); raises why not."""
        health = self._call("load", doing="loading")["engine"]
        self._learn(health)
        if health["status"] != "available":
            raise EngineUnavailableError(health.get("error") or f"{self.display_name} did not load")

    def ready(self) -> str | None:
        """None once a replica serves the engine; else why not (asked again on the next
        request: a new replica may have come up meanwhile)."""
        if self._served:
            return None
        try:
            self.load()
        except Exception as exc:  # the replica's reason (or the replicas' loss) is the engine's
            return str(exc)
        return None

    def load_everywhere(self) -> None:
        """Load (or retry) on every running replica."""
        self._broadcast("load")

    def unload(self) -> None:
        """Unload on every running replica; a replica loads again on its next request."""
        self._broadcast("unload")
        self._served = False

    # --- health -----------------------------------------------------------------------------
    def health(self, load_error: str | None = None) -> EngineHealth:
        """The replicas' health merged: available while one is up; ``details`` has each replica."""
        each = self._replica_health()
        counts = ReplicaCounts(serve=self._serve_states())
        rows, best = [], None
        for entry in each:
            if isinstance(entry, Exception):
                counts.failed += 1
                counts.error = counts.error or f"a replica did not answer ({type(entry).__name__})"
                continue
            engine = entry["engine"]
            rows.append({k: entry.get(k) for k in ("replica", "host")} | {"status": engine["status"],
                                                                            "error": engine.get("error")})
            if engine["status"] == "available":
                counts.up += 1
                best = best or engine
            elif engine["status"] == "unavailable":
                counts.failed += 1
                counts.error = counts.error or engine.get("error")
            else:
                counts.loading += 1
        counts.loading += sum(n for state, n in counts.serve.items() if state in _STARTING_STATES)
        self.replicas = counts
        if best is not None:
            self._learn(best)
        else:
            self._served = False
        status = ("available" if counts.up else "loading" if counts.loading else
                  "unavailable" if counts.failed else "not_loaded")
        base = self.template.health(None)
        return replace(base, status=status, device=self.device, error=counts.error if status == "unavailable" else None,
                       languages=list(self.languages), weights_present=True if counts.up else base.weights_present,
                       load_s=best.get("load_s") if best else None,
                       gpu_memory_mb=best.get("gpu_memory_mb") if best else None,
                       details={**(best or {}).get("details", {}), "replicas": counts.to_dict(), "replica_health": rows})

    def _replica_health(self) -> list[Any]:
        """Each running replica's ``health()`` (an exception for one that did not answer)."""
        return self._broadcast("health", timeout_s=HEALTH_TIMEOUT_S)

    def _broadcast(self, method: str, timeout_s: float | None = None) -> list[Any]:
        """``method`` on every running replica; none running (all lost, or still starting) is an empty list."""
        from ray.serve.exceptions import DeploymentUnavailableError

        try:
            return self.handle.broadcast(method).results(timeout_s=timeout_s, return_exceptions=True)
        except DeploymentUnavailableError:
            return []
        except TimeoutError as exc:
            return [exc]

    def _serve_states(self) -> dict[str, int]:
        """Serve's count of this deployment's replicas by state (STARTING, RUNNING, ...)."""
        from ray import serve

        application = serve.status().applications.get(self.handle.app_name)
        deployment = application.deployments.get(self.handle.deployment_name) if application else None
        return {str(getattr(state, "value", state)): n for state, n in (deployment.replica_states if deployment else {}).items()}

    def _learn(self, health: dict[str, Any]) -> None:
        """What a loaded replica says of the engine: it is loaded, and the model's own languages."""
        if health.get("status") == "available":
            self._served = True
            self._languages = tuple(health.get("languages") or ()) or None


class _RemoteChunks:
    """A replica's stream, its first chunk already here; a replica lost midway ends it with a clear error."""

    def __init__(self, first: np.ndarray, chunks: Any, display_name: str, details: dict[str, Any]):
        self._first, self._chunks, self._display_name = first, chunks, display_name
        self.details = dict(details)  # where the stream runs, for the result's metadata
        self._count = 0

    def __iter__(self) -> "_RemoteChunks":
        return self

    def __next__(self) -> np.ndarray:
        from ray.exceptions import ActorDiedError, ActorUnavailableError, RayTaskError

        if self._first is not None:
            first, self._first = self._first, None
            self._count += 1
            return first
        try:
            chunk = next(self._chunks)
        except RayTaskError as exc:
            raise _cause(exc) from None
        except (ActorDiedError, ActorUnavailableError) as exc:
            raise EngineUnavailableError(f"the {self._display_name} replica serving this stream stopped after "
                                         f"{self._count} chunks; ask again") from exc
        self._count += 1
        return chunk

    def close(self) -> None:
        self._chunks.cancel()


def _portable(job: EngineJob) -> EngineJob:
    """``job`` as it crosses to a replica: the progress callback belongs to this process."""
    return replace(job, progress=None)


def _cause(exc: Exception) -> Exception:
    """The exception a replica raised, without Ray's wrapper (whose message carries Ray's traceback)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, Exception) else EngineUnavailableError(str(exc).splitlines()[0])
