"""XTTS-v2's GPT (HF GPT-2 blocks) as a static-KV-cache decoder.

Upstream decodes through HF ``generate``: per token it rebuilds a dynamic cache, runs
the logits processors and the GPT-2 forward as ~600 separate launches with Python in
between (about 20 ms a token on an H100 against 0.3 ms of weight reads). Here:

- the weights of the 30 blocks are packed once, in ``dtype`` (fp16 works: the null
  position embedding that breaks ``gpt.half()`` upstream is simply not needed, positions
  come from XTTS's own learned embeddings);
- K/V live in one preallocated cache [layers, 2, heads, max_len, head_dim];
- the decode step reads the previous token, its positions and the sampling state from
  device tensors and writes the next ones back, so the whole step (GPT, processors,
  sampling, bookkeeping) is one CUDA graph that the host replays without syncing.

The math is GPT-2's: pre-LN blocks, fused qkv, causal softmax(qk^T/sqrt(d)) attention,
``gelu_new`` MLP, then ``ln_f`` and XTTS's ``final_norm`` and ``mel_head``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .xtts_attention import Attend

LayerAttention = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class _Layer:
    ln1_w: torch.Tensor
    ln1_b: torch.Tensor
    qkv_w: torch.Tensor   # [3D, D] (F.linear layout)
    qkv_b: torch.Tensor
    proj_w: torch.Tensor
    proj_b: torch.Tensor
    ln2_w: torch.Tensor
    ln2_b: torch.Tensor
    fc_w: torch.Tensor
    fc_b: torch.Tensor
    out_w: torch.Tensor
    out_b: torch.Tensor


class PackedGPT(nn.Module):
    """A copy of the XTTS GPT's inference weights in ``dtype``, with a cache-aware forward."""

    def __init__(self, gpt_module, dtype: torch.dtype, device):
        """``gpt_module`` is ``Xtts.gpt`` (TTS.tts.layers.xtts.gpt.GPT)."""
        super().__init__()
        hf = gpt_module.gpt
        self.dtype = dtype
        self.heads = gpt_module.heads
        self.dim = gpt_module.model_dim
        self.head_dim = self.dim // self.heads
        self.eps = hf.h[0].ln_1.eps
        self.act = hf.h[0].mlp.act

        def cvt(t: torch.Tensor, transpose: bool = False) -> torch.Tensor:
            t = t.detach()
            if transpose:
                t = t.t()
            return t.to(device=device, dtype=dtype).contiguous()

        self.layers = []
        for blk in hf.h:
            self.layers.append(_Layer(
                cvt(blk.ln_1.weight), cvt(blk.ln_1.bias),
                cvt(blk.attn.c_attn.weight, True), cvt(blk.attn.c_attn.bias),
                cvt(blk.attn.c_proj.weight, True), cvt(blk.attn.c_proj.bias),
                cvt(blk.ln_2.weight), cvt(blk.ln_2.bias),
                cvt(blk.mlp.c_fc.weight, True), cvt(blk.mlp.c_fc.bias),
                cvt(blk.mlp.c_proj.weight, True), cvt(blk.mlp.c_proj.bias),
            ))
        self.lnf = (cvt(hf.ln_f.weight), cvt(hf.ln_f.bias), hf.ln_f.eps)
        fn = gpt_module.final_norm
        self.final_norm = (cvt(fn.weight), cvt(fn.bias), fn.eps)
        self.head_w = cvt(gpt_module.mel_head.weight)
        self.head_b = cvt(gpt_module.mel_head.bias)
        self.mel_emb = cvt(gpt_module.mel_embedding.weight)
        self.mel_pos = cvt(gpt_module.mel_pos_embedding.emb.weight)

    def new_cache(self, max_len: int, device) -> torch.Tensor:
        """An empty KV cache ``[layers, 2, heads, max_len, head_dim]`` (k then v) in ``dtype``."""
        return torch.zeros(len(self.layers), 2, self.heads, max_len, self.head_dim, device=device, dtype=self.dtype)

    def forward(self, x: torch.Tensor, cache: torch.Tensor, positions: torch.Tensor,
                attend: Attend | None = None) -> torch.Tensor:
        """x [1, n, D] embeddings at cache ``positions`` [n] -> latents [1, n, D] (final_norm applied).

        Prefill (n > 1, cache empty before, ``attend`` None): causal attention over the n new
        positions only. Decode (n == 1): ``attend(q, k, v)`` over the cache's filled positions
        (``CacheAttention.over``).
        """
        n = x.shape[1]

        def attention(i: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            cache[i, 0].index_copy_(1, positions, k[0])
            cache[i, 1].index_copy_(1, positions, v[0])
            if attend is None:
                return F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(1, n, self.dim)
            return attend(q, cache[i, 0], cache[i, 1])

        return self.blocks(x, attention)

    def blocks(self, x: torch.Tensor, attention: LayerAttention) -> torch.Tensor:
        """x [b, n, D] -> latents [b, n, D] (final_norm applied); ``attention(layer, q, k, v)`` gets
        the layer's q, k, v [b, H, n, hd], stores k and v where its cache wants them, and returns
        the attention output [b, n, D]."""
        b, n = x.shape[0], x.shape[1]
        h = x.to(self.dtype)
        for i, L in enumerate(self.layers):
            a = F.layer_norm(h, (self.dim,), L.ln1_w, L.ln1_b, self.eps)
            qkv = F.linear(a, L.qkv_w, L.qkv_b).view(b, n, 3, self.heads, self.head_dim)
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [b, H, n, hd]
            o = attention(i, q, k, v)
            h = h + F.linear(o, L.proj_w, L.proj_b)
            m = F.layer_norm(h, (self.dim,), L.ln2_w, L.ln2_b, self.eps)
            h = h + F.linear(self.act(F.linear(m, L.fc_w, L.fc_b)), L.out_w, L.out_b)
        w, b_, eps = self.lnf
        h = F.layer_norm(h, (self.dim,), w, b_, eps)
        w, b_, eps = self.final_norm
        return F.layer_norm(h, (self.dim,), w, b_, eps)

    def logits(self, latents: torch.Tensor) -> torch.Tensor:
        """latents ``[..., D]`` -> float32 audio-token logits ``[..., vocab]`` (``mel_head``)."""
        return F.linear(latents, self.head_w, self.head_b).float()

    def audio_embedding(self, token: torch.Tensor, gen_index: torch.Tensor) -> torch.Tensor:
        """Token embedding + XTTS's learned mel position embedding: ``token`` and ``gen_index`` ``[b]``
        long device tensors -> ``[1, b, D]`` (one position per row: a single decode has b = 1)."""
        return (self.mel_emb.index_select(0, token) + self.mel_pos.index_select(0, gen_index)).unsqueeze(0)
