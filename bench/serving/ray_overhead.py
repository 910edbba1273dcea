"""What the Ray Serve path costs: the stress bench's requests in-process, then through Ray
Serve with one replica per engine (``RemoteManager`` over the deployments' handles, as the
ingress calls them), on the same models, texts and seeds.

    python -m bench.serving.stress --ray --out ray_overhead.json            # a CUDA GPU, full-size random models
    python -m bench.serving.stress --ray --tiny --out /tmp/ray_tiny.json     # tiny models on the CPU: the plumbing only

Two phases on each side, every engine warm first:
- ``sequential``: N requests per engine one after another (the path's own cost: no queueing);
- ``mixed``: 16 users x ``--per-user`` mixed requests (presets, clones, every profile, a
  quarter streamed), as ``bench.serving.stress``'s mixed phase.

On one GPU the two replicas get half a card each and run side by side, where in-process
the two engines take turns on one worker thread: the mixed phase says what that does, the
sequential phase is the overhead proper. Target: p50 overhead at most 5 %, no errors.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import statistics
import time
from collections.abc import Iterator

import torch

from bench.serving.traffic import Tally, run_threads
from engines import EngineManager, Settings, SynthesisRequest
from engines.types import ENGINE_NAMES

logger = logging.getLogger("bench.serving.ray_overhead")

TARGET_OVERHEAD = 0.05
SEQUENTIAL_TEXT = ("The quick brown fox jumps over a lazy dog near the quiet river bank, "
                   "while morning light falls on the old wooden houses.")


def run(env: dict[str, str], reference: str, per_user: int, sequential: int, tiny: bool, report: dict,
        save=lambda: None) -> dict:
    """Fills ``report`` (``save()`` after each side, so a run cut short keeps what it measured)."""
    manager = EngineManager(Settings.from_env(env))
    report["in_process"] = measure(manager, reference, per_user, sequential)
    save()
    for name in manager.engines:  # the card's memory goes to the replicas
        manager.unload(name)
    del manager
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    with ray_engines(env, tiny) as remote:
        report["ray"] = measure(remote, reference, per_user, sequential)
        report["ray"]["replicas"] = remote.health()["replicas"]
    report["overhead"] = overhead(report["in_process"], report["ray"])
    report["target_overhead"] = TARGET_OVERHEAD
    return report


def measure(manager, reference: str, per_user: int, sequential: int) -> dict:
    warm(manager)
    seq = {}
    for engine in ENGINE_NAMES:
        times = []
        for i in range(sequential + 1):  # the first request of each engine is not timed
            start = time.perf_counter()
            manager.synthesize(SynthesisRequest(text=SEQUENTIAL_TEXT, language="en", engine=engine,
                                                voice_preset="female_generic", seed=100 + i, allow_fallback=False))
            if i:
                times.append(time.perf_counter() - start)
        seq[engine] = {"requests": len(times), "p50_s": round(statistics.median(times), 4),
                       "mean_s": round(statistics.fmean(times), 4), "max_s": round(max(times), 4)}
    tally = Tally()
    wall = run_threads(manager, 16, per_user, 2, reference, tally, stream_share=0.25)
    return {"sequential": seq, "mixed": {"wall_s": round(wall, 2), **tally.summary()}}


def warm(manager, timeout_s: float = 900) -> None:
    """Both engines loaded and their background warm-up (graph captures) done, wherever they run."""
    deadline = time.perf_counter() + timeout_s
    for name in ENGINE_NAMES:
        assert manager.ensure_loaded(name) is None, manager.engine_health(name).error
        while time.perf_counter() < deadline:
            state = (manager.engine_health(name).details.get("warmup") or {}).get("state")
            if state in (None, "ready", "partial", "failed"):
                break
            time.sleep(0.5)


def overhead(local: dict, remote: dict) -> dict:
    def ratio(a, b):
        return round(b / a - 1, 4) if a and b else None

    out = {f"sequential_{e}_p50": ratio(local["sequential"][e]["p50_s"], remote["sequential"][e]["p50_s"])
           for e in ENGINE_NAMES}
    out["mixed_p50"] = ratio(local["mixed"]["p50_s"], remote["mixed"]["p50_s"])
    out["mixed_p95"] = ratio(local["mixed"]["p95_s"], remote["mixed"]["p95_s"])
    out["errors"] = local["mixed"]["errors"] + remote["mixed"]["errors"]
    out["sequential_within_target"] = all(out[f"sequential_{e}_p50"] is not None
                                          and out[f"sequential_{e}_p50"] <= TARGET_OVERHEAD for e in ENGINE_NAMES)
    return out


@contextlib.contextmanager
def ray_engines(env: dict[str, str], tiny: bool) -> Iterator:
    """A local Ray cluster with one replica per engine (half a card each on a GPU); the
    ``RemoteManager`` over their handles."""
    import ray
    from ray import serve

    from deploy.application import engine_deployments
    from deploy.options import ClusterOptions
    from engines.remote import RemoteManager

    gpu = torch.cuda.is_available()
    ray.init(num_cpus=2 if tiny else min(16, os.cpu_count() or 4), num_gpus=1 if gpu else 0,
             include_dashboard=False, log_to_driver=False)
    try:
        options = ClusterOptions.read(ENGINE_NAMES, {
            "VOICE_STUDIO_RAY_REPLICAS": "1", "VOICE_STUDIO_RAY_GPUS": "0.5" if gpu else "0",
            "VOICE_STUDIO_RAY_CPUS": "0.5" if tiny else "4", "VOICE_STUDIO_RAY_MAX_ONGOING": "64"})
        handles = {name: serve.run(app, name=f"bench-{name}", route_prefix=None)
                   for name, app in engine_deployments(options, {**os.environ, **env}).items()}
        yield RemoteManager(handles, Settings.from_env(env), capacity=options.capacity)
    finally:
        serve.shutdown()
        ray.shutdown()
