"""Takes: every rendition of a line is kept (up to ``MAX_TAKES``), and one of them is the line's.

A take is what the engine made from a line's words, voice and seed under the project's
engine, profile and language (its ``settings``). Rendering the same settings again (a new
slot after a retime, a new fit) updates that take; new words, another voice or a new seed
(``new_seed``) make a new one. Picking a take restores the words, voice and seed that
made it, so the table shows what the track says; if the line's slot changed since, the
take is stale and "Render changed" fits it again from its cached natural take.

Each take is a plain dict saved in the project (``Line.takes``), so the audio it names
(``result["final_key"]`` under ``audio/``) is found after a restart. Audio files are never
deleted: a take dropped from the list of five is forgotten, not erased.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Any

from engines.errors import InputError

from ..project import Line, Project

MAX_TAKES = 5


def seed_of(project: Project, line: Line) -> int:
    """The seed a line renders with: its own (a new take), else the project's."""
    return line.seed if line.seed is not None else project.settings.seed


def take_settings(project: Project, line: Line) -> dict[str, Any]:
    """What decides a take's sound (and nothing about where it is placed)."""
    s = project.settings
    return {"text": line.text, "voice": project.voice_for(line), "seed": seed_of(project, line),
            "engine": s.engine, "quality_profile": s.quality_profile, "language": s.language}


def find(line: Line, number: int) -> dict[str, Any] | None:
    return next((take for take in line.takes if take["take"] == number), None)


def record(project: Project, line: Line, result: dict[str, Any]) -> int:
    """A finished render as a take of ``line`` (which it becomes the line's); returns its number.

    The same settings update their take; new ones add a take, and the oldest take that is
    not the line's is dropped past ``MAX_TAKES``.
    """
    settings = take_settings(project, line)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    take = next((t for t in line.takes if t["settings"] == settings), None)
    if take is None:
        number = max((t["take"] for t in line.takes), default=0) + 1
        take = {"take": number, "settings": settings}
        line.takes.append(take)
    take.update(rendered_at=now, result={**result, "take": take["take"]})
    line.take = take["take"]
    while len(line.takes) > MAX_TAKES:
        line.takes.remove(next(t for t in line.takes if t["take"] != line.take))
    return line.take


def pick(project: Project, line: Line, number: int) -> None:
    """Make take ``number`` the line's: its audio goes into the track, its words, voice and seed
    back into the line."""
    take = find(line, number)
    if take is None:
        kept = ", ".join(str(t["take"]) for t in line.takes) or "none yet: render the line first"
        raise InputError(f"line {line.index} has no take {number}; its takes: {kept}")
    settings = take["settings"]
    line.text = settings["text"]
    inherited = project.voice_for(Line(line.index, None, None, "", line.speaker))
    line.voice = None if settings["voice"] == inherited else settings["voice"]
    line.seed = None if settings["seed"] == project.settings.seed else settings["seed"]
    line.status, line.error, line.result, line.take = "done", None, take["result"], number


def new_seed(project: Project, line: Line) -> int:
    """A seed no kept take of ``line`` used, set as the line's own: its next render is a new take."""
    used = {t["settings"]["seed"] for t in line.takes} | {seed_of(project, line)}
    seed = secrets.randbelow(2**31)
    while seed in used:
        seed = secrets.randbelow(2**31)
    line.seed = seed
    return seed


def summary(line: Line) -> list[dict[str, Any]]:
    """The kept takes as the report lists them: number, seed, fit and whether it is the line's."""
    return [{"take": t["take"], "seed": t["settings"]["seed"], "text": t["settings"]["text"],
             "voice": t["settings"]["voice"], "fit_method": t["result"].get("fit_method"),
             "duration_s": t["result"].get("duration_s"), "rendered_at": t.get("rendered_at"),
             "picked": t["take"] == line.take} for t in line.takes]
