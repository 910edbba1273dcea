"""Which SDPA kernel serves the padded (key-masked) attention of batched F5 chunks, and how fast.

Shapes of the 297-character case: 2 chunks x CFG = 4 rows, 16 heads, 1,664 frames,
head_dim 64, fp16. Flash attention takes no mask; it is timed unmasked as the reference.
"""

from __future__ import annotations

import logging

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

logger = logging.getLogger(__name__)


def probe(rows=4, heads=16, n=1664, head_dim=64, valid=(1635, 1622), dtype=torch.float16, iters=50) -> dict:
    q, k, v = (torch.randn(rows, heads, n, head_dim, device="cuda", dtype=dtype) for _ in range(3))
    lengths = torch.tensor(list(valid) * (rows // len(valid)), device="cuda")
    mask = (torch.arange(n, device="cuda")[None, :] < lengths[:, None])[:, None, None, :]
    flops = 4 * rows * heads * n * n * head_dim
    out = {}
    ref = None
    for name, backend, m in [("flash_nomask", SDPBackend.FLASH_ATTENTION, None),
                             ("default_masked", None, mask),
                             ("efficient_masked", SDPBackend.EFFICIENT_ATTENTION, mask),
                             ("cudnn_masked", SDPBackend.CUDNN_ATTENTION, mask)]:
        try:
            def call():
                if backend is None:
                    return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=m)
                with sdpa_kernel([backend]):
                    return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=m)
            res = call()
            torch.cuda.synchronize()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(iters):
                call()
            end.record()
            torch.cuda.synchronize()
            ms = start.elapsed_time(end) / iters
            entry = {"ms": ms, "tflops": flops / ms / 1e9}
            if m is not None:
                if ref is None:
                    with sdpa_kernel([SDPBackend.MATH]):
                        ref = torch.nn.functional.scaled_dot_product_attention(q.float(), k.float(), v.float(),
                                                                               attn_mask=mask)
                entry["rel_err_vs_fp32_math"] = float((res.float() - ref).norm() / ref.norm())
            out[name] = entry
        except RuntimeError as exc:  # a backend that refuses these inputs is a finding, recorded
            out[name] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
        logger.info("sdpa probe", extra={"backend": name, **out[name]})
    return out
