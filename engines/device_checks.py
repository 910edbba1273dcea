"""How the device worker tells a failed job from a broken device, and waits for the device's time.

A job's failure is its own (a refusal, out of memory) or a sign that the CUDA context is broken
for good (a sticky error): then every later kernel fails too, and a one-kernel probe says so.
"""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when empty), at most 300 characters."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError)


def cuda_sync() -> None:
    """Wait for the current CUDA device's work (nothing without CUDA)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def cuda_probe() -> None:
    """Raises when the CUDA context can no longer run a kernel (a sticky error)."""
    import torch

    torch.cuda.synchronize()
    value = (torch.ones(1, device="cuda") + 1).item()
    if value != 2.0:
        raise RuntimeError(f"probe kernel computed {value}, not 2.0")
