"""Knobs: a request's own values for its engine's sampling settings, over the quality profile's.

A profile (``profiles.py``) is a named set of sampling values. A knob replaces one of them for
one request: F5-TTS's ``nfe_step``, ``cfg_strength``, ``sway_sampling_coef``,
``cross_fade_duration`` and ``remove_silence``; XTTS-v2's ``temperature``, ``top_p``, ``top_k``,
``repetition_penalty`` and ``length_penalty``. Speed and seed are the request's own fields
(``SynthesisRequest.speed`` / ``seed``) and keep their checks (``types.MIN_SPEED`` ...).

Each name belongs to one engine, so a request may carry knobs of both: the engine that serves
uses its own and the result lists the others as ignored (``knobs_ignored``). A saved voice may
store preferred knobs (and a speed); a request's own value wins over the voice's, the voice's
over the profile's. Every door (page, Gradio API, ``/v1``, CLI) checks values with ``check_knobs``,
whose errors name the knob and its range.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Union

from .errors import InputError
from .profiles import Profile
from .types import MAX_SPEED, MIN_SPEED

KnobValue = Union[int, float, bool]


class KnobError(InputError):
    """A knob value that cannot be used; ``param`` names the knob (for ``/v1``'s ``param``)."""

    def __init__(self, message: str, param: str):
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class Knob:
    """One setting a request may change: its public name, its engine, the profile field it
    replaces, its type and its inclusive range."""

    name: str
    """The public name (Gradio API parameter, ``/v1`` field, CLI ``--knob NAME=VALUE``)."""
    engine: str
    """The engine that uses it: ``f5tts`` or ``xtts``."""
    field: str
    """The ``F5Profile`` / ``XttsProfile`` field it replaces."""
    kind: type
    """``int``, ``float`` or ``bool``."""
    low: float = 0.0
    high: float = 1.0
    step: float = 0.01
    """The UI slider's step (values between steps are accepted from the API)."""
    label: str = ""
    info: str = ""

    @property
    def range_text(self) -> str:
        return "true or false" if self.kind is bool else f"{_number(self.low)} to {_number(self.high)}"

    def check(self, value: Any) -> KnobValue:
        """``value`` as this knob's type, within range; ``KnobError`` naming the knob otherwise."""
        if self.kind is bool:
            if isinstance(value, bool):
                return value
            raise KnobError(f"{self.name} must be true or false, not {_shown(value)}", self.name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise KnobError(f"{self.name} must be a number ({self.range_text}), not {_shown(value)}", self.name)
        if not math.isfinite(value) or not self.low <= value <= self.high:
            raise KnobError(f"{self.name} {_number(value)} is out of range; use {self.range_text}", self.name)
        if self.kind is int:
            if value != int(value):
                raise KnobError(f"{self.name} must be a whole number ({self.range_text}), not {value}", self.name)
            return int(value)
        return float(value)


KNOBS: dict[str, Knob] = {k.name: k for k in (
    Knob("nfe_step", "f5tts", "nfe_step", int, 4, 64, 1, "NFE steps",
         "Euler steps of the ODE: more is finer and proportionally slower"),
    Knob("cfg_strength", "f5tts", "cfg_strength", float, 0.0, 5.0, 0.1, "CFG strength",
         "Guidance: lower is looser and more natural, higher follows text and reference closer (0: off)"),
    Knob("sway_sampling_coef", "f5tts", "sway_sampling_coef", float, -1.0, 1.0, 0.05, "Sway sampling",
         "Negative: more ODE steps early, where the speech's structure forms"),
    Knob("cross_fade_duration", "f5tts", "cross_fade", float, 0.0, 1.0, 0.01, "Cross-fade (s)",
         "Seconds of cross-fade where the chunks of a long text are joined"),
    Knob("remove_silence", "f5tts", "remove_silence", bool, label="Remove silences",
         info="Cut pauses longer than 1 s out of the result (as F5-TTS's own app does)"),
    Knob("temperature", "xtts", "temperature", float, 0.01, 2.0, 0.01, "Temperature",
         "Lower: steadier; higher: livelier and more varied"),
    Knob("top_p", "xtts", "top_p", float, 0.01, 1.0, 0.01, "Top-p",
         "Draw only from the likeliest tokens that make up this probability"),
    Knob("top_k", "xtts", "top_k", int, 1, 1024, 1, "Top-k", "Draw only from this many likeliest tokens"),
    Knob("repetition_penalty", "xtts", "repetition_penalty", float, 1.0, 20.0, 0.1, "Repetition penalty",
         "Higher avoids loops and stutters"),
    Knob("length_penalty", "xtts", "length_penalty", float, 0.5, 2.0, 0.1, "Length penalty",
         "Passed to XTTS as coqui does; only beam search uses it, and XTTS samples with one beam"),
)}

SPEED_KNOB = Knob("speed", "", "speed", float, MIN_SPEED, MAX_SPEED, 0.05, "Speed")
"""A saved voice's preferred pace (a request's speed is checked where it always was)."""

VOICE_KNOBS: dict[str, Knob] = {**KNOBS, "speed": SPEED_KNOB}
"""What a saved voice may prefer: every engine knob and a speed (never a seed: one seed would
make every take of every text the same)."""


def knobs_of_engine(engine: str) -> list[Knob]:
    return [k for k in KNOBS.values() if k.engine == engine]


def check_knobs(values: Mapping[str, Any] | None, allowed: Mapping[str, Knob] = KNOBS) -> dict[str, KnobValue]:
    """``values`` checked, ``None`` ones dropped: ``{name: int | float | bool}``. ``KnobError`` names the
    first unknown name or bad value, with the range to use."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise KnobError("knobs must be an object of name: value", "knobs")
    checked: dict[str, KnobValue] = {}
    for name, value in values.items():
        knob = allowed.get(name) if isinstance(name, str) else None
        if knob is None:
            raise KnobError(f"unknown knob {_shown(name)}; knobs: {', '.join(allowed)}", str(name)[:60])
        if value is not None:
            checked[name] = knob.check(value)
    return checked


def profile_values(profile: Profile) -> dict[str, KnobValue]:
    """The profile's value of each of its engine's knobs, and its speed."""
    values = {k.name: getattr(profile, k.field) for k in KNOBS.values() if hasattr(profile, k.field)}
    return {**values, "speed": profile.speed}


@dataclass(frozen=True)
class AppliedKnobs:
    """A profile with a request's knobs (and its voice's) put in, and what that changed."""

    profile: Profile
    """The profile the engine runs: the named one with the knobs' values."""
    speed: float
    """The request's speed, else the voice's, else the profile's."""
    changed: dict[str, KnobValue]
    """Each knob whose value differs from the named profile's, with the value used (a fixed seed too)."""
    from_voice: tuple[str, ...] = ()
    """The changed knobs whose value is the saved voice's preference."""
    ignored: tuple[str, ...] = ()
    """Knobs of the request for another engine than the one that serves."""


def apply_knobs(profile: Profile, engine: str, request_knobs: Mapping[str, KnobValue],
                voice_knobs: Mapping[str, KnobValue], speed: float | None, seed: int | None) -> AppliedKnobs:
    """``profile`` with the knobs of ``engine`` from the voice, then the request, put in."""
    own = {k.name for k in knobs_of_engine(engine)} | {"speed"}
    wanted = {**{n: v for n, v in voice_knobs.items() if n in own}, **{n: v for n, v in request_knobs.items()
                                                                      if n in own}}
    if speed is not None:
        wanted["speed"] = float(speed)
    base = profile_values(profile)
    changed = {name: value for name, value in wanted.items() if value != base.get(name)}
    fields = {KNOBS[name].field: value for name, value in wanted.items() if name in KNOBS}
    used_speed = float(wanted.get("speed", profile.speed))
    if seed is not None:
        changed["seed"] = int(seed)
    from_voice = tuple(n for n in changed if n in voice_knobs and voice_knobs[n] == changed[n])
    ignored = tuple(n for n in request_knobs if n not in own)
    return AppliedKnobs(replace(profile, **fields), used_speed, changed, from_voice, ignored)


def describe(values: Mapping[str, KnobValue]) -> str:
    """``nfe_step 8, temperature 0.6`` (for the UI and logs)."""
    return ", ".join(f"{name} {_number(value) if not isinstance(value, bool) else str(value).lower()}"
                     for name, value in values.items())


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
