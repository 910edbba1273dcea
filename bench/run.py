"""One command: upstream inference vs our accelerated path, side by side, on one CUDA GPU.

    python -m bench.run --out results.json

Builds full-size random models of the real architectures (``bench/kit/models.py``), then for
each engine times upstream's own inference and ours on the same model object and the
same inputs, checks that ours computes the same function, prints a table and writes
JSON. Random weights make noise: nothing here says anything about speech quality.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import logging
import platform
import sys
import time
from importlib import metadata

import torch

from .f5 import rows as f5_rows
from .kit.inputs import TEXTS, reference_audio
from .kit.models import build_f5, build_vocos, build_xtts, workdir
from .xtts import rows as xtts_rows

logger = logging.getLogger("bench")


def environment() -> dict:
    def ver(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    env = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "python": platform.python_version(),
           "torch": torch.__version__, "f5-tts": ver("f5-tts"), "coqui-tts": ver("coqui-tts"),
           "transformers": ver("transformers"), "vocos": ver("vocos")}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        env.update(gpu=torch.cuda.get_device_name(0), gpu_mem_gib=round(p.total_memory / 2**30, 1),
                   cuda=torch.version.cuda)
    return env


def gib() -> float:
    return torch.cuda.memory_allocated() / 2**30 if torch.cuda.is_available() else 0.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results.json")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per row (median reported)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 repeat, 100/300 chars, 100 tokens")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile in our F5 path")
    ap.add_argument("--skip", choices=["f5", "xtts", "v0"], action="append", default=[])
    ap.add_argument("--no-variants", action="store_true", help="skip the per-optimisation F5 rows")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    if not torch.cuda.is_available():
        print("bench/run.py needs a CUDA GPU", file=sys.stderr)
        return 2
    torch.backends.cuda.matmul.allow_tf32 = False  # upstream's default numerics
    device = "cuda"
    repeats = 1 if args.quick else args.repeats
    texts = (100, 300) if args.quick else (100, 300, 1000)
    tokens = (100,) if args.quick else (200, 500)
    results = {"env": environment(), "args": vars(args), "texts": {k: len(v) for k, v in TEXTS.items()}}
    wd = workdir()
    ref = reference_audio()

    def save():
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2, default=str)

    t0 = time.perf_counter()
    f5_model, f5_load = build_f5("F5TTS_v1_Base", device, wd)
    vocoder, vocoder_load_s = build_vocos(device, wd)
    results["cold_start"] = {"f5_v1": vars(f5_load), "vocos_load_s": vocoder_load_s}
    results["memory"] = {"f5_loaded_gib": gib()}
    xtts_model = None
    if "xtts" not in args.skip:
        xtts_model, x_load = build_xtts(device, wd, list(TEXTS.values()))
        results["cold_start"]["xtts"] = vars(x_load)
        results["memory"]["both_loaded_gib"] = gib()
    results["build_total_s"] = time.perf_counter() - t0
    save()

    def section(name, fn):
        """Run one part; a failure is logged with its traceback and recorded, the rest still runs."""
        t = time.perf_counter()
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - reported in the JSON and the log, never swallowed
            logger.exception("section failed", extra={"section": name})
            results.setdefault("errors", {})[name] = f"{type(exc).__name__}: {exc}"
        results.setdefault("section_s", {})[name] = time.perf_counter() - t
        save()

    def run_xtts():
        results["xtts"] = xtts_rows.bench_xtts(xtts_model, device, ref, repeats, tokens)

    def run_attn_probe():
        from .f5.attn_probe import probe

        results["sdpa_probe"] = probe()

    def run_f5_v1():
        results["f5_v1"] = f5_rows.bench_model("F5TTS_v1_Base", f5_model, vocoder, device, repeats, texts,
                                                compile=not args.no_compile, variants=not args.no_variants)
        acc = f5_rows.F5Accelerator(f5_model, vocoder, device)
        results["f5_v1"]["vocoder_half_rel_err"] = f5_rows.vocoder_half_error(vocoder, acc, device)
        results["memory"]["peak_all_gib"] = torch.cuda.max_memory_allocated() / 2**30

    def run_f5_v0():
        nonlocal f5_model
        f5_model = None
        gc.collect()
        torch.cuda.empty_cache()
        v0, v0_load = build_f5("F5TTS_Base", device, wd)
        results["cold_start"]["f5_v0"] = vars(v0_load)
        results["f5_v0"] = f5_rows.bench_model("F5TTS_Base", v0, vocoder, device, repeats, texts,
                                                compile=not args.no_compile, variants=False)

    if xtts_model is not None:
        section("xtts", run_xtts)
    if "f5" not in args.skip:
        if not args.no_variants:
            section("sdpa_probe", run_attn_probe)
        section("f5_v1", run_f5_v1)
        if "v0" not in args.skip:
            section("f5_v0", run_f5_v0)
    print_table(results)
    save()
    return 0


def print_table(r: dict) -> None:
    env = r["env"]
    print(f"\n{env.get('gpu')} | torch {env['torch']} | f5-tts {env['f5-tts']} | coqui-tts {env['coqui-tts']} "
          f"| {env['date']}")
    print(f"{'engine':<16}{'case':<14}{'audio s':>8}{'up s':>8}{'ours s':>8}{'ratio':>7}{'up RTF':>8}"
          f"{'our RTF':>8}{'peak GiB':>9}")
    for key in ("f5_v1", "f5_v0"):
        if key not in r:
            continue
        for row in r[key]["rows"]:
            print(f"{r[key]['arch']:<16}{str(row['chars']) + ' ch/' + str(row['chunks']):<14}{row['audio_s']:>8.1f}"
                  f"{row['upstream']['median_s']:>8.3f}{row['ours']['median_s']:>8.3f}{row['ratio']:>7.3f}"
                  f"{row['upstream_rtf']:>8.4f}{row['ours_rtf']:>8.4f}{row['ours']['peak_gib']:>9.2f}")
        c = r[key]["correctness"]
        print(f"  {key}: mel rel err vs upstream {c['mel_rel_err_vs_upstream']:.2e} ({c['ours_dtype']} vs "
              f"{c['upstream_dtype']}), batched vs alone {c['mel_rel_err_batched_vs_alone']:.2e}; "
              f"warm-up {r[key]['warmup_s']:.1f} s")
        for v in r[key].get("variants", []):
            if "error" in v:
                print(f"    {v['variant']:<48}{v['chars']:>5} ch  failed: {v['error'][:80]}")
                continue
            err = f"  err {v['mel_rel_err_vs_default_backend']:.1e}" if "mel_rel_err_vs_default_backend" in v else ""
            print(f"    {v['variant']:<48}{v['chars']:>5} ch {v['median_s']:>8.3f} s  RTF {v['rtf']:.4f}{err}")
    for name, p in r.get("sdpa_probe", {}).items():
        print(f"  sdpa {name:<18} " + (f"{p['ms']:.3f} ms/call {p['tflops']:.0f} TFLOP/s"
                                       + (f" err {p['rel_err_vs_fp32_math']:.1e}" if "rel_err_vs_fp32_math" in p else "")
                                       if "ms" in p else p["error"][:100]))
    if "xtts" in r:
        x = r["xtts"]
        for row in x["rows"]:
            print(f"{'XTTS-v2':<16}{str(row['tokens']) + ' tokens':<14}{row['audio_s']:>8.1f}"
                  f"{row['upstream']['median_s']:>8.3f}{row['ours']['median_s']:>8.3f}{row['ratio']:>7.3f}"
                  f"{row['upstream_rtf']:>8.4f}{row['ours_rtf']:>8.4f}{row['ours']['peak_gib']:>9.2f}")
            print(f"  ms/token: upstream {row['upstream_ms_per_token']:.2f}, ours {row['ours_ms_per_token']:.2f} "
                  f"(decode {row['ours_decode_ms_per_token']:.2f}, prefill {row['ours_prefill_ms']:.1f} ms, "
                  f"HiFi-GAN {row['ours_vocoder_ms']:.1f} ms)")
        s, g = x["stream"], x["greedy"]
        print(f"  first streamed chunk: upstream {1000 * s['upstream_ttfc_s']:.0f} ms, ours "
              f"{1000 * s['ours_ttfc_s']:.0f} ms; greedy tokens fp32 identical: {g['fp32_identical']}, half: "
              f"{g['half_identical']} (common prefix {g['half_common_prefix']}/{g['tokens_upstream']}); "
              f"conditioning {1000 * x['conditioning_s']:.0f} ms; warm-up {x['warmup_s']:.1f} s")
    m = r.get("memory", {})
    print(f"memory: F5 loaded {m.get('f5_loaded_gib', 0):.2f} GiB, both engines loaded "
          f"{m.get('both_loaded_gib', 0):.2f} GiB, peak over F5+XTTS runs {m.get('peak_all_gib', 0):.2f} GiB")
    cs = r.get("cold_start", {})
    for k in ("f5_v1", "xtts"):
        if k in cs:
            c = cs[k]
            print(f"cold start {k}: upstream load {c['load_s']:.2f} s from a {c['checkpoint_bytes'] / 1e9:.2f} GB "
                  f"checkpoint, {c['bytes_written_by_load']} bytes written by the load")


if __name__ == "__main__":
    sys.exit(main())
