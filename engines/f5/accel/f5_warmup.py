"""F5 warm-up in the background: compile the step, then capture every bucketed shape.

The engine serves from the moment it is loaded, eagerly. Then:

1. ``compile`` mode: the guided step is compiled with ``torch.compile`` in a background
   thread (it launches kernels from that thread, so the device worker holds back graph
   captures meanwhile, and only replays and eager kernels run beside it). A persistent
   cache (``torch.compiler`` mega-cache, under ``VOICE_STUDIO_CACHE_DIR/compile``, keyed by
   torch and Triton versions, the GPU, the DiT's shape and this code) makes the next
   start's compile a cache load.
2. The compiled (or, in ``graphs`` mode, the default, the eager) step is captured as a CUDA graph for
   each (batch, length) bucket. Each worker job captures shapes for about ``slice_s`` and
   then queues the next job, so requests interleave with them (the worker gives captures
   and requests turns). The first capture job itself switches to the compiled step, so no
   graph of the eager step is ever captured and then dropped: the worker runs a queued
   capture ahead of older requests, and a separate "use the compiled step" job could run
   after the first captures.

``status`` says where it stands; a failure leaves the engine on the slower path it had,
logged and shown in the engine's health.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

from ...storage import atomic_write_bytes
from .f5 import F5Accelerator

logger = logging.getLogger(__name__)

FIRST_COMPILE_SHAPE = (3, 640)  # no dimension equal to another input's (sizes that match are compiled as one)
CAPTURE_SLICE_S = 0.4  # one capture job's share of the device before requests get theirs


class F5Warmup:
    def __init__(self, accelerator: F5Accelerator, worker, mode: str, cache_dir: Path | None, model_shape: dict,
                 in_use: Callable[[], bool] = lambda: True, slice_s: float = CAPTURE_SLICE_S,
                 compile_backend: str = "inductor"):
        self.acc = accelerator
        self.compile_backend = compile_backend  # torch.compile's backend ("eager" checks the plumbing on a CPU)
        self.slice_s = slice_s  # a job captures shapes until this much time has passed (one at least)
        self.in_use = in_use  # False once the engine was unloaded: its warm-up stops
        self.worker = worker
        self.mode = mode  # "compile" (compile, then graphs) | "graphs"
        self.cache_dir = cache_dir
        self.model_shape = model_shape
        self.status: dict[str, Any] = {"mode": mode, "state": "pending", "shapes_ready": 0,
                                       "shapes": len(accelerator.shapes())}

    # --- entry -----------------------------------------------------------------------
    def run_inline(self, shapes: list[tuple[int, int]] | None = None) -> float:
        """Compile (``auto``) and capture ``shapes`` (default: all) on this thread, now; returns seconds.

        For benchmarks and scripts that own the device; the app uses ``start``.
        """
        start = time.perf_counter()
        if self.mode == "compile":
            compiled = self._compile_step()
            self._use_compiled(compiled)
        for b, n in shapes if shapes is not None else self.acc.shapes():
            self.acc.capture(b, n)
            self.status["shapes_ready"] += 1
        self.status["state"] = "ready"
        return time.perf_counter() - start

    def start(self) -> None:
        self.status["started"] = time.time()
        if self.mode == "compile":
            self.status["state"] = "compiling"
            self.worker.background(self._compile, label="f5 compile")
        else:
            self._queue_captures()

    # --- compile (background thread) ------------------------------------------------
    def cache_file(self) -> Path | None:
        if self.cache_dir is None:
            return None
        import triton

        source = "".join(Path(__file__).with_name(name).read_text() for name in ("f5.py", "f5_step.py", "f5_block.py"))
        key = json.dumps({"torch": torch.__version__, "triton": triton.__version__,
                          "gpu": torch.cuda.get_device_name(self.acc.device),
                          "capability": list(torch.cuda.get_device_capability(self.acc.device)),
                          "dtype": str(self.acc.dtype), "scope": self.acc.options.compile_scope,
                          "model": self.model_shape, "code": hashlib.sha256(source.encode()).hexdigest()},
                         sort_keys=True)
        return self.cache_dir / f"f5-step-{hashlib.sha256(key.encode()).hexdigest()[:20]}.bin"

    def _compile(self) -> None:
        start = time.perf_counter()
        try:
            compiled = self._compile_step()
        except Exception as exc:  # no compiler toolchain, an inductor bug: keep the eager step under graphs
            logger.warning("F5 step compile failed; capturing the eager step", exc_info=exc,
                           extra={"error": f"{type(exc).__name__}: {exc}"})
            self.status.update(compile_error=f"{type(exc).__name__}: {str(exc)[:300]}")
            compiled = None
        self.status["compile_s"] = round(time.perf_counter() - start, 2)
        self._queue_captures(compiled)

    def _compile_step(self):
        from .f5_block import StepKernels
        from .f5_step import CFGEulerStep, dit_block

        cache = self.cache_file()
        if cache is not None and cache.is_file():
            torch.compiler.load_cache_artifacts(cache.read_bytes())
            self.status["compile_cache"] = "hit"
        else:
            self.status["compile_cache"] = "miss" if cache is not None else "off"
        if self.acc.options.compile_scope == "block":
            block = torch.compile(dit_block, dynamic=True, backend=self.compile_backend)
            compiled: Any = ("block", block)
        else:  # the step as written for the compiler (real arithmetic, unfused): inductor fuses it its own way
            step = CFGEulerStep(self.acc.step.dit, self.acc.dtype, StepKernels.reference()).to(self.acc.device)
            compiled = ("step", torch.compile(step, dynamic=True, backend=self.compile_backend))
        self._run_shapes(compiled)
        if cache is not None and self.status["compile_cache"] == "miss":
            artifacts = torch.compiler.save_cache_artifacts()
            if artifacts is not None:
                try:
                    atomic_write_bytes(cache, artifacts[0])
                    self.status["compile_cache_saved"] = cache.name
                except OSError as exc:  # the next start compiles again; nothing else is lost
                    logger.warning("compile cache not saved", extra={"file": cache.name, "error": str(exc)})
        return compiled

    def _run_shapes(self, compiled) -> None:
        """Call the compiled step on the first shape, then the extremes, on a private stream and buffers."""
        scope, fn = compiled
        step = self.acc.step
        shapes = [FIRST_COMPILE_SHAPE] + [(b, n) for b in (1, self.acc.options.max_rows)
                                          for n in (min(self.acc.options.length_buckets),
                                                    max(self.acc.options.length_buckets))]
        stream = torch.cuda.Stream(self.acc.device) if self.acc.cuda else None
        with torch.cuda.stream(stream) if stream is not None else nullcontext(), torch.inference_mode():
            for b, n in shapes:
                bufs = _scratch(self.acc, b, n)
                if scope == "step":
                    fn(bufs["y"], bufs["t"], bufs["cfg"], bufs["static_in"], bufs["mask"], bufs["attn_mask"],
                       bufs["cos"], bufs["sin"])
                else:
                    w = step.block_weights[0]
                    h = torch.zeros(2 * b, n, step.w_x.shape[0], device=self.acc.device, dtype=self.acc.dtype)
                    t_emb = torch.zeros(1, step.w_x.shape[0], device=self.acc.device, dtype=self.acc.dtype)
                    fn(h, t_emb, bufs["mask"], bufs["attn_mask"], bufs["cos"], bufs["sin"], w, step.heads,
                       step.pe_attn_head)
        if stream is not None:
            stream.synchronize()

    # --- on the worker ----------------------------------------------------------------
    def _use_compiled(self, compiled) -> None:
        scope, fn = compiled
        if scope == "step":
            self.acc.forward = fn
        else:
            self.acc.step.block_fn = fn
        self.acc.drop_graphs()  # graphs of the eager step, if any, are re-captured compiled
        self.status["shapes_ready"] = 0

    def _queue_captures(self, compiled=None) -> None:
        """Queue the captures; the first job puts ``compiled`` (if any) in use before it captures."""
        self.status["state"] = "capturing"
        self._queue_capture(self.acc.shapes(), 0, compiled)

    def _queue_capture(self, shapes: list[tuple[int, int]], index: int, compiled=None) -> None:
        """Queue a job that captures ``shapes`` from ``index`` on, for one slice; it queues the next.

        A slice at a time, so requests get their turns in between: a request during warm-up
        waits for one slice at most, never for the whole warm-up.
        """
        b, n = shapes[index]
        self.worker.submit(lambda: self._capture_slice(shapes, index, compiled), label=f"f5 capture from {b}x{n}",
                           exclusive=True)

    def _capture_slice(self, shapes: list[tuple[int, int]], index: int, compiled=None) -> None:
        if not self.in_use():
            self.status["state"] = "stopped"
            return
        if compiled is not None:
            self._use_compiled(compiled)
        start = time.perf_counter()
        try:
            while True:
                index += 1  # a shape whose capture fails stays eager; the next job starts after it
                self._capture_one(*shapes[index - 1])
                if index == len(shapes) or time.perf_counter() - start >= self.slice_s:
                    break
        finally:
            if index < len(shapes):
                self._queue_capture(shapes, index)
            else:
                self._finish()

    def _capture_one(self, b: int, n: int) -> None:
        try:
            self.acc.capture(b, n)
            self.status["shapes_ready"] += 1
        except Exception as exc:  # that shape stays eager; the others still get their graphs
            logger.warning("F5 graph capture failed", exc_info=exc, extra={"shape": f"{b}x{n}"})
            self.status["capture_error"] = f"{b}x{n}: {type(exc).__name__}: {str(exc)[:200]}"
            raise

    def _finish(self) -> None:
        self.status["state"] = "ready" if self.status["shapes_ready"] == self.status["shapes"] else "partial"
        self.status["ready_s"] = round(time.time() - self.status["started"], 2)
        logger.info("F5 warm-up done", extra={k: v for k, v in self.status.items() if k != "started"})


def _scratch(acc: F5Accelerator, b: int, n: int) -> dict[str, torch.Tensor]:
    """Private inputs of one shape for the compile thread (never the graphs' static buffers)."""
    dev, dim = acc.device, acc.step.w_x.shape[0]
    cos, sin = acc.step.rope(n, dev)
    mask = torch.ones(2 * b, n, dtype=torch.bool, device=dev)
    return {"y": torch.zeros(b * n, acc.num_channels, device=dev), "t": torch.full((), 0.5, device=dev),
            "cfg": torch.full((), 2.0, device=dev),
            "static_in": torch.zeros(2 * b, n, dim, device=dev, dtype=acc.dtype), "mask": mask,
            "attn_mask": mask[:, None, None, :].contiguous(), "cos": cos, "sin": sin}
