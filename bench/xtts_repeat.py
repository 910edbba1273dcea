"""Does a seed repeat on the XTTS accelerator at full size? Four runs each, sampled and greedy, then
the same request again after another one (random weights, so greedy runs to the token cap).

    python -m bench.xtts_repeat     # on the GPU; prints token counts and whether the codes are identical
"""

import tempfile
from pathlib import Path

import torch

from bench.models import build_xtts
from engines.accel.xtts import XttsAccelerator

work = Path(tempfile.mkdtemp())
text = "hello world, this is a test sentence for the tokenizer, read aloud twice over by the model."
model, _ = build_xtts("cuda", work, [text])
acc = XttsAccelerator(model, "cuda")
acc.warmup()
cond = torch.randn(1, 32, acc.gpt.model_dim, device="cuda") * 0.5
spk = torch.randn(1, 512, 1, device="cuda")
for label, kw in (("sampling", {}), ("greedy", {"greedy": True})):
    codes = [acc.inference(text, "en", cond, spk, seed=5, **kw)["gpt_codes"] for _ in range(4)]
    print(label, "tokens", [c.numel() for c in codes], "identical", all(torch.equal(codes[0], c) for c in codes[1:]),
          flush=True)
other = acc.inference("a different text in between.", "en", cond, spk, seed=9)["gpt_codes"]
after = acc.inference(text, "en", cond, spk, seed=5)["gpt_codes"]
first = acc.inference(text, "en", cond, spk, seed=5)["gpt_codes"]
print("after another request", after.numel(), "then", first.numel(), "identical", torch.equal(after, first), flush=True)
