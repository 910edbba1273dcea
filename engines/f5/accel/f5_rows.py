"""A request's rows as the accelerator samples them, and how rows are padded into one forward.

A request is its reference (the mel it continues) and one row per text chunk: the chunk's
tokens, its length in frames and its noise. Rows of any requests share a forward padded to a
bucketed (rows, frames) shape; padding is masked, so each row computes what it would alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ...gpu.graphs import variable_length_convs
from .f5_step import text_embeddings


@dataclass
class Reference:
    """The reference clip as every row of its request continues it."""

    cond: torch.Tensor          # [n_mel_frames, mel] float32 on device
    rms: float
    ref_audio_len: int          # audio samples // hop (upstream's slicing point)


@dataclass
class F5Row:
    """One chunk to sample: its reference, tokens, length and noise."""

    ref: Reference
    tokens: torch.Tensor        # [1, nt] long, -1 padded (upstream list_str_to_idx)
    duration: int
    noise: torch.Tensor         # [duration, mel] float32 on device


@dataclass
class F5Request:
    """A request made ready to sample: its chunks as rows, in order."""

    ref: Reference
    rows: list[F5Row] = field(default_factory=list)


def group_progress(progress: Callable[[float], None] | None, group: int,
                   groups: int) -> Callable[[int, int], None] | None:
    """Step progress of forward ``group`` of ``groups``, as a fraction of the whole request."""
    if progress is None:
        return None
    return lambda step, steps: progress((group + step / steps) / groups)


def tick(on_step: Callable[[int, int], None] | None, index: int, steps: int) -> None:
    """Progress after step ``index``: about every eighth of the steps (no device sync involved)."""
    if on_step is not None and ((index + 1) % max(1, steps // 8) == 0 or index + 1 == steps):
        on_step(index + 1, steps)


def padded_inputs(step, rows: list[F5Row], b: int, n: int, use_cfg: bool):
    """static_in [R, n, dim], mask [R, n], y0 [b*n, mel] for ``rows`` padded to (b, n), on ``step``'s
    device (``step``: the ``CFGEulerStep``; R = 2b with guidance, else b).

    Rows past ``len(rows)`` are padding: one valid frame of zeros (never read back).
    """
    dit = step.dit
    mel, dev = step.mel_dim, step.w_x.device
    cond = torch.zeros(b, n, mel, device=dev)
    y0 = torch.zeros(b, n, mel, device=dev)
    text_dim = dit.text_embed.text_embed.embedding_dim
    text_c = torch.zeros(b, n, text_dim, device=dev, dtype=next(dit.parameters()).dtype)
    text_u = torch.zeros_like(text_c) if use_cfg else None
    lengths = torch.ones(b, dtype=torch.long)
    for i, row in enumerate(rows):
        d = row.duration
        cond[i, : row.ref.cond.shape[0]] = row.ref.cond
        y0[i, :d] = row.noise
        with variable_length_convs(dev):
            text_c[i, :d] = text_embeddings(dit, row.tokens, d, False)
            if use_cfg:
                text_u[i, :d] = text_embeddings(dit, row.tokens, d, True)
        lengths[i] = d
    static_in = step.static_input(cond, text_c, text_u)
    valid = torch.arange(n, device=dev)[None, :] < lengths.to(dev)[:, None]
    mask = torch.cat((valid, valid), dim=0) if use_cfg else valid
    return static_in, mask, y0.reshape(b * n, mel)
