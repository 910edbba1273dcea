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
    (bench/cold_probe.py). PyTorch's own kernels need no plan, so a new length costs what
    a repeat does. The flag is process-wide; only the device worker thread runs work on
    the device, except the opt-in compile thread, which at worst times a convolution
    without cuDNN while this is in force.
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
    for bit (``python -m bench.xtts_repeat``). Process-wide, like ``variable_length_convs``;
    a graph captured inside it keeps the kernel it recorded. On the CPU it changes nothing
    (there is no cuDNN attention there).
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])


class GraphCapturer:
    """Captures step functions into CUDA graphs that share one memory pool."""

    def __init__(self, warmup_iters: int = 2, later_warmup_iters: int = 1):
        self.warmup_iters = warmup_iters  # the first capture: handles, workspaces, lazy state are made
        self.later_warmup_iters = later_warmup_iters  # later captures: only the new shape's first call
        self._pool = None
        self._stream = None  # one side stream for every warm-up: memory cached for it is reused
        self._captured = 0

    def capture(self, fn: Callable[[], object], label: str = "") -> torch.cuda.CUDAGraph:
        """Run ``fn`` on a side stream (cuBLAS/autotune warm-up), then capture it.

        The first capture warms up ``warmup_iters`` times, later ones ``later_warmup_iters``
        times: by then the libraries' handles and workspaces exist, and one call settles a
        new shape's own choices. ``fn`` must read and write only static tensors: replays
        re-run the same kernels on the same addresses. Its effects during warm-up must be
        harmless (callers reset their state buffers after capture).
        """
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        if self._stream is None:
            self._stream = torch.cuda.Stream()
        stream = self._stream
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(self.warmup_iters if self._captured == 0 else self.later_warmup_iters):
                fn()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self._pool):
            fn()
        self._captured += 1
        logger.debug("graph captured", extra={"graph": label})
        return graph


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
