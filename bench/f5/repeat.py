"""Does a seed repeat on the F5 accelerator at full size? One request four times alone, and three
requests sharing one forward twice, graphs captured as the app does, per attention kernel
(PyTorch's choice, cuDNN on an H100, and the memory-efficient kernel), with the step's cost.

    python -m bench.f5.repeat       # on the GPU; prints whether the mels are identical
"""

import tempfile
import time
from pathlib import Path

import torch

from bench.kit.inputs import REF_TEXT, reference_audio
from bench.kit.models import build_f5, build_vocos
from engines.f5.accel.f5 import F5Accelerator, F5AccelOptions
from engines.f5.accel.f5_warmup import F5Warmup

work = Path(tempfile.mkdtemp())
model, _ = build_f5("F5TTS_Base", "cuda", work)
vocoder, _ = build_vocos("cuda", work)
ref = reference_audio()
texts = [["A short line for the first request."],
         ["The second request is a little longer than the first one, with a comma in it."],
         ["Third.", "And its second chunk, a few words more."]]


def mels(acc: F5Accelerator, which: list[int]) -> tuple[list[torch.Tensor], float]:
    torch.cuda.synchronize()
    start = time.perf_counter()
    out = acc.sample([acc.prepare(ref, REF_TEXT, texts[i], seed=i) for i in which])
    torch.cuda.synchronize()
    return [m for request in out for m in request], time.perf_counter() - start


def identical(runs: list[list[torch.Tensor]]) -> bool:
    return all(all(torch.equal(a, b) for a, b in zip(runs[0], run)) for run in runs[1:])


def largest_difference(runs: list[list[torch.Tensor]]) -> float:
    return max(float((a.double() - b.double()).norm() / b.double().norm()) for run in runs[1:]
               for a, b in zip(run, runs[0]))


for backend in (None, "efficient"):
    acc = F5Accelerator(model, vocoder, "cuda", options=F5AccelOptions(attn_backend=backend))
    shapes = sorted({acc.bucket(rows, n) for rows in (1, 2, 4) for n in acc.options.length_buckets if n <= 1280})
    F5Warmup(acc, None, "graphs", None, {}).run_inline(shapes)
    alone = [mels(acc, [1]) for _ in range(4)]
    together = [mels(acc, [0, 1, 2]) for _ in range(2)]
    print(f"attention {backend or 'PyTorch choice'}: alone x4 identical {identical([m for m, _ in alone])} "
          f"(largest relative difference {largest_difference([m for m, _ in alone]):.1e}), "
          f"three together x2 identical {identical([m for m, _ in together])} "
          f"({largest_difference([m for m, _ in together]):.1e}); "
          f"{1000 * min(s for _, s in alone):.0f} ms alone, {1000 * min(s for _, s in together):.0f} ms together",
          flush=True)
    del acc
