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
text embedding) and re-implements only the attention call (to pass a key-padding mask)
and the orchestration.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class StepBuffers:
    """Tensors one step reads and writes; static when the step is replayed as a graph.

    ``y`` is the ODE state [B, N, mel] float32, updated in place. ``static_in`` holds the
    per-request constant part of the input projection [R, N, dim] (R = 2B with CFG:
    conditional rows then unconditional rows). ``mask`` is [R, N] (None: no padding).
    """

    y: torch.Tensor
    t: torch.Tensor
    dt: torch.Tensor
    cfg: torch.Tensor
    static_in: torch.Tensor
    mask: torch.Tensor | None
    attn_mask: torch.Tensor | None
    cos: torch.Tensor
    sin: torch.Tensor


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """x_transformers' interleaved rotate_half, written with views (compile-friendly)."""
    x = x.unflatten(-1, (-1, 2))
    x1, x2 = x.unbind(dim=-1)
    return torch.stack((-x2, x1), dim=-1).flatten(-2)


class CFGEulerStep(nn.Module):
    """Computes the guided flow ``v`` for the whole padded batch (the Euler update is outside)."""

    def __init__(self, dit: nn.Module, dtype: torch.dtype):
        super().__init__()
        self.dit = dit
        self.dtype = dtype
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

    # ---- per request -------------------------------------------------------------
    def rope(self, n: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        freqs, _scale = self.dit.rotary_embed.forward_from_seq_len(n)
        freqs = freqs.to(device=device, dtype=torch.float32).reshape(n, -1)
        return freqs.cos(), freqs.sin()

    def static_input(self, cond: torch.Tensor, text_cond: torch.Tensor, text_uncond: torch.Tensor | None):
        """cond [B,N,mel] (zero outside the reference), text_* [B,N,text_dim] -> [R,N,dim]."""
        dt = self.dtype
        w_c, w_t = self.w_cond.to(dt), self.w_text.to(dt)
        rows = [F.linear(cond.to(dt), w_c) + F.linear(text_cond.to(dt), w_t, self.b_in.to(dt))]
        if text_uncond is not None:  # unconditional rows: audio condition dropped (zeros)
            rows.append(F.linear(text_uncond.to(dt), w_t, self.b_in.to(dt)))
        return torch.cat(rows, dim=0)

    # ---- per step ----------------------------------------------------------------
    def _attention(self, block, x, t_emb_unused, mask, attn_mask, cos, sin):
        attn = block.attn
        b, n, _ = x.shape
        q = attn.to_q(x).view(b, n, self.heads, -1).transpose(1, 2)
        k = attn.to_k(x).view(b, n, self.heads, -1).transpose(1, 2)
        v = attn.to_v(x).view(b, n, self.heads, -1).transpose(1, 2)
        if attn.q_norm is not None:
            q = attn.q_norm(q)
        if attn.k_norm is not None:
            k = attn.k_norm(k)
        pn = self.pe_attn_head
        if pn is None:
            q = (q.float() * cos + rotate_half(q.float()) * sin).to(q.dtype)
            k = (k.float() * cos + rotate_half(k.float()) * sin).to(k.dtype)
        else:  # v0 models rotate only the first pn heads
            qr = (q[:, :pn].float() * cos + rotate_half(q[:, :pn].float()) * sin).to(q.dtype)
            kr = (k[:, :pn].float() * cos + rotate_half(k[:, :pn].float()) * sin).to(k.dtype)
            q = torch.cat((qr, q[:, pn:]), dim=1)
            k = torch.cat((kr, k[:, pn:]), dim=1)
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        o = o.transpose(1, 2).reshape(b, n, -1)
        o = attn.to_out[0](o)
        if mask is not None:
            o = o.masked_fill(~mask.unsqueeze(-1), 0.0)
        return o

    def forward(self, y, t, cfg, static_in, mask, attn_mask, cos, sin):
        dit = self.dit
        rows = static_in.shape[0]
        b = y.shape[0]
        # time embedding: same value for every row, computed once with batch 1
        te = dit.time_embed
        t_hidden = te.time_embed(t.reshape(1).float()).to(self.dtype)
        t_emb = te.time_mlp(t_hidden)
        xh = F.linear(y.to(self.dtype), self.w_x.to(self.dtype))
        if rows != b:
            xh = torch.cat((xh, xh), dim=0)
        h = xh + static_in
        h = dit.input_embed.conv_pos_embed(h, mask=mask) + h
        residual = h
        for block in dit.transformer_blocks:
            norm, gate_msa, shift_mlp, scale_mlp, gate_mlp = block.attn_norm(h, emb=t_emb)
            h = h + gate_msa.unsqueeze(1) * self._attention(block, norm, t_emb, mask, attn_mask, cos, sin)
            norm = block.ff_norm(h) * (1 + scale_mlp[:, None]) + shift_mlp[:, None]
            h = h + gate_mlp.unsqueeze(1) * block.ff(norm)
        if dit.long_skip_connection is not None:
            h = dit.long_skip_connection(torch.cat((h, residual), dim=-1))
        out = dit.proj_out(dit.norm_out(h, t_emb)).float()
        if rows == b:
            return out
        pred, null_pred = out[:b], out[b:]
        return pred + (pred - null_pred) * cfg


def text_embeddings(dit: nn.Module, tokens: torch.Tensor, duration: int, drop_text: bool) -> torch.Tensor:
    """Upstream's text embedding for ONE chunk at its own length (as ``sample`` does)."""
    return dit.text_embed(tokens, seq_len=duration, drop_text=drop_text)[0]


def pad_rows(rows: list[torch.Tensor], n: int) -> torch.Tensor:
    """Stack [len_i, d] tensors into [B, n, d], zero-padded at the end."""
    out = rows[0].new_zeros((len(rows), n, rows[0].shape[-1]))
    for i, r in enumerate(rows):
        out[i, : r.shape[0]] = r
    return out
