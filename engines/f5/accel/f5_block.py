"""F5-TTS's DiT block with fewer passes over memory, in plain PyTorch (nothing compiled).

The same function as upstream's ``DiTBlock.forward`` (and ``f5_step.dit_block``, the
reference), for the accelerator's step, where every row of the batch shares one time
embedding. Most of a step's GPU time goes to memory-bound element-wise kernels, not to
the matmuls, so each switch of ``StepKernels`` removes whole passes over the activations:

- ``rope="complex"``: the rotary embedding in place, as one complex multiply of each
  (even, odd) pair by ``cos + i sin`` on the [batch, frames, heads, dim] view of the
  projection: one pass over q and k, float32 arithmetic like upstream's formula, rounded
  once (upstream: a float32 copy, a stacked rotate-half, two products, a sum and a cast;
  for v0 models also a copy of the whole q and k to put the first head back). q, k and v
  then keep the same layout, so attention reads them as they are and its output needs
  no transposed copy;
- ``modulation="affine"``: AdaLN's ``norm(x) * (1 + scale) + shift`` as layer norm's own
  weight and bias (one pass instead of three; possible because the time embedding, hence
  scale and shift, is the same for every row);
- ``residual="folded"``: ``x + gate * y`` where ``y`` is a linear layer's output (attention's
  output projection, the feed-forward's second layer): the gate, one value per output feature
  and the same for every row, scales that layer's weight and bias instead (6 MB per block,
  whatever the batch), and the residual is a plain add of two same-shaped tensors, where a
  gate broadcast over frames takes PyTorch's strided element-wise path. That pays from
  ``fold_min_tokens`` rows x frames up; smaller forwards use ``addcmul`` (H100, one step:
  1024 x 8 rows 22.5 vs 23.0 ms, 2048 x 8 53.6 vs 54.9, but 1024 x 1 3.93 vs 3.75);
  ``residual="addcmul"``: ``x + gate * y`` in one (broadcast) pass instead of two;
- ``gelu="epilogue"`` (CUDA): the first feed-forward matmul, its bias and tanh-GELU in one
  cuBLASLt call (``torch._addmm_activation``) instead of a matmul and a pass over the
  twice-as-wide hidden layer. On the CPU that function uses the exact GELU, not upstream's
  tanh form, so the CPU keeps the reference;
- ``qkv="fused"``: one matmul for q, k and v;
- ``attention="flash"`` (CUDA, fp16/bf16): FlashAttention's variable-length kernel over the
  padded batch as it lies in memory: row ``i`` starts at ``i * frames`` and attends over its
  first ``used[i]`` keys only (``seqused_k``), so padded keys cost nothing and need no mask.
  SDPA with a key-padding mask makes cuDNN's attention take its masked path, about 1.7x the
  time of the same call unmasked (47.6 vs 28.5 ms a step at 8 rows of 3,072 frames on an
  H200). q, k and v are read where the fused projection wrote them, and the output is
  already [rows, frames, heads * dim]: no transposed copies. Each row's keys are visited in
  the same blocks whatever else is in the batch, so a row gives the same result alone and
  batched (``check_kernels`` verifies it on the device);
- ``mask_output=False``: the attention output of padded frames is not zeroed. Upstream
  zeroes it; valid frames never read it (attention masks padded keys, everything else is
  per frame), so results at valid frames do not change;
- ``cfg_input="broadcast"`` (the step, not the block): the conditional and unconditional
  rows add one projection of x, broadcast, instead of a copy of it;
- ``conv_benchmark`` (the step, CUDA, off by default): cuDNN times its algorithms for the
  grouped convolution of the position embedding at each shape's first call (outside any
  capture) instead of taking its heuristic's pick; the pick may then differ between
  processes (rounding-level differences), so it is measured before it is turned on.

Fused ops round once where the reference rounds two or three times (differences of one
half-precision ulp). ``check_kernels`` compares each switch with the reference on the
device at load and turns off any that fails.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import dataclass, fields, replace

import torch
import torch.nn.functional as F

logger = logging.getLogger(__name__)

COMPLEX_ROPE_DTYPES = (torch.float16, torch.float32, torch.float64)  # view_as_complex has no bfloat16
FLASH_DTYPES = (torch.float16, torch.bfloat16)


@dataclass(frozen=True)
class StepKernels:
    """How the DiT block's memory-bound parts run (module docstring); ``reference()`` is upstream's way."""

    rope: str = "complex"          # "complex" | "reference"
    modulation: str = "affine"     # "affine" | "reference"
    residual: str = "folded"       # "folded" | "addcmul" | "reference"
    fold_min_tokens: int = 4096    # rows x frames from which residual="folded" folds (below: addcmul)
    gelu: str = "epilogue"         # "epilogue" | "reference"
    qkv: str = "fused"             # "fused" | "separate"
    attention: str = "flash"       # "flash": variable-length FlashAttention, no mask | "sdpa": SDPA with a key mask
    mask_output: bool = False      # zero the attention output at padded frames, as upstream does
    cfg_input: str = "broadcast"   # "broadcast": both CFG halves add x's projection without a copy | "cat"
    conv_benchmark: bool = False   # let cuDNN time its algorithms for the position convolution (CUDA)

    @classmethod
    def reference(cls) -> "StepKernels":
        return cls(rope="reference", modulation="reference", residual="reference", gelu="reference",
                   qkv="separate", attention="sdpa", mask_output=True, cfg_input="cat")

    @property
    def is_reference(self) -> bool:
        return self == StepKernels.reference()

    def changes(self) -> dict[str, object]:
        """The switches that differ from the reference, by name."""
        ref = StepKernels.reference()
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != getattr(ref, f.name)}

    def for_device(self, device: torch.device, dtype: torch.dtype) -> "StepKernels":
        """Switches that cannot run there turned back to the reference (see the module docstring)."""
        kernels = self
        if torch.device(device).type != "cuda":
            kernels = replace(kernels, gelu="reference", attention="sdpa", conv_benchmark=False)
        if dtype not in COMPLEX_ROPE_DTYPES:
            kernels = replace(kernels, rope="reference")
        if dtype not in FLASH_DTYPES:
            kernels = replace(kernels, attention="sdpa")
        return kernels


def conv_flags(k: StepKernels):
    """cuDNN flags around the step's position convolution: benchmarked algorithms with ``conv_benchmark``."""
    if not k.conv_benchmark:
        return nullcontext()
    cudnn = torch.backends.cudnn
    return cudnn.flags(enabled=True, benchmark=True, deterministic=cudnn.deterministic, allow_tf32=cudnn.allow_tf32)


def rope_cis(cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """[n, 1, d/2] complex ``cos + i sin`` from upstream's interleaved [n, d] cos/sin (pairs repeat)."""
    return torch.complex(cos[:, 0::2], sin[:, 0::2]).unsqueeze(1)


def rotate_in_place(x: torch.Tensor, cis: torch.Tensor) -> None:
    """x_transformers' ``apply_rotary_pos_emb`` (scale 1) on x [b, n, h, d], in place, in one pass."""
    torch.view_as_complex(x.unflatten(-1, (-1, 2))).mul_(cis)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """x_transformers' interleaved rotate_half, written with views (compile-friendly)."""
    x = x.unflatten(-1, (-1, 2))
    x1, x2 = x.unbind(dim=-1)
    return torch.stack((-x2, x1), dim=-1).flatten(-2)


def rope_reference(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Upstream's formula on x [b, h, n, d]: float32 products and sum, cast back."""
    xf = x.float()
    return (xf * cos + rotate_half(xf) * sin).to(x.dtype)


def modulate(h: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor, how: str) -> torch.Tensor:
    """``layer_norm(h) * (1 + scale) + shift``; shift/scale are [rows or 1, dim]."""
    if how == "affine" and shift.shape[0] == 1:
        return F.layer_norm(h, (h.shape[-1],), weight=1 + scale[0], bias=shift[0], eps=1e-6)
    return F.layer_norm(h, (h.shape[-1],), eps=1e-6) * (1 + scale[:, None]) + shift[:, None]


def gated_add(h: torch.Tensor, gate: torch.Tensor, x: torch.Tensor, how: str) -> torch.Tensor:
    """``h + gate * x``, gate [rows or 1, dim] broadcast over frames."""
    if how == "addcmul":
        return torch.addcmul(h, gate.unsqueeze(1), x)
    return h + gate.unsqueeze(1) * x


def gated_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, gate: torch.Tensor | None):
    """``F.linear(x, weight, bias)``, times ``gate`` ([1, out], one value per output feature) when given,
    folded into the weight and bias."""
    if gate is None:
        return F.linear(x, weight, bias)
    g = gate.reshape(-1)
    return F.linear(x, weight * g[:, None], bias * g)


def residual_add(h: torch.Tensor, gate: torch.Tensor, y: torch.Tensor, how: str) -> torch.Tensor:
    """``h + gate * y``; with ``how="folded"`` the gate is already in ``y`` (``gated_linear``)."""
    if how == "folded":
        return y.add_(h)
    return gated_add(h, gate, y, how)


def feed_forward(x: torch.Tensor, w, how: str, gate: torch.Tensor | None = None) -> torch.Tensor:
    """Upstream's FeedForward: linear, tanh-GELU, linear; ``[..., dim]`` -> ``[..., dim]`` (times ``gate``
    folded into the second linear, when given)."""
    if how == "epilogue":
        hidden = torch._addmm_activation(w.ff1_b, x.reshape(-1, x.shape[-1]), w.ff1_w.t(), use_gelu=True)
        return gated_linear(hidden, w.ff2_w, w.ff2_b, gate).view(*x.shape[:-1], -1)
    return gated_linear(F.gelu(F.linear(x, w.ff1_w, w.ff1_b), approximate="tanh"), w.ff2_w, w.ff2_b, gate)


def varlen_keys(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """FlashAttention's view of padded rows ``mask`` [R, n] (valid frames first): ``cu_seq`` [R + 1]
    int32, where each row starts in the flattened [R * n] layout, and ``used`` [R] int32, its valid
    frames (the keys it attends over)."""
    rows, n = mask.shape
    cu_seq = torch.arange(0, (rows + 1) * n, n, dtype=torch.int32, device=mask.device)
    return cu_seq, mask.sum(dim=1, dtype=torch.int32)


def attend(q: torch.Tensor, key: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None,
           keys: tuple[torch.Tensor, torch.Tensor] | None, how: str) -> torch.Tensor:
    """Attention of each row's queries over its valid keys: q, key, v ``[b, heads, n, d]`` (views) ->
    ``[b, n, heads * d]``. ``how="flash"`` takes ``keys`` from ``varlen_keys``, "sdpa" ``attn_mask``."""
    b, heads, n, d = q.shape
    if how == "flash":
        cu_seq, used = keys
        flat = [x.transpose(1, 2).reshape(b * n, heads, d) for x in (q, key, v)]  # views of the fused projection
        out = torch.ops.aten._flash_attention_forward(*flat, cu_seq, cu_seq, n, n, 0.0, False, False,
                                                      seqused_k=used)[0]
        return out.reshape(b, n, heads * d)
    o = F.scaled_dot_product_attention(q, key, v, attn_mask=attn_mask)
    return o.transpose(1, 2).reshape(b, n, -1)


def fused_qkv_weights(w) -> tuple[torch.Tensor, torch.Tensor]:
    """One [3 dim, dim] weight and [3 dim] bias for q, k and v together."""
    return torch.cat((w.q_w, w.k_w, w.v_w)).contiguous(), torch.cat((w.q_b, w.k_b, w.v_b)).contiguous()


def project_qkv(norm: torch.Tensor, w, qkv: tuple | None, heads: int):
    """q, k, v as [b, n, heads, d] views of their projections."""
    b, n, _ = norm.shape
    if qkv is not None:  # three single views (not unbind's multiple-view output, which may not be rotated in place)
        both = F.linear(norm, qkv[0], qkv[1]).view(b, n, 3, heads, -1)
        return both[:, :, 0], both[:, :, 1], both[:, :, 2]
    return tuple(F.linear(norm, wt, bias).view(b, n, heads, -1)
                 for wt, bias in ((w.q_w, w.q_b), (w.k_w, w.k_b), (w.v_w, w.v_b)))


def fast_dit_block(h, t_emb, mask, attn_mask, cos, sin, cis, w, qkv, heads: int, pe_attn_head: int | None,
                   k: StepKernels, keys: tuple[torch.Tensor, torch.Tensor] | None = None):
    """``f5_step.dit_block`` with the switches of ``k``: ``h`` ``[R, n, dim]`` -> ``[R, n, dim]``.

    ``t_emb`` ``[1, dim]`` (one time for every row); ``mask`` ``[R, n]`` bool; ``attn_mask``
    ``[R, 1, 1, n]``; ``cos``, ``sin`` ``[n, head_dim]``; ``cis`` ``[n, 1, head_dim/2]`` from
    ``rope_cis`` (used with rope="complex"); ``qkv`` from ``fused_qkv_weights`` (with qkv="fused");
    ``keys`` from ``varlen_keys(mask)`` (with attention="flash"; made here when not given).
    """
    emb = F.linear(F.silu(t_emb), w.ada_w, w.ada_b)
    shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = torch.chunk(emb, 6, dim=1)
    norm = modulate(h, shift_msa, scale_msa, k.modulation)
    q, key, v = project_qkv(norm, w, qkv if k.qkv == "fused" else None, heads)
    q, key, v = q.transpose(1, 2), key.transpose(1, 2), v.transpose(1, 2)  # [b, h, n, d] views
    pn = pe_attn_head
    if k.rope == "complex":
        rotate_in_place(q[:, :pn].transpose(1, 2), cis)
        rotate_in_place(key[:, :pn].transpose(1, 2), cis)
    elif pn is None:
        q, key = rope_reference(q, cos, sin), rope_reference(key, cos, sin)
    else:  # v0 models rotate only the first pe_attn_head heads
        q = torch.cat((rope_reference(q[:, :pn], cos, sin), q[:, pn:]), dim=1)
        key = torch.cat((rope_reference(key[:, :pn], cos, sin), key[:, pn:]), dim=1)
    if k.attention == "flash" and keys is None:
        keys = varlen_keys(mask)
    residual = k.residual
    if residual == "folded" and h.shape[0] * h.shape[1] < k.fold_min_tokens:
        residual = "addcmul"
    folded = residual == "folded"
    o = attend(q, key, v, attn_mask, keys, k.attention)
    o = gated_linear(o, w.o_w, w.o_b, gate_msa if folded else None)
    if k.mask_output and mask is not None:
        o = o.masked_fill(~mask.unsqueeze(-1), 0.0)
    h = residual_add(h, gate_msa, o, residual)
    norm = modulate(h, shift_mlp, scale_mlp, k.modulation)
    return residual_add(h, gate_mlp, feed_forward(norm, w, k.gelu, gate_mlp if folded else None), residual)


@torch.inference_mode()
def check_kernels(step, kernels: StepKernels, rows: int = 4, frames: int = 192) -> tuple[StepKernels, dict]:
    """Each switch of ``kernels`` against the reference on one block of ``step``, on its device.

    A switch that raises, or whose output is off by more than half-precision rounding can
    explain (relative L2 error over 2e-2), goes back to the reference. Returns the kernels
    kept and, per switch, its error or failure. The feed-forward epilogue must also be
    upstream's tanh-GELU, not the exact one: checked on inputs where the two differ.
    """
    dev, dtype, dim = step.w_x.device, step.dtype, step.w_x.shape[0]
    gen = torch.Generator(device="cpu").manual_seed(0)
    h = torch.randn(rows, frames, dim, generator=gen).to(dev, dtype)
    t_emb = torch.randn(1, dim, generator=gen).to(dev, dtype)
    valid = torch.arange(frames)[None, :] < torch.tensor([frames, frames - 7, frames // 2, 1])[:rows, None]
    mask = valid.to(dev)
    cos, sin = step.rope(frames, dev)
    w = step.block_weights[0]
    reference = StepKernels.reference()

    def run(k: StepKernels) -> torch.Tensor:
        k = replace(k, fold_min_tokens=0)  # the folded residual is checked at this small shape too
        qkv = fused_qkv_weights(w) if k.qkv == "fused" else None
        out = fast_dit_block(h, t_emb, mask, mask[:, None, None, :], cos, sin, rope_cis(cos, sin), w, qkv,
                             step.heads, step.pe_attn_head, k)
        return out.float()[mask]

    want = run(reference)
    kept, report = kernels, {}
    for name, value in kernels.changes().items():
        single = replace(reference, **{name: value})
        try:
            got = run(single)
            err = float(torch.linalg.vector_norm(got - want) / torch.linalg.vector_norm(want).clamp_min(1e-12))
            ok = bool(torch.isfinite(got).all()) and err <= 2e-2
            if ok and name == "gelu":
                ok, err_note = _epilogue_is_tanh(dev, dtype)
                report[f"{name}_form"] = err_note
            if ok and name == "attention":
                ok = _same_alone_and_batched(h, mask, w, step.heads)
                report[f"{name}_alone_vs_batched"] = "identical" if ok else "differs"
            report[name] = round(err, 8)
        except Exception as exc:  # that switch stays off on this device; the others are still checked
            ok = False
            report[name] = f"{type(exc).__name__}: {str(exc)[:200]}"
        if not ok:
            kept = replace(kept, **{name: getattr(reference, name)})
            logger.warning("F5 step kernel turned off", extra={"kernel": name, "check": report[name]})
    return kept, report


def _same_alone_and_batched(h: torch.Tensor, mask: torch.Tensor, w, heads: int) -> bool:
    """Whether FlashAttention gives each row the same bits alone as among the others (a seed's
    audio must not depend on what else is in the batch)."""
    q, key, v = (x.transpose(1, 2) for x in project_qkv(h, w, None, heads))
    batched = attend(q, key, v, None, varlen_keys(mask), "flash")
    for i in range(h.shape[0]):
        alone = attend(q[i:i + 1], key[i:i + 1], v[i:i + 1], None, varlen_keys(mask[i:i + 1]), "flash")
        if not torch.equal(alone[0][mask[i]], batched[i][mask[i]]):
            return False
    return True


def _epilogue_is_tanh(dev, dtype) -> tuple[bool, str]:
    """Whether ``_addmm_activation``'s GELU is the tanh form (as upstream's FeedForward) on this device."""
    x = torch.linspace(-3.5, -1.5, 64, device=dev, dtype=torch.float32)
    eye = torch.eye(64, device=dev, dtype=dtype)
    out = torch._addmm_activation(torch.zeros(64, device=dev, dtype=dtype), eye, torch.diag(x).to(dtype),
                                  use_gelu=True).diagonal().float()
    xq = x.to(dtype).float()
    tanh_err = float((out - F.gelu(xq, approximate="tanh")).abs().max())
    erf_err = float((out - F.gelu(xq)).abs().max())
    return tanh_err < erf_err / 4, f"tanh {tanh_err:.2e} vs erf {erf_err:.2e}"
