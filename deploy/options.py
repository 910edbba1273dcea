"""How many replicas each engine gets on Ray Serve, and what each asks of the cluster.

Read from the environment (``python -m engines serve-ray``) or from the ``args`` of
``deploy/serve.yaml`` (``serve run``, KubeRay), with the same words; ``args`` win. A value
is one setting for every engine (``1:4``) or one per engine (``f5tts=1:4;xtts=2``):

  VOICE_STUDIO_RAY_REPLICAS        min:max replicas (autoscaled on ongoing requests), or N (fixed); default 1
  VOICE_STUDIO_RAY_GPUS            GPUs per replica, fractions allowed (0.5: two replicas share a card);
                                   default 1 where the cluster has GPUs, else 0 (the CPU)
  VOICE_STUDIO_RAY_CPUS            CPUs per replica, fractions allowed; default 1
  VOICE_STUDIO_RAY_TARGET_ONGOING  requests per replica the autoscaler aims at; default 2
  VOICE_STUDIO_RAY_MAX_ONGOING     requests a replica holds at once (more wait in Serve); default 8
  VOICE_STUDIO_RAY_INGRESS_CPUS    the app's ingress (page, /v1, Studio); default 1
  VOICE_STUDIO_RAY_INGRESS_GPUS    default 0 (give it one for the video pipeline's models)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engines import InputError

MAX_REPLICAS = 1000
INGRESS_MAX_ONGOING = 1000   # every open page holds a request (its event stream) on the ingress

# args key (serve.yaml) -> environment variable
VARIABLES = {"replicas": "VOICE_STUDIO_RAY_REPLICAS", "gpus": "VOICE_STUDIO_RAY_GPUS",
             "cpus": "VOICE_STUDIO_RAY_CPUS", "target_ongoing": "VOICE_STUDIO_RAY_TARGET_ONGOING",
             "max_ongoing": "VOICE_STUDIO_RAY_MAX_ONGOING", "ingress_cpus": "VOICE_STUDIO_RAY_INGRESS_CPUS",
             "ingress_gpus": "VOICE_STUDIO_RAY_INGRESS_GPUS"}


@dataclass(frozen=True)
class ReplicaOptions:
    """One engine's deployment."""

    min_replicas: int = 1
    max_replicas: int = 1            # more than min_replicas: autoscaled between the two
    num_gpus: float = 0.0            # per replica; a fraction shares a card
    num_cpus: float = 1.0            # per replica
    target_ongoing_requests: float = 2.0
    max_ongoing_requests: int = 8

    def deployment_kwargs(self) -> dict[str, Any]:
        """``serve.deployment`` arguments."""
        kwargs: dict[str, Any] = {"max_ongoing_requests": self.max_ongoing_requests,
                                  "ray_actor_options": {"num_gpus": self.num_gpus, "num_cpus": self.num_cpus}}
        if self.min_replicas == self.max_replicas:
            kwargs["num_replicas"] = self.min_replicas
        else:
            kwargs["autoscaling_config"] = {"min_replicas": self.min_replicas, "max_replicas": self.max_replicas,
                                            "initial_replicas": self.min_replicas,
                                            "target_ongoing_requests": self.target_ongoing_requests}
        return kwargs


@dataclass(frozen=True)
class ClusterOptions:
    """Every engine's deployment and the ingress's."""

    engines: tuple[tuple[str, ReplicaOptions], ...]
    ingress_cpus: float = 1.0
    ingress_gpus: float = 0.0

    @property
    def capacity(self) -> int:
        """How many syntheses the ingress lets run at once: what the replicas hold at their most."""
        return sum(o.max_replicas * o.max_ongoing_requests for _, o in self.engines)

    def of(self, engine: str) -> ReplicaOptions:
        return dict(self.engines)[engine]

    def ingress_kwargs(self) -> dict[str, Any]:
        # One ingress: Gradio keeps each page's queue in the process that serves it.
        return {"num_replicas": 1, "max_ongoing_requests": INGRESS_MAX_ONGOING,
                "ray_actor_options": {"num_cpus": self.ingress_cpus, "num_gpus": self.ingress_gpus}}

    @classmethod
    def read(cls, engines: Sequence[str], env: Mapping[str, str], args: Mapping[str, Any] | None = None,
             cluster_has_gpus: bool = False) -> "ClusterOptions":
        """From ``env``, with serve.yaml's ``args`` (same keys as ``VARIABLES``) taking precedence."""
        args = dict(args or {})
        unknown = sorted(set(args) - set(VARIABLES))
        if unknown:
            raise InputError(f"serve.yaml args: unknown {', '.join(unknown)}; known: {', '.join(VARIABLES)}")

        def value(key: str) -> str:
            raw = args.get(key, env.get(VARIABLES[key]))
            return "" if raw is None else str(raw).strip()

        replicas = _per_engine(value("replicas"), VARIABLES["replicas"], engines, _replica_range, (1, 1))
        gpus = _per_engine(value("gpus"), VARIABLES["gpus"], engines, _amount, 1.0 if cluster_has_gpus else 0.0)
        cpus = _per_engine(value("cpus"), VARIABLES["cpus"], engines, _amount, 1.0)
        target = _per_engine(value("target_ongoing"), VARIABLES["target_ongoing"], engines, _positive, 2.0)
        most = _per_engine(value("max_ongoing"), VARIABLES["max_ongoing"], engines, _count, 8)
        options = tuple((name, ReplicaOptions(replicas[name][0], replicas[name][1], gpus[name], cpus[name],
                                              target[name], most[name])) for name in engines)
        for name, o in options:
            if o.num_gpus == 0 and o.num_cpus == 0:
                raise InputError(f"{name}: a replica must ask for some GPU or CPU "
                                 f"({VARIABLES['gpus']}, {VARIABLES['cpus']})")
        return cls(options, _amount(value("ingress_cpus") or "1", VARIABLES["ingress_cpus"]),
                   _amount(value("ingress_gpus") or "0", VARIABLES["ingress_gpus"]))


def _per_engine(value: str, name: str, engines: Sequence[str], parse: Callable[[str, str], Any], default: Any
                ) -> dict[str, Any]:
    """``X`` for every engine, or ``engine=X;engine=Y`` (an engine left out keeps ``default``)."""
    if len(value) > 500:
        raise InputError(f"{name} is {len(value)} characters long; at most 500")
    if not value:
        return {engine: default for engine in engines}
    if "=" not in value:
        one = parse(value, name)
        return {engine: one for engine in engines}
    chosen: dict[str, Any] = {}
    for part in (p.strip() for p in value.split(";") if p.strip()):
        engine, sep, raw = (x.strip() for x in part.partition("="))
        if not sep or engine not in engines:
            raise InputError(f"{name}: {part!r} is not engine=value with an engine of {', '.join(engines)}")
        if engine in chosen:
            raise InputError(f"{name} sets {engine} twice")
        chosen[engine] = parse(raw, f"{name} ({engine})")
    return {engine: chosen.get(engine, default) for engine in engines}


def _replica_range(raw: str, name: str) -> tuple[int, int]:
    low, sep, high = raw.partition(":")
    low_n = _count(low, name, zero=True)
    high_n = _count(high, name) if sep else low_n
    if high_n < max(1, low_n):
        raise InputError(f"{name}={raw!r}: use min:max with max at least 1 and at least min (e.g. 1:4), or N")
    return low_n, high_n


def _count(raw: str, name: str, zero: bool = False) -> int:
    raw = str(raw).strip()
    if not raw.isdigit() or not (0 if zero else 1) <= int(raw) <= MAX_REPLICAS:
        raise InputError(f"{name}={raw!r} is not a whole number from {0 if zero else 1} to {MAX_REPLICAS}")
    return int(raw)


def _amount(raw: str, name: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"{name}={raw!r} is not a number") from None
    if not math.isfinite(value) or value < 0 or value > 1024:
        raise InputError(f"{name}={raw!r} is out of range (0 to 1024)")
    return value


def _positive(raw: str, name: str) -> float:
    value = _amount(raw, name)
    if value <= 0:
        raise InputError(f"{name}={raw!r} must be more than 0")
    return value
