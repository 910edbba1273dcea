"""Which F5 rows share a forward: the least-cost grouping of rows sorted by length (pure functions)."""

from __future__ import annotations

import itertools
import random

import pytest

from engines.f5.accel.f5 import F5AccelOptions
from engines.f5.accel.f5_groups import forward_cost, group_rows, padded_shape

OPTIONS = F5AccelOptions()


def bucket(rows: int, frames: int) -> tuple[int, int]:
    return padded_shape(OPTIONS.batch_sizes, OPTIONS.length_buckets, rows, frames)


def cost(durations, groups) -> float:
    return sum(forward_cost(*bucket(len(g), max(durations[i] for i in g))) for g in groups)


def test_rows_of_about_one_length_share_one_forward():
    durations = [1030, 1100, 1064, 1146, 1090, 1120, 1045, 1139]
    assert group_rows(durations, 8, bucket) == [sorted(range(8), key=lambda i: -durations[i])]


def test_a_short_row_is_not_padded_to_a_long_one():
    groups = group_rows([3000, 600], 8, bucket)
    assert sorted(groups) == [[0], [1]]


@pytest.mark.parametrize("seed", range(12))
def test_the_grouping_is_the_cheapest_split_of_the_sorted_rows(seed):
    rng = random.Random(seed)
    durations = [rng.randint(300, 3100) for _ in range(rng.randint(1, 9))]
    max_rows = rng.choice([2, 4, 8])
    groups = group_rows(durations, max_rows, bucket)
    assert sorted(i for g in groups for i in g) == list(range(len(durations)))
    assert all(1 <= len(g) <= max_rows for g in groups)
    order = sorted(range(len(durations)), key=lambda i: -durations[i])
    cheapest = min(
        cost(durations, [order[a:b] for a, b in zip((0,) + cuts, cuts + (len(order),))])
        for k in range(len(order))
        for cuts in itertools.combinations(range(1, len(order)), k)
        if all(b - a <= max_rows for a, b in zip((0,) + cuts, cuts + (len(order),)))
    )
    assert cost(durations, groups) == pytest.approx(cheapest)
    plain = [order[i:i + max_rows] for i in range(0, len(order), max_rows)]  # fixed runs, longest first
    assert cost(durations, groups) <= cost(durations, plain) + 1e-9
