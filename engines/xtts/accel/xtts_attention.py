"""The XTTS decode step's attention: one new position's query over the filled part of the KV cache.

The cache has a fixed length, so that a decode step can be one CUDA graph, and only its first
``filled`` positions hold the request's keys and values. Two ways to attend over them:

- on a CUDA GPU with FlashAttention (fp16/bf16, compute capability 8.0 or newer): its
  variable-length kernel, told how many positions are filled by a device tensor
  (``seqused_k``), so one captured graph serves every position. It costs what cuDNN's
  attention does (12.9 vs 11.5 µs a call on an H100) and, unlike cuDNN's, gives the same
  result every time: with cuDNN a greedy 602-token decode diverged after 160-544 tokens from
  run to run, so a seed did not repeat (``python -m bench.xtts.repeat``);
- elsewhere (the CPU, an older GPU, a PyTorch whose flash kernel refuses the call): SDPA with
  a mask of the filled positions, cuDNN excluded (on an H100 that is the memory-efficient
  kernel, 61 µs a call: 3.6 instead of 2.0 ms a token).

The flash kernel is checked against SDPA once, when the accelerator is built; a GPU where it
fails or disagrees gets the SDPA path, and the log says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ...gpu.graphs import attention_without_cudnn

logger = logging.getLogger(__name__)

Attend = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class CacheAttention:
    """Attention over the first ``filled`` of ``max_len`` cache positions, for a query of one position."""

    def __init__(self, device: torch.device, dtype: torch.dtype, max_len: int):
        self.max_len = max_len
        self._positions = torch.arange(max_len, device=device)
        self._cu_q = torch.tensor([0, 1], dtype=torch.int32, device=device)
        self._cu_k = torch.tensor([0, max_len], dtype=torch.int32, device=device)
        problem = self._flash_problem(device, dtype)
        self.kernel = "flash" if problem is None else "sdpa"
        if problem is not None and device.type == "cuda":
            logger.warning("XTTS decode attention without FlashAttention (slower)", extra={"reason": problem})

    def over(self, filled: torch.Tensor) -> Attend:
        """The attention of one decode step whose cache holds ``filled`` ([1], a device tensor) positions.

        The returned ``attend(q, k, v)`` takes q [1, H, 1, D] and one layer's k, v [H, max_len, D],
        and returns [1, 1, H*D].
        """
        if self.kernel == "flash":
            used = filled.to(torch.int32)
            return lambda q, k, v: self._flash(q, k, v, used)
        mask = (self._positions < filled).view(1, 1, 1, -1)
        return lambda q, k, v: self._sdpa(q, k, v, mask)

    def _flash(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, used: torch.Tensor) -> torch.Tensor:
        out = torch.ops.aten._flash_attention_forward(
            q[0].transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1), self._cu_q, self._cu_k, 1, self.max_len,
            0.0, False, False, seqused_k=used)[0]  # [1, H, D]
        return out.reshape(1, 1, -1)

    @staticmethod
    def _sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        with attention_without_cudnn():
            out = F.scaled_dot_product_attention(q, k.unsqueeze(0), v.unsqueeze(0), attn_mask=mask)
        return out.transpose(1, 2).reshape(1, 1, -1)

    def _flash_problem(self, device: torch.device, dtype: torch.dtype) -> str | None:
        """Why the flash kernel cannot serve here, or None once it gave SDPA's result on a test case."""
        if device.type != "cuda":
            return "not a CUDA device"
        if dtype not in (torch.float16, torch.bfloat16):
            return f"the decoder runs in {dtype}"
        if torch.cuda.get_device_capability(device) < (8, 0) or not torch.backends.cuda.is_flash_attention_available():
            return "FlashAttention is not available on this GPU or PyTorch build"
        heads, dim, filled = 4, 64, min(37, self.max_len)
        generator = torch.Generator(device=device).manual_seed(0)
        q = torch.randn(1, heads, 1, dim, device=device, dtype=dtype, generator=generator)
        k, v = (torch.randn(heads, self.max_len, dim, device=device, dtype=dtype, generator=generator)
                for _ in range(2))
        try:
            got = self._flash(q, k, v, torch.tensor([filled], dtype=torch.int32, device=device)).float()
        except (RuntimeError, TypeError) as exc:  # a PyTorch whose private flash op has another signature
            return f"{type(exc).__name__}: {str(exc)[:200]}"
        want = F.scaled_dot_product_attention(q.float(), k[None, :, :filled].float(), v[None, :, :filled].float())
        error = float((got - want.transpose(1, 2).reshape(1, 1, -1)).norm() / want.norm())
        return None if error < 1e-2 else f"FlashAttention's result differs from SDPA's (relative error {error:.1e})"
