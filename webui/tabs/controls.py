"""Components both synthesis tabs use: text with a live count, engine/profile, advanced, outputs."""

from __future__ import annotations

import html
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import gradio as gr

from engines import EngineManager

from . import choices

if TYPE_CHECKING:
    from .knobs import KnobPanel


@dataclass
class ResultView:
    audio: gr.Audio
    badges: gr.HTML
    metadata: gr.JSON
    error: gr.HTML  # the last failure, kept visible until the next result (not an API output)
    live: gr.Audio | None = None  # plays the audio while it is made (the button's event streams into it)
    # The form that made it, by the request's field names (the /dub and /clone parameter names): History's
    # "Use again" fills it from a saved request (webui/tabs/history/reuse.py).
    form: dict[str, gr.components.Component] = field(default_factory=dict)
    knobs: KnobPanel | None = None  # the tab's engine knobs, which "Use again" restores too

    @property
    def outputs(self) -> list:
        """The public API's outputs (``/dub``, ``/clone``): the saved file, the badges, the metadata."""
        return [self.audio, self.badges, self.metadata]

    @property
    def live_outputs(self) -> list:
        return [self.live, self.audio, self.badges, self.metadata]


def form_of(handler: Callable[..., object], inputs: list) -> dict[str, gr.components.Component]:
    """``inputs`` by the names of ``handler``'s parameters, the API's names for them (``ResultView.form``)."""
    names = list(inspect.signature(handler).parameters)[: len(inputs)]
    return dict(zip(names, inputs))


def text_input(manager: EngineManager, elem_prefix: str, value: str = "") -> gr.Textbox:
    """A textbox with a character count updated in the browser (no server round trip per key)."""
    limit = manager.settings.max_text_chars
    text = gr.Textbox(label="Text", lines=5, value=value, placeholder="Type the text to speak…",
                      elem_id=f"{elem_prefix}-text")
    count = gr.Markdown(f"{len(value)} / {limit:,} characters", elem_id=f"{elem_prefix}-count")
    text.change(None, inputs=text, outputs=count,
                js=f"(t) => `${{(t || '').length}} / {limit:,} characters` + "
                   f"((t || '').length > {limit} ? ' — over the limit' : '')")
    return text


def engine_and_language(manager: EngineManager, elem_prefix: str) -> tuple[gr.Dropdown, gr.Dropdown, gr.Dropdown]:
    """Language, engine and the profile whose choices follow the engine.

    ``allow_custom_value`` lets any value through to the manager, whose messages name
    the valid choices; Gradio's own check would give a generic one instead.
    """
    with gr.Row():
        language = gr.Dropdown(choices.language_choices(manager), value=choices.default_language(manager),
                               label="Language", info=choices.languages_hint(manager), allow_custom_value=True,
                               elem_id=f"{elem_prefix}-language")
        engine = gr.Dropdown(choices.engine_choices(manager), value=choices.DEFAULT_ENGINE, label="Engine",
                             allow_custom_value=True, elem_id=f"{elem_prefix}-engine")
        profile = gr.Dropdown(choices.profile_choices(choices.DEFAULT_ENGINE),
                              value=choices.default_profile(choices.DEFAULT_ENGINE), label="Quality profile",
                              allow_custom_value=True, elem_id=f"{elem_prefix}-profile")
    engine.change(follow_engine, inputs=[engine, profile], outputs=profile, api_visibility="private")
    return language, engine, profile


def refresh_languages(manager: EngineManager) -> gr.Dropdown:
    """The language dropdown's choices and hint as the engines are now (the value is kept)."""
    return gr.Dropdown(choices=choices.language_choices(manager), info=choices.languages_hint(manager))


def keep_languages_fresh(manager: EngineManager, language: gr.Dropdown, result: ResultView) -> None:
    """Loading an engine can change what it serves (XTTS reads its list from the model): re-read
    the language choices and hint when the page opens and after every result."""
    def refresh() -> gr.Dropdown:
        return refresh_languages(manager)

    quiet = dict(outputs=language, api_visibility="private", show_progress="hidden", concurrency_limit=None)
    gr.on(None, refresh, **quiet)  # no trigger and no inputs: on page load
    result.metadata.change(refresh, **quiet)


def follow_engine(engine: str, current: str | None = None) -> gr.Dropdown:
    """The profile dropdown offers the chosen engine's profiles: ``current`` stays when it is one of them
    (an engine and profile set together, as History's "Use again" sets them), else the default."""
    offered = choices.profile_choices(engine)
    keep = current in [value for _, value in offered]
    return gr.Dropdown(choices=offered, value=current if keep else choices.default_profile(engine))


def advanced_options(elem_prefix: str) -> tuple[gr.Textbox, gr.Textbox, gr.Checkbox, gr.Checkbox]:
    """Speed, seed, allow-fallback and text normalisation (numbers, money, dates read as words).

    Speed and seed are text boxes, not ``gr.Number``: Gradio's number input cannot stay empty
    (it turns an empty value into 0 as soon as the accordion draws it, and sends that 0), and
    here empty has a meaning: the profile's pace, a random seed. The handler reads the text
    as a number and its message names a value that is not one.
    """
    with gr.Accordion("Advanced", open=False):
        with gr.Row():
            speed = gr.Textbox(value="", label="Speed (0.5–2.0; empty: the profile's pace)",
                               placeholder="the profile's pace", max_lines=1, elem_id=f"{elem_prefix}-speed")
            seed = gr.Textbox(value="", label="Seed (empty: random, reported below)", placeholder="random",
                              max_lines=1, elem_id=f"{elem_prefix}-seed")
            allow_fallback = gr.Checkbox(value=True, label="Allow fallback to the other engine",
                                         elem_id=f"{elem_prefix}-fallback")
        text_normalization = gr.Checkbox(
            value=True, label="Read numbers, money, dates and abbreviations as words (F5-TTS)",
            info="R$ 1.234,56 → mil duzentos e trinta e quatro reais…; XTTS expands numbers itself",
            elem_id=f"{elem_prefix}-normalize")
    return speed, seed, allow_fallback, text_normalization


def result_view(elem_prefix: str) -> ResultView:
    """The output column; every component has a label, which names it in the API (``view_api``).

    One player shows at a time, in one place: the live one while the audio is made and played, then
    the whole clip (saved to History, downloadable) once the live one has finished playing
    (``ONE_PLAYER_JS``). Both stay in the page; the whole clip is what ``/dub`` and ``/clone`` return.
    """
    # Fed 1 s pieces of 16-bit wav as they are made; Gradio relays them as an HLS stream.
    live = gr.Audio(label="Output (playing as it is made)", streaming=True, autoplay=True, interactive=False,
                    elem_id=f"{elem_prefix}-live")
    audio = gr.Audio(label="Output (the whole clip, saved to History)", type="filepath", format="wav",
                     interactive=False, buttons=["download"], elem_id=f"{elem_prefix}-audio")
    read_as = gr.HTML(elem_id=f"{elem_prefix}-read-as", padding=False)
    badges = gr.HTML(label="Badges", elem_id=f"{elem_prefix}-badges")
    error = gr.HTML(label="Error", elem_id=f"{elem_prefix}-error")
    with gr.Accordion("Metadata (what really ran)", open=False):
        metadata = gr.JSON(label="Metadata", elem_id=f"{elem_prefix}-metadata")
    metadata.change(read_as_html, inputs=metadata, outputs=read_as, api_visibility="private",
                    concurrency_limit=None, show_progress="hidden")
    done = f"() => window.vsPlayers && window.vsPlayers('{elem_prefix}', 'done')"
    for finished in (metadata, error):  # a result, or a failure shown beside the output
        finished.change(None, js=done, api_visibility="private", show_progress="hidden", queue=False)
    return ResultView(audio, badges, metadata, error, live)


def read_as_html(metadata: dict | None) -> str:
    """"Read as: ..." when the text front end changed what was spoken (numbers, money, dates as words)."""
    spoken = (metadata or {}).get("normalized_text")
    if not spoken:
        return ""
    return (f"<div class='vs-read-as' style='font-size:0.92em;margin:2px 0'><b>Read as:</b> "
            f"{html.escape(str(spoken), quote=False)}</div>")


# Installed once per page (``build_app``'s load event): a style shows one player per result column,
# the live one while ``<html data-vs-PREFIX="live">``, else the whole clip. ``vsPlayers(prefix, "start")``
# sets it as a request starts; ``vsPlayers(prefix, "done")`` (the metadata or the error arrived) clears
# it once the live player has stopped playing (ended, paused, or stalled for 4 s), at once if it is not
# playing (a failure, a short clip).
# The attribute sits on <html>, which Gradio's components never re-render.
PLAYER_PREFIXES = ("dub", "clone")
ONE_PLAYER_JS = """() => {
  const style = document.createElement('style');
  style.textContent = %s.map(p => `html:not([data-vs-${p}="live"]) #${p}-live, `
                                 + `html[data-vs-${p}="live"] #${p}-audio {display: none !important}`).join('\\n');
  document.head.appendChild(style);
  window.vsPlayers = (prefix, phase) => {
    const root = document.documentElement, key = 'data-vs-' + prefix;
    if (phase === 'start') { root.setAttribute(key, 'live'); return; }
    const swap = () => root.removeAttribute(key);
    const live = document.getElementById(prefix + '-live');
    const audio = live && live.querySelector('audio');
    if (!audio || audio.paused || audio.ended) { swap(); return; }
    // Playing: swap when it ends or pauses, or when it has not moved for a few seconds (a stalled stream).
    let last = audio.currentTime, still = 0;
    const watch = setInterval(() => {
      still = audio.currentTime === last ? still + 1 : 0;
      last = audio.currentTime;
      if (audio.paused || audio.ended || still >= 4) { clearInterval(watch); swap(); }
    }, 1000);
  };
}""" % json.dumps(list(PLAYER_PREFIXES))


def starting_js(elem_prefix: str) -> str:
    """The synthesis button's ``js``: the live player takes the whole clip's place; the inputs pass through."""
    return f"(...args) => {{ window.vsPlayers && window.vsPlayers('{elem_prefix}', 'start'); return args; }}"
