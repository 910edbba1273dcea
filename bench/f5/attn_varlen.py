"""F5's batched attention over rows of different lengths: the kernel the step uses now against
cuDNN's ragged (packed, "nested") attention, on the GPU, at the step's shapes.

    python -m bench.f5.attn_varlen --out attn_varlen.json

Rows are padded to one length in the step (``[rows, frames, heads, 64]``, fp16). Measured per
shape, each as the step would call it (``torch.cuda.Event`` timing, median of 3 x 20 calls, eager
and as a CUDA graph's replay, which is how the step runs):

- ``flash_padded``: what the step does now (``f5_block.attend(how="flash")``): FlashAttention-2's
  variable-length kernel over the padded rows, told each row's valid keys; padded queries are
  computed too.
- ``cudnn_dense``: cuDNN's SDPA over the padded rows with no mask, the speed of cuDNN's kernel
  (wrong for padded rows: a reference only).
- ``cudnn_packed``: the valid frames packed row after row (a stable sort of the mask puts them
  first, so the packed tensor keeps the padded size and a CUDA graph can replay it), cuDNN's
  ragged attention over them, the output put back where the frames came from. The packing and
  unpacking are inside the timing.

For each: the error against fp32 attention over the valid frames, whether a row gives the
same bits alone as in the batch, and whether the call replays in a CUDA graph.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics

import torch
import torch.nn.functional as F

logger = logging.getLogger("bench.f5.attn_varlen")

HEADS, HEAD_DIM = 16, 64
SHAPES = ((2, 1024), (16, 1024), (16, 2048), (16, 3072))  # rows (requests x 2 for guidance), frames


def valid_lengths(rows: int, frames: int) -> list[int]:
    """Mixed lengths as a batch of requests has them (each request's two guidance rows alike)."""
    fractions = (1.0, 0.62, 0.85, 0.4, 0.93, 0.71, 0.55, 0.98)
    return [max(64, int(frames * fractions[(r // 2) % len(fractions)])) for r in range(rows)]


def flash_padded(q, k, v, lengths):
    b, n, h, d = q.shape
    cu = torch.arange(0, (b + 1) * n, n, dtype=torch.int32, device=q.device)
    flat = [x.reshape(b * n, h, d) for x in (q, k, v)]
    out = torch.ops.aten._flash_attention_forward(*flat, cu, cu, n, n, 0.0, False, False, seqused_k=lengths)[0]
    return out.reshape(b, n, h * d)


def cudnn_dense(q, k, v, lengths):
    from torch.nn.attention import SDPBackend, sdpa_kernel

    b, n, h, d = q.shape
    with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
        o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    return o.transpose(1, 2).reshape(b, n, h * d)


def packing(mask: torch.Tensor):
    """(order, cum_seq, kept): ``order`` [b*n] the flat positions with the valid frames first, row
    after row; ``cum_seq`` [b + 1] int32 where each row starts among them; ``kept`` [b*n, 1, 1]
    whether a packed position holds a valid frame."""
    b, n = mask.shape
    flat = mask.reshape(-1)
    order = torch.sort((~flat).to(torch.int8), stable=True).indices
    counts = mask.sum(dim=1, dtype=torch.int32)
    cum = torch.zeros(b + 1, dtype=torch.int32, device=mask.device)
    cum[1:] = torch.cumsum(counts, 0)
    kept = (torch.arange(b * n, device=mask.device) < cum[-1])[:, None, None]
    return order, cum, kept


def cudnn_packed(q, k, v, pack):
    order, cum, kept = pack
    b, n, h, d = q.shape
    packed = [x.reshape(b * n, h, d).index_select(0, order) for x in (q, k, v)]
    out = torch.ops.aten._cudnn_attention_forward(*packed, None, cum, cum, n, n, False, 0.0, False, False)[0]
    out = torch.where(kept, out, 0.0)  # cuDNN leaves the positions past the last valid frame unwritten
    full = torch.empty_like(out).index_copy_(0, order, out)
    return full.reshape(b, n, h * d)


def reference(q, k, v, lengths):
    """fp32 attention of each row over its valid keys: [b, n, h*d] (padded queries zero)."""
    b, n, h, d = q.shape
    out = torch.zeros(b, n, h * d, device=q.device)
    for r, length in enumerate(lengths.tolist()):
        qs, ks, vs = (x[r, :length].float().transpose(0, 1) for x in (q, k, v))
        out[r, :length] = F.scaled_dot_product_attention(qs, ks, vs).transpose(0, 1).reshape(length, h * d)
    return out


def timed(call, repeats: int = 3, calls: int = 20) -> float:
    call()
    torch.cuda.synchronize()
    runs = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(calls):
            call()
        end.record()
        torch.cuda.synchronize()
        runs.append(start.elapsed_time(end) / calls)
    return round(statistics.median(runs), 4)


def replays(call) -> tuple[bool | str, float | None]:
    """Whether ``call`` captures in a CUDA graph and its replay gives the eager bits, and the
    replay's time in ms (None when it does not capture)."""
    try:
        eager = call().clone()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            call()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = call()
        graph.replay()
        torch.cuda.synchronize()
        return bool(torch.equal(out, eager)), timed(graph.replay)
    except RuntimeError as exc:  # a kernel that cannot be captured is a finding, recorded
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}", None


def one_shape(rows: int, frames: int) -> dict:
    gen = torch.Generator(device="cuda").manual_seed(rows * 7919 + frames)
    qkv = torch.randn(rows, frames, 3, HEADS, HEAD_DIM, device="cuda", dtype=torch.float16, generator=gen)
    q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # views of one projection, as the step has them
    lengths = torch.tensor(valid_lengths(rows, frames), dtype=torch.int32, device="cuda")
    mask = torch.arange(frames, device="cuda")[None, :] < lengths[:, None]
    ref = reference(q, k, v, lengths)
    valid = mask[:, :, None]
    useful = sum(4 * HEADS * HEAD_DIM * length * length for length in lengths.tolist())
    result = {"rows": rows, "frames": frames, "valid": lengths.tolist()}
    calls = {"flash_padded": lambda: flash_padded(q, k, v, lengths),
             "cudnn_dense": lambda: cudnn_dense(q, k, v, lengths),
             "cudnn_packed": lambda: cudnn_packed(q, k, v, packing(mask))}
    for name, call in calls.items():
        try:
            out = call()
            entry = {"ms": timed(call)}
            entry["useful_tflops"] = round(useful / entry["ms"] / 1e9, 1)
            err = ((out.float() - ref) * valid).norm() / (ref * valid).norm()
            entry["rel_err_valid"] = float(err)
            alone = {"flash_padded": lambda: flash_padded(q[1:2], k[1:2], v[1:2], lengths[1:2]),
                     "cudnn_dense": lambda: cudnn_dense(q[1:2], k[1:2], v[1:2], lengths[1:2]),
                     "cudnn_packed": lambda: cudnn_packed(q[1:2], k[1:2], v[1:2], packing(mask[1:2]))}[name]()
            n1 = int(lengths[1])
            entry["row_alone_same_bits"] = bool(torch.equal(alone[0, :n1], out[1, :n1]))
            entry["graph_replay_same_bits"], entry["graph_ms"] = replays(call)
            if entry["graph_ms"]:
                entry["graph_useful_tflops"] = round(useful / entry["graph_ms"] / 1e9, 1)
        except RuntimeError as exc:  # a kernel that refuses these inputs is a finding, recorded
            entry = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"}
        result[name] = entry
        logger.info("attention", extra={"shape": f"{rows}x{frames}", "kernel": name, **entry})
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    torch.backends.cuda.matmul.allow_tf32 = True
    report = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
              "cudnn": torch.backends.cudnn.version(),
              "cudnn_attention_schema": str(torch.ops.aten._cudnn_attention_forward.default._schema),
              "shapes": [one_shape(rows, frames) for rows, frames in SHAPES]}
    text = json.dumps(report, indent=1)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    print(text)
    return report


if __name__ == "__main__":
    main()
