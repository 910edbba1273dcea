"""GPU checks that graph captures, compiled or failed, never leave the process unable to generate.

Tiny models, one process, in this order (the first check must be the process's first capture:
the failure it guards against needs memory allocated during the first capture):

1. ``compile_then_capture``: ``VOICE_STUDIO_ACCEL=compile``'s warm-up through the real device
   worker, with a request holding the worker while the compile finishes (as under traffic).
   Every capture must record the compiled step, all shapes get graphs, graphed mels equal the
   eager step's, and then upstream's own eager ``CFM.sample`` runs in the same process.
   On the code before this check existed it fails: the worker ran the queued capture job
   ahead of the separate "use the compiled step" job (a capture goes next once a request
   has run), so a graph of the eager step was captured first and then dropped with the
   switch; its pool kept memory allocated during that first capture (the cuBLAS workspace
   of the capture stream: warm-up and capture ran on different streams) with no graph
   left, every later capture into it failed ``use_count > 0`` in the caching allocator's
   ``beginAllocateToPool``, and each of those failures came after ``capture_begin`` had put
   the default CUDA generator in capture mode, so upstream's ``torch.randn`` then failed
   ("Offset increment outside graph capture"). The capture jobs here take one shape each
   (``slice_s=0``), so the switch job lands between the first capture and the second.
2. ``failed_captures``: three real capture failures through ``GraphCapturer`` (a pool whose
   graphs were all dropped while a tensor from it lives; an exception inside the capture; a
   synchronisation inside the capture, which invalidates it). After each: the default
   generator draws, upstream's ``CFM.sample`` runs, the thread's stream is the one it was,
   and the next capture works and replays right.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path

import torch


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double().flatten(), b.double().flatten()
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b).clamp_min(1e-12))


def _tiny(work: Path):
    from vocos import Vocos

    from devtools.tiny_models import VOCOS_CONFIG, build_f5_model, write_vocab

    model = build_f5_model(write_vocab(work / "vocab.txt")).to("cuda").half().eval()
    (work / "vocos.yaml").write_text(VOCOS_CONFIG)
    return model, Vocos.from_hparams(str(work / "vocos.yaml")).to("cuda").eval()


def upstream_generates(model, ref: torch.Tensor) -> str:
    """Upstream's eager ``CFM.sample`` (draws its noise from the default CUDA generator): "ok" or the error."""
    try:
        with torch.inference_mode():
            out, _ = model.sample(cond=ref.to("cuda"), text=["a reference. hello there."], duration=ref.shape[-1] // 256
                                  + 40, steps=4, cfg_strength=2.0, sway_sampling_coef=-1.0, seed=1)
        torch.cuda.synchronize()
        return "ok" if bool(torch.isfinite(out).all()) else "not finite"
    except Exception as exc:  # the very failure these checks look for
        return f"{type(exc).__name__}: {str(exc)[:300]}"


def compile_then_capture(work: Path, ref: torch.Tensor) -> dict:
    from engines.f5.accel.f5 import F5AccelOptions, F5Accelerator
    from engines.f5.accel.f5_warmup import F5Warmup
    from engines.worker import DeviceWorker

    model, vocoder = _tiny(work)
    options = F5AccelOptions(length_buckets=(256, 384, 512), batch_sizes=(1, 2, 4))
    acc = F5Accelerator(model, vocoder, "cuda", compile=True, options=options)
    eager = F5Accelerator(model, vocoder, "cuda", options=F5AccelOptions(use_graphs=False))
    texts = [["hello there, a short one."], ["a second request, somewhat longer than the first one is."]]

    def sample(a):
        return [a.sample([a.prepare(ref, "a reference. ", t, seed=i)], nfe_step=8)[0] for i, t in enumerate(texts)]

    want = sample(eager)
    worker = DeviceWorker("cuda")
    warmup = F5Warmup(acc, worker, "compile", None, {}, slice_s=0.0)  # one shape per job, as under heavy traffic
    compiled_at_capture = []
    capture = acc.capture

    def recorded(b, n, use_cfg=True):
        compiled_at_capture.append(acc.forward is not acc.step)
        return capture(b, n, use_cfg)

    acc.capture = recorded
    start = time.perf_counter()
    warmup.start()

    def long_request():  # holds the worker until the compile thread has queued its work and ended
        while worker.background_running:
            time.sleep(0.05)

    worker.call(long_request, label="long request")
    while warmup.status["state"] not in ("ready", "partial") and time.perf_counter() - start < 900:
        time.sleep(0.1)
    out = {"warmup": {k: v for k, v in warmup.status.items() if k != "started"},
           "seconds": round(time.perf_counter() - start, 1),
           "captures_recorded_compiled_step": compiled_at_capture, "graphs": len(acc.graphs)}
    got = worker.call(lambda: sample(acc))
    out["max_rel_err_graphed_compiled_vs_eager"] = max(_rel(a, b) for ga, wa in zip(got, want)
                                                       for a, b in zip(ga, wa))
    out["upstream_after"] = worker.call(lambda: upstream_generates(model, ref))
    out["ok"] = (warmup.status["state"] == "ready" and all(compiled_at_capture)
                 and len(acc.graphs) == len(acc.shapes()) and out["max_rel_err_graphed_compiled_vs_eager"] < 2e-2
                 and out["upstream_after"] == "ok")
    return out


def failed_captures(work: Path, ref: torch.Tensor) -> dict:
    from engines.gpu.graphs import GraphCaptureError, GraphCapturer

    model, _ = _tiny(work)
    x = torch.ones(4096, device="cuda")
    kept: list[torch.Tensor] = []
    out = {}

    def outlives_its_graph():  # a tensor allocated in the capture stays alive after its graph is gone
        kept.append(x * 2)

    def raises_inside():
        x.mul_(1.0)
        if torch.cuda.is_current_stream_capturing():
            raise RuntimeError("injected failure inside the capture")

    def syncs_inside():
        x.mul_(1.0)
        if torch.cuda.is_current_stream_capturing():
            torch.cuda.synchronize()  # not allowed while capturing: invalidates the capture

    capturer = GraphCapturer()
    first = capturer.capture(outlives_its_graph, label="leaves a tensor")
    del first  # the pool's only graph: the pool now has memory in use and no user
    scenarios = {"pool_left_without_graphs": lambda: x.mul_(1.0), "exception_inside_capture": raises_inside,
                 "sync_inside_capture": syncs_inside}
    for name, fn in scenarios.items():
        stream_before = torch.cuda.current_stream()
        row: dict = {}
        try:
            capturer.capture(fn, label=name)
            row["capture"] = "succeeded"
        except GraphCaptureError as exc:
            row["capture"] = f"failed and recovered: {str(exc)[:400]}"
        except Exception as exc:  # not turned into GraphCaptureError: recovery did not run
            row["capture"] = f"failed, NOT recovered: {type(exc).__name__}: {str(exc)[:300]}"
        row["stream_restored"] = torch.cuda.current_stream() == stream_before
        row["upstream_after"] = upstream_generates(model, ref)
        y = torch.zeros(8, device="cuda")
        try:
            graph = capturer.capture(lambda: y.add_(1.0), label=f"after {name}")
            y.zero_()
            graph.replay()
            graph.replay()
            row["next_capture_replays"] = bool(torch.equal(y, torch.full_like(y, 2.0)))
        except Exception as exc:  # reported
            row["next_capture_replays"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        row["ok"] = (not row["capture"].startswith("failed, NOT") and row["stream_restored"]
                     and row["upstream_after"] == "ok" and row["next_capture_replays"] is True)
        out[name] = row
    out["ok"] = all(row["ok"] for row in out.values() if isinstance(row, dict))
    return out


def run(work: Path) -> dict:
    """Both checks; a failure of one is recorded and the other still runs."""
    from bench.kit.inputs import reference_audio

    ref = reference_audio(3.0)
    report = {}
    for name, check in (("compile_then_capture", compile_then_capture), ("failed_captures", failed_captures)):
        sub = work / name
        sub.mkdir(parents=True, exist_ok=True)
        try:
            report[name] = check(sub, ref)
        except Exception:  # recorded, and the next check still runs
            report[name] = {"ok": False, "error": traceback.format_exc()[-3000:]}
    report["ok"] = all(report[k].get("ok") for k in ("compile_then_capture", "failed_captures"))
    return report
