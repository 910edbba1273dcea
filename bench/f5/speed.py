"""F5-TTS speed in one process: the old path, the new path and upstream, side by side.

    source bench/gpu_setup.sh && python3 -m bench.f5.speed --out f5_speed.json   # ~7 min on an H100
    python -m bench.f5.speed --quick --out f5_speed.json                           # CPU, tiny models: checks it runs

Full-size random-weight F5TTS_Base (``ema.`` keys) and Vocos, loaded by the app's own
``EngineManager`` (its F5 warm-up captures every bucket with the new kernels). On the same
model objects: the *old path* (an ``F5Accelerator`` with ``StepKernels.reference()`` and the
previous length buckets, graphs captured), the *new path* (the engine's accelerator) and
*upstream* (``infer_batch_process`` on upstream's own chunks). Sections, each written to the
JSON as soon as it is done, a failure recorded in its place and the next still run:

1. ``correctness``: mel error against upstream at the same seed (old, new, and the new
   kernels on a bf16 DiT), batched vs alone, a seed repeated bit for bit, the on-device
   check of each kernel switch;
2. ``lengths``: 5 to 80 words (random sentences, new lengths), the first call and a repeat,
   old / new / upstream, audio lengths compared with upstream's;
3. ``concurrent``: 8 mixed-length requests through the manager, one after another and all at
   once, new and old path, plus upstream one after another: audio seconds per second and
   useful TFLOP/s (``bench.f5.profile.useful_flops`` over every chunk's frames, 32 steps);
4. ``switches``: one step's graph replay at three shapes for each kernel switch alone (on
   the reference) and all of them, plus ``conv_benchmark``;
5. ``profile``: ``bench.f5.profile`` at 512-3072 frames x 1 and 8 rows for the old kernels,
   the new ones and upstream;
6. ``captures``: ``bench.gpu_checks --only captures`` in a fresh process (the compile mode's
   warm-up and real capture failures, each followed by upstream's eager sampling).

``--budget-s`` (default 450) bounds the whole run: a section that would start too late is
recorded as skipped. Random weights make noise; nothing here is about speech quality.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import random
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import soundfile as sf
import torch

from bench.f5.profile import QUICK_SHAPES, SHAPES, model_dims, our_step, profile_paths, useful_flops
from bench.kit.inputs import REF_TEXT, SAMPLE_RATE, TEXTS, reference_audio
from bench.serving.traffic import random_text

logger = logging.getLogger("bench.f5.speed")

WORDS = (5, 11, 17, 24, 35, 47, 61, 75, 80)
CONCURRENT_WORDS = (6, 12, 20, 28, 37, 46, 58, 72)
NFE = 32
SWITCH_SHAPES = ((1024, 1), (2048, 2), (1024, 8), (2048, 8))


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn):
    _sync()
    start = time.perf_counter()
    out = fn()
    _sync()
    return time.perf_counter() - start, out


def build_env(work: Path, quick: bool) -> dict[str, str]:
    """The app's environment: full-size F5TTS_Base and Vocos on disk (CUDA), or the tiny test models (CPU)."""
    sf.write(work / "reference.wav", reference_audio()[0].numpy(), SAMPLE_RATE)
    if quick:
        from devtools.tiny_models import build_all

        return {**build_all(work / "tiny").env(), "VOICE_STUDIO_CACHE_DIR": str(work / "cache"),
                "VOICE_STUDIO_DEVICE": "cpu", "VOICE_STUDIO_ACCEL": "auto", "F5TTS_LANGUAGES": "en,pt-BR"}
    from bench.serving.engine_path import write_ema_prefixed_f5
    from bench.kit.models import build_vocos

    ckpt = work / "f5_ema_prefixed.safetensors"
    if not ckpt.is_file():
        write_ema_prefixed_f5(ckpt)
        build_vocos("cpu", work)
    return {"F5TTS_CKPT": str(ckpt), "F5TTS_ARCH": "F5TTS_Base", "F5TTS_LANGUAGES": "en",
            "F5TTS_VOCODER": str(work / "vocos"), "VOICE_STUDIO_CACHE_DIR": str(work / "cache"),
            "VOICE_STUDIO_DEVICE": "cuda", "VOICE_STUDIO_ACCEL": "auto"}


@dataclasses.dataclass
class Bench:
    manager: object
    engine: object
    new: object
    old: object
    ref: torch.Tensor
    reference_wav: str
    quick: bool

    @property
    def nfe(self) -> int:
        return 4 if self.quick else NFE

    @property
    def model(self):
        return self.engine.model

    def on_device(self, fn):
        return self.manager.on_device(fn)

    def chunks(self, text: str) -> list[str]:
        from engines.f5.accel.f5_upstream import upstream_chunks

        return upstream_chunks(self.ref.shape[-1] / SAMPLE_RATE, REF_TEXT, text)

    def frames(self, chunks: list[str]) -> list[int]:
        from engines.f5.accel.f5_upstream import natural_frames, spaced_ref_text

        ref_frames = self.ref.shape[-1] // 256
        return [ref_frames + natural_frames(ref_frames, spaced_ref_text(REF_TEXT), c) for c in chunks]

    def useful(self, texts: list[str]) -> float:
        dims = model_dims(self.model)
        return sum(self.nfe * useful_flops(f, 1, **dims) for t in texts for f in self.frames(self.chunks(t)))


def setup(work: Path, quick: bool, report: dict) -> Bench:
    from engines import EngineManager, Settings
    from engines.f5.accel.f5 import PREVIOUS_LENGTH_BUCKETS, F5AccelOptions, F5Accelerator
    from engines.f5.accel.f5_block import StepKernels
    from bench.serving.stress import wait_until_warm

    env = build_env(work, quick)
    manager = EngineManager(Settings.from_env(env))
    start = time.perf_counter()
    manager.load("f5tts")
    engine = manager.engines["f5tts"]
    warm = wait_until_warm(engine)
    report["new_warmup"] = {"until_warm_s": round(time.perf_counter() - start, 2), **warm}
    old_options = F5AccelOptions(kernels=StepKernels.reference(), length_buckets=PREVIOUS_LENGTH_BUCKETS)
    old = manager.on_device(lambda: F5Accelerator(engine.model, engine.vocoder, engine.device, options=old_options))
    if engine.device == "cuda":  # every old bucket captured, as the app did; a failed shape stays eager
        failures, start = [], time.perf_counter()
        for rows, frames in old.shapes():
            try:
                manager.on_device(lambda: old.capture(rows, frames))
            except Exception as exc:  # recorded; the old path runs that shape eagerly
                failures.append(f"{rows}x{frames}: {type(exc).__name__}: {str(exc)[:150]}")
        report["old_warmup"] = {"seconds": round(time.perf_counter() - start, 2), "graphs": len(old.graphs),
                                "failures": failures[:5]}
    new = engine.accelerator
    report["kernels"] = {"new": new.step.kernels.changes(), "check": new.kernel_check,
                         "old_shapes": len(old.shapes()), "new_shapes": len(new.shapes())}
    return Bench(manager, engine, new, old, reference_audio(), str(work / "reference.wav"), quick)


def mel_errors(b: Bench, acc) -> dict:
    """One chunk at one seed: our generated mel vs upstream's, and the chunk alone vs inside a padded batch."""
    from bench.kit.timing import rel_error
    from f5_tts.infer.utils_infer import infer_batch_process

    text, device = TEXTS[100], b.engine.device
    torch.manual_seed(1234)
    _w, _sr, up_mel = next(infer_batch_process((b.ref, SAMPLE_RATE), REF_TEXT, [text], b.model, b.engine.vocoder,
                                               progress=None, nfe_step=b.nfe, device=device))
    alone, _ = acc.sample_mels(b.ref, REF_TEXT, [text], nfe_step=b.nfe, seed=1234)
    batch, _ = acc.sample_mels(b.ref, REF_TEXT, [text, TEXTS[300][:150], TEXTS[300][150:]], nfe_step=b.nfe, seed=1234)
    return {"mel_rel_err_vs_upstream": rel_error(alone[0].float().cpu(), torch.from_numpy(up_mel).T),
            "mel_rel_err_batched_vs_alone": rel_error(batch[0].float().cpu(), alone[0].float().cpu()),
            "dtype": str(acc.dtype)}


def correctness(b: Bench) -> dict:
    from engines.f5.accel.f5 import F5Accelerator

    out = {"old": b.on_device(lambda: mel_errors(b, b.old)), "new": b.on_device(lambda: mel_errors(b, b.new))}
    first = b.on_device(lambda: b.new.sample_mels(b.ref, REF_TEXT, [TEXTS[100]], nfe_step=b.nfe, seed=99)[0][0])
    again = b.on_device(lambda: b.new.sample_mels(b.ref, REF_TEXT, [TEXTS[100]], nfe_step=b.nfe, seed=99)[0][0])
    out["new_seed_repeats_bit_for_bit"] = bool(torch.equal(first, again))
    if b.engine.device == "cuda":  # bf16 DiT, fp32 ODE: is the mel error within what fp16 gives?
        bf16 = b.on_device(lambda: F5Accelerator(b.model, b.engine.vocoder, "cuda", dtype=torch.bfloat16))
        out["new_bf16"] = b.on_device(lambda: mel_errors(b, bf16))
        del bf16
    return out


def lengths(b: Bench) -> dict:
    from bench.f5.rows import crossfade, upstream_call

    rng, rows = random.Random(11), []
    for words in ((5, 24) if b.quick else WORDS):
        text = random_text(rng, words)  # a length never seen before in this process
        chunks = b.chunks(text)
        row: dict = {"words": words, "chars": len(text), "chunks": len(chunks), "frames": b.frames(chunks)}
        up = lambda: upstream_call(b.model, b.engine.vocoder, b.ref, chunks, b.engine.device, b.nfe)  # noqa: E731
        row["upstream_first_s"], up_wave = b.on_device(lambda: timed(up))
        row["upstream_repeat_s"], _ = b.on_device(lambda: timed(up))
        for name, acc in (("old", b.old), ("new", b.new)):
            call = lambda acc=acc: acc.infer(b.ref, REF_TEXT, chunks, nfe_step=b.nfe, seed=words)  # noqa: E731
            row[f"{name}_first_s"], waves = b.on_device(lambda: timed(call))
            row[f"{name}_repeat_s"], _ = b.on_device(lambda: timed(call))
            row[f"{name}_length_equals_upstream"] = len(crossfade(waves)) == len(up_wave)
            row[f"speedup_{name}_first"] = round(row["upstream_first_s"] / row[f"{name}_first_s"], 2)
            row[f"speedup_{name}_repeat"] = round(row["upstream_repeat_s"] / row[f"{name}_repeat_s"], 2)
        row["audio_s"] = round(len(up_wave) / SAMPLE_RATE, 2)
        rows.append({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
        logger.info("length", extra=rows[-1])
    return {"rows": rows}


def _concurrently(manager, requests) -> list:
    barrier, results = threading.Barrier(len(requests)), [None] * len(requests)

    def one(i):
        barrier.wait()
        results[i] = manager.synthesize(requests[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def concurrent(b: Bench) -> dict:
    from engines import SynthesisRequest
    from bench.f5.rows import upstream_call

    rng = random.Random(5)
    texts = [random_text(rng, w) for w in (CONCURRENT_WORDS[:2] if b.quick else CONCURRENT_WORDS)]
    requests = [SynthesisRequest(text=t, language="en", engine="f5tts", reference_audio=b.reference_wav,
                                 reference_text=REF_TEXT, seed=i, allow_fallback=False) for i, t in enumerate(texts)]
    flops = b.useful(texts) * NFE / b.nfe  # the manager samples with the profile's 32 steps
    out: dict = {"requests": len(requests), "words": [len(t.split()) for t in texts], "useful_tflop": flops / 1e12}
    loaded = b.engine._loaded
    try:
        for name, acc in (("new", b.new), ("old", b.old)):
            b.engine._loaded = dataclasses.replace(loaded, accelerator=acc)  # the same engine, either path
            b.manager.synthesize(requests[0])  # warm the request path
            seq_s, seq = timed(lambda: [b.manager.synthesize(r) for r in requests])
            par_s, par = timed(lambda: _concurrently(b.manager, requests))
            audio = sum(r.duration_s for r in seq)
            out[name] = {"audio_s": round(audio, 2), "sequential_s": round(seq_s, 3), "concurrent_s": round(par_s, 3),
                         "audio_per_s_sequential": round(audio / seq_s, 1),
                         "audio_per_s_concurrent": round(audio / par_s, 1), "ratio": round(seq_s / par_s, 2),
                         "useful_tflops_sequential": round(flops / seq_s / 1e12, 1),
                         "useful_tflops_concurrent": round(flops / par_s / 1e12, 1),
                         "batched_with": [r.metadata.get("batched_with") for r in par]}
            logger.info("concurrent", extra={"path": name, **out[name]})
    finally:
        b.engine._loaded = loaded
    up_s, _ = b.on_device(lambda: timed(lambda: [upstream_call(b.model, b.engine.vocoder, b.ref, b.chunks(t),
                                                               b.engine.device, b.nfe) for t in texts]))
    out["upstream"] = {"sequential_s": round(up_s, 3), "useful_tflops_sequential": round(flops / up_s / 1e12, 1)}
    return out


def _inference(fn):
    with torch.inference_mode():
        return fn()


def switches(b: Bench) -> dict:
    """One step's graph replay (eager on a CPU) per kernel switch: each alone on the reference, and all."""
    from engines.f5.accel.f5 import F5AccelOptions, F5Accelerator
    from engines.f5.accel.f5_block import StepKernels

    reference, new = StepKernels.reference(), StepKernels()
    variants = {"reference": reference, **{f"+{k}": dataclasses.replace(reference, **{k: v})
                                           for k, v in new.changes().items()},
                "all (default)": new, "all + conv_benchmark": dataclasses.replace(new, conv_benchmark=True),
                # the default less one of its newest switches: what each adds on top of the others
                "all, attention=sdpa": dataclasses.replace(new, attention="sdpa"),
                "all, residual=addcmul": dataclasses.replace(new, residual="addcmul")}
    shapes = QUICK_SHAPES if b.quick else SWITCH_SHAPES
    rows = []
    for name, kernels in variants.items():
        row: dict = {"variant": name}
        try:
            acc = b.on_device(lambda: F5Accelerator(b.model, b.engine.vocoder, b.engine.device,
                                                    options=F5AccelOptions(kernels=kernels)))
            row["kernels_kept"] = acc.step.kernels.changes()
            for frames, n_rows in shapes:
                _eager, replay_ms = our_step(acc, n_rows, frames)
                row[f"{frames}x{n_rows}_ms"] = round(b.on_device(lambda: _inference(replay_ms)), 3)
            del acc
        except Exception as exc:  # recorded; the next variant still runs
            row["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        rows.append(row)
        logger.info("switch", extra=row)
    return {"rows": rows}


def profile(b: Bench) -> dict:
    paths = {"ours_reference_kernels": b.old, "ours": b.new, "upstream": "upstream"}
    shapes = QUICK_SHAPES if b.quick else SHAPES
    # On this thread, with the worker idle: the profiler is started and read on one thread.
    return {"rows": profile_paths(b.model, paths, shapes, model_dims(b.model))}


def captures(work: Path, timeout_s: float) -> dict:
    out_file = work / "captures.json"
    try:
        proc = subprocess.run([sys.executable, "-m", "bench.gpu_checks", "--only", "captures", "--out", str(out_file)],
                              capture_output=True, text=True, timeout=timeout_s)
        tail = {"returncode": proc.returncode, "stderr": proc.stderr[-3000:]}
    except subprocess.TimeoutExpired as exc:  # what it wrote so far still comes back
        tail = {"timed_out_s": timeout_s, "stderr": (exc.stderr or b"")[-3000:].decode(errors="replace")
                if isinstance(exc.stderr, bytes) else str(exc.stderr)[-3000:]}
    result = json.loads(out_file.read_text()) if out_file.is_file() else {"ok": False}
    return {**result, **({} if result.get("ok") else tail)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="f5_speed.json")
    ap.add_argument("--quick", action="store_true", help="tiny models on the CPU: checks the plumbing")
    ap.add_argument("--budget-s", type=float, default=450.0, help="sections that would start later are skipped")
    ap.add_argument("--skip", action="append", default=[], help="sections to leave out")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    from bench.kit.models import workdir

    started, work = time.perf_counter(), workdir()
    report: dict = {"device": torch.cuda.get_device_name(0) if torch.cuda.is_available() and not args.quick else "cpu",
                    "torch": torch.__version__, "quick": args.quick, "sections_s": {}, "errors": {}}
    out = Path(args.out)

    def save():
        out.write_text(json.dumps(report, indent=1, default=str))

    def section(name: str, fn, need_s: float) -> None:
        left = args.budget_s - (time.perf_counter() - started)
        if name in args.skip or left < need_s:
            report.setdefault("skipped", {})[name] = "asked" if name in args.skip else f"{left:.0f} s left"
            save()
            return
        t0 = time.perf_counter()
        try:
            report[name] = fn()
        except Exception:  # recorded; the next section still runs
            report["errors"][name] = traceback.format_exc()[-3000:]
            logger.exception("section failed", extra={"section": name})
        report["sections_s"][name] = round(time.perf_counter() - t0, 1)
        save()

    try:
        b = setup(work, args.quick, report)
    except Exception:
        report["errors"]["setup"] = traceback.format_exc()[-3000:]
        save()
        return 1
    report["setup_s"] = round(time.perf_counter() - started, 1)
    save()
    cuda = b.engine.device == "cuda"
    section("correctness", lambda: correctness(b), 20)
    section("lengths", lambda: lengths(b), 60)
    section("concurrent", lambda: concurrent(b), 40)
    section("switches", lambda: switches(b), 40)
    section("profile", lambda: profile(b), 60)
    if cuda:
        b.manager.unload("f5tts")
        del b
        torch.cuda.empty_cache()
        left = args.budget_s - (time.perf_counter() - started)
        section("captures", lambda: captures(work, max(60.0, left)), 90)
    else:
        report.setdefault("skipped", {})["captures"] = "needs CUDA"
    report["total_s"] = round(time.perf_counter() - started, 1)
    save()
    print_summary(report)
    return 0 if not report["errors"] else 1


def print_summary(r: dict) -> None:
    print(f"\n{r['device']} | torch {r['torch']} | {r.get('total_s')} s")
    for row in r.get("lengths", {}).get("rows", []):
        print(f"  {row['words']:>3} words {row['audio_s']:>6.1f} s audio  up {row['upstream_first_s']:.3f}/"
              f"{row['upstream_repeat_s']:.3f}  old {row['old_first_s']:.3f}  new {row['new_first_s']:.3f}/"
              f"{row['new_repeat_s']:.3f}  x{row['speedup_new_first']} first (old x{row['speedup_old_first']})"
              f"  same length: {row['new_length_equals_upstream']}")
    c = r.get("concurrent", {})
    for name in ("old", "new"):
        if name in c:
            print(f"  8 at once, {name}: {c[name]['ratio']}x one-by-one, {c[name]['useful_tflops_concurrent']} "
                  f"TFLOP/s useful ({c[name]['audio_per_s_concurrent']} audio s/s)")
    if "upstream" in c:
        print(f"  upstream one-by-one: {c['upstream']['useful_tflops_sequential']} TFLOP/s useful")
    corr = r.get("correctness", {})
    for name in ("old", "new", "new_bf16"):
        if name in corr:
            print(f"  mel err vs upstream {name}: {corr[name]['mel_rel_err_vs_upstream']:.2e}")
    print(f"  captures check ok: {r.get('captures', {}).get('ok')}; errors: {list(r['errors'])}; "
          f"skipped: {r.get('skipped', {})}")


if __name__ == "__main__":
    sys.exit(main())
