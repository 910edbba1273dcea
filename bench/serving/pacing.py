"""The device worker's pace on CUDA (``engines/gpu/pacing.py``), on and off in one process.

While eight long F5 requests render as one batch, a short job that someone listens for (a
stream's first audio: an ``interleave`` job and a hurry) is queued every 0.2 s; how long each
waits to start is the figure a listener feels. The batch is also timed alone, to show what the
pacing costs it. Full-size random-weight models (``bench.serving.stress``'s), through the app's
manager; the modes alternate, two rounds each (``--rounds``).

    python -m bench.serving.pacing --out pacing.json     # CUDA, ~3 min; --work DIR reuses the models
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import threading
import time
from pathlib import Path

PROBE_EVERY_S = 0.2


def long_requests(reference: str):
    from bench.serving.traffic import REF_TEXT, random_text
    from engines import SynthesisRequest

    rng = random.Random(11)
    return [SynthesisRequest(text=random_text(rng, rng.randint(40, 70)), language="en", engine="f5tts",
                             reference_audio=reference, reference_text=REF_TEXT, seed=i, allow_fallback=False)
            for i in range(8)]


def render_batch(manager, requests, probe: bool) -> dict:
    """The 8 requests at once; with ``probe``, short listened-for jobs queued meanwhile and their waits."""
    worker, done, waits = manager.worker, threading.Event(), []
    barrier = threading.Barrier(len(requests) + 1)

    def one(request):
        barrier.wait()
        manager.synthesize(request)

    threads = [threading.Thread(target=one, args=(r,)) for r in requests]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    watcher = threading.Thread(target=lambda: ([t.join() for t in threads], done.set()))
    watcher.start()
    while probe and not done.wait(PROBE_EVERY_S):
        queued = time.perf_counter()
        future = worker.submit(time.perf_counter, label="probe", interleave=True)
        worker.hurry()
        waits.append(future.result() - queued)
    watcher.join()
    wall = time.perf_counter() - start
    out = {"wall_s": round(wall, 3)}
    if waits:
        ordered = sorted(waits)
        out.update(probes=len(waits), wait_p50_s=round(statistics.median(ordered), 4),
                   wait_p95_s=round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 4),
                   wait_max_s=round(ordered[-1], 4))
    return out


def main(argv=None) -> int:
    import torch

    from bench.kit.models import workdir
    from bench.serving.stress import build_models, build_tiny, wait_until_warm
    from engines import EngineManager, Settings
    from engines.gpu.pacing import HostPace

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="pacing.json")
    ap.add_argument("--work", default=None)
    ap.add_argument("--rounds", type=int, default=2, help="rounds of each mode (default 2)")
    ap.add_argument("--tiny", action="store_true", help="tiny models on the CPU (no pace there): checks the plumbing")
    args = ap.parse_args(argv)
    work = Path(args.work) if args.work else workdir()
    work.mkdir(parents=True, exist_ok=True)
    env = build_tiny(work) if args.tiny else build_models(work)
    manager = EngineManager(Settings.from_env(env))
    assert manager.ensure_loaded("f5tts") is None, manager.engine_health("f5tts").error
    wait_until_warm(manager.engines["f5tts"])
    requests = long_requests(str(work / "reference.wav"))
    render_batch(manager, requests, probe=False)  # first lengths: plans and warm kernels for both modes
    report = {"gpu": "cpu" if args.tiny else torch.cuda.get_device_name(0), "torch": torch.__version__, "rounds": []}
    for _ in range(args.rounds):
        for mode in ("paced", "unpaced"):
            manager.worker._pace = HostPace() if mode == "paced" and not args.tiny else None
            report["rounds"].append({"mode": mode, "alone": render_batch(manager, requests, probe=False),
                                     "probed": render_batch(manager, requests, probe=True)})
            Path(args.out).write_text(json.dumps(report, indent=1))
    manager.worker._pace = None if args.tiny else HostPace()

    def median(mode, part, key):
        return statistics.median(r[part][key] for r in report["rounds"] if r["mode"] == mode)

    report["summary"] = {mode: {"batch_alone_s": median(mode, "alone", "wall_s"),
                                "probe_wait_p50_s": median(mode, "probed", "wait_p50_s"),
                                "probe_wait_max_s": median(mode, "probed", "wait_max_s")}
                         for mode in ("paced", "unpaced")}
    s = report["summary"]
    report["summary"]["batch_paced_over_unpaced"] = round(s["paced"]["batch_alone_s"] / s["unpaced"]["batch_alone_s"], 3)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps(report["summary"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
