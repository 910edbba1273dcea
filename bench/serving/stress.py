"""The app's serving path under many users, on a CUDA GPU with full-size random-weight models.

    python -m bench.serving.stress --out stress.json
    python -m bench.serving.stress --ray --per-user 2 --out ray_overhead.json   # the Ray Serve path vs in-process

Drives the app's own ``EngineManager`` from many threads, as Gradio's workers do, with
F5-TTS (F5TTS_Base, ``ema.`` keys, Vocos) and XTTS-v2 (studio speakers) built in code:

1. traffic during F5's load and background warm-up (3 threads, mixed requests);
2. 16 threads x 5 mixed requests: new random lengths (4-70 words), presets and clones,
   every profile of both engines;
3. Unload and Load of each engine while 8 threads send requests;
4. new text lengths: the first request at a length never seen vs its warm repeat, and
   upstream's own inference (``infer_batch_process`` / ``Xtts.inference``) on the same model
   objects and texts, so every speed-up is one a new-length request gets;
5. 8 F5 requests of different lengths at once vs the same 8 one after another;
6. the second start: a new process with the same compile cache loads F5 until warm.

Random weights make noise (and XTTS may stop early or run long, which the sanity guard
catches: those fallbacks are counted apart). Nothing here is about speech quality.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import soundfile as sf
import torch

from bench.kit.inputs import SAMPLE_RATE, reference_audio
from bench.serving.traffic import REF_TEXT, Tally, random_text, run_threads

logger = logging.getLogger("bench.serving.stress")


def build_tiny(work: Path) -> dict[str, str]:
    """Tiny models on the CPU: a smoke run of this script's plumbing, nothing to quote."""
    from devtools.tiny_models import build_all

    sf.write(work / "reference.wav", reference_audio()[0].numpy(), SAMPLE_RATE)
    return {**build_all(work / "tiny").env(), "VOICE_STUDIO_CACHE_DIR": str(work / "cache"),
            "VOICE_STUDIO_DEVICE": "cpu", "VOICE_STUDIO_ACCEL": "auto", "F5TTS_LANGUAGES": "en,pt-BR"}


def build_models(work: Path) -> dict[str, str]:
    """Full-size random models on disk; returns the environment that points the app at them."""
    from bench.serving.engine_path import add_studio_speakers, write_ema_prefixed_f5
    from bench.kit.inputs import TEXTS
    from bench.kit.models import build_vocos, build_xtts
    from engines.settings import accel_setting

    ckpt = work / "f5_ema_prefixed.safetensors"
    if not ckpt.is_file():
        write_ema_prefixed_f5(ckpt)
        build_vocos("cpu", work)
        build_xtts("cpu", work, list(TEXTS.values()))
        add_studio_speakers(work / "xtts")
        sf.write(work / "reference.wav", reference_audio()[0].numpy(), SAMPLE_RATE)
    return {"F5TTS_CKPT": str(ckpt), "F5TTS_ARCH": "F5TTS_Base", "F5TTS_LANGUAGES": "en,pt-BR",
            "F5TTS_VOCODER": str(work / "vocos"), "XTTS_MODEL": str(work / "xtts"),
            "VOICE_STUDIO_CACHE_DIR": str(work / "cache"), "VOICE_STUDIO_DEVICE": "cuda",
            "VOICE_STUDIO_ACCEL": accel_setting(os.environ)}


def wait_until_warm(engine, timeout_s: float = 600) -> dict:
    """Block until the engine's background warm-up is done (or there is none); returns its status."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        state = (engine.warmup or {}).get("state")
        if state in (None, "ready", "partial", "failed"):
            return dict(engine.warmup or {})
        time.sleep(0.2)
    raise TimeoutError(f"{engine.name} warm-up did not finish in {timeout_s} s: {engine.warmup}")


def load_under_traffic(manager, reference: str) -> dict:
    tally, stop = Tally(), threading.Event()
    clients = threading.Thread(target=run_threads, args=(manager, 3, 10**6, 1, reference, tally, stop))
    clients.start()
    start = time.perf_counter()
    manager.load("f5tts")
    serving_s = time.perf_counter() - start
    warm = wait_until_warm(manager.engines["f5tts"])
    warm_s = time.perf_counter() - start
    stop.set()
    clients.join()
    return {"f5_serving_after_s": round(serving_s, 2), "f5_warm_after_s": round(warm_s, 2), "warmup": warm,
            "traffic": tally.summary()}


def mixed_load(manager, reference: str, per_user: int = 5) -> dict:
    for name in manager.engines:  # warm first: the phase measures serving, not loading
        assert manager.ensure_loaded(name) is None, manager.engine_health(name).error
        wait_until_warm(manager.engines[name])
    tally = Tally()
    busy_before = manager.worker.status()["busy_s"]
    wall = run_threads(manager, 16, per_user, 2, reference, tally, stream_share=0.25)
    busy = {kind: round(spent, 2) for kind, s in manager.worker.status()["busy_s"].items()
            if (spent := s - busy_before.get(kind, 0.0)) > 0}
    # the worker thread's seconds in each engine's jobs: what the same traffic costs the device, whatever
    # the order it is served in (a turn's host time; the jobs sync the device at their ends and turns)
    return {"wall_s": round(wall, 2), "worker_busy_s": busy, "decode_batch": _decode_batch(manager), **tally.summary()}


def mixed_one_at_a_time(manager, reference: str, env: dict, per_user: int = 5) -> dict:
    """The mixed phase's very requests with XTTS decoding one request at a time
    (``VOICE_STUDIO_XTTS_BATCH=0``, the code before continuous batching), on the same F5 engine."""
    from engines import EngineManager, Settings
    from engines.xtts.engine import XttsEngine

    settings = Settings.from_env({**env, "VOICE_STUDIO_XTTS_BATCH": "0"})
    xtts = XttsEngine(settings.xtts, settings.device, accel=settings.accel)
    old = EngineManager(settings, engines={"f5tts": manager.engines["f5tts"], "xtts": xtts}, worker=manager.worker)
    try:
        return mixed_load(old, reference, per_user)
    finally:
        old.unload("xtts")


def _decode_batch(manager) -> dict | None:
    return manager.engine_health("xtts").details.get("decode_batch")


def compare(new: dict, old: dict) -> dict:
    """The batched run against one-at-a-time decoding: latency ratios (the target is 1/4 or less)."""
    def ratio(key):
        return round(new[key] / old[key], 3) if new.get(key) and old.get(key) else None

    xtts_new, xtts_old = new.get("first_chunk", {}).get("xtts", {}), old.get("first_chunk", {}).get("xtts", {})
    return {"p50_new_over_old": ratio("p50_s"), "p95_new_over_old": ratio("p95_s"),
            "errors": {"new": new.get("errors"), "old": old.get("errors")},
            "sanity_fallbacks": {"new": new.get("sanity_fallbacks"), "old": old.get("sanity_fallbacks")},
            "xtts_first_chunk_p95_s": {"new": xtts_new.get("p95_s"), "old": xtts_old.get("p95_s")}}


def unload_load_under_traffic(manager, reference: str) -> dict:
    tally, stop = Tally(), threading.Event()
    clients = threading.Thread(target=run_threads, args=(manager, 8, 10**6, 3, reference, tally, stop),
                               kwargs={"stream_share": 0.25})
    clients.start()
    cycles = []
    for name in ("xtts", "f5tts"):
        time.sleep(2.0)
        start = time.perf_counter()
        manager.unload(name)
        unload_s = time.perf_counter() - start
        start = time.perf_counter()
        manager.load(name)
        warm = wait_until_warm(manager.engines[name])
        cycles.append({"engine": name, "unload_s": round(unload_s, 2),
                       "load_until_warm_s": round(time.perf_counter() - start, 2), "warmup": warm})
    time.sleep(2.0)
    stop.set()
    clients.join()
    summary = tally.summary()
    not_loaded = [r for r in tally.other_fallbacks + tally.errors if "not loaded" in r]
    return {"cycles": cycles, "not_loaded_failures": len(not_loaded), **summary}


def timed(fn):
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    sync()
    start = time.perf_counter()
    out = fn()
    sync()
    return time.perf_counter() - start, out


def new_lengths(manager, reference: str, engine: str, words: list[int], seed: int) -> dict:
    """First call at each new length vs its warm repeat, and upstream on the same text and models."""
    from engines import SynthesisRequest

    from bench.f5.rows import upstream_call
    from engines.f5.accel.f5_upstream import upstream_chunks

    rng = random.Random(seed)
    ref = reference_audio()
    eng = manager.engines[engine]
    rows = []
    for count in words:
        text = random_text(rng, count)
        request = SynthesisRequest(text=text, language="en", engine=engine, reference_audio=reference,
                                   reference_text=REF_TEXT, seed=count, allow_fallback=False)
        try:
            first_s, result = timed(lambda: manager.synthesize(request))
            warm_s, again = timed(lambda: manager.synthesize(request))
        except Exception as exc:  # random XTTS weights can fail the guard; recorded, not hidden
            rows.append({"words": count, "chars": len(text), "error": f"{type(exc).__name__}: {exc}"[:300]})
            continue
        row = {"words": count, "chars": len(text), "audio_s": round(result.duration_s, 2),
               "audio_s_warm": round(again.duration_s, 2),
               "first_s": round(first_s, 4), "warm_s": round(warm_s, 4), "cold_ratio": round(first_s / warm_s, 3)}
        if engine == "f5tts":
            chunks = upstream_chunks(ref.shape[-1] / SAMPLE_RATE, REF_TEXT, text)
            up_s, _ = timed(lambda: manager.on_device(lambda: upstream_call(eng.model, eng.vocoder, ref, chunks,
                                                                             eng.device)))
        else:  # upstream's Xtts.inference on the chunks our engine makes (its own splitter needs spaCy)
            job = _job(manager, request)
            latent, embedding, _ = manager.on_device(lambda: eng.conditioning(eng._loaded, job))
            chunks = eng._chunks(eng._loaded, job)
            up_s, _ = timed(lambda: manager.on_device(lambda: [
                eng.model.inference(c, "en", latent, embedding, enable_text_splitting=False) for c in chunks]))
        row.update(upstream_s=round(up_s, 4), speedup_first=round(up_s / first_s, 2),
                   speedup_warm=round(up_s / warm_s, 2))
        rows.append(row)
        logger.info("new length", extra=row)
    good = [r for r in rows if "error" not in r]
    return {"rows": rows,
            "cold_ratio_median": statistics.median(r["cold_ratio"] for r in good) if good else None,
            "cold_ratio_max": max(r["cold_ratio"] for r in good) if good else None,
            "speedup_first_median": statistics.median(r["speedup_first"] for r in good) if good else None}


def _job(manager, request):
    valid = manager.validate(request)
    return manager._job(valid, valid.voice, "xtts_balanced", None)


def throughput(manager, reference: str) -> dict:
    """8 F5 requests of different lengths: one after another, then all at once."""
    from engines import SynthesisRequest

    rng = random.Random(5)
    requests = [SynthesisRequest(text=random_text(rng, rng.randint(6, 60)), language="en", engine="f5tts",
                                 reference_audio=reference, reference_text=REF_TEXT, seed=i, allow_fallback=False)
                for i in range(8)]
    seq_s, seq = timed(lambda: [manager.synthesize(r) for r in requests])
    barrier = threading.Barrier(8)

    def one(r):
        barrier.wait()
        return manager.synthesize(r)

    def concurrent():
        results = [None] * 8
        threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, one(requests[i]))) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results

    par_s, par = timed(concurrent)
    audio = sum(r.duration_s for r in seq)
    return {"audio_s": round(audio, 1), "sequential_s": round(seq_s, 3), "concurrent_s": round(par_s, 3),
            "audio_per_s_sequential": round(audio / seq_s, 1), "audio_per_s_concurrent": round(audio / par_s, 1),
            "ratio": round(seq_s / par_s, 2), "batched_with": [r.metadata.get("batched_with") for r in par]}


def second_start(work: Path, env: dict) -> dict:
    """A new process, the same compile cache: F5 load until warm."""
    child_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, "-m", "bench.serving.stress", "--second-start", "--work", str(work)],
                          env=child_env, capture_output=True, text=True, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": proc.stderr[-2000:]}
    return json.loads(lines[-1])


def second_start_child(work: Path) -> int:
    from engines import EngineManager, Settings

    manager = EngineManager(Settings.from_env(os.environ))
    start = time.perf_counter()
    manager.load("f5tts")
    serving = time.perf_counter() - start
    warm = wait_until_warm(manager.engines["f5tts"])
    print(json.dumps({"f5_serving_after_s": round(serving, 2), "f5_warm_after_s": round(time.perf_counter() - start, 2),
                      "warmup": warm}, default=str))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="stress.json")
    ap.add_argument("--work", default=None)
    ap.add_argument("--second-start", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--tiny", action="store_true", help="tiny models on the CPU: a smoke run, nothing to quote")
    ap.add_argument("--skip", action="append", default=[], help="phases to skip: load, mixed, unload, lengths, "
                                                                 "throughput, restart (several: load,unload)")
    ap.add_argument("--per-user", type=int, default=5, help="requests per user in the mixed phases (default 5)")
    ap.add_argument("--ray", action="store_true", help="the Ray Serve path vs in-process, one replica per engine "
                                                       "(bench/serving/ray_overhead.py; needs requirements-ray.txt)")
    ap.add_argument("--sequential", type=int, default=10, help="--ray: requests per engine one after another")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s",
                        stream=sys.stderr)
    from bench.kit.models import workdir

    work = Path(args.work) if args.work else workdir()
    work.mkdir(parents=True, exist_ok=True)
    if args.second_start:
        return second_start_child(work)
    from engines import EngineManager, Settings

    env = build_tiny(work) if args.tiny else build_models(work)
    reference = str(work / "reference.wav")
    report: dict = {"gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
                    "torch": torch.__version__, "accel": env["VOICE_STUDIO_ACCEL"]}

    def save():
        Path(args.out).write_text(json.dumps(report, indent=2, default=str))

    if args.ray:
        from bench.serving.ray_overhead import run as ray_overhead

        ray_overhead(env, reference, args.per_user, args.sequential, args.tiny, report, save)
        save()
        print(json.dumps(report["overhead"], indent=1))
        return 0

    manager = EngineManager(Settings.from_env(env))
    skip = {name for item in args.skip for name in item.split(",") if name}
    phases = [("load", load_under_traffic), ("mixed", lambda m, r: mixed_load(m, r, args.per_user)),
              ("mixed_one_at_a_time", lambda m, r: mixed_one_at_a_time(m, r, env, args.per_user)),
              ("lengths_f5", lambda m, r: new_lengths(m, r, "f5tts", [5, 9, 14, 22, 31, 43, 57, 70], 11)),
              ("throughput", throughput), ("unload", unload_load_under_traffic),
              ("lengths_xtts", lambda m, r: new_lengths(m, r, "xtts", [6, 19, 38], 12))]
    for name, phase in phases:
        if name in skip or name.split("_")[0] in skip:
            continue
        if name == "mixed_one_at_a_time" and "mixed" not in report:
            continue  # the comparison needs the batched run first (and warm engines)
        start = time.perf_counter()
        report[name] = phase(manager, reference)
        report[name]["phase_s"] = round(time.perf_counter() - start, 1)
        logger.info("phase done", extra={"phase": name, "seconds": report[name]["phase_s"]})
        save()
    if "mixed" in report and "mixed_one_at_a_time" in report:
        report["mixed_vs_one_at_a_time"] = compare(report["mixed"], report["mixed_one_at_a_time"])
    report["worker"] = manager.worker.status()
    report["health"] = {k: v["status"] for k, v in manager.health()["engines"].items()}
    if torch.cuda.is_available():
        report["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    save()
    if "restart" not in skip:
        report["second_start"] = second_start(work, env)
        save()
    print(json.dumps(summary(report), indent=1, default=str))
    return 0


def summary(r: dict) -> dict:
    """The figures the closing note quotes."""
    pick = {}
    for name in ("load", "mixed", "mixed_one_at_a_time", "unload"):
        part = r.get(name, {})
        traffic = part.get("traffic", part)
        pick[name] = {k: traffic.get(k) for k in ("requests", "ok", "errors", "sanity_fallbacks", "other_fallbacks",
                                                  "p50_s", "p95_s", "streamed", "first_chunk_p50_s", "first_chunk",
                                                  "first_audio_stages", "worker_busy_s", "wall_s")}
    pick["mixed_vs_one_at_a_time"] = r.get("mixed_vs_one_at_a_time")
    pick["load"].update({k: r.get("load", {}).get(k) for k in ("f5_serving_after_s", "f5_warm_after_s")})
    pick["unload"]["not_loaded_failures"] = r.get("unload", {}).get("not_loaded_failures")
    for name in ("lengths_f5", "lengths_xtts"):
        part = r.get(name, {})
        pick[name] = {k: part.get(k) for k in ("cold_ratio_median", "cold_ratio_max", "speedup_first_median")}
    pick["throughput"] = {k: r.get("throughput", {}).get(k) for k in ("ratio", "audio_per_s_sequential",
                                                                      "audio_per_s_concurrent")}
    pick["second_start"] = {k: r.get("second_start", {}).get(k) for k in ("f5_serving_after_s", "f5_warm_after_s",
                                                                          "error")}
    pick["worker"] = r.get("worker")
    return pick


if __name__ == "__main__":
    raise SystemExit(main())
