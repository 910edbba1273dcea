"""The engine knobs in a synthesis tab's Advanced panel (``engines/knobs.py`` says what each does).

The F5-TTS knobs show when F5-TTS is the chosen engine, the XTTS-v2 knobs when XTTS is.
Every knob shows the chosen profile's value, over it the picked saved voice's preference;
changing the profile or the voice sets them again. The page sends the chosen engine's knobs
and the manager reports those that differ from the profile (``knobs_changed``).

History's "Use again" shows an entry's knobs (``KnobPanel.restore``): it sets them at once and
leaves them "pending" for the profile and voice it sets, because the change of those re-shows
the knobs a moment later (once or twice, the first time maybe with the old profile and the new
voice); each re-showing for that profile and voice puts the pending knobs over the profile's.
The user's own next pick of an engine, profile or voice drops them.

The named API events (``/dub``, ``/clone``) take the same names as optional parameters through
hidden inputs whose default is None ("the profile's value"): a slider cannot be empty, so its
value would otherwise stand in for every API call that leaves the knob out.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from engines import VoiceStudioError
from engines.knobs import KNOBS, Knob, check_knobs, describe, knobs_of_engine, profile_values
from engines.profiles import get_profile, map_quality_profile_for_fallback

from . import choices
from .speech import optional_float

KNOB_NAMES: tuple[str, ...] = tuple(KNOBS)
"""The order of the knob parameters after a handler's other parameters (the public API's names)."""

PER_ROW = 3  # knobs side by side in Advanced

ENGINE_LABELS = {"f5tts": "F5-TTS knobs", "xtts": "XTTS-v2 knobs"}


@dataclass
class KnobPanel:
    """The knob inputs of one tab: ``page`` for the button's event, ``api`` for the named API event."""

    page: list[gr.components.Component]
    api: list[gr.components.Component]
    groups: dict[str, gr.Group]
    note: gr.Markdown
    pending: gr.State | None = None
    """Knobs waiting for their profile and voice: ``{"profile", "voice", "knobs"}`` or None (``restore``)."""
    voice_knobs: Callable[[str | None], Mapping[str, Any]] | None = field(default=None, repr=False)
    """A saved voice's preferred knobs by its id; None when the tab has no voice dropdown."""

    def restore(self, profile: str | None, voice: str | None, knobs: Mapping[str, Any]) -> list[Any]:
        """The values of ``[pending, *page]`` that show ``knobs`` over ``voice``'s preference over ``profile``'s
        values, now and after the change events the new profile and voice set off."""
        voice = (voice or None) if self.voice_knobs is not None else None
        preferred = self.voice_knobs(voice) if self.voice_knobs is not None else {}
        pending = {"profile": profile or None, "voice": voice, "knobs": dict(knobs)}
        return [pending, *shown_values(profile, {**preferred, **knobs})]

    @property
    def page_kwargs(self) -> dict[str, gr.components.Component]:
        return dict(zip(KNOB_NAMES, self.page))

    @property
    def api_kwargs(self) -> dict[str, gr.components.Component]:
        return dict(zip(KNOB_NAMES, self.api))


def given(values: Mapping[str, Any], engine: str | None = None) -> dict[str, Any]:
    """The knob values a handler got, None dropped; with ``engine``, only that engine's (the page keeps
    the other engine's knobs hidden, with values nobody chose)."""
    return {name: value for name, value in values.items()
            if name in KNOBS and value is not None and (engine is None or KNOBS[name].engine == engine)}


def accepts_knobs(handler: Callable[..., Any]) -> Callable[..., Any]:
    """``handler(..., **knob_values)`` shown to Gradio with each knob as a keyword-only parameter, default
    None: the API names them (``nfe_step``...) and a caller may leave any out. Events pass them with
    ``inputs_kwargs=KnobPanel.page_kwargs`` (the button) or ``api_kwargs`` (the named API event)."""
    signature = inspect.signature(handler)
    kept = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None) for name in KNOB_NAMES]
    handler.__signature__ = signature.replace(parameters=kept + added)  # type: ignore[attr-defined]
    return handler


def shown_values(profile: str | None, voice_knobs: Mapping[str, Any] | None) -> list[Any]:
    """Each knob's value to show: the chosen profile's (the other engine's knobs: its counterpart's), the
    voice's preference over it."""
    values: dict[str, Any] = {}
    for name in ENGINE_LABELS:
        wanted = profile or None
        try:
            on_engine, _ = map_quality_profile_for_fallback(wanted, name)
        except Exception:  # an unknown profile typed in the box: show the default (the request is refused)
            on_engine, _ = map_quality_profile_for_fallback(None, name)
        values.update(profile_values(get_profile(on_engine)))
    values.update({k: v for k, v in (voice_knobs or {}).items() if k in KNOBS})
    return [values[name] for name in KNOB_NAMES]


def pending_knobs(pending: Any, profile: str | None, voice: str | None) -> Mapping[str, Any] | None:
    """``pending``'s knobs when they go with ``profile`` and ``voice`` (what the knobs are re-shown for),
    else None (the knobs show the profile's values)."""
    if not isinstance(pending, Mapping) or not isinstance(pending.get("knobs"), Mapping):
        return None
    if pending.get("profile") != (profile or None) or pending.get("voice") != (voice or None):
        return None
    return pending["knobs"]


def _no_pending() -> None:
    return None


def _control(knob: Knob, elem_prefix: str) -> gr.components.Component:
    elem_id = f"{elem_prefix}-knob-{knob.name}"
    label = f"{knob.label} ({knob.range_text})" if knob.kind is not bool else knob.label
    if knob.kind is bool:
        return gr.Checkbox(value=False, label=label, info=knob.info, elem_id=elem_id)
    return gr.Slider(minimum=knob.low, maximum=knob.high, step=knob.step, label=label, info=knob.info,
                     elem_id=elem_id)


def _hidden(knob: Knob) -> gr.components.Component:
    if knob.kind is bool:
        hidden = gr.Checkbox(label=knob.name, visible=False)
        hidden.value = None  # the constructor turns None into False; None here is "the profile's value"
        return hidden
    return gr.Number(value=None, label=knob.name, visible=False)


def knob_panel(elem_prefix: str, speed: gr.Textbox, engine: gr.Dropdown, profile: gr.Dropdown,
               voice: gr.Dropdown | None = None, library=None) -> KnobPanel:
    """The knobs, drawn in the Advanced accordion that holds ``speed``.

    With ``voice`` (its dropdown) and ``library`` (the saved voices), picking a saved voice shows its
    preferred knobs, and a button stores the shown ones as its preference.
    """
    def voice_knobs(voice_id: str | None) -> Mapping[str, Any]:
        record = library.record(voice_id) if library is not None and voice_id else None
        return record.knobs if record is not None else {}

    inside = speed
    accordion = inside
    while not isinstance(accordion, gr.Accordion):
        accordion = accordion.parent
    first = shown_values(choices.default_profile(choices.DEFAULT_ENGINE), None)
    page: dict[str, gr.components.Component] = {}
    groups: dict[str, gr.Group] = {}
    with accordion:
        note = gr.Markdown("", elem_id=f"{elem_prefix}-knobs-note")
        for name, label in ENGINE_LABELS.items():
            with gr.Group(visible=name == choices.DEFAULT_ENGINE, elem_id=f"{elem_prefix}-knobs-{name}") as group:
                gr.Markdown(f"**{label}** (start at the profile's values)")
                engine_knobs = list(knobs_of_engine(name))
                for start in range(0, len(engine_knobs), PER_ROW):  # rows of three: readable at 390 px too
                    with gr.Row():
                        for knob in engine_knobs[start:start + PER_ROW]:
                            page[knob.name] = _control(knob, elem_prefix)
            groups[name] = group
        save = (gr.Button("Save these knobs as this saved voice's preference", size="sm",
                          elem_id=f"{elem_prefix}-knobs-save") if voice is not None and library is not None else None)
    for component, value in zip((page[n] for n in KNOB_NAMES), first):
        component.value = value
    api = [_hidden(KNOBS[name]) for name in KNOB_NAMES]
    panel = KnobPanel([page[n] for n in KNOB_NAMES], api, groups, note, gr.State(None),
                      voice_knobs if voice is not None else None)

    def follow(engine_name: str | None, profile_name: str | None, *rest: Any) -> list:
        voice_id, pending = rest if voice is not None else (None, rest[0])
        preferred = voice_knobs(voice_id)
        restored = pending_knobs(pending, profile_name, voice_id)
        text = (f"Voice **{voice_id}** prefers: {describe(preferred)}" if preferred else "")
        return [*shown_values(profile_name, {**preferred, **(restored or {})}), text]

    quiet = dict(api_visibility="private", concurrency_limit=None, show_progress="hidden")
    chosen = [engine, profile] + ([voice] if voice is not None else [])
    gr.on([box.change for box in chosen[1:]], follow, inputs=[*chosen, panel.pending], outputs=[*panel.page, note],
          **quiet)
    # Only the user's own pick (not "Use again" setting the form): pending knobs must not outlive it.
    gr.on([box.input for box in chosen], _no_pending, outputs=panel.pending, **quiet)
    engine.change(lambda name: [gr.Group(visible=name == e) for e in ENGINE_LABELS], inputs=engine,
                  outputs=list(groups.values()), api_visibility="private", concurrency_limit=None,
                  show_progress="hidden")
    if save is not None:
        def store(voice_id, engine_name, profile_name, speed_text, *values) -> str:
            try:
                return save_voice_knobs(library, voice_id, engine_name, profile_name, speed_text, values)
            except VoiceStudioError as exc:  # a bad value or an unwritable folder: say it on the page
                raise gr.Error(str(exc)) from exc

        save.click(store, inputs=[voice, engine, profile, speed, *panel.page], outputs=note,
                   api_visibility="private", concurrency_limit=None)
    return panel


def save_voice_knobs(library, voice_id: str | None, engine: str, profile: str | None, speed: Any,
                     values: Sequence[Any]) -> str:
    """Store the shown knobs of ``engine`` that differ from ``profile`` (and a typed speed) as the saved
    voice's preference, keeping its preferences for the other engine. Returns the note to show."""
    record = library.record(voice_id) if voice_id else None
    if record is None:
        raise gr.Error("pick a saved voice first: presets have no preferences to store")
    base = profile_values(get_profile(map_quality_profile_for_fallback(profile or None, engine)[0]))
    mine = {n: v for n, v in check_knobs(given(dict(zip(KNOB_NAMES, values)), engine)).items()
            if v != base.get(n)}
    kept = {n: v for n, v in record.knobs.items() if n in KNOBS and KNOBS[n].engine != engine}
    typed_speed = optional_float(speed)
    if typed_speed is not None:
        kept["speed"] = typed_speed
    summary = library.set_knobs(record.id, {**kept, **mine})
    stored = summary["knobs"]
    return f"Voice **{record.id}** prefers: {describe(stored)}" if stored else f"Voice **{record.id}** has no preferences"
