"""GPU fast paths for the two engines.

Each accelerator wraps an already-loaded upstream model object and computes the same
function as upstream's own inference, faster on CUDA. On CPU they run the same code
eagerly (no graphs, no compile), so CI checks their equivalence with tiny models.

- ``F5Accelerator`` (``f5.py``): F5-TTS flow-matching sampler with an fp32 ODE state, a
  half-precision DiT step, all chunks of a text in one padded batch, and the step
  captured as a CUDA graph (optionally ``torch.compile``-d first).
- ``XttsAccelerator`` (``xtts.py``): XTTS-v2 GPT decoding with a static KV cache and a
  CUDA-graphed decode step that samples on the device, instead of HF ``generate``.

Heavy imports (f5_tts, TTS) happen inside the submodules, not here.
"""

from __future__ import annotations

__all__ = ["F5Accelerator", "XttsAccelerator"]


def __getattr__(name):
    if name == "F5Accelerator":
        from .f5 import F5Accelerator

        return F5Accelerator
    if name == "XttsAccelerator":
        from .xtts import XttsAccelerator

        return XttsAccelerator
    raise AttributeError(name)
