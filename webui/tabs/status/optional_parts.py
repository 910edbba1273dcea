"""The optional parts beside the two engines, as the Engine status tab shows them.

Speech recognition, the speaker model, and the video pipeline's translation and separation
models each load on first use and each can be missing without the app being broken: the
engines still speak. So the overall status stays the engines' ("healthy" while both serve),
but it never reads as complete while a part is missing: the line says how many are
unavailable, and each one's row says what it is for and which variable to set.

Health is read without loading or downloading anything (``LazyModel.health``).
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engines import EngineManager
from engines.quality.pretrained import LazyModel
from engines.quality.speaker import SpeakerVerifier

# How the overall line names a part (its card names it in full).
SHORT_NAMES = {"asr": "speech recognition", "speaker": "speaker model", "translation": "translation",
               "separator": "source separation"}
PART_STYLE = {"available": ("#16a34a", "loaded"), "not_loaded": ("#6b7280", "loads on first use"),
              "unavailable": ("#dc2626", "unavailable")}


@dataclass(frozen=True)
class OptionalPart:
    key: str
    what_for: str
    model: LazyModel


def optional_parts(manager: EngineManager, speaker: SpeakerVerifier) -> list[OptionalPart]:
    """Speech recognition (the manager's), the speaker model (Verify's), and the video pipeline's models."""
    from dubbing.video.steps.separate import Separator
    from dubbing.video.steps.translate import Translator

    device, on_device, lock = manager.settings.device, manager.on_device, manager.asr.load_lock
    return [
        OptionalPart("asr", "the transcript of a reference clip sent without one (F5-TTS needs it), Verify, "
                            "video dubbing", manager.asr),
        OptionalPart("speaker", "Verify's speaker similarity, telling a video's speakers apart", speaker),
        OptionalPart("translation", "dubbing a video into another language (python -m engines dub-video)",
                     Translator.from_env(device, on_device, lock, os.environ)),
        OptionalPart("separator", "keeping a dubbed video's music and noise",
                     Separator.from_env(device, on_device, lock, os.environ)),
    ]


def parts_health(parts: list[OptionalPart]) -> list[dict[str, Any]]:
    """Each part's health (name, status, model, variable, error) with what it is for."""
    return [{**part.model.health(), "key": part.key, "used_for": part.what_for} for part in parts]


def with_parts(health: Callable[[], dict[str, Any]], parts: list[OptionalPart]) -> Callable[[], dict[str, Any]]:
    """The health dict with ``optional``: the parts' health (the status tab's and ``/engine_status``'s)."""
    def both() -> dict[str, Any]:
        return {**health(), "optional": parts_health(parts)}

    return both


def missing_parts(health: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [part for part in (health or {}).get("optional", []) if part.get("status") == "unavailable"]


def overall_note(health: dict[str, Any] | None) -> str:
    """What follows "Overall: healthy": the parts that are missing and what to set, e.g.
    ``(speech recognition unavailable: set VOICE_STUDIO_ASR_MODEL)``."""
    missing = missing_parts(health)
    if not missing:
        return ""
    if len(missing) == 1:
        part = missing[0]
        return f"({SHORT_NAMES.get(part.get('key'), part.get('name'))} unavailable: set {part.get('variable')})"
    return (f"({len(missing)} optional parts unavailable: set "
            + ", ".join(str(part.get("variable")) for part in missing) + ")")


def render_parts(health: dict[str, Any] | None) -> str:
    """One row per optional part: its name and status, what it is for, and the fix when it is missing."""
    parts = (health or {}).get("optional") or []
    if not parts:
        return ""
    rows = []
    for part in parts:
        colour, wording = PART_STYLE.get(part.get("status"), ("#6b7280", str(part.get("status"))))
        if part.get("status") == "unavailable":
            wording = f"unavailable: set {part.get('variable')}"
        detail = ""
        if part.get("status") == "unavailable" and part.get("error"):
            detail = (f"<details class='vs-part-error'><summary>why</summary><div style='white-space:pre-wrap;"
                      f"overflow-wrap:anywhere'>{html.escape(str(part['error']))}</div></details>")
        rows.append(
            f"<li class='vs-part' data-part='{html.escape(str(part.get('key')))}' "
            f"data-status='{html.escape(str(part.get('status')))}' style='margin:4px 0'>"
            f"<b>{html.escape(str(part.get('name')))}</b> "
            f"<span style='color:{colour};font-weight:600;overflow-wrap:anywhere'>{html.escape(wording)}</span>"
            f"<br><small style='opacity:0.8'>Used for {html.escape(str(part.get('used_for')))}"
            f" · model {html.escape(str(part.get('model')))}</small>{detail}</li>")
    return ("<div class='vs-parts'><b>Optional parts</b> <small>(each loads on first use; the engines speak "
            f"without them)</small><ul style='margin:4px 0 0;padding-left:18px'>{''.join(rows)}</ul></div>")
