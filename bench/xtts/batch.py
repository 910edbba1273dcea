"""XTTS continuous batching on a CUDA GPU: full-size random-weight XTTS-v2 through the app's manager.

    python -m bench.xtts.batch --out bench/results_xtts_batch_h100.json   # ~5 min on an H100
    python -m bench.xtts.batch --quick --out /tmp/xtts_batch.json         # tiny models on the CPU: it runs

1. ``steps``: what one decode step costs with 1, 2, 4, 8, 16 rows in flight (each size's CUDA
   graph), early (about 100 positions of context) and late (about 500) in a decode, against 1
   row, and the one-at-a-time step (``VOICE_STUDIO_XTTS_BATCH=0``) for comparison.
2. ``throughput``: 8 XTTS requests at once against the same 8 one after another (tokens and
   seconds of audio per second), with the batch, and one at a time as before. The batch runs
   twice: HiFi-GAN in the vocoder lane beside the worker (``batched``, the default
   ``VOICE_STUDIO_XTTS_VOCODE=lane``) and on the worker inside the decode slice
   (``batched_vocode_worker``); ``vocode_lane_vs_worker`` gives the ratios.
3. ``agreement``: how often a request's tokens are identical decoded alone and among 7 others
   (greedy and sampled), in the bucketed mode (the default) and ``fixed`` (every step at 16
   rows), and whether the same batch repeats bit for bit.
4. ``slice``: what an F5 batch (one warm request) takes, and the slice of XTTS steps as long.

Random weights make noise: the figures are about time and tokens, not speech.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
import threading
import time
from pathlib import Path

import torch

from bench.serving.traffic import random_text

logger = logging.getLogger("bench.xtts.batch")

SIZES = (1, 2, 4, 8, 16)
TEXT = "The quick brown fox jumps over the lazy dog near the quiet river bank."


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class Codes:
    """A row sink that keeps nothing (the tokens come with the row's result)."""

    def update(self, n, latents, done):
        return None


def manager_for(env: dict, **extra):
    from engines import EngineManager, Settings

    return EngineManager(Settings.from_env({**env, **extra}))


def loaded_xtts(manager):
    from bench.serving.stress import wait_until_warm

    assert manager.ensure_loaded("xtts") is None, manager.engine_health("xtts").error
    warm = wait_until_warm(manager.engines["xtts"])
    return manager.engines["xtts"], warm


def conditioning(xtts, index: int):
    speakers = xtts.model.speaker_manager.speakers
    names = sorted(speakers)
    return speakers[names[index % len(names)]]["gpt_cond_latent"]


# ---- 1. per-step cost ---------------------------------------------------------------------------
def step_costs(manager, timed: int) -> dict:
    """On the worker, with the batch idle: b rows prefilled, then steps timed early and late."""
    from engines.xtts.accel.xtts_sampling import SamplingParams

    xtts, _ = loaded_xtts(manager)
    decoder = xtts._loaded.batch.decoder
    ids = xtts.accelerator.text_ids(TEXT, "en")
    late_at = max(32 + timed, min(400, xtts.accelerator.max_gen - timed - 8))  # (tiny models: past the cap, clamped)

    def measure() -> dict:
        assert decoder.active == 0, "the batch must be idle"
        rows = {}
        for b in SIZES:
            if b > decoder.slots:
                continue
            for i in range(b):
                decoder.admit(ids, conditioning(xtts, i), SamplingParams(), seed=i)
            decoder.step(32)
            sync()
            start = time.perf_counter()
            decoder.step(timed)
            sync()
            early = (time.perf_counter() - start) / timed
            decoder.step(late_at - 32 - timed)
            sync()
            start = time.perf_counter()
            decoder.step(timed)
            sync()
            late = (time.perf_counter() - start) / timed
            decoder.clear()
            rows[b] = {"bucket": decoder.bucket(b), "graph": decoder.bucket(b) in decoder.graphs,
                       "early_ms": round(1000 * early, 3),
                       "late_ms": round(1000 * late, 3)}
        return rows

    rows = manager.on_device(measure)
    one = rows[1]
    for b, row in rows.items():
        row["early_vs_1"] = round(row["early_ms"] / one["early_ms"], 2)
        row["late_vs_1"] = round(row["late_ms"] / one["late_ms"], 2)
        row["tokens_per_s_late"] = round(b * 1000 / row["late_ms"], 1)
    return {"rows": rows, "late_at_token": late_at, "timed_steps": timed}


def single_step(manager, tokens: int) -> dict:
    """The one-at-a-time decode (its own graph): ms per token over ``tokens`` forced tokens."""
    from engines.xtts.accel.xtts_sampling import SamplingParams

    xtts, _ = loaded_xtts(manager)
    acc = xtts.accelerator

    def run():
        out = acc.decode(acc.text_tokens(TEXT, "en"), conditioning(xtts, 0).to(acc.device), SamplingParams(),
                         max_new_tokens=tokens, min_new_tokens=tokens, seed=0)
        return 1000 * out.decode_s / out.n_tokens

    manager.on_device(run)
    return {"ms_per_token": round(statistics.median(manager.on_device(run) for _ in range(3)), 3)}


def vocoder(manager, rows: int = 8, tokens: int = 600) -> dict:
    """HiFi-GAN for ``rows`` decodes of ``tokens`` latents: one call each (as the batch does) vs one
    padded call for all (whether batching the vocoder would pay)."""
    from engines.gpu.graphs import variable_length_convs

    xtts, _ = loaded_xtts(manager)
    acc = xtts.accelerator
    tokens = min(tokens, acc.max_gen)

    def run() -> dict:
        generator = torch.Generator(device=acc.device).manual_seed(0)
        latents = torch.randn(rows, tokens, acc.packed.dim, device=acc.device, generator=generator) * 0.5
        speaker = torch.randn(rows, 512, 1, device=acc.device, generator=generator)
        with torch.inference_mode():
            for _ in range(2):  # the second of each is timed (plans and caches made by the first)
                sync()
                start = time.perf_counter()
                for i in range(rows):
                    acc._vocode(latents[i], speaker[i:i + 1], 1.0)
                sync()
                each = time.perf_counter() - start
                start = time.perf_counter()
                with variable_length_convs(acc.device):  # as ``_vocode`` runs it
                    xtts.model.hifigan_decoder(latents.float(), g=speaker)
                sync()
                together = time.perf_counter() - start
        return {"rows": rows, "tokens": tokens, "one_call_each_ms": round(1000 * each, 1),
                "one_padded_call_ms": round(1000 * together, 1)}

    return manager.on_device(run)


# ---- 2. eight at once vs one after another ----------------------------------------------------------
def eight_requests(manager, words: int) -> dict:
    from engines import SynthesisRequest

    rng = random.Random(8)
    requests = [SynthesisRequest(text=random_text(rng, words), language="en", engine="xtts",
                                 voice_preset=("female_generic", "male_generic")[i % 2],
                                 quality_profile="xtts_balanced", seed=i, allow_fallback=False) for i in range(8)]

    def one(request):
        try:
            return manager.synthesize(request)
        except Exception as exc:  # random weights: the sanity guard may refuse a decode; counted apart
            return exc

    sync()
    start = time.perf_counter()
    sequential = [one(r) for r in requests]
    sequential_s = time.perf_counter() - start
    results: list = [None] * 8
    barrier = threading.Barrier(8)

    def client(i):
        barrier.wait()
        results[i] = one(requests[i])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    concurrent_s = time.perf_counter() - start

    def work(outs, seconds):
        good = [o for o in outs if not isinstance(o, Exception)]
        audio = sum(o.duration_s for o in good)
        tokens = sum(o.metadata.get("decode_tokens", 0) for o in good)
        return {"wall_s": round(seconds, 3), "audio_s": round(audio, 1), "audio_per_s": round(audio / seconds, 2),
                "tokens": tokens or None, "tokens_per_s": round(tokens / seconds, 1) if tokens else None,
                "refused": [f"{type(o).__name__}: {o}"[:200] for o in outs if isinstance(o, Exception)]}

    seq, par = work(sequential, sequential_s), work(results, concurrent_s)
    return {"sequential": seq, "concurrent": par, "speedup": round(par["audio_per_s"] / seq["audio_per_s"], 2)
            if seq["audio_per_s"] else None}


def throughput(env: dict, batched, one_at_a_time, slots: dict, words: int) -> dict:
    """``eight_requests`` with the batch (HiFi-GAN in the vocoder lane: ``batched``'s default, then on the
    worker: a manager of its own, loaded for this and unloaded after) and one at a time."""
    out = {"batched": {"vocode": "lane", **eight_requests(batched, words)}}
    on_worker = manager_for(env, VOICE_STUDIO_XTTS_VOCODE="worker", **slots)
    loaded_xtts(on_worker)  # loaded and warm before the clock starts, as ``batched`` is
    out["batched_vocode_worker"] = {"vocode": "worker", **eight_requests(on_worker, words)}
    on_worker.unload("xtts")
    out["one_at_a_time"] = eight_requests(one_at_a_time, words)
    out["vocode_lane_vs_worker"] = lane_vs_worker(out["batched"], out["batched_vocode_worker"])
    return out


def lane_vs_worker(lane: dict, worker: dict) -> dict:
    """Lane over worker: audio seconds per second, 8 at once and one after another, and each one's speed-up."""
    def ratio(a, b):
        return round(a / b, 3) if a and b else None

    return {"concurrent_audio_per_s": ratio(lane["concurrent"]["audio_per_s"], worker["concurrent"]["audio_per_s"]),
            "sequential_audio_per_s": ratio(lane["sequential"]["audio_per_s"], worker["sequential"]["audio_per_s"]),
            "concurrent_wall_worker_over_lane": ratio(worker["concurrent"]["wall_s"], lane["concurrent"]["wall_s"]),
            "speedup_lane": lane["speedup"], "speedup_worker": worker["speedup"]}


# ---- 3. alone vs batched ------------------------------------------------------------------------------
def agreement(manager, tokens: int, reference=None) -> dict:
    """8 rows decoded one by one, then all at once, then all at once again; greedy and sampled."""
    from engines.xtts.accel.xtts_batch import RowRequest
    from engines.xtts.accel.xtts_sampling import SamplingParams

    xtts, _ = loaded_xtts(manager)
    batch, worker = xtts._loaded.batch, manager.worker
    rng = random.Random(3)
    texts = [random_text(rng, rng.randint(6, 30)) for _ in range(8)]
    out = {}
    for kind, greedy in (("greedy", True), ("sampled", False)):
        rows = [RowRequest(text_ids=xtts.accelerator.text_ids(text, "en"), cond_latents=conditioning(xtts, i),
                           params=SamplingParams(greedy=greedy), sink=Codes(), seed=i, max_new_tokens=tokens)
                for i, text in enumerate(texts)]
        alone = [batch.submit(r, worker).result(600).codes for r in rows]
        together = [f.result(600) for f in batch.submit_all(rows, worker)]
        again = [f.result(600).codes for f in batch.submit_all(rows, worker)]
        same = [a == t.codes for a, t in zip(alone, together)]
        firsts = [next((k for k, (x, y) in enumerate(zip(a, t.codes)) if x != y), min(len(a), len(t.codes)))
                  for a, t in zip(alone, together) if a != t.codes]
        out[kind] = {"identical_alone_vs_batched": f"{sum(same)}/{len(same)}",
                     "first_difference_at": firsts, "peak_rows": max(t.peak_rows for t in together),
                     "batched_repeats": all(a == t.codes for a, t in zip(again, together)),
                     "tokens": [len(a) for a in alone]}
        if reference is not None:  # the same rows decoded one at a time by the old path
            old = reference(rows)
            out[kind]["identical_alone_vs_one_at_a_time"] = f"{sum(a == o for a, o in zip(alone, old))}/{len(old)}"
    return out


def one_at_a_time(manager):
    """Decodes rows with ``XttsAccelerator.decode`` on ``manager``'s (unbatched) XTTS, on the worker."""
    xtts, _ = loaded_xtts(manager)
    acc = xtts.accelerator

    def decode(rows):
        def run():
            return [acc.decode(r.text_ids.to(acc.device), r.cond_latents.to(acc.device), r.params,
                               max_new_tokens=r.max_new_tokens, seed=r.seed).codes.tolist() for r in rows]
        return manager.on_device(run)

    return decode


# ---- 4. the slice -----------------------------------------------------------------------------------
def f5_batch(manager, reference: str) -> dict:
    from bench.kit.inputs import REF_TEXT
    from bench.serving.stress import wait_until_warm
    from engines import SynthesisRequest

    assert manager.ensure_loaded("f5tts") is None
    wait_until_warm(manager.engines["f5tts"])
    request = SynthesisRequest(text=random_text(random.Random(4), 30), language="en", engine="f5tts",
                               reference_audio=reference, reference_text=REF_TEXT, seed=1, allow_fallback=False)
    manager.synthesize(request)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        manager.synthesize(request)
        times.append(time.perf_counter() - start)
    return {"f5_request_s": round(statistics.median(times), 3)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="xtts_batch.json")
    ap.add_argument("--work", default=None)
    ap.add_argument("--quick", action="store_true", help="tiny models on the CPU: checks that it runs")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    from bench.kit.models import workdir
    from bench.serving.stress import build_models, build_tiny

    work = Path(args.work) if args.work else workdir()
    work.mkdir(parents=True, exist_ok=True)
    env = build_tiny(work) if args.quick else build_models(work)
    timed, tokens, words = (16, 40, 12) if args.quick else (128, 600, 45)
    report: dict = {"gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
                    "torch": torch.__version__}

    def save():
        Path(args.out).write_text(json.dumps(report, indent=2, default=str))

    def phase(name, fn):
        start = time.perf_counter()
        report[name] = fn()
        report[name]["phase_s"] = round(time.perf_counter() - start, 1)
        logger.info("phase done", extra={"phase": name, "seconds": report[name]["phase_s"]})
        save()

    slots = {"VOICE_STUDIO_XTTS_MAX_BATCH": "16"}
    new = manager_for(env, **slots)
    old = manager_for(env, VOICE_STUDIO_XTTS_BATCH="0")
    phase("steps", lambda: {**step_costs(new, timed), "one_at_a_time": single_step(old, timed),
                            "vocoder": vocoder(new, tokens=tokens)})
    phase("throughput", lambda: throughput(env, new, old, slots, words))
    phase("agreement", lambda: {"bucketed": agreement(new, tokens, one_at_a_time(old))})
    old.unload("xtts")
    new.unload("xtts")
    fixed = manager_for(env, VOICE_STUDIO_XTTS_BATCH="fixed", **slots)
    phase("agreement_fixed", lambda: {"fixed": agreement(fixed, tokens), **step_costs(fixed, timed)})
    fixed.unload("xtts")
    phase("slice", lambda: f5_batch(new, str(work / "reference.wav")))
    late8 = report["steps"]["rows"].get(8, report["steps"]["rows"][max(report["steps"]["rows"])])["late_ms"]
    report["slice"]["slice_steps_as_long_as_an_f5_request"] = 8 * max(1, round(report["slice"]["f5_request_s"]
                                                                              * 1000 / late8 / 8))
    if torch.cuda.is_available():
        report["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    save()
    print(table(report))
    return 0


def table(r: dict) -> str:
    """The per-step table for bench/RESULTS.md, and the headline figures."""
    one_ms = r["steps"]["one_at_a_time"]["ms_per_token"]
    lines = [f"Per decode step, {r['gpu']} (one-at-a-time decoding: {one_ms} ms a token)", "",
             "| rows | step at | graph | early ms | late ms | late vs 1 row | tokens/s (late) |",
             "|---|---|---|---|---|---|---|"]
    for label, part in (("bucketed", r["steps"]), ("fixed", r["agreement_fixed"])):
        for b, row in part["rows"].items():
            lines.append(f"| {b} | {row['bucket']} ({label}) | {row['graph']} | {row['early_ms']} | {row['late_ms']} "
                         f"| {row['late_vs_1']}x | {row['tokens_per_s_late']} |")
    t, batched = r["throughput"], r["throughput"]["batched"]

    def agreed(part: dict) -> str:
        return json.dumps({kind: v["identical_alone_vs_batched"] for kind, v in part.items()})

    on_worker, versus = t.get("batched_vocode_worker"), t.get("vocode_lane_vs_worker", {})
    lines += ["", f"8 at once vs one after another: batched {batched['speedup']}x (tokens/s "
                  f"{batched['sequential']['tokens_per_s']} -> {batched['concurrent']['tokens_per_s']}),"
                  f" one at a time {t['one_at_a_time']['speedup']}x"]
    if on_worker is not None:
        lines.append(f"HiFi-GAN in the vocoder lane vs on the worker, 8 at once: {batched['concurrent']['wall_s']} s vs "
                     f"{on_worker['concurrent']['wall_s']} s, audio/s x{versus.get('concurrent_audio_per_s')} "
                     f"(speed-up over one after another: lane {versus.get('speedup_lane')}x, worker "
                     f"{versus.get('speedup_worker')}x)")
    lines += [
              f"alone vs batched, bucketed: {agreed(r['agreement']['bucketed'])}",
              f"alone vs batched, fixed: {agreed(r['agreement_fixed']['fixed'])}",
              f"HiFi-GAN for 8 decodes: {json.dumps(r['steps']['vocoder'])}",
              f"slice: an F5 request takes {r['slice']['f5_request_s']} s = "
              f"{r['slice']['slice_steps_as_long_as_an_f5_request']} steps of 8 rows"]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
