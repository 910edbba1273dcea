"""GPU fast path for F5-TTS.

The accelerator wraps an already-loaded upstream model object and computes the same
function as upstream's own inference, faster on CUDA. On CPU it runs the same code
eagerly (no graphs, no compile), so CI checks the equivalence with tiny models.

- ``F5Accelerator`` (``f5.py``): F5-TTS flow-matching sampler with an fp32 ODE state, a
  half-precision DiT step, all chunks of a text in one padded batch, and the step
  captured as a CUDA graph (optionally ``torch.compile``-d first).

Heavy imports (f5_tts) happen inside the submodules, not here.
"""

from __future__ import annotations

__all__ = ["F5Accelerator"]


def __getattr__(name):
    if name == "F5Accelerator":
        from .f5 import F5Accelerator

        return F5Accelerator
    raise AttributeError(name)
