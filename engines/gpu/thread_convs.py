"""Convolutions that use cuDNN, or not, for the calling thread alone.

``torch.backends.cudnn.flags`` is process-wide, and on exit it restores what it found on entry.
The device worker's jobs enter and leave it (``graphs.variable_length_convs``, F5's position
convolution); a thread beside the worker that did the same (the XTTS vocoder lane,
``engines/gpu/side_lane.py``) could interleave with them so that the last exit restores the
other thread's setting, and cuDNN stays off (or on) for good. So a thread beside the worker
uses ``thread_cudnn`` instead: a torch-function mode, which is thread-local, that runs that
thread's convolutions through ``torch._convolution`` with cuDNN on or off (without
benchmarking) and leaves the process-wide flags alone. The result is the one the flags would
give: ``F.conv1d`` and the others end in the same ``_convolution`` call.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

# function -> (spatial dimensions, transposed)
_CONVOLUTIONS = {F.conv1d: (1, False), F.conv2d: (2, False), F.conv3d: (3, False),
                 F.conv_transpose1d: (1, True), F.conv_transpose2d: (2, True), F.conv_transpose3d: (3, True)}
_CONV_ARGS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
_TRANSPOSED_ARGS = ("input", "weight", "bias", "stride", "padding", "output_padding", "groups", "dilation")


class ThreadCudnn(TorchFunctionMode):
    """While active on a thread: that thread's convolutions run with cuDNN ``enabled`` or not."""

    def __init__(self, enabled: bool):
        super().__init__()
        self.enabled = enabled

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        shape = _CONVOLUTIONS.get(func)
        if shape is None:
            return func(*args, **kwargs)
        dims, transposed = shape
        given = dict(zip(_TRANSPOSED_ARGS if transposed else _CONV_ARGS, args), **kwargs)
        if isinstance(given.get("padding", 0), str):  # "same" / "valid": only the public function knows them
            return func(*args, **kwargs)

        def spread(name: str, default: int) -> list[int]:
            value = given.get(name, default)
            return list(value) if isinstance(value, (tuple, list)) else [int(value)] * dims

        cudnn = torch.backends.cudnn
        x = given["input"]
        unbatched = x.dim() == dims + 1  # F.conv*d take [channels, ...] too; _convolution wants a batch
        out = torch._convolution(x.unsqueeze(0) if unbatched else x, given["weight"], given.get("bias"),
                                 spread("stride", 1), spread("padding", 0), spread("dilation", 1), transposed,
                                 spread("output_padding", 0), int(given.get("groups", 1)),
                                 False, cudnn.deterministic, self.enabled, cudnn.allow_tf32)
        return out.squeeze(0) if unbatched else out


def thread_cudnn(device: torch.device | str, enabled: bool):
    """Context: cuDNN on or off for this thread's convolutions on a CUDA ``device``; off CUDA nothing
    changes (there is no cuDNN there)."""
    if torch.device(device).type != "cuda":
        return contextlib.nullcontext()
    return ThreadCudnn(enabled)
