"""Does a seed repeat on the XTTS accelerator at full size? Four runs each, sampled and greedy, then
the same request again after another one (random weights, so greedy runs to the token cap).
The same runs again with the decode attention on SDPA instead of FlashAttention: without cuDNN
(the accelerator's fallback) and with PyTorch's own choice (cuDNN on an H100, which does not
repeat), and what each kernel costs per token.

    python -m bench.xtts.repeat     # on the GPU; prints token counts, whether the codes are
                                    # identical, the first token where a run differs, ms/token
"""

import statistics
import tempfile
from contextlib import nullcontext
from pathlib import Path

import torch

import engines.xtts.accel.xtts_attention as xtts_attention
from bench.kit.models import build_xtts
from engines.xtts.accel.xtts import XttsAccelerator

work = Path(tempfile.mkdtemp())
text = "hello world, this is a test sentence for the tokenizer, read aloud twice over by the model."
model, _ = build_xtts("cuda", work, [text])
cond = torch.randn(1, 32, model.gpt.model_dim, device="cuda") * 0.5
spk = torch.randn(1, 512, 1, device="cuda")


def first_difference(a: torch.Tensor, b: torch.Tensor) -> int | None:
    n = min(a.numel(), b.numel())
    diff = (a[:n] != b[:n]).nonzero()
    return int(diff[0]) if diff.numel() else (None if a.numel() == b.numel() else n)


def repeats(label: str, acc: XttsAccelerator, runs: int = 4, **kw) -> None:
    outs = [acc.inference(text, "en", cond, spk, seed=5, **kw) for _ in range(runs)]
    codes = [o["gpt_codes"] for o in outs]
    ms = statistics.median(1000 * o["timings"]["decode_s"] / o["timings"]["tokens"] for o in outs)
    print(label, "tokens", [c.numel() for c in codes], "identical", all(torch.equal(codes[0], c) for c in codes[1:]),
          "first differences", [first_difference(codes[0], c) for c in codes[1:]], f"decode {ms:.2f} ms/token",
          flush=True)


acc = XttsAccelerator(model, "cuda")
acc.warmup()
print("decode attention kernel:", acc.cache_attention.kernel, flush=True)
for label, kw in (("sampling", {}), ("greedy", {"greedy": True})):
    repeats(label, acc, **kw)
other = acc.inference("a different text in between.", "en", cond, spk, seed=9)["gpt_codes"]
after = acc.inference(text, "en", cond, spk, seed=5)["gpt_codes"]
first = acc.inference(text, "en", cond, spk, seed=5)["gpt_codes"]
print("after another request", after.numel(), "then", first.numel(), "identical", torch.equal(after, first), flush=True)
del acc

# The other kernels, for comparison: SDPA with a mask (cuDNN excluded, as the accelerator falls
# back to), and SDPA with PyTorch's own choice (cuDNN on an H100).
for label, kernels in (("SDPA without cuDNN", xtts_attention.attention_without_cudnn),
                       ("SDPA, PyTorch's kernel choice", nullcontext)):
    xtts_attention.attention_without_cudnn = kernels
    other_choice = XttsAccelerator(model, "cuda")
    other_choice.cache_attention.kernel = "sdpa"  # before the graphs are captured
    other_choice.warmup()
    repeats(f"greedy, {label}", other_choice, greedy=True)
    repeats(f"sampling, {label}", other_choice)
    del other_choice
