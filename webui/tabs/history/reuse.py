""""Use these settings again": a History entry's request put back into the Dubbing or Cloning form.

A form is a mapping from the request's field names (``text``, ``language``, ``engine``,
``quality_profile``, ``speed``, ``seed``...: the ``/dub`` and ``/clone`` parameter names) to
the components that hold them (``ResultView.form``), so a field a tab adds is filled as soon
as the tab names it. The reference clip of a clone is not kept in the history (only its name
and hash), so it is left as it is and the message says so.

The engine knobs in the form's Advanced panel (``knobs.KnobPanel``) show the entry's own knob
values, and for those it did not set, its profile's (over the saved voice's preference, as the
Dubbing tab shows them when that voice is picked).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from engines.knobs import KnobError, KnobValue, check_knobs, describe
from history import HistoryEntry

from .. import choices
from ..knobs import KNOB_NAMES, KnobPanel, shown_values

TABS = {"dub": ("dubbing", "Dubbing"), "clone": ("cloning", "Cloning")}  # mode: (tab id, tab name)
NOT_KEPT = ("reference_audio",)  # fields the history does not keep (the clip itself)
TEXT_FIELDS = ("speed", "seed")  # text boxes: a number is shown as text, "empty" as ""
# Set in a second step, once the rest is in place: a new engine makes the profile dropdown offer its
# profiles, keeping the profile shown only if it is one of them; so the profile must be there first.
LAST = ("engine",)
MAX_SAVED_KNOBS = 32  # a record holds at most one value per knob; more is a damaged file, read no further


@dataclass
class ReuseTargets:
    """Where a History entry can be sent: the tabs and each mode's form (field name -> component)."""

    tabs: gr.Tabs
    forms: dict[str, dict[str, gr.components.Component]] = field(default_factory=dict)
    knobs: dict[str, KnobPanel | None] = field(default_factory=dict)
    """Each mode's knob panel, restored in the first step (its pending knobs and its sliders)."""

    def panels(self) -> list[tuple[str, KnobPanel]]:
        return [(mode, panel) for mode, panel in sorted(self.knobs.items())
                if panel is not None and panel.pending is not None]

    def fields(self, mode: str, last: bool = False) -> list[str]:
        """``mode``'s form fields set in the first step, or (``last``) in the second."""
        return [name for name in self.forms[mode] if (name in LAST) == last]

    def outputs(self, last: bool = False) -> list[gr.components.Component]:
        """The handler's outputs: (first step) the tabs and every form's fields but the ``LAST`` ones, or
        (second step) the ``LAST`` ones, in a fixed order; the first step ends with each knob panel's pending
        knobs and sliders."""
        head = [] if last else [self.tabs]
        fields = [self.forms[mode][name] for mode in sorted(self.forms) for name in self.fields(mode, last)]
        knobs = [] if last else [c for _, panel in self.panels() for c in (panel.pending, *panel.page)]
        return head + fields + knobs


def reusable(entry_mode: str | None) -> bool:
    return entry_mode in TABS


def form_values(entry: HistoryEntry) -> dict[str, Any]:
    """The request's fields as the form shows them. For a result, the seed is the one that ran, so the
    same settings make the same take (clear the seed for a new one). ``knobs``: the request's own knob
    values that can be shown (``saved_knobs``)."""
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
        values["quality_profile"] = gr.Dropdown(choices=choices.profile_choices(engine), value=profile_of(entry))
    values["knobs"] = saved_knobs(entry)[0]
    return values


def profile_of(entry: HistoryEntry) -> str:
    """The profile the form shows for the entry: the one it asked for, else its engine's default."""
    engine = entry.request.get("engine") or choices.DEFAULT_ENGINE
    return entry.request.get("quality_profile") or choices.default_profile(engine)


def saved_knobs(entry: HistoryEntry) -> tuple[dict[str, KnobValue], list[str]]:
    """The request's knob values that can be shown, and the names of those that cannot (a record edited
    or damaged on disk: an unknown name or a value out of range is left out, not put on a slider)."""
    raw = entry.request.get("knobs")
    if raw is None:
        return {}, []
    if not isinstance(raw, Mapping):
        return {}, ["knobs"]
    kept: dict[str, KnobValue] = {}
    refused: list[str] = []
    for name, value in list(raw.items())[:MAX_SAVED_KNOBS]:
        try:
            kept.update(check_knobs({name: value}))
        except KnobError:
            refused.append(str(name)[:40])
    return kept, refused


def fill(targets: ReuseTargets, entry: HistoryEntry, last: bool = False) -> list[Any]:
    """The outputs of "Use again" (``ReuseTargets.outputs``): first the entry's tab selected and its form
    filled but for the engine, then (``last``) the engine; the other forms are left untouched."""
    mode = entry.metadata.get("mode")
    values = form_values(entry)
    updates: list[Any] = [] if last else [gr.Tabs(selected=TABS[mode][0])]
    for form_mode in sorted(targets.forms):
        for name in targets.fields(form_mode, last):
            updates.append(values[name] if form_mode == mode and name in values else gr.skip())
    for form_mode, panel in ([] if last else targets.panels()):
        if form_mode == mode:
            updates += panel.restore(profile_of(entry), values.get("voice_preset"), values["knobs"])
        else:
            updates += [gr.skip()] * (1 + len(panel.page))
    return updates


def filled_message(entry: HistoryEntry) -> str:
    mode = entry.metadata.get("mode")
    message = f"{TABS[mode][1]} is filled with the settings of {entry.created_at[:16].replace('T', ' ')} UTC"
    if entry.ok and entry.metadata.get("seed") is not None:
        message += f", seed {entry.metadata['seed']} included (clear it for a new take)"
    knobs, refused = saved_knobs(entry)
    profile = dict(zip(KNOB_NAMES, shown_values(profile_of(entry), None)))
    changed = {name: value for name, value in knobs.items() if value != profile[name]}
    if changed:
        message += f", with its knobs {describe(changed)}"
    if refused:
        message += f". Knobs not restored (not valid values): {', '.join(refused)}"
    reference = entry.request.get("reference_audio")
    if mode == "clone" and isinstance(reference, dict):
        message += (f". The reference clip is not kept in the history: upload {reference.get('file_name') or 'it'} "
                    "again if it is not the one shown")
    return message + "."


def _plain_number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)
