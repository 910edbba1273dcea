"""Quality profiles: named, frozen parameter sets per engine, and the mapping between engines.

A profile belongs to one engine. When the manager falls back to the other engine it
maps the profile to its counterpart (``f5tts_ultra_natural`` <-> ``xtts_expressive``,
and ``fast``/``balanced``/``ultra_quality`` by name), so the user gets the closest
setting on the engine that really ran, and the result says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .errors import InputError


@dataclass(frozen=True)
class F5Profile:
    """Sampling parameters of ``f5_tts.infer.utils_infer.infer_process`` (upstream's defaults:
    ``f5tts_balanced``). Override one with ``dataclasses.replace``."""

    name: str
    """The profile's name, ``f5tts_*``: what a request names and the metadata reports."""
    nfe_step: int
    """Euler steps of the flow-matching ODE (upstream: 32). More: finer detail, proportionally slower."""
    cfg_strength: float
    """Classifier-free guidance scale (upstream: 2.0). Lower: looser, more natural prosody; higher: closer
    to the text and the reference, flatter."""
    sway_sampling_coef: float
    """Sway sampling of the ODE's time grid (upstream: -1.0, more steps early, where the structure forms)."""
    speed: float
    """Speaking rate when the request gives none: the generated length is divided by it (1.0: the
    reference's pace)."""
    cross_fade: float
    """Seconds of cross-fade where the chunks of a long text are joined (upstream: 0.15)."""
    description: str = ""
    """One sentence for the UI: what the profile trades."""
    best_of: int = 1
    """Takes rendered (with the next seeds); with speech recognition the clearest is kept
    (``engines/quality/best_of.py``). 1: a single take."""


@dataclass(frozen=True)
class XttsProfile:
    """Sampling parameters of ``TTS.tts.models.xtts.Xtts.inference`` (the XTTS-v2 ``config.json``
    values most projects use: ``xtts_balanced``). Override one with ``dataclasses.replace``."""

    name: str
    """The profile's name, ``xtts_*``: what a request names and the metadata reports."""
    temperature: float
    """Softmax temperature of the GPT's audio-token sampling (config.json: 0.75). Lower: steadier,
    higher: livelier and more varied."""
    top_p: float
    """Nucleus sampling: only the most likely tokens that make up this probability are drawn from."""
    top_k: int
    """Only the ``top_k`` most likely tokens are drawn from."""
    repetition_penalty: float
    """Divides the logits of tokens already generated (config.json: 5.0): higher avoids loops and stutters."""
    length_penalty: float
    """Passed to ``inference`` as upstream has it (1.0); sampling without beams does not use it."""
    speed: float
    """Speaking rate when the request gives none: the GPT latents are stretched by 1/speed before the
    vocoder (1.0: natural)."""
    description: str = ""
    """One sentence for the UI: what the profile trades."""
    best_of: int = 1
    """Takes rendered (with the next seeds); with speech recognition the clearest is kept. 1: a single take."""


Profile = Union[F5Profile, XttsProfile]

F5_PROFILES: dict[str, F5Profile] = {
    p.name: p
    for p in (
        F5Profile("f5tts_fast", 16, 2.0, -1.0, 1.0, 0.15,
                  "Half the ODE steps of upstream's default: about 2x faster, slightly grainier."),
        F5Profile("f5tts_balanced", 32, 2.0, -1.0, 1.0, 0.15,
                  "Upstream F5-TTS defaults (infer_process)."),
        F5Profile("f5tts_ultra_quality", 64, 2.0, -1.0, 1.0, 0.15,
                  "Twice the ODE steps: finer detail, about 2x slower; with speech recognition, the best of 3 takes.",
                  best_of=3),
        F5Profile("f5tts_ultra_natural", 48, 1.5, -1.0, 0.95, 0.25,
                  "Weaker guidance and a slightly slower pace for looser, more natural prosody."),
    )
}

XTTS_PROFILES: dict[str, XttsProfile] = {
    p.name: p
    for p in (
        XttsProfile("xtts_fast", 0.65, 0.80, 30, 5.0, 1.0, 1.0,
                    "Narrower sampling: steadier, fewer retries of odd tokens."),
        XttsProfile("xtts_balanced", 0.75, 0.85, 50, 5.0, 1.0, 1.0,
                    "The XTTS-v2 config.json values most projects use."),
        XttsProfile("xtts_ultra_quality", 0.55, 0.80, 40, 7.0, 1.0, 1.0,
                    "Low temperature and a stronger repetition penalty: the most stable reading."),
        XttsProfile("xtts_expressive", 0.90, 0.95, 80, 4.0, 1.0, 1.0,
                    "High temperature and wide sampling: livelier, more varied delivery."),
    )
}

PROFILES_BY_ENGINE: dict[str, dict[str, Profile]] = {
    "f5tts": dict(F5_PROFILES),
    "xtts": dict(XTTS_PROFILES),
}

DEFAULT_PROFILE: dict[str, str] = {"f5tts": "f5tts_balanced", "xtts": "xtts_balanced"}

# The pairs, one direction; the reverse is derived so the mapping stays bidirectional.
_PAIRS: tuple[tuple[str, str], ...] = (
    ("f5tts_fast", "xtts_fast"),
    ("f5tts_balanced", "xtts_balanced"),
    ("f5tts_ultra_quality", "xtts_ultra_quality"),
    ("f5tts_ultra_natural", "xtts_expressive"),
)
PROFILE_COUNTERPART: dict[str, str] = {**dict(_PAIRS), **{b: a for a, b in _PAIRS}}


def all_profile_names() -> list[str]:
    return [name for profiles in PROFILES_BY_ENGINE.values() for name in profiles]


def engine_of_profile(name: str) -> str:
    for engine, profiles in PROFILES_BY_ENGINE.items():
        if name in profiles:
            return engine
    raise InputError(f"unknown quality profile {name!r}; valid profiles: " + ", ".join(all_profile_names()))


def is_profile_compatible(profile_name: str, engine: str) -> bool:
    """True when ``profile_name`` is one of ``engine``'s own profiles."""
    return profile_name in PROFILES_BY_ENGINE.get(engine, {})


def suggest_alternative_profile(profile_name: str, engine: str) -> str:
    """The profile on ``engine`` closest to ``profile_name``: its counterpart, else the default."""
    if is_profile_compatible(profile_name, engine):
        return profile_name
    counterpart = PROFILE_COUNTERPART.get(profile_name)
    if counterpart is not None and is_profile_compatible(counterpart, engine):
        return counterpart
    return DEFAULT_PROFILE[engine]


def map_quality_profile_for_fallback(profile_name: str | None, target_engine: str) -> tuple[str, bool]:
    """Return ``(profile on target_engine, whether it was mapped)``.

    ``None`` means "the engine's default" and is never reported as a mapping.
    """
    if target_engine not in PROFILES_BY_ENGINE:
        raise InputError(f"unknown engine {target_engine!r}; valid engines: " + ", ".join(PROFILES_BY_ENGINE))
    if profile_name is None:
        return DEFAULT_PROFILE[target_engine], False
    engine_of_profile(profile_name)  # raises on unknown names
    mapped = suggest_alternative_profile(profile_name, target_engine)
    return mapped, mapped != profile_name


def get_profile(profile_name: str) -> Profile:
    return PROFILES_BY_ENGINE[engine_of_profile(profile_name)][profile_name]
