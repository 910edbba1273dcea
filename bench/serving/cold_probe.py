"""Where a request at a never-seen text length pays its first-call cost, stage by stage.

Full-size random-weight F5TTS_Base + Vocos (``bench.kit.models``) on the GPU, graphs captured
for the buckets used. For new durations (never run before in the process) and then
their warm repeats, each stage of the accelerated path is timed on its own: the text
embedding (eager convolutions at the chunk's own length), the graphed ODE, the Vocos
backbone (eager convolutions) and its ISTFT head. Each variant runs on its own fresh
durations, so every "first" is really a first:

- ``cudnn``: PyTorch's defaults;
- ``no_cudnn``: the eager convolutions with cuDNN disabled (PyTorch's own kernels, no
  per-shape plan to build).

Also the XTTS HiFi-GAN decoder at new latent lengths, both ways; the XTTS accelerator's
stages (prefill, decode, vocoder) at new text lengths, with PyTorch's attention backends
and with cuDNN attention left out of the prefill; and what a batched F5 step costs
against one row (how much sharing a forward can gain at each length).

    python -m bench.serving.cold_probe --out cold_probe.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from pathlib import Path

import torch


def _timed(fn):
    torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    torch.cuda.synchronize()
    return out, time.perf_counter() - start


def _no_cudnn(enabled: bool):
    return torch.backends.cudnn.flags(enabled=False) if enabled else contextlib.nullcontext()


@torch.inference_mode()
def f5_stages(acc, ref, durations: list[int], no_cudnn: bool) -> list[dict]:
    from engines.f5.accel.f5_upstream import upstream_time_grid
    from engines.f5.accel.f5_step import text_embeddings

    dit = acc.step.dit
    grid = upstream_time_grid(32, -1.0, acc.device)
    rows = []
    for d in durations:
        row = {"frames": d}
        for label in ("first", "warm"):
            request = acc.prepare(ref, "a reference sentence, read aloud. ", ["x" * max(1, d // 8)], seed=1)
            request.rows[0].duration = d
            request.rows[0].noise = torch.randn(d, acc.num_channels, device=acc.device)
            with _no_cudnn(no_cudnn):
                _, row[f"text_{label}_s"] = _timed(lambda: (text_embeddings(dit, request.rows[0].tokens, d, False),
                                                             text_embeddings(dit, request.rows[0].tokens, d, True)))
                mels, row[f"ode_{label}_s"] = _timed(lambda: acc._sample_group(request.rows, grid, 2.0))
                mel = mels[0].permute(1, 0).unsqueeze(0)
                with torch.autocast("cuda", dtype=acc.dtype):
                    x, row[f"backbone_{label}_s"] = _timed(lambda: acc.vocoder.backbone(mel))
                _, row[f"head_{label}_s"] = _timed(lambda: acc.vocoder.head(x.float()))
        rows.append(row)
    return rows


@torch.inference_mode()
def hifigan_stages(model, lengths: list[int], no_cudnn: bool) -> list[dict]:
    rows = []
    g = torch.randn(1, 512, 1, device="cuda")
    for n in lengths:
        row = {"latents": n}
        latents = torch.randn(1, n, 1024, device="cuda")
        for label in ("first", "warm"):
            with _no_cudnn(no_cudnn):
                _, row[f"decode_{label}_s"] = _timed(lambda: model.hifigan_decoder(latents, g=g))
        rows.append(row)
    return rows


def xtts_stages(acc, texts: list[str], prefill_backends) -> list[dict]:
    from torch.nn.attention import sdpa_kernel

    cond = torch.randn(1, 32, acc.gpt.model_dim, device="cuda") * 0.5
    speaker = torch.randn(1, 512, 1, device="cuda")
    rows = []
    for text in texts:
        row = {"chars": len(text)}
        for label in ("first", "warm"):
            context = sdpa_kernel(prefill_backends) if prefill_backends else contextlib.nullcontext()
            with context:
                out, row[f"total_{label}_s"] = _timed(lambda: acc.inference(text, "en", cond, speaker, seed=1,
                                                                            max_new_tokens=60))
            timings = out["timings"]
            row[f"prefill_{label}_s"] = timings["prefill_s"]
            row[f"decode_{label}_s"] = timings["decode_s"] - timings["prefill_s"]
            row[f"vocoder_{label}_s"] = timings["vocoder_s"]
        rows.append(row)
    return rows


@torch.inference_mode()
def f5_batch_costs(acc) -> list[dict]:
    """Seconds per graphed step at (rows, length), and the gain of one shared forward over rows one by one."""
    rows = []
    for n in (512, 1024, 2048, 3072):
        per = {}
        for b in (1, 8):
            acc.capture(b, n)
            graph = acc.graphs[(b, n, True)]
            graph.replay()
            _, seconds = _timed(lambda: [graph.replay() for _ in range(10)])
            per[b] = seconds / 10
        rows.append({"frames": n, "step_1_ms": round(1000 * per[1], 2), "step_8_ms": round(1000 * per[8], 2),
                     "gain_8_shared": round(8 * per[1] / per[8], 2)})
        print("f5 batch", rows[-1], flush=True)
    return rows


def summarize(rows: list[dict], stages: list[str]) -> dict:
    out = {}
    for stage in stages:
        extra = [r[f"{stage}_first_s"] - r[f"{stage}_warm_s"] for r in rows]
        out[stage] = {"first_minus_warm_median_ms": round(1000 * statistics.median(extra), 2),
                      "warm_median_ms": round(1000 * statistics.median(r[f"{stage}_warm_s"] for r in rows), 2)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="cold_probe.json")
    args = ap.parse_args(argv)
    from bench.kit.inputs import reference_audio
    from bench.kit.models import build_f5, build_vocos, build_xtts, workdir
    from engines.f5.accel.f5 import F5Accelerator
    from engines.f5.accel.f5_warmup import F5Warmup

    work = workdir()
    model, _ = build_f5("F5TTS_Base", "cuda", work)
    vocoder, _ = build_vocos("cuda", work)
    acc = F5Accelerator(model, vocoder, "cuda")
    F5Warmup(acc, None, "graphs", None, {}).run_inline([(1, n) for n in (512, 640, 768, 1024)])
    ref = reference_audio(4.0)
    report: dict = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
                    "cudnn": torch.backends.cudnn.version()}
    # Warm every kernel once at an unrelated length, so "first" means a new shape, not a first use.
    f5_stages(acc, ref, [700], False)
    f5_stages(acc, ref, [701], True)
    stages = ["text", "ode", "backbone", "head"]
    for variant, no_cudnn, durations in (("cudnn", False, [433, 517, 609, 688, 777, 851, 963]),
                                         ("no_cudnn", True, [437, 521, 613, 692, 781, 857, 967])):
        rows = f5_stages(acc, ref, durations, no_cudnn)
        report[f"f5_{variant}"] = {"rows": rows, "summary": summarize(rows, stages)}
        print(variant, json.dumps(report[f"f5_{variant}"]["summary"]), flush=True)
    report["f5_batch_costs"] = f5_batch_costs(acc)
    del acc, model, vocoder
    torch.cuda.empty_cache()
    xtts, _ = build_xtts("cuda", work, ["hello world", "a test sentence for the tokenizer"])
    hifigan_stages(xtts, [150], False)
    hifigan_stages(xtts, [151], True)
    for variant, no_cudnn, lengths in (("cudnn", False, [97, 163, 229, 301, 377]),
                                       ("no_cudnn", True, [99, 167, 233, 307, 379])):
        rows = hifigan_stages(xtts, lengths, no_cudnn)
        report[f"hifigan_{variant}"] = {"rows": rows, "summary": summarize(rows, ["decode"])}
        print("hifigan", variant, json.dumps(report[f"hifigan_{variant}"]["summary"]), flush=True)
    from torch.nn.attention import SDPBackend

    from engines.xtts.accel.xtts import XttsAccelerator

    xacc = XttsAccelerator(xtts, "cuda")
    xacc.warmup()
    report["sdpa_cudnn_enabled"] = torch.backends.cuda.cudnn_sdp_enabled()
    words = "one two three four five six seven eight nine ten eleven twelve".split()
    xtts_stages(xacc, ["warm up the kernels once, please."], None)
    for variant, backends, counts in (("default", None, (3, 7, 11, 16, 23)),
                                      ("no_cudnn_attention", [SDPBackend.FLASH_ATTENTION,
                                                              SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH],
                                       (4, 8, 13, 18, 25))):
        texts = [" ".join(words[i % 12] for i in range(c)) + "." for c in counts]
        rows = xtts_stages(xacc, texts, backends)
        report[f"xtts_{variant}"] = {"rows": rows, "summary": summarize(rows, ["prefill", "decode", "vocoder",
                                                                              "total"])}
        print("xtts", variant, json.dumps(report[f"xtts_{variant}"]["summary"]), flush=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
