"""The fitting ladder and the track, as pure functions: tables of cases, bounds, placement, mixing."""

from __future__ import annotations

import numpy as np
import soundfile as sf
import pytest

from dubbing.fitting import DEFAULT_LIMITS, classify, plan_fit, split_factor, stretch_for, within_bounds
from dubbing.track import SAMPLE_RATE, Placed, find_overlaps, mix_track, pad_or_trim, sequential_starts

# natural s, slot s, gap s -> method, engine factor, stretch factor, room s
CASES = [
    (1.0, 2.0, 0.0, "natural", 1.0, 1.0, 2.0),      # short line: padded, never slowed
    (2.0, 2.0, 0.0, "natural", 1.0, 1.0, 2.0),      # exactly fits
    (2.01, 2.0, 0.0, "natural", 1.0, 1.0, 2.0),     # within the frame tolerance
    (2.4, 2.0, 1.0, "engine", 1.2, 1.0, 2.0),       # engine alone (≤ 1.25)
    (2.5, 2.0, 1.0, "engine", 1.25, 1.0, 2.0),      # engine at its cap
    (2.6, 2.0, 1.0, "stretch", 1.25, 1.04, 2.0),    # engine + stretch
    (2.7, 2.0, 1.0, "stretch", 1.25, 1.08, 2.0),    # total at its cap 1.35
    (3.0, 2.0, 1.0, "gap", 1.0, 1.0, 3.0),          # the silence holds it at natural pace
    (3.3, 2.0, 1.0, "gap", 1.1, 1.0, 3.0),          # silence + a little speed-up
    (4.0, 2.0, 1.0, "gap", 1.25, 1.0667, 3.0),      # silence + engine + stretch
    (5.0, 2.0, 1.0, "overrun", 1.25, 1.08, 3.0),    # nothing is enough: fastest allowed, overrun reported
    (3.0, 2.0, 0.0, "overrun", 1.25, 1.08, 2.0),    # no silence after it
]


@pytest.mark.parametrize("natural, slot, gap, method, engine, stretch, room", CASES)
def test_ladder_picks_the_most_natural_rung(natural, slot, gap, method, engine, stretch, room):
    plan = plan_fit(natural, slot, gap)
    assert plan.method == method
    assert plan.engine_factor == pytest.approx(engine, abs=1e-3)
    assert plan.stretch_factor == pytest.approx(stretch, abs=1e-3)
    assert plan.room_s == pytest.approx(room)
    assert within_bounds(plan.speed_factor)
    if method != "overrun":
        assert plan.expected_s <= room + 0.02
    else:
        assert plan.overrun_s == pytest.approx(natural / 1.35 - room, abs=1e-6)


def test_speed_bounds_hold_for_any_line_and_slot():
    rng = np.random.default_rng(0)
    for natural, slot, gap in rng.uniform([0.1, 0.05, 0.0], [30.0, 20.0, 5.0], size=(5000, 3)):
        plan = plan_fit(natural, slot, gap)
        assert DEFAULT_LIMITS.total_min <= plan.speed_factor <= DEFAULT_LIMITS.total_max + 1e-9
        assert plan.engine_factor <= DEFAULT_LIMITS.engine_max + 1e-9
        assert plan.stretch_factor <= DEFAULT_LIMITS.stretch_max + 1e-9
        assert plan.speed_factor >= 1.0  # a short line is padded, never slowed


@pytest.mark.parametrize("factor, engine, stretch", [(0.7, 1.0, 1.0), (1.1, 1.1, 1.0), (1.3, 1.25, 1.04),
                                                     (2.0, 1.25, 1.08)])
def test_split_factor_uses_the_engine_first(factor, engine, stretch):
    assert split_factor(factor) == pytest.approx((engine, stretch), abs=1e-9)


@pytest.mark.parametrize("natural, rendered, room, expected", [
    (2.0, 1.7, 1.8, 1.0),           # the engine's take fits
    (2.0, 1.9, 1.8, 1.9 / 1.8),     # closes the rest
    (2.0, 1.9, 1.0, 1.15),          # capped by the stretch limit
    (2.0, 1.6, 1.0, 1.35 * 1.6 / 2.0),  # capped by the total limit
])
def test_stretch_closes_what_the_engine_left(natural, rendered, room, expected):
    assert stretch_for(natural, rendered, room) == pytest.approx(expected)


@pytest.mark.parametrize("final, slot, gap, engine, stretch, result", [
    (1.5, 2.0, 0.0, 1.0, 1.0, ("natural", 0.0)),
    (1.9, 2.0, 0.0, 1.2, 1.0, ("engine", 0.0)),
    (1.9, 2.0, 0.0, 1.25, 1.05, ("stretch", 0.0)),
    (2.5, 2.0, 1.0, 1.0, 1.0, ("gap", 0.0)),
    (3.5, 2.0, 1.0, 1.25, 1.08, ("overrun", 0.5)),
])
def test_classify_reports_the_rung_used(final, slot, gap, engine, stretch, result):
    assert classify(3.0, final, slot, gap, engine, stretch) == result


def mixed(placed, length_s, tmp_path):
    """The track ``mix_track`` writes, read back as float32 (written as 32-bit float: exact sums)."""
    track = mix_track(placed, length_s, tmp_path / "track.wav", subtype="FLOAT")
    audio, rate = sf.read(track.path, dtype="float32")
    assert rate == SAMPLE_RATE and len(audio) == track.samples
    return track, audio


def test_lines_start_on_their_sample_and_overlaps_are_summed(tmp_path):
    a = np.full(SAMPLE_RATE, 0.25, dtype=np.float32)          # 1 s
    b = np.full(SAMPLE_RATE // 2, 0.5, dtype=np.float32)      # 0.5 s
    placed = [Placed(1, 0.5, a), Placed(2, 1.25, b), Placed(3, 3.0001, b)]
    track, audio = mixed(placed, 3.2, tmp_path)
    assert len(audio) == round(3.5001 * SAMPLE_RATE)          # speech past the end extends the track
    assert track.extended_s == pytest.approx(0.3, abs=1e-3)
    assert np.all(audio[: 12000] == 0) and audio[12000] == 0.25
    assert np.all(audio[30000:36000] == 0.75)                 # 1.25-1.5 s: both lines, summed
    assert np.all(audio[36000:42000] == 0.5)
    assert placed[2].start_sample == 72002                    # 3.0001 s, to the nearest sample
    assert track.overlaps == ({"lines": [1, 2], "start_s": 1.25, "overlap_s": 0.25},)
    assert track.mix_gain == 1.0


def test_lines_across_block_edges_are_mixed_as_one_array_would_be(tmp_path, monkeypatch):
    """Blocks of 0.3 s against lines that start, end and overlap inside and across them."""
    monkeypatch.setattr("dubbing.track.BLOCK_S", 0.3)
    rng = np.random.default_rng(5)
    placed = [Placed(i, start, (0.2 * rng.standard_normal(int(seconds * SAMPLE_RATE))).astype(np.float32))
              for i, (start, seconds) in enumerate([(0.0, 0.7), (0.25, 0.1), (0.5, 1.0), (2.9, 0.05), (4.0, 0.3)])]
    track, audio = mixed(placed, 5.0, tmp_path)
    expected = np.zeros(track.samples, dtype=np.float32)
    for p in placed:
        expected[p.start_sample:p.end_sample] += p.audio
    peak = float(np.max(np.abs(expected)))
    gain = 0.99 / peak if peak > 0.99 else 1.0
    assert track.mix_gain == round(gain, 4)
    np.testing.assert_allclose(audio, expected * np.float32(gain), atol=1e-7)


def test_overlapping_lines_that_would_clip_are_lowered_once(tmp_path):
    loud = np.full(SAMPLE_RATE, 0.8, dtype=np.float32)
    track, audio = mixed([Placed(1, 0.0, loud), Placed(2, 0.5, loud)], 2.0, tmp_path)
    assert np.max(np.abs(audio)) == pytest.approx(0.99)
    assert track.mix_gain == pytest.approx(0.99 / 1.6, abs=1e-4)
    assert find_overlaps([Placed(1, 0.0, loud), Placed(2, 1.0, loud)]) == []


def test_pad_or_trim_and_script_placement():
    audio = np.ones(1000, dtype=np.float32)
    padded = pad_or_trim(audio, 1500)
    assert len(padded) == 1500 and padded[999] == 1 and not padded[1000:].any()
    cut = pad_or_trim(audio, 600)
    assert len(cut) == 600 and cut[0] == 1 and cut[-1] == 0   # faded, not clicked
    assert sequential_starts([1.0, 2.0, 0.5], pause_s=0.4) == [0.0, 1.4, 3.8]
