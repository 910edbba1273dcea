"""The Ray Serve application: one deployment per engine, and the app's ingress calling them.

    serve run deploy/serve.yaml              # a config file (KubeRay's RayService takes the same)
    python -m engines serve-ray              # or the command line, on a local or running cluster

``build_application`` makes it (``build(args)`` is the builder serve.yaml names). Each engine deployment runs
``EngineReplica`` (the manager and device worker of one engine) with the replicas, GPUs and
autoscaling that ``ClusterOptions`` reads; the ingress deployment (``Ingress``) is the web
app over their handles. The Voice Studio variables of the process that builds the
application travel with every replica (``runtime_env``), so a replica on another host reads
the same models, caches and folders.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from engines.types import ENGINE_NAMES

from .options import ClusterOptions

APP_NAME = "voice-studio"
# The variables every replica needs as the builder saw them: models, folders, limits, offline switches.
FORWARDED_PREFIXES = ("VOICE_STUDIO_", "F5TTS_", "XTTS_", "HF_", "GRADIO_", "TRANSFORMERS_", "COQUI_")


def forwarded_environment(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(FORWARDED_PREFIXES)}


def build(args: dict[str, Any]):
    """Serve's application builder (``import_path: deploy.application:build``): ``args`` are
    serve.yaml's (``options.VARIABLES``'s keys), the rest comes from the environment."""
    return build_application(args)


def build_application(args: Mapping[str, Any] | None = None, *, replica_class: type | None = None,
                      env: Mapping[str, str] | None = None):
    """The bound application. ``replica_class`` replaces ``EngineReplica`` (tests inject faults
    with a subclass); ``env`` replaces the process's environment."""
    import ray
    from ray import serve

    from .ingress import Ingress

    env = os.environ if env is None else env
    has_gpus = ray.is_initialized() and ray.cluster_resources().get("GPU", 0) > 0
    options = ClusterOptions.read(ENGINE_NAMES, env, args, cluster_has_gpus=has_gpus)
    engines = engine_deployments(options, env, replica_class)
    ingress_kwargs = options.ingress_kwargs()
    ingress_kwargs["ray_actor_options"]["runtime_env"] = {"env_vars": forwarded_environment(env)}
    return serve.deployment(Ingress, name="ingress", **ingress_kwargs).bind(engines, options.capacity)


def engine_deployments(options: ClusterOptions, env: Mapping[str, str], replica_class: type | None = None) -> dict:
    """engine name -> its bound deployment (``EngineReplica``, or ``replica_class``)."""
    from ray import serve

    from engines.remote import EngineReplica

    runtime_env = {"env_vars": forwarded_environment(env)}
    engines = {}
    for name in ENGINE_NAMES:
        kwargs = options.of(name).deployment_kwargs()
        kwargs["ray_actor_options"]["runtime_env"] = runtime_env
        engines[name] = serve.deployment(replica_class or EngineReplica, name=name, **kwargs).bind(name)
    return engines
