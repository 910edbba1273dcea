"""Which F5 rows share a forward.

A forward is padded to a bucketed (rows, frames) shape and costs what that shape costs,
so a short row batched with a long one pays the long one's length. Rows are sorted
longest first and cut into runs, the cuts chosen (by dynamic programming over the sorted
rows) so that the forwards' summed cost is least. The cost of one guided step was measured
on the GPU (``bench/serving/cold_probe.py``, ``f5_batch_costs``: 1 and 8 rows at 512-3072 frames,
within 10 %): a fixed part (launches, small kernels) plus a part per padded row-frame that
grows with length (attention).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

STEP_FIXED_MS = 2.5        # one forward's cost whatever its size
ROW_FRAME_MS = 0.0047      # per padded row-frame, at short lengths
ATTENTION_FRAMES = 12000   # the per-row-frame cost doubles at this length (attention is quadratic)

Bucket = Callable[[int, int], tuple[int, int]]


def padded_shape(batch_sizes: Sequence[int], length_buckets: Sequence[int], rows: int,
                 frames: int) -> tuple[int, int]:
    """(batch, length) of the forward that takes ``rows`` rows of at most ``frames`` frames: the
    next batch size and length bucket up; past the last bucket, a multiple of 256 (run eagerly)."""
    b = next((size for size in batch_sizes if size >= rows), rows)
    n = next((size for size in length_buckets if size >= frames), None)
    return b, n if n is not None else -(-frames // 256) * 256


def forward_cost(rows: int, frames: int) -> float:
    """Estimated milliseconds of one guided step of a padded (rows, frames) forward."""
    return STEP_FIXED_MS + ROW_FRAME_MS * rows * frames * (1 + frames / ATTENTION_FRAMES)


def group_rows(durations: Sequence[int], max_rows: int, bucket: Bucket) -> list[list[int]]:
    """Indices into ``durations``, grouped into forwards of least summed cost, longest rows first.

    ``bucket(rows, frames)`` gives the padded shape a group runs at.
    """
    order = sorted(range(len(durations)), key=lambda i: -durations[i])
    best = [0.0] + [math.inf] * len(order)   # least cost of the first k sorted rows
    cut = [0] * (len(order) + 1)             # where the last group of that best split starts
    for end in range(1, len(order) + 1):
        for start in range(max(0, end - max_rows), end):
            cost = best[start] + forward_cost(*bucket(end - start, durations[order[start]]))
            if cost < best[end]:
                best[end], cut[end] = cost, start
    groups, end = [], len(order)
    while end:
        groups.append(order[cut[end]:end])
        end = cut[end]
    return groups[::-1]
