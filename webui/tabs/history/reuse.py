""""Use these settings again": a History entry's request put back into the Dubbing or Cloning form.

A form is a mapping from the request's field names (``text``, ``language``, ``engine``,
``quality_profile``, ``speed``, ``seed``...: the ``/dub`` and ``/clone`` parameter names) to
the components that hold them (``ResultView.form``), so a field a tab adds is filled as soon
as the tab names it. The reference clip of a clone is not kept in the history (only its name
and hash), so it is left as it is and the message says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from history import HistoryEntry

from .. import choices

TABS = {"dub": ("dubbing", "Dubbing"), "clone": ("cloning", "Cloning")}  # mode: (tab id, tab name)
NOT_KEPT = ("reference_audio",)  # fields the history does not keep (the clip itself)
TEXT_FIELDS = ("speed", "seed")  # text boxes: a number is shown as text, "empty" as ""
# Set in a second step, once the rest is in place: a new engine makes the profile dropdown offer its
# profiles, keeping the profile shown only if it is one of them; so the profile must be there first.
LAST = ("engine",)


@dataclass
class ReuseTargets:
    """Where a History entry can be sent: the tabs and each mode's form (field name -> component)."""

    tabs: gr.Tabs
    forms: dict[str, dict[str, gr.components.Component]] = field(default_factory=dict)

    def fields(self, mode: str, last: bool = False) -> list[str]:
        """``mode``'s form fields set in the first step, or (``last``) in the second."""
        return [name for name in self.forms[mode] if (name in LAST) == last]

    def outputs(self, last: bool = False) -> list[gr.components.Component]:
        """The handler's outputs: (first step) the tabs and every form's fields but the ``LAST`` ones, or
        (second step) the ``LAST`` ones, in a fixed order."""
        head = [] if last else [self.tabs]
        return head + [self.forms[mode][name] for mode in sorted(self.forms) for name in self.fields(mode, last)]


def reusable(entry_mode: str | None) -> bool:
    return entry_mode in TABS


def form_values(entry: HistoryEntry) -> dict[str, Any]:
    """The request's fields as the form shows them. For a result, the seed is the one that ran, so the
    same settings make the same take (clear the seed for a new one)."""
    request = dict(entry.request)
    values: dict[str, Any] = {key: value for key, value in request.items() if key not in NOT_KEPT}
    values["text"] = entry.text
    if entry.ok and entry.metadata.get("seed") is not None:
        values["seed"] = entry.metadata["seed"]
    for name in TEXT_FIELDS:
        if name in values:
            values[name] = "" if values[name] is None else _plain_number(values[name])
    engine = values.get("engine") or choices.DEFAULT_ENGINE
    if "quality_profile" in values:  # the profile dropdown offers the entry's engine's profiles
        values["quality_profile"] = gr.Dropdown(choices=choices.profile_choices(engine),
                                                value=values["quality_profile"] or choices.default_profile(engine))
    return values


def fill(targets: ReuseTargets, entry: HistoryEntry, last: bool = False) -> list[Any]:
    """The outputs of "Use again" (``ReuseTargets.outputs``): first the entry's tab selected and its form
    filled but for the engine, then (``last``) the engine; the other forms are left untouched."""
    mode = entry.metadata.get("mode")
    values = form_values(entry)
    updates: list[Any] = [] if last else [gr.Tabs(selected=TABS[mode][0])]
    for form_mode in sorted(targets.forms):
        for name in targets.fields(form_mode, last):
            updates.append(values[name] if form_mode == mode and name in values else gr.skip())
    return updates


def filled_message(entry: HistoryEntry) -> str:
    mode = entry.metadata.get("mode")
    message = f"{TABS[mode][1]} is filled with the settings of {entry.created_at[:16].replace('T', ' ')} UTC"
    if entry.ok and entry.metadata.get("seed") is not None:
        message += f", seed {entry.metadata['seed']} included (clear it for a new take)"
    reference = entry.request.get("reference_audio")
    if mode == "clone" and isinstance(reference, dict):
        message += (f". The reference clip is not kept in the history: upload {reference.get('file_name') or 'it'} "
                    "again if it is not the one shown")
    return message + "."


def _plain_number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)
