"""CUDA-graph capture of a fixed-shape step function, and the static buffers F5's graphs share.

A step of these models launches hundreds of small kernels; on an H100 the launch gaps
cost more than the arithmetic. Capturing one step and replaying it removes them. The
caller owns the static input/output buffers and keeps the graph; this module only
warms up and records, with every graph sharing one memory pool.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Callable

import torch

logger = logging.getLogger(__name__)


def variable_length_convs(device: torch.device):
    """Context for eager convolutions whose length changes with every request.

    cuDNN builds an execution plan for every new input shape, and on an H100/H200 that
    costs 40-140 ms the first time a length is seen: far more than the convolution itself
    (2-11 ms), and paid by nearly every request, since text lengths rarely repeat
    (bench/serving/cold_probe.py). PyTorch's own kernels need no plan, so a new length costs what
    a repeat does. The flag is process-wide; only the device worker thread runs work on
    the device, except the opt-in compile thread, which at worst times a convolution
    without cuDNN while this is in force, and a side lane (``side_lane.py``), whose
    convolutions follow this flag when it does not choose for its own thread
    (``thread_convs.py``: it never sets this flag, which it could restore wrongly).
    """
    if torch.device(device).type != "cuda":
        return contextlib.nullcontext()
    return torch.backends.cudnn.flags(enabled=False)


def attention_without_cudnn():
    """Context for XTTS's attention: flash, memory-efficient or math kernels, never cuDNN's.

    Two reasons. PyTorch may pick cuDNN's attention, which builds a plan per new shape
    (about 40 ms on an H200 the first time a prompt length is seen: the prefill runs at
    the request's own length); flash and memory-efficient attention need none. And on an
    H100, cuDNN's attention over the decode step's masked cache does not give the same
    result twice: the same greedy decode diverged after 160-544 of 602 tokens from run to
    run, so a seed did not repeat, while the memory-efficient and math kernels repeat bit
    for bit (``python -m bench.xtts.repeat``). Process-wide, like ``variable_length_convs``;
    a graph captured inside it keeps the kernel it recorded. On the CPU it changes nothing
    (there is no cuDNN attention there).
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])


class GraphCaptureError(RuntimeError):
    """A capture failed; the process was put back so that it can still generate."""


class GraphCapturer:
    """Captures step functions into CUDA graphs that share one memory pool, and survives a failed one.

    Three rules keep a failure from spreading:

    - warm-up and capture run on the same side stream, so the libraries' lazily made
      per-stream state (cuBLAS/cuBLASLt workspaces) is allocated by the warm-up, outside the
      graphs' pool. Allocated during a capture it would stay in the pool for the life of the
      process;
    - a pool whose graphs were all dropped is never captured into again (``new_pool``). If
      anything allocated in it is still alive, the caching allocator keeps the pool with no
      user, and the next ``capture_begin`` into it fails its ``use_count > 0`` assertion;
    - after any failed capture (``_recover``): the capture is ended if it is still open, the
      thread's current stream is put back (``torch.cuda.graph`` leaves its stream current when
      ``capture_begin`` raises), the default CUDA generator is taken out of capture mode (its
      capture prologue runs before the pool is set up, so a failed ``capture_begin`` leaves it
      saying "capturing" and every later ``torch.randn`` on the device fails with "Offset
      increment outside graph capture"), and later captures use a fresh pool.

    Captures use ``capture_error_mode="thread_local"``: only the capturing thread's unsafe
    CUDA calls invalidate a capture, not a web thread freeing a tensor meanwhile.
    """

    def __init__(self, warmup_iters: int = 2, later_warmup_iters: int = 1):
        self.warmup_iters = warmup_iters  # the first capture: handles, workspaces, lazy state are made
        self.later_warmup_iters = later_warmup_iters  # later captures: only the new shape's first call
        self._pool = None
        self._stream = None  # one side stream for every warm-up and capture: memory cached for it is reused
        self._captured = 0
        self.failures = 0

    def new_pool(self) -> None:
        """Later captures share a new memory pool: call it after dropping every graph captured so far."""
        self._pool = None

    def capture(self, fn: Callable[[], object], label: str = "") -> torch.cuda.CUDAGraph:
        """Run ``fn`` on the side stream (cuBLAS/autotune warm-up), then capture it there.

        The first capture warms up ``warmup_iters`` times, later ones ``later_warmup_iters``
        times: by then the libraries' handles and workspaces exist, and one call settles a
        new shape's own choices. ``fn`` must read and write only static tensors: replays
        re-run the same kernels on the same addresses. Its effects during warm-up must be
        harmless (callers reset their state buffers after capture). A failure raises
        ``GraphCaptureError`` once the process is back in a state that can generate.
        """
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        if self._stream is None:
            self._stream = torch.cuda.Stream()
        stream, before = self._stream, torch.cuda.current_stream()
        graph = None
        try:
            stream.wait_stream(before)
            with torch.cuda.stream(stream):
                for _ in range(self.warmup_iters if self._captured == 0 else self.later_warmup_iters):
                    fn()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=self._pool, stream=stream, capture_error_mode="thread_local"):
                fn()
        except Exception as exc:
            self.failures += 1
            restored = self._recover(graph, stream, before)
            logger.warning("graph capture failed", exc_info=exc,
                           extra={"graph": label, "error": f"{type(exc).__name__}: {str(exc)[:300]}",
                                  "restored": restored})
            raise GraphCaptureError(f"capture of {label or 'a graph'} failed ({type(exc).__name__}: "
                                    f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); {restored}") from exc
        before.wait_stream(stream)
        self._captured += 1
        logger.debug("graph captured", extra={"graph": label})
        return graph

    def _recover(self, graph, stream, before) -> str:
        """Put the process back after a failed capture; returns what was done, for the log and the error."""
        pool, self._pool = self._pool, None  # the failed capture's pool may be left without users or recording
        done = ["new memory pool"]
        with torch.cuda.stream(stream):
            if graph is not None and torch.cuda.is_current_stream_capturing():
                try:  # the capture is still open on the stream: end it (its graph is thrown away)
                    graph.capture_end()
                    done.append("open capture ended")
                except Exception as exc:  # an invalidated capture ends with an error; the stream is free again
                    done.append(f"open capture ended ({type(exc).__name__})")
        if pool is not None and _end_allocating_to(pool):
            done.append("allocator no longer routes to the failed capture's pool")
        torch.cuda.set_stream(before)  # torch.cuda.graph leaves its stream current when capture_begin raises
        try:
            torch.cuda.synchronize()
            done.append(reset_generator_capture_state(stream))
        except Exception as exc:  # a sticky device error, or a generator that stays in capture mode
            done.append(f"not recovered: {type(exc).__name__}: {exc}")
        return ", ".join(done)


def _end_allocating_to(pool) -> bool:
    """End the caching allocator's "allocate to this pool" state that a failed capture left on.

    A capture registers its pool with the allocator when it begins and unregisters it when it
    ends well; one whose end failed (an invalidated capture) stays registered, and while any
    capture is registered the allocator defers returning blocks used on other streams. Ending
    it also releases the pool's use by that capture (its graph never will). Returns whether
    there was such a state: for a capture that ended, or never began, the allocator refuses.
    """
    end = getattr(torch._C, "_cuda_endAllocateToPool", None)
    release = getattr(torch._C, "_cuda_releasePool", None)
    if end is None:
        return False
    device = torch.cuda.current_device()
    try:
        end(device, pool)
    except Exception:  # not registered: the usual case
        return False
    if release is not None:
        try:
            release(device, pool)
        except Exception as exc:  # the pool stays allocated; logged
            logger.warning("failed capture's pool not released", extra={"error": f"{type(exc).__name__}: {exc}"})
    return True


def reset_generator_capture_state(stream: torch.cuda.Stream | None = None) -> str:
    """Make sure the default CUDA generator draws numbers again after a failed capture.

    A generator registered with a capture is switched to capture mode before the capture's
    memory pool is set up and switched back only when the capture ends well, so a capture that
    failed in between leaves it refusing every draw outside a capture. A clean capture of a
    trivial graph (on a private pool) runs that switch back; failing that, the generator gets a
    copy of its own state (same seed and offset, not capturing). Returns what it did.
    """
    if _draws():
        return "generator fine"
    scratch = torch.zeros(1, device="cuda")
    try:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=stream):
            scratch.add_(1.0)
        del graph
    except Exception as exc:  # tried the swap below next
        logger.warning("clean capture to reset the generator failed", extra={"error": f"{type(exc).__name__}: {exc}"})
    if _draws():
        return "generator taken out of capture mode"
    generator = torch.cuda.default_generators[torch.cuda.current_device()]
    try:
        generator.graphsafe_set_state(generator.clone_state())
    except Exception as exc:  # reported with the error below
        logger.warning("generator state swap failed", extra={"error": f"{type(exc).__name__}: {exc}"})
    if _draws():
        return "generator state replaced by a copy"
    raise GraphCaptureError("the default CUDA generator cannot draw numbers after a failed graph capture")


def _draws() -> bool:
    """Whether the default CUDA generator draws outside a capture; its state is left as it was."""
    state = torch.cuda.get_rng_state()
    try:
        torch.randn(1, device="cuda")
        return True
    except RuntimeError:
        return False
    finally:
        torch.cuda.set_rng_state(state)


class StaticBuffers:
    """The inputs and state of F5's captured step, for every (batch, length) shape at once.

    Views of one set of flat buffers sized for the largest shape: every graph reads and
    writes the same memory (graphs never run at the same time), so all shapes together cost
    the memory of the largest one. Allocated on first use.
    """

    def __init__(self, step, mel: int, dtype: torch.dtype, device, max_rows: int, max_frames: int):
        self.step, self.mel, self.dtype, self.device = step, mel, dtype, device
        self.max_rows, self.max_frames = max_rows, max_frames
        self._flat: dict[str, torch.Tensor] = {}

    def _allocate(self) -> None:
        dim, dev = self.step.w_x.shape[0], self.device
        rows, frames = self.max_rows, self.max_frames
        cos, sin = self.step.rope(frames, dev)
        self._flat = {
            "y": torch.zeros(rows * frames * self.mel, device=dev),
            "static_in": torch.zeros(2 * rows * frames * dim, device=dev, dtype=self.dtype),
            "mask": torch.zeros(2 * rows * frames, device=dev, dtype=torch.bool),
            "attn_mask": torch.zeros(2 * rows * frames, device=dev, dtype=torch.bool),
            "t": torch.zeros((), device=dev), "dt": torch.zeros((), device=dev),
            "cfg": torch.zeros((), device=dev), "cos": cos, "sin": sin,
        }

    def views(self, b: int, n: int, use_cfg: bool, fill: bool = False) -> dict[str, torch.Tensor]:
        """The step's tensors for shape (b, n); with ``fill`` set to valid dummy values (for a capture)."""
        if not self._flat:
            self._allocate()
        s, rows, dim = self._flat, (2 * b if use_cfg else b), self.step.w_x.shape[0]
        views = {
            "y": s["y"][: b * n * self.mel].view(b * n, self.mel),
            "static_in": s["static_in"][: rows * n * dim].view(rows, n, dim),
            "mask": s["mask"][: rows * n].view(rows, n),
            "attn_mask": s["attn_mask"][: rows * n].view(rows, 1, 1, n),
            "t": s["t"], "dt": s["dt"], "cfg": s["cfg"], "cos": s["cos"][:n], "sin": s["sin"][:n],
        }
        if fill:
            views["static_in"].zero_()
            views["mask"].fill_(True)
            views["attn_mask"].fill_(True)
            views["y"].zero_()
            views["t"].fill_(0.5)
            views["dt"].fill_(0.0)
        return views
