"""One F5 step, profiled: where the GPU time goes, for our step (old and new kernels) and upstream's.

    python -m bench.f5.profile --out prof.json           # CUDA, full-size F5TTS_Base in fp16 as served
    python -m bench.f5.profile --quick --out prof.json   # CPU, tiny model: checks the tool runs

For each shape (frames x rows; the DiT batch is twice the rows, classifier-free guidance) and
each path, one guided Euler step: ours as the accelerator runs it (``StepKernels``, see
``engines/f5/accel/f5_block.py``), once with the reference kernels (the code before the fused
kernels) and once with the default ones, and upstream's (``DiT.forward`` with ``cfg_infer``
and its text cache, the guidance combination and torchdiffeq's Euler update, as in
``CFM.sample``). Reported per path and shape:

- ``step_ms``: wall time of one step. Ours: replays of its CUDA graph (what serving runs);
  upstream: its eager step (what upstream runs). On a CPU both eager.
- ``classes_ms`` / ``shares``: device time of one eager step by op class, from
  ``torch.profiler``. Each outermost aten op goes to one class by name: ``matmul`` (linear,
  mm, addmm, bmm, addmm with activation), ``attention`` (scaled dot product), ``norm`` (layer
  norm; with ``modulation="affine"`` it includes AdaLN's scale and shift, which the
  reference path does as element-wise ops), ``conv`` (the convolutional position embedding),
  ``copies`` (copy_, cat, stack, contiguous, clone, to), ``ode`` (the Euler update), and
  ``elementwise`` (everything else: add, mul, addcmul, gelu, silu, mish, masked_fill, ...).
- ``top_ops``: the aten ops with the most self device time, with calls per step.
- ``kernels``: device kernels launched per step.
- ``useful_tflops``: ``useful_flops`` per step over ``step_ms``.

``useful_flops(frames, rows)`` counts the F5TTS_Base work that a request needs, the way the
speed issue counts it: per DiT row and layer, the q, k, v and output projections
(4 x 2·n·d²), the feed-forward (2 x 2·n·d·d_ff with d_ff = 2d), and attention over the row's
own frames (QKᵀ and PV, 2 x 2·n²·d); times L = 22 layers, times 2 rows per request
(guidance):

    useful_flops = 2 · rows · L · (8·n·d² + 4·n·d·d_ff + 4·n²·d)      (d = 1024, d_ff = 2048)

per step, and NFE (32) steps per request. Padding frames, the input projection, the
convolutional position embedding, AdaLN and the output projection are not counted.
Upstream's run uses the same count on its unpadded length. The bf16/fp16 dense matmul peak
of the card is measured once (``matmul_peak_tflops``) so that the figure can be read as a
fraction of what the arithmetic allows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

CLASSES = ("matmul", "attention", "norm", "conv", "elementwise", "copies", "ode")
SHAPES = ((512, 1), (512, 8), (1024, 1), (1024, 8), (2048, 1), (2048, 8), (3072, 1), (3072, 8))
QUICK_SHAPES = ((64, 1), (96, 2))
_MATMUL = {"aten::linear", "aten::mm", "aten::addmm", "aten::matmul", "aten::bmm", "aten::baddbmm",
           "aten::_addmm_activation"}
_COPIES = {"aten::copy_", "aten::cat", "aten::stack", "aten::contiguous", "aten::clone", "aten::to",
           "aten::_to_copy", "aten::reshape", "aten::flatten"}


def useful_flops(frames: int, rows: int = 1, layers: int = 22, dim: int = 1024, ff_mult: int = 2) -> float:
    """FLOPs per guided step that the request needs (module docstring), for ``rows`` requests of ``frames``."""
    ff = ff_mult * dim
    per_row = layers * (8 * frames * dim * dim + 4 * frames * dim * ff + 4 * frames * frames * dim)
    return 2.0 * rows * per_row


def op_class(name: str) -> str:
    if name in _MATMUL:
        return "matmul"
    if "scaled_dot_product" in name or "attention" in name:
        return "attention"
    if "layer_norm" in name or "group_norm" in name or "rms_norm" in name:
        return "norm"
    if "conv" in name:
        return "conv"
    if name in _COPIES:
        return "copies"
    return "elementwise"


def _sync(cuda: bool) -> None:
    if cuda:
        torch.cuda.synchronize()


def _device_us(event, cuda: bool) -> float:
    if not cuda:
        return float(event.cpu_time_total)
    return float(getattr(event, "device_time_total", None) or getattr(event, "cuda_time_total", 0.0))


def profile_step(fn, cuda: bool, top: int = 15) -> dict:
    """Op classes and top ops of one call of ``fn`` (already warm)."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    _sync(cuda)
    with profile(activities=activities) as prof:
        fn()
        _sync(cuda)
    classes = dict.fromkeys(CLASSES, 0.0)
    copies_within: dict[str, float] = {}  # copies made inside another op: which op makes them
    for event in prof.events():
        if not event.name.startswith("aten::"):
            continue
        if event.name in _COPIES and event.cpu_parent is not None:
            outer = _outermost_op(event)
            if outer is not None and outer != event.name:
                copies_within[outer] = copies_within.get(outer, 0.0) + _device_us(event, cuda)
        parent, in_ode, nested = event.cpu_parent, False, False
        while parent is not None:
            if parent.name.startswith("aten::"):
                nested = True
                break
            in_ode = in_ode or parent.name == "ode"
            parent = parent.cpu_parent
        if not nested:
            classes["ode" if in_ode else op_class(event.name)] += _device_us(event, cuda)
    total = sum(classes.values()) or 1.0
    self_key = "self_device_time_total" if cuda else "self_cpu_time_total"
    averages = sorted((a for a in prof.key_averages() if a.key.startswith("aten::")),
                      key=lambda a: -float(getattr(a, self_key, 0.0) or 0.0))
    self_total = sum(float(getattr(a, self_key, 0.0) or 0.0) for a in averages) or 1.0
    kernels = sum(1 for e in prof.events() if getattr(e, "device_type", None) == DeviceType.CUDA)
    return {
        "total_ms": round(total / 1000, 3),
        "classes_ms": {k: round(v / 1000, 3) for k, v in classes.items()},
        "shares": {k: round(v / total, 3) for k, v in classes.items()},
        "kernels": kernels,
        "copies_within_ms": {k: round(v / 1000, 3) for k, v in sorted(copies_within.items(), key=lambda kv: -kv[1])},
        "top_ops": [{"op": a.key, "calls": a.count, "self_ms": round(float(getattr(a, self_key)) / 1000, 3),
                     "share": round(float(getattr(a, self_key)) / self_total, 3)} for a in averages[:top]],
    }


def _outermost_op(event) -> str | None:
    """The name of the outermost aten op around ``event`` (None when it has none)."""
    outer, parent = None, event.cpu_parent
    while parent is not None:
        if parent.name.startswith("aten::"):
            outer = parent.name
        parent = parent.cpu_parent
    return outer


def _time(fn, cuda: bool, repeats: int = 10) -> float:
    """Median milliseconds per call over ``repeats`` calls (three groups), after one call."""
    fn()
    _sync(cuda)
    groups = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        _sync(cuda)
        groups.append((time.perf_counter() - start) / repeats * 1000)
    return statistics.median(groups)


def _random_like(t: torch.Tensor, gen: torch.Generator, scale: float = 1.0) -> None:
    t.copy_((torch.randn(t.shape, generator=gen) * scale).to(t.dtype))


def our_step(acc, rows: int, frames: int):
    """Our eager step (forward + Euler update) on random buffers, and a timer of its graph replays."""
    from torch.profiler import record_function

    cuda, dev, gen = acc.cuda, acc.device, torch.Generator().manual_seed(0)
    bufs = {k: v.clone() for k, v in acc._static.views(rows, frames, True, fill=True).items()}
    _random_like(bufs["y"], gen)
    _random_like(bufs["static_in"], gen, 0.5)
    bufs["cfg"].fill_(2.0)
    bufs["dt"].fill_(0.03)

    def eager():
        v = acc.forward(bufs["y"], bufs["t"], bufs["cfg"], bufs["static_in"], bufs["mask"], bufs["attn_mask"],
                        bufs["cos"], bufs["sin"])
        with record_function("ode"):
            bufs["y"].add_(v * bufs["dt"])

    if not (cuda and acc.options.use_graphs):
        return eager, lambda: _time(eager, cuda, repeats=3)

    def replay_ms() -> float:
        key = (rows, frames, True)
        captured_here = key not in acc.graphs  # a graph the warm-up made is used as it is, and kept
        if captured_here:
            acc.capture(rows, frames)
        graph, static = acc.graphs[key], acc.static_views(rows, frames, True)
        for name in ("y", "static_in"):
            static[name].copy_(bufs[name])  # never time on zeros
        static["mask"].fill_(True)
        static["attn_mask"].fill_(True)
        static["cfg"].fill_(2.0)
        static["dt"].fill_(0.03)
        ms = _time(graph.replay, cuda)
        if captured_here:
            acc.graphs.pop(key)
        return ms

    return eager, replay_ms


def upstream_step(model, rows: int, frames: int):
    """Upstream's step as ``CFM.sample`` + torchdiffeq's Euler take it (text cache filled by a first call)."""
    from torch.profiler import record_function

    dit = model.transformer
    dev, dtype = next(dit.parameters()).device, next(dit.parameters()).dtype
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(rows, frames, model.num_channels, generator=gen).to(dev, dtype)
    cond = torch.randn(rows, frames, model.num_channels, generator=gen).to(dev, dtype)
    vocab = dit.text_embed.text_embed.num_embeddings - 1
    text = torch.randint(0, vocab, (rows, max(1, frames // 4)), generator=gen).to(dev)
    mask = None if rows == 1 else torch.ones(rows, frames, dtype=torch.bool, device=dev)  # as CFM.sample
    t, dt = torch.tensor(0.5, device=dev, dtype=dtype), torch.tensor(0.03, device=dev, dtype=dtype)
    dit.clear_cache()

    def step():
        pred_cfg = dit(x=x, cond=cond, text=text, time=t, mask=mask, cfg_infer=True, cache=True)
        pred, null_pred = torch.chunk(pred_cfg, 2, dim=0)
        v = pred + (pred - null_pred) * 2.0
        with record_function("ode"):
            return x + dt * v

    return step, lambda: _time(step, dev.type == "cuda", repeats=3)


def matmul_peak_tflops(dtype: torch.dtype, n: int = 8192) -> float:
    """Dense n x n x n matmul rate on this GPU (random inputs; median of 10)."""
    a = torch.randn(n, n, device="cuda", dtype=dtype)
    b = torch.randn(n, n, device="cuda", dtype=dtype)
    ms = _time(lambda: a @ b, True, repeats=10)
    return round(2 * n**3 / (ms / 1000) / 1e12, 1)


@torch.inference_mode()
def profile_paths(model, paths: dict, shapes, dims: dict, on_row=None) -> list[dict]:
    """One row per (path, shape): timing, profile and useful TFLOP/s. ``paths``: name -> accelerator or
    "upstream". A failure of one row is recorded in it and the others still run."""
    rows_out = []
    for frames, rows in shapes:
        for name, acc in paths.items():
            row: dict = {"path": name, "frames": frames, "rows": rows}
            try:
                eager, timer = upstream_step(model, rows, frames) if acc == "upstream" else our_step(acc, rows, frames)
                cuda = next(model.parameters()).is_cuda
                eager()
                row["profile"] = profile_step(eager, cuda)
                row["step_ms"] = round(timer(), 3)
                row["useful_tflops"] = round(useful_flops(frames, rows, **dims) / (row["step_ms"] / 1000) / 1e12, 2)
            except Exception as exc:  # recorded; the next row still runs
                row["error"] = f"{type(exc).__name__}: {str(exc)[:400]}"
            finally:
                if model.transformer is not None:
                    model.transformer.clear_cache()
            rows_out.append(row)
            if on_row is not None:
                on_row(row)
    return rows_out


def accelerators(model, vocoder, device: str) -> dict:
    """Our two step variants on one model: the reference kernels (before) and the default (after)."""
    from engines.f5.accel.f5 import F5AccelOptions, F5Accelerator
    from engines.f5.accel.f5_block import StepKernels

    old = F5Accelerator(model, vocoder, device, options=F5AccelOptions(kernels=StepKernels.reference()))
    new = F5Accelerator(model, vocoder, device)
    return {"ours_reference_kernels": old, "ours": new}


def model_dims(model) -> dict:
    dit = model.transformer
    block = dit.transformer_blocks[0]
    return {"layers": len(dit.transformer_blocks), "dim": dit.dim,
            "ff_mult": block.ff.ff[0][0].out_features // dit.dim}


def print_table(rows: list[dict]) -> None:
    print(f"{'path':<24}{'frames':>7}{'rows':>5}{'step ms':>9}{'TFLOP/s':>9}{'kernels':>8}  "
          + " ".join(f"{c[:6]:>6}" for c in CLASSES))
    for r in rows:
        if "error" in r:
            print(f"{r['path']:<24}{r['frames']:>7}{r['rows']:>5}  failed: {r['error'][:80]}")
            continue
        p = r["profile"]
        print(f"{r['path']:<24}{r['frames']:>7}{r['rows']:>5}{r['step_ms']:>9.2f}{r['useful_tflops']:>9.1f}"
              f"{p['kernels']:>8}  " + " ".join(f"{100 * p['shares'][c]:>5.0f}%" for c in CLASSES))


def build(quick: bool, work: Path):
    """(model, vocoder, device): full-size F5TTS_Base fp16 on CUDA, or the tiny test model on the CPU."""
    if quick:
        from devtools.tiny_models import TINY_DIT, build_f5_model, write_vocab

        return build_f5_model(write_vocab(work / "vocab.txt"), dict(TINY_DIT)).eval(), None, "cpu"
    from bench.kit.models import build_f5, build_vocos

    model, _ = build_f5("F5TTS_Base", "cuda", work)
    vocoder, _ = build_vocos("cuda", work)
    return model, vocoder, "cuda"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="f5_profile.json")
    ap.add_argument("--quick", action="store_true", help="tiny model on the CPU: checks the tool, quotes nothing")
    args = ap.parse_args(argv)
    from bench.kit.models import workdir

    model, vocoder, device = build(args.quick, workdir())
    report: dict = {"device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu", "torch": torch.__version__,
                    "dtype": str(next(model.parameters()).dtype), "rows": []}
    if device == "cuda":
        report["matmul_peak_tflops"] = {"fp16": matmul_peak_tflops(torch.float16),
                                        "bf16": matmul_peak_tflops(torch.bfloat16)}
    out = Path(args.out)

    def save(row=None):
        if row is not None:
            report["rows"].append(row)
        out.write_text(json.dumps(report, indent=1))

    paths = {**accelerators(model, vocoder, device), "upstream": "upstream"}
    profile_paths(model, paths, QUICK_SHAPES if args.quick else SHAPES, model_dims(model), on_row=save)
    save()
    print_table(report["rows"])
    return 0 if not any("error" in r for r in report["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
