"""Several XTTS decodes in one step: a static KV cache of N slots that rows join and leave.

The cache is [layers, 2, N, max_len, heads, head_dim]: slot s holds one row's keys and
values, position after position. The rows in flight always fill slots 0..active-1 (a row
that leaves is replaced by the last one, its cache and state copied over), so a step over
b >= active rows reads and writes the first b slots: the same addresses every time, one
CUDA graph per b. b is the next of a few bucket sizes (1, 2, 4, 8, 16 by default); the
slots past ``active`` idle through the step (their indices clamped, their results unused).

A row joins with its own prefill: its prompt through the GPT (causal attention over the
prompt alone), its keys and values into its slot, its first token sampled from its own
settings and draws (``xtts_rows``). Its next tokens come from the batched step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from ...gpu.graphs import GraphCapturer, attention_without_cudnn
from .xtts_rows import RowStates
from .xtts_sampling import SamplingParams, pick_next, request_generator

logger = logging.getLogger(__name__)

DEFAULT_BUCKETS = (1, 2, 4, 8, 16)

RowsAttend = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class RowsAttention:
    """Each row's one new query over the filled part of its own cache slot.

    FlashAttention's variable-length kernel where the single-row decode uses it (slot s's keys
    start at s * max_len; ``seqused_k`` says how many are filled). Elsewhere softmax(qk^T / sqrt(d))
    v written out with a mask of the filled positions, as batched matmuls: PyTorch's fused SDPA
    on the CPU rounds a row differently in another slot or beside other rows, these do not
    (at one batch size, a row's result depends on nothing but its own data).
    """

    def __init__(self, kernel: str, device: torch.device, max_len: int, slots: int):
        """``kernel``: "flash" where the single-row decode attends with FlashAttention."""
        self.max_len = max_len
        self._positions = torch.arange(max_len, device=device)
        self._cu_q = torch.arange(slots + 1, dtype=torch.int32, device=device)
        self._cu_k = self._cu_q * max_len
        self.kernel = "flash" if kernel == "flash" else "masked"
        if kernel == "flash":
            problem = self._flash_problem(device)
            if problem is not None:
                self.kernel = "masked"
                logger.warning("XTTS batched decode attention without FlashAttention (slower)",
                               extra={"reason": problem})

    def over(self, filled: torch.Tensor) -> RowsAttend:
        """``attend(q, k, v)`` for rows whose slots hold ``filled`` [b] positions: q [b, H, 1, hd],
        one layer's k, v [b, max_len, H, hd] -> [b, 1, H * hd]."""
        rows = filled.shape[0]
        if self.kernel == "flash":
            used = filled.to(torch.int32)
            cu_q, cu_k = self._cu_q[: rows + 1], self._cu_k[: rows + 1]

            def flash(q, k, v):
                out = torch.ops.aten._flash_attention_forward(
                    q[:, :, 0], k.reshape(-1, *k.shape[2:]), v.reshape(-1, *v.shape[2:]), cu_q, cu_k, 1,
                    self.max_len, 0.0, False, False, seqused_k=used)[0]  # [b, H, hd]
                return out.reshape(rows, 1, -1)

            return flash
        unfilled = (self._positions.view(1, -1) >= filled.view(-1, 1)).view(rows, 1, 1, -1)

        def masked(q, k, v):
            scores = (q @ k.permute(0, 2, 3, 1)) * q.shape[-1] ** -0.5  # [b, H, 1, max_len]
            weights = scores.float().masked_fill(unfilled, float("-inf")).softmax(dim=-1).to(v.dtype)
            return (weights @ v.transpose(1, 2)).transpose(1, 2).reshape(rows, 1, -1)

        return masked

    def _flash_problem(self, device: torch.device) -> str | None:
        """Why the flash kernel cannot attend for several rows here, or None once it gave SDPA's result."""
        rows, heads, dim = 3, 4, 64
        filled = torch.tensor([5, min(37, self.max_len), 1], device=device)
        generator = torch.Generator(device=device).manual_seed(0)
        q = torch.randn(rows, heads, 1, dim, device=device, dtype=torch.float16, generator=generator)
        k, v = (torch.randn(rows, self.max_len, heads, dim, device=device, dtype=torch.float16,
                            generator=generator) for _ in range(2))
        try:
            got = self.over(filled)(q, k, v).float()
        except (RuntimeError, TypeError) as exc:  # a PyTorch whose private flash op has another signature
            return f"{type(exc).__name__}: {str(exc)[:200]}"
        self.kernel = "masked"
        want = self.over(filled)(q.float(), k.float(), v.float())
        self.kernel = "flash"
        error = float((got - want).norm() / want.norm())
        return None if error < 1e-2 else f"FlashAttention's result differs from SDPA's (relative error {error:.1e})"


class SlotDecoder:
    """Rows of ``XttsAccelerator`` decodes in one batched step, each in its own cache slot."""

    def __init__(self, accelerator, slots: int, buckets: Sequence[int] = DEFAULT_BUCKETS):
        acc = accelerator
        self.acc = acc
        self.packed = acc.packed
        self.device = acc.device
        self.slots = slots
        self.max_len = acc.max_len
        self.buckets = tuple(sorted({b for b in buckets if 0 < b < slots} | {slots}))
        packed = self.packed
        self.cache = torch.zeros(len(packed.layers), 2, slots, self.max_len, packed.heads, packed.head_dim,
                                 dtype=acc.dtype, device=self.device)
        steps = acc.max_gen + acc.options.sync_every + 1
        self.rows = RowStates.create(slots, acc.gpt.mel_head.out_features, steps, packed.dim, acc.dtype,
                                     self.device)
        self.attention = RowsAttention(acc.cache_attention.kernel, self.device, self.max_len, slots)
        self._slot_start = torch.arange(slots, device=self.device) * self.max_len
        self._last_pos_index = min(steps, packed.mel_pos.shape[0]) - 1
        self._capturer = GraphCapturer()
        self._graphs: dict[int, torch.cuda.CUDAGraph] = {}
        self.active = 0  # rows in flight, in slots 0..active-1

    @staticmethod
    def slot_bytes(accelerator) -> int:
        """Device memory one slot takes (its cache, draws and latents)."""
        acc, packed = accelerator, accelerator.packed
        item = torch.tensor([], dtype=acc.dtype).element_size()
        steps = acc.max_gen + acc.options.sync_every + 1
        vocab = acc.gpt.mel_head.out_features
        cache = len(packed.layers) * 2 * acc.max_len * packed.dim * item
        return cache + steps * (vocab * 4 + packed.dim * item + 8) + vocab

    # ---- rows joining and leaving ----------------------------------------------------------
    def bucket(self, rows: int) -> int:
        return next(b for b in self.buckets if b >= rows)

    @torch.inference_mode()
    def admit(self, text_tokens: torch.Tensor, cond_latents: torch.Tensor, params: SamplingParams,
              min_new_tokens: int = 0, seed: int | None = None) -> int:
        """Prefill a new row into the next free slot and sample its first token; returns the slot.

        ``text_tokens`` ``[1, nt]`` and ``cond_latents`` ``[1, c, D]`` as ``XttsAccelerator.decode`` takes
        them. The slot's cache is ``cache[:, :, slot]``: ``[layers, 2, max_len, heads, head_dim]``.
        """
        if self.active >= self.slots:
            raise RuntimeError(f"all {self.slots} decode slots are taken")
        acc, packed, slot = self.acc, self.packed, self.active
        x, p = acc.prompt(text_tokens.to(self.device), cond_latents.to(self.device))
        generator = request_generator(params, seed, self.device)
        positions = acc._positions[: p + 1]

        def attention(i: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            self.cache[i, 0, slot].index_copy_(0, positions, k[0].transpose(0, 1))
            self.cache[i, 1, slot].index_copy_(0, positions, v[0].transpose(0, 1))
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return out.transpose(1, 2).reshape(1, x.shape[1], packed.dim)

        with attention_without_cudnn():  # the prompt's length is the request's own
            latents = packed.blocks(x, attention)
        # upstream's input_ids: p placeholder ids (1) then the start token
        self.rows.reset(slot, params, [1, acc.start_token], min_new_tokens, p, generator)
        row = self.rows.view(slot + 1, slot)
        last = latents[:, -1]
        row.record(pick_next(packed.logits(last), row, params.greedy, acc.stop_token), last)
        self.active += 1
        return slot

    def release(self, slot: int, moved_positions: int) -> int | None:
        """The row in ``slot`` leaves. The last row moves into its slot (its first
        ``moved_positions`` cache positions copied); returns the slot it came from, or None."""
        last = self.active - 1
        self.active -= 1
        if slot == last:
            return None
        self.rows.move(last, slot)
        n = min(self.max_len, moved_positions)
        self.cache[:, :, slot, :n].copy_(self.cache[:, :, last, :n])
        return last

    def clear(self) -> None:
        """Every row gone (a failed step, an unload)."""
        self.active = 0

    # ---- stepping ------------------------------------------------------------------------------
    @torch.inference_mode()
    def step(self, steps: int) -> int:
        """``steps`` tokens for every row in flight; returns the bucket they ran in. Each step appends one
        token to ``rows.tokens`` ``[slots, steps]`` and its latent to ``rows.latents`` ``[slots, steps, D]``
        for the rows of slots 0 .. bucket - 1."""
        b = self.bucket(self.active)
        graph = self._graphs.get(b)
        run = graph.replay if graph is not None else (lambda: self._step(b))
        for _ in range(steps):
            run()
        return b

    def _step(self, b: int) -> None:
        """One token for the rows of slots 0..b-1. Device-only, fixed addresses (graph-capturable)."""
        st = self.rows.view(b)
        packed = self.packed
        x = packed.audio_embedding(st.token, st.n_gen.clamp(max=self._last_pos_index)).view(b, 1, -1)
        position = (st.prefix + st.n_gen).clamp(max=self.max_len - 1)
        at = self._slot_start[:b] + position
        attend = self.attention.over(position + 1)

        def attention(i: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            keys, values = self.cache[i, 0], self.cache[i, 1]
            keys.view(-1, *keys.shape[2:]).index_copy_(0, at, k[:, :, 0])
            values.view(-1, *values.shape[2:]).index_copy_(0, at, v[:, :, 0])
            return attend(q, keys[:b], values[:b])

        latents = packed.blocks(x, attention)[:, 0]
        st.record(pick_next(packed.logits(latents), st, st.greedy, self.acc.stop_token), latents)

    # ---- graphs ----------------------------------------------------------------------------------
    @property
    def graphs(self) -> tuple[int, ...]:
        return tuple(sorted(self._graphs))

    def missing_graphs(self) -> list[int]:
        return [b for b in self.buckets if b not in self._graphs] if self.acc.options.use_graphs else []

    @torch.inference_mode()
    def capture(self, b: int) -> None:
        """Capture the step over ``b`` rows (CUDA only; nothing else may run on the device meanwhile).

        The capture's warm-up steps run for real on whatever rows are in flight: their state is
        put back afterwards, and the keys and values they wrote lie at or past each row's next
        position, which its next real step overwrites before anything reads them.
        """
        if b in self._graphs:
            return
        snapshot = self.rows.snapshot()
        try:
            self._graphs[b] = self._capturer.capture(lambda: self._step(b), label=f"xtts rows={b}")
        finally:
            self.rows.restore(snapshot)
