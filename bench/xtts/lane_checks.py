"""Checks of XTTS's vocoder lane on a CUDA GPU (tiny models, about a minute), what the CPU tests cannot
show: the lane's own CUDA stream, its events, and graph captures running beside it.

    python -m bench.xtts.lane_checks --out lane_checks.json      # on the GPU
    python -m bench.xtts.lane_checks --cpu --out /tmp/lane.json   # the same on the CPU: it runs

1. ``under_warmup``: requests from 8 threads while the decode graphs are captured: every one is
   served, every bucket captured, no lane failure (captures and lane work never overlap).
2. ``whole_clips``: four requests decoded together, HiFi-GAN in the lane and on the worker
   (``VOICE_STUDIO_XTTS_VOCODE``): the same audio (bit for bit expected; the largest difference too).
3. ``stream``: a two-chunk stream, lane against worker: the same pieces.
4. ``cudnn_enabled_after``: the process-wide cuDNN flag is still on (the lane never sets it).
5. ``unload``: an unload closes the lane; later work is refused.

Each request's decode length is forced (random weights may stop a decode at once).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

LENGTHS = {3: 40, 4: 25, 5: 46, 6: 33, 7: 45}  # tokens per request seed: rows end at different steps
TWO_CHUNKS = ("This is the first sentence of a longer text, and it goes on for quite a while, long enough that the "
              "tokenizer's limit of two hundred and fifty characters splits the text in two. And here comes the "
              "second sentence, which is also rather long, so that both never fit one chunk.")


@contextmanager
def forced_lengths():
    from engines.xtts import batching

    real_row = batching.row_request

    def row_request(engine, loaded, job, *rest):
        tokens = LENGTHS.get(job.seed, 30)
        return replace(real_row(engine, loaded, job, *rest), max_new_tokens=tokens, min_new_tokens=tokens)

    batching.row_request = row_request
    try:
        yield
    finally:
        batching.row_request = real_row


def manager(env: dict, device: str, vocode: str):
    """An XTTS-only manager on a worker of its own."""
    from engines import EngineManager, Settings
    from engines.worker import DeviceWorker
    from engines.xtts.engine import XttsEngine

    settings = Settings.from_env({**env, "VOICE_STUDIO_XTTS_VOCODE": vocode})
    return EngineManager(settings, engines={"xtts": XttsEngine(settings.xtts, device, accel=settings.accel)},
                         worker=DeviceWorker(device))


def dub(seed: int, text: str = "Hello there, this is a short test."):
    from engines import SynthesisRequest

    return SynthesisRequest(text=text, language="en", engine="xtts", voice_preset="male_generic",
                            quality_profile="xtts_fast", seed=seed, allow_fallback=False)


def under_warmup(lane) -> dict:
    from bench.serving.stress import wait_until_warm

    start = time.perf_counter()
    assert lane.ensure_loaded("xtts") is None, lane.engine_health("xtts").error
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: lane.synthesize(dub(3 + i % 5)), range(16)))
    warm = wait_until_warm(lane.engines["xtts"])
    status = lane.engines["xtts"]._loaded.lane.status()
    buckets = len(lane.engines["xtts"]._loaded.batch.decoder.buckets)
    served = sum(r.metadata["tts_engine_used"] == "xtts" for r in results)
    graphs_ok = warm.get("state") is None or (warm.get("state") == "ready" and warm.get("graphs") == buckets)
    return {"served": served, "warmup": warm, "lane": status, "s": round(time.perf_counter() - start, 2),
            "ok": served == len(results) and status["failures"] == 0 and graphs_ok}


def together(manager, requests) -> list:
    """The requests' rows queued one request after the other while the worker is held, then decoded
    together: the same rows in the same slots under either setting."""
    batch = manager.engines["xtts"]._loaded.batch
    holding, release = threading.Event(), threading.Event()
    manager.worker.submit(lambda: holding.set() or release.wait(120), label="hold the worker")
    assert holding.wait(120)
    with ThreadPoolExecutor(len(requests)) as pool:
        futures = []
        for count, request in enumerate(requests, start=1):
            futures.append(pool.submit(manager.synthesize, request))
            deadline = time.monotonic() + 120
            while batch.status()["waiting"] != count:
                assert time.monotonic() < deadline, "a request's row never reached the line"
                threading.Event().wait(0.005)
        release.set()
        return [future.result(300) for future in futures]


def compare(a: list[np.ndarray], b: list[np.ndarray]) -> dict:
    same = [x.tobytes() == y.tobytes() for x, y in zip(a, b)]
    diff = max((float(np.abs(x - y).max()) for x, y in zip(a, b) if x.shape == y.shape), default=None)
    return {"identical": f"{sum(same)}/{len(same)}", "max_abs_diff": diff,
            "shapes_equal": len(a) == len(b) and all(x.shape == y.shape for x, y in zip(a, b)),
            "ok": len(a) == len(b) and all(same)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="lane_checks.json")
    ap.add_argument("--work", default=None)
    ap.add_argument("--cpu", action="store_true", help="run on the CPU (no captures): checks that it runs")
    args = ap.parse_args(argv)
    from bench.kit.models import workdir
    from bench.serving.stress import build_tiny, wait_until_warm

    device = "cpu" if args.cpu else "cuda"
    work = Path(args.work) if args.work else workdir()
    work.mkdir(parents=True, exist_ok=True)
    env = {**build_tiny(work), "VOICE_STUDIO_DEVICE": device, "VOICE_STUDIO_XTTS_SLICE_STEPS": "8"}
    report: dict = {"device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu", "torch": torch.__version__}
    with forced_lengths():
        lane = manager(env, device, "lane")
        report["under_warmup"] = under_warmup(lane)
        worker = manager(env, device, "worker")
        assert worker.ensure_loaded("xtts") is None, worker.engine_health("xtts").error
        wait_until_warm(worker.engines["xtts"])
        requests = [dub(seed) for seed in (3, 4, 5, 6)]
        report["whole_clips"] = compare([r.audio for r in together(lane, requests)],
                                        [r.audio for r in together(worker, requests)])
        report["stream"] = compare(list(lane.stream(dub(7, TWO_CHUNKS))), list(worker.stream(dub(7, TWO_CHUNKS))))
        report["stream"]["pieces"] = report["stream"]["identical"].split("/")[1]
    report["cudnn_enabled_after"] = bool(torch.backends.cudnn.enabled)
    loaded = lane.engines["xtts"]._loaded
    lanes = {"lane": loaded.lane, "stream_lane": loaded.stream_lane}
    lane.unload("xtts")
    worker.unload("xtts")
    refused = {}
    for name, closed in lanes.items():
        try:
            closed.submit(lambda: None)
            refused[name] = False
        except Exception:  # the close reason: what this check expects
            refused[name] = True
    report["unload"] = {**{name: closed.status() for name, closed in lanes.items()}, "later_work_refused": refused,
                        "ok": all(refused.values()) and all(closed.queued == 0 for closed in lanes.values())}
    report["ok"] = all(report[k]["ok"] for k in ("under_warmup", "whole_clips", "stream", "unload")) and \
        report["cudnn_enabled_after"]
    Path(args.out).write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps(report, indent=1, default=str))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
