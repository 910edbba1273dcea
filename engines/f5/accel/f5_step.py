"""One classifier-free-guided Euler step of F5-TTS's DiT, for a padded batch of chunks.

Upstream (``f5_tts.model.cfm.CFM.sample`` + ``backbones/dit.py``) already packs the
conditional and unconditional passes into one batch-2 forward (``cfg_infer=True``). This
module keeps that, and adds what upstream's per-step code cannot do:

- the parts of a step that do not change across the 32 steps (text embedding, the
  reference-mel and text halves of the input projection, rotary cos/sin) are computed
  once per request (``prepare_conditioning``), not per step;
- several chunks of one long text share one forward, padded to a common length. Padding
  is made invisible: attention masks padded keys, and the convolutional position
  embedding zeroes padded frames (upstream's own masking). Every other op is per frame.
  So each chunk computes what it would compute alone (upstream runs one chunk per
  ``sample`` call, with no padding);
- the ODE state ``y`` and the time grid stay float32 while the DiT runs in bf16/fp16
  (casting the whole model makes upstream's time grid repeat values);
- the Euler update is part of the step, so one captured CUDA graph covers a whole step.

It reuses upstream's modules (weights, norms, feed-forward, conv position embedding,
text embedding) and re-implements only the attention call (to leave out padded keys)
and the orchestration. ``StepKernels`` (``f5_block.py``) says how the block's memory-bound
parts run: with fewer passes over memory (the default) or as upstream writes them
(``StepKernels.reference()``, also what the compiler is given).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .f5_block import StepKernels, conv_flags, fast_dit_block, fused_qkv_weights, modulate, rope_cis, varlen_keys


@dataclass(frozen=True)
class BlockWeights:
    """One DiTBlock's tensors, so one compiled function serves all 22 blocks.

    ``torch.compile`` of a function that takes the weights as tensor arguments compiles
    once (the blocks differ only in values), instead of tracing 22 blocks into one huge
    graph (about 100 s of compile on an H100).
    """

    ada_w: torch.Tensor
    ada_b: torch.Tensor
    q_w: torch.Tensor
    q_b: torch.Tensor
    k_w: torch.Tensor
    k_b: torch.Tensor
    v_w: torch.Tensor
    v_b: torch.Tensor
    o_w: torch.Tensor
    o_b: torch.Tensor
    ff1_w: torch.Tensor
    ff1_b: torch.Tensor
    ff2_w: torch.Tensor
    ff2_b: torch.Tensor

    @classmethod
    def of(cls, block) -> "BlockWeights":
        a, ff = block.attn, block.ff.ff
        return cls(block.attn_norm.linear.weight, block.attn_norm.linear.bias, a.to_q.weight, a.to_q.bias,
                   a.to_k.weight, a.to_k.bias, a.to_v.weight, a.to_v.bias, a.to_out[0].weight, a.to_out[0].bias,
                   ff[0][0].weight, ff[0][0].bias, ff[2].weight, ff[2].bias)


def dit_block(h, t_emb, mask, attn_mask, cos, sin, w: BlockWeights, heads: int, pe_attn_head: int | None):
    """Upstream ``DiTBlock.forward`` (AdaLN-zero, attention with rotary, tanh-GELU FFN), with a key mask:
    ``h`` ``[R, n, dim]`` -> ``[R, n, dim]`` (the other tensors as ``f5_block.fast_dit_block`` takes them).

    Written as upstream writes it (``StepKernels.reference()``): what the compiler is given.
    No qk-norm (F5-TTS v0/v1 configs have none; ``CFGEulerStep`` checks).
    """
    return fast_dit_block(h, t_emb, mask, attn_mask, cos, sin, None, w, None, heads, pe_attn_head, _REFERENCE)


_REFERENCE = StepKernels.reference()


class CFGEulerStep(nn.Module):
    """Computes the guided flow ``v`` for the whole padded batch (the Euler update is outside)."""

    def __init__(self, dit: nn.Module, dtype: torch.dtype, kernels: StepKernels | None = None):
        super().__init__()
        self.dit = dit
        self.dtype = dtype
        self.kernels = (kernels or StepKernels()).for_device(next(dit.parameters()).device, dtype)
        proj = dit.input_embed.proj
        mel_dim = dit.proj_out.out_features
        self.mel_dim = mel_dim
        # Column split of upstream's proj(cat(x, cond, text)): x changes per step, the rest not.
        self.register_buffer("w_x", proj.weight[:, :mel_dim].detach(), persistent=False)
        self.register_buffer("w_cond", proj.weight[:, mel_dim : 2 * mel_dim].detach(), persistent=False)
        self.register_buffer("w_text", proj.weight[:, 2 * mel_dim :].detach(), persistent=False)
        self.register_buffer("b_in", proj.bias.detach(), persistent=False)
        first_attn = dit.transformer_blocks[0].attn
        self.heads = first_attn.heads
        self.pe_attn_head = first_attn.processor.pe_attn_head
        if first_attn.q_norm is not None or first_attn.k_norm is not None:
            raise ValueError("qk_norm DiT variants are not supported by the accelerated step")
        self.block_weights = [BlockWeights.of(b) for b in dit.transformer_blocks]
        self.block_fn = dit_block  # replaced by a compiled version with F5AccelOptions.compile
        self.qkv = [fused_qkv_weights(w) if self.kernels.qkv == "fused" else None for w in self.block_weights]

    def use_kernels(self, kernels: StepKernels) -> None:
        """Switch how the block runs (after ``f5_block.check_kernels``); graphs captured before keep the old way."""
        self.kernels = kernels
        if kernels.qkv == "fused" and self.qkv[0] is None:
            self.qkv = [fused_qkv_weights(w) for w in self.block_weights]
        elif kernels.qkv != "fused":
            self.qkv = [None] * len(self.block_weights)

    # ---- per request -------------------------------------------------------------
    def rope(self, n: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotary (cos, sin) for ``n`` frames, each ``[n, head_dim]`` float32."""
        freqs, _scale = self.dit.rotary_embed.forward_from_seq_len(n)
        freqs = freqs.to(device=device, dtype=torch.float32).reshape(n, -1)
        return freqs.cos(), freqs.sin()

    def static_input(self, cond: torch.Tensor, text_cond: torch.Tensor, text_uncond: torch.Tensor | None):
        """The input projection's per-request part: ``cond`` ``[B, N, mel]`` (zero outside the reference),
        ``text_cond`` / ``text_uncond`` ``[B, N, text_dim]`` -> ``[R, N, dim]`` (R = 2B with guidance: the
        conditional rows, then the unconditional ones; else B)."""
        dt = self.dtype
        w_c, w_t = self.w_cond.to(dt), self.w_text.to(dt)
        rows = [F.linear(cond.to(dt), w_c) + F.linear(text_cond.to(dt), w_t, self.b_in.to(dt))]
        if text_uncond is not None:  # unconditional rows: audio condition dropped (zeros)
            rows.append(F.linear(text_uncond.to(dt), w_t, self.b_in.to(dt)))
        return torch.cat(rows, dim=0)

    # ---- per step ----------------------------------------------------------------
    def forward(self, y, t, cfg, static_in, mask, attn_mask, cos, sin):
        """``y`` is the ODE state flattened to ``[B*N, mel]``; returns the guided flow, same shape.

        ``t``, ``cfg``: scalars; ``static_in`` ``[R, N, dim]`` (``static_input``); ``mask`` ``[R, N]`` bool;
        ``attn_mask`` ``[R, 1, 1, N]``; ``cos``, ``sin`` ``[N, head_dim]`` (``rope``).

        Flat, so that no dimension the compiler sees is 1 for a single chunk (a size-1 dimension
        would be compiled separately from the batched shapes).
        """
        dit = self.dit
        rows, n = static_in.shape[0], static_in.shape[1]
        # time embedding: same value for every row, computed once with batch 1
        te = dit.time_embed
        t_hidden = te.time_embed(t.reshape(1).float()).to(self.dtype)
        t_emb = te.time_mlp(t_hidden)
        k = self.kernels
        xh = F.linear(y.to(self.dtype), self.w_x.to(self.dtype)).view(-1, n, static_in.shape[2])
        b = xh.shape[0]
        if rows != b and k.cfg_input == "broadcast":  # both halves add the same projection of x: no copy of it
            h = (static_in.view(2, b, n, -1) + xh).view(rows, n, -1)
        else:
            h = (torch.cat((xh, xh), dim=0) if rows != b else xh) + static_in
        with conv_flags(k):  # h first: the sum keeps h's row-major layout, not the convolution's transposed one
            h = h + dit.input_embed.conv_pos_embed(h, mask=mask)
        residual = h
        if k.is_reference or self.block_fn is not dit_block:  # as upstream writes it, or the compiled block
            for w in self.block_weights:
                h = self.block_fn(h, t_emb, mask, attn_mask, cos, sin, w, self.heads, self.pe_attn_head)
        else:
            cis = rope_cis(cos, sin) if k.rope == "complex" else None
            keys = varlen_keys(mask) if k.attention == "flash" else None  # once a step, for all 22 blocks
            for w, qkv in zip(self.block_weights, self.qkv):
                h = fast_dit_block(h, t_emb, mask, attn_mask, cos, sin, cis, w, qkv, self.heads, self.pe_attn_head, k,
                                   keys)
        if dit.long_skip_connection is not None:
            h = dit.long_skip_connection(torch.cat((h, residual), dim=-1))
        if k.modulation == "affine":
            final = dit.norm_out
            scale, shift = torch.chunk(final.linear(final.silu(t_emb)), 2, dim=1)
            h = modulate(h, shift, scale, "affine")
        else:
            h = dit.norm_out(h, t_emb)
        out = dit.proj_out(h).float()
        if rows != b:
            pred, null_pred = out[:b], out[b:]
            out = pred + (pred - null_pred) * cfg
        return out.reshape(-1, out.shape[-1])


def text_embeddings(dit: nn.Module, tokens: torch.Tensor, duration: int, drop_text: bool) -> torch.Tensor:
    """Upstream's text embedding for ONE chunk at its own length (as ``sample`` does): ``tokens``
    ``[1, nt]`` long -> ``[duration, text_dim]``."""
    return dit.text_embed(tokens, seq_len=duration, drop_text=drop_text)[0]
