"""GPU fast path for XTTS-v2.

The accelerator wraps an already-loaded upstream model object and computes the same
function as upstream's own inference, faster on CUDA. On CPU it runs the same code
eagerly (no graphs), so CI checks the equivalence with tiny models.

- ``XttsAccelerator`` (``xtts.py``): XTTS-v2 GPT decoding with a static KV cache and a
  CUDA-graphed decode step that samples on the device, instead of HF ``generate``.

Heavy imports (TTS) happen inside the submodules, not here.
"""

from __future__ import annotations

__all__ = ["XttsAccelerator"]


def __getattr__(name):
    if name == "XttsAccelerator":
        from .xtts import XttsAccelerator

        return XttsAccelerator
    raise AttributeError(name)
