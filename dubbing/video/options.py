"""What a video dub is asked to do, and every check of it that needs no model.

``VideoDubOptions`` is the one set of options the CLI, the Gradio API and the UI fill in.
``check_options`` refuses bad ones (an unknown language, zero speakers, a translation
file that is missing or unreadable) before any file is decoded or any model loads.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engines.errors import InputError
from engines.languages import normalize_language

from ..service import read_subtitle_file
from ..subtitles import Limits, ParsedSubtitles, parse_subtitles

AUTO = "auto"
TRANSLATE_MODEL, TRANSLATE_FILE, TRANSLATE_NONE = "model", "file", "none"
MAX_SPEAKERS = 32          # as many as ElevenLabs' dubbing takes
MAX_CUE_SECONDS = 12.0     # cues are cut at pauses and sentence ends, at most about this long


@dataclass(frozen=True)
class VideoDubOptions:
    """A video (or audio file) to dub, and how."""

    language: str
    """The dub's language (pt-BR, en, es, ...): what the lines are translated into and spoken in."""
    source_language: str = AUTO
    """What the video speaks: a Whisper language code (en, pt, ...), or ``auto`` to detect it."""
    speakers: int | None = None
    """How many people speak; None: find out by clustering their voices."""
    translation: str = TRANSLATE_MODEL
    """``model`` (VOICE_STUDIO_TRANSLATION_MODEL), ``none`` (keep the words) or a subtitle file's path."""
    engine: str = "f5tts"
    """The engine that speaks the dub (f5tts | xtts); the other stands in when it cannot."""
    quality_profile: str | None = None
    """A quality profile of that engine, None for its default."""
    seed: int | None = None
    """Seed of every line's take; None: one is drawn and saved in the project."""
    name: str = ""
    """The project's name (default: the file's name); saved voices are named after it."""

    @property
    def translation_mode(self) -> str:
        if self.translation in (TRANSLATE_MODEL, TRANSLATE_NONE):
            return self.translation
        return TRANSLATE_FILE

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class CheckedOptions:
    """The options with their languages normalised and the translation file read."""

    options: VideoDubOptions
    language: str                                   # canonical (pt-BR)
    source_language: str | None                     # a Whisper code, None to detect
    translation_file: ParsedSubtitles | None = None


@functools.lru_cache(maxsize=1)
def whisper_languages() -> dict[str, str]:
    """Whisper's language codes and names (``en`` -> ``english``), as transformers lists them."""
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    return dict(LANGUAGES)


def source_language_code(value: str | None) -> str | None:
    """A Whisper code for ``value`` (``en``, ``pt-BR`` -> ``pt``, ``english``), None for auto."""
    text = (value or AUTO).strip()
    if text.lower() == AUTO:
        return None
    known = whisper_languages()
    key = text.lower().replace("_", "-")
    if key in known:
        return key
    if key.split("-")[0] in known:
        return key.split("-")[0]
    by_name = {name: code for code, name in known.items()}
    if key in by_name:
        return by_name[key]
    raise InputError(f"unknown source language {value!r}: use auto or one of Whisper's codes "
                     f"({', '.join(sorted(known)[:12])}, ...)")


def parse_speakers(value: Any) -> int | None:
    """``auto``/None/'' -> None; else a count from 1 to ``MAX_SPEAKERS``."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", AUTO)):
        return None
    try:
        count = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError as exc:
        raise InputError(f"speakers must be a number from 1 to {MAX_SPEAKERS} or auto, got {value!r}") from exc
    if not 1 <= count <= MAX_SPEAKERS:
        raise InputError(f"speakers must be from 1 to {MAX_SPEAKERS} (or auto), got {count}")
    return count


def read_translation_file(path: str | os.PathLike, environ=None) -> ParsedSubtitles:
    """The translated subtitles a user gave; every way it can be unusable is an ``InputError``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"translation file {path.name!r} is missing: give a subtitle file (.srt, .vtt, .ass, "
                         "or a .txt with one line per cue), or --translation none")
    try:
        data = read_subtitle_file(path)
    except OSError as exc:
        raise InputError(f"translation file {path.name!r} cannot be read ({exc.strerror or type(exc).__name__})") from exc
    try:
        return parse_subtitles(data, Limits.from_env(environ))
    except InputError as exc:
        raise InputError(f"translation file {path.name!r}: {exc}") from exc


def check_options(options: VideoDubOptions, environ=None) -> CheckedOptions:
    """Every check that needs no model and no media; raises ``InputError`` naming the fix."""
    language = normalize_language(options.language)
    source = source_language_code(options.source_language)
    if options.speakers is not None:
        parse_speakers(options.speakers)
    parsed = None
    if options.translation_mode == TRANSLATE_FILE:
        parsed = read_translation_file(options.translation, environ)
    return CheckedOptions(options, language, source, parsed)
