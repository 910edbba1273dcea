"""Fitting a line's speech into its subtitle slot: the ladder, as pure functions.

Most natural first:

1. ``natural``: the line spoken at its natural pace fits the slot; stop (a short line is
   padded with silence, never slowed);
2. ``engine``: ask the engine for the slot's length (F5-TTS generates a target duration
   natively; XTTS takes ``speed``), at most ``engine_max`` (1.25×) faster than natural;
3. ``stretch``: a pitch-preserving time-stretch of at most ``stretch_max`` (1.15×) on top;
4. ``gap``: the slot alone is too short even then, so the line also takes the silence up
   to the next cue, at the least speed-up that fits there;
5. ``overrun``: it does not fit even so; it is spoken at the fastest allowed pace and the
   overrun is reported.

Never faster than ``total_max`` (1.35×) natural, never slower than ``total_min`` (0.85×).
The speed factor is natural length / spoken length (1.2 means 20 % faster).
"""

from __future__ import annotations

from dataclasses import dataclass

METHODS = ("natural", "engine", "stretch", "gap", "overrun")
# Audio a few milliseconds longer than its room still fits (F5 works in 256-sample frames).
FIT_TOLERANCE_S = 0.02


@dataclass(frozen=True)
class FitLimits:
    engine_max: float = 1.25
    stretch_max: float = 1.15
    total_max: float = 1.35
    total_min: float = 0.85


DEFAULT_LIMITS = FitLimits()


@dataclass(frozen=True)
class FitPlan:
    """What to ask of the engine and of the time-stretch for one line."""

    method: str
    room_s: float            # the slot, or the slot plus the silence after it
    engine_factor: float     # speed-up asked of the engine (1.0: natural pace)
    stretch_factor: float    # time-stretch applied afterwards (1.0: none)
    natural_s: float

    @property
    def speed_factor(self) -> float:
        return self.engine_factor * self.stretch_factor

    @property
    def engine_target_s(self) -> float:
        """The length to ask the engine for."""
        return self.natural_s / self.engine_factor

    @property
    def expected_s(self) -> float:
        return self.natural_s / self.speed_factor

    @property
    def overrun_s(self) -> float:
        return max(0.0, self.expected_s - self.room_s)


def split_factor(factor: float, limits: FitLimits = DEFAULT_LIMITS) -> tuple[float, float]:
    """(engine, stretch) for a total speed-up: the engine first, the stretch for the rest."""
    factor = min(max(factor, 1.0), limits.total_max)
    engine = min(factor, limits.engine_max)
    stretch = min(factor / engine, limits.stretch_max)
    return engine, stretch


def plan_fit(natural_s: float, slot_s: float, gap_s: float = 0.0, limits: FitLimits = DEFAULT_LIMITS) -> FitPlan:
    """The most natural way to speak a line of ``natural_s`` seconds in ``slot_s`` (+ ``gap_s`` of silence)."""
    if natural_s <= 0 or slot_s <= 0:
        raise ValueError(f"natural length and slot must be positive (got {natural_s}, {slot_s})")
    gap_s = max(0.0, gap_s)
    if natural_s <= slot_s + FIT_TOLERANCE_S:
        return FitPlan("natural", slot_s, 1.0, 1.0, natural_s)
    needed = natural_s / slot_s
    if needed <= limits.total_max:
        engine, stretch = split_factor(needed, limits)
        return FitPlan("engine" if stretch <= 1.0 else "stretch", slot_s, engine, stretch, natural_s)
    room = slot_s + gap_s
    needed = natural_s / room
    engine, stretch = split_factor(needed, limits)
    return FitPlan("gap" if needed <= limits.total_max else "overrun", room, engine, stretch, natural_s)


def natural_plan(natural_s: float, slot_s: float | None) -> FitPlan:
    """No fitting asked for ("natural" mode, or a script without times): the line as it came."""
    room = slot_s if slot_s and slot_s > 0 else natural_s
    return FitPlan("natural", room, 1.0, 1.0, natural_s)


def stretch_for(natural_s: float, rendered_s: float, room_s: float, limits: FitLimits = DEFAULT_LIMITS) -> float:
    """The time-stretch that brings an engine's take into ``room_s``, within the bounds.

    An engine asked for a speed (XTTS) lands near, not on, the length; this closes the
    rest, never beyond ``stretch_max`` nor past ``total_max`` of the natural pace.
    """
    if rendered_s <= room_s + FIT_TOLERANCE_S / 2:
        return 1.0
    wanted = rendered_s / room_s
    ceiling = min(limits.stretch_max, limits.total_max * rendered_s / natural_s)
    return max(1.0, min(wanted, ceiling))


def classify(natural_s: float, final_s: float, slot_s: float, gap_s: float, engine_factor: float,
             stretch_factor: float) -> tuple[str, float]:
    """(fit method, overrun in seconds) of a line as finally rendered."""
    if final_s <= slot_s + FIT_TOLERANCE_S:
        if engine_factor <= 1.0 and stretch_factor <= 1.0:
            return "natural", 0.0
        return ("stretch" if stretch_factor > 1.0 else "engine"), 0.0
    if final_s <= slot_s + gap_s + FIT_TOLERANCE_S:
        return "gap", 0.0
    return "overrun", round(final_s - slot_s - gap_s, 3)


def within_bounds(speed_factor: float, limits: FitLimits = DEFAULT_LIMITS) -> bool:
    return limits.total_min - 1e-6 <= speed_factor <= limits.total_max + 1e-6
