"""Dropdown choices, as (label, value) pairs, from the engine layer's registries."""

from __future__ import annotations

from engines import DEFAULT_PROFILE, PRESETS, PROFILES_BY_ENGINE, EngineManager
from engines.languages import LANGUAGE_NAMES

from .badges import engine_label

DEFAULT_ENGINE = "f5tts"
DEFAULT_LANGUAGE = "pt-BR"


def engine_choices(manager: EngineManager) -> list[tuple[str, str]]:
    return [(engine_label(name), name) for name in manager.engines]


def language_choices(manager: EngineManager) -> list[tuple[str, str]]:
    return [(f"{LANGUAGE_NAMES.get(code, code)} ({code})", code) for code in manager.languages()]


def default_language(manager: EngineManager) -> str:
    languages = manager.languages()
    return DEFAULT_LANGUAGE if DEFAULT_LANGUAGE in languages else languages[0]


def languages_hint(manager: EngineManager) -> str:
    parts = []
    for name, engine in manager.engines.items():
        codes = list(engine.languages)
        shown = ", ".join(codes) if len(codes) <= 6 else f"{len(codes)} languages"
        parts.append(f"{engine_label(name)}: {shown}")
    return " · ".join(parts)


def preset_choices() -> list[tuple[str, str]]:
    return [(preset.label, name) for name, preset in PRESETS.items()]


def profile_choices(engine: str | None) -> list[tuple[str, str]]:
    profiles = PROFILES_BY_ENGINE.get(engine or DEFAULT_ENGINE, PROFILES_BY_ENGINE[DEFAULT_ENGINE])
    return [(name, name) for name in profiles]


def default_profile(engine: str | None) -> str:
    return DEFAULT_PROFILE.get(engine or DEFAULT_ENGINE, DEFAULT_PROFILE[DEFAULT_ENGINE])


def profile_help(engine: str | None) -> str:
    profiles = PROFILES_BY_ENGINE.get(engine or DEFAULT_ENGINE, {})
    return " ".join(f"**{name}**: {p.description}" for name, p in profiles.items())
