"""CUDA-graph capture of a fixed-shape step function.

A step of these models launches hundreds of small kernels; on an H100 the launch gaps
cost more than the arithmetic. Capturing one step and replaying it removes them. The
caller owns the static input/output buffers and keeps the graph; this module only
warms up and records, with every graph sharing one memory pool.
"""

from __future__ import annotations

import logging
from typing import Callable

import torch

logger = logging.getLogger(__name__)


class GraphCapturer:
    """Captures step functions into CUDA graphs that share one memory pool."""

    def __init__(self, warmup_iters: int = 2):
        self.warmup_iters = warmup_iters
        self._pool = None
        self._stream = None  # one side stream for every warm-up: memory cached for it is reused

    def capture(self, fn: Callable[[], object], label: str = "") -> torch.cuda.CUDAGraph:
        """Run ``fn`` a few times on a side stream (cuBLAS/autotune warm-up), then capture it.

        ``fn`` must read and write only static tensors: replays re-run the same kernels
        on the same addresses. Its effects during warm-up must be harmless (callers
        reset their state buffers after capture).
        """
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        if self._stream is None:
            self._stream = torch.cuda.Stream()
        stream = self._stream
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(self.warmup_iters):
                fn()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self._pool):
            fn()
        logger.debug("graph captured", extra={"graph": label})
        return graph
