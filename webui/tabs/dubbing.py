"""The Dubbing tab: text in a preset or saved voice, with what-really-ran badges beside the audio."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from engines import SynthesisRequest
from engines.voices.presets import DEFAULT_PRESET

from ..serving.speech_service import SpeechService
from . import choices, controls
from .error_panel import ErrorPanel
from .knobs import accepts_knobs, given, knob_panel
from .speech import Outputs, optional_float, optional_seed, speak_outputs, stream_outputs

EXAMPLE_TEXT = "Olá! Este é um teste de dublagem do Voice Studio."


def dub_request(text: str, language: str, voice_preset: str, engine: str, quality_profile: str | None,
                speed: Any = None, seed: Any = None, allow_fallback: bool = True,
                text_normalization: bool = True, knobs: dict[str, Any] | None = None) -> SynthesisRequest:
    """The manager's request for these form values (empty profile: the engine's default)."""
    return SynthesisRequest(
        text=text or "", language=language or "", engine=engine or choices.DEFAULT_ENGINE,
        voice_preset=voice_preset or None, quality_profile=quality_profile or None,
        speed=optional_float(speed), seed=optional_seed(seed),
        allow_fallback=True if allow_fallback is None else bool(allow_fallback),
        text_normalization=True if text_normalization is None else bool(text_normalization), knobs=knobs or None,
    )


def make_dub_handler(service: SpeechService, errors: ErrorPanel | None = None) -> Callable[..., Outputs]:
    errors = errors or ErrorPanel()

    # The parameter names are the public API's (`/dub`); keep them. The knobs follow (webui/tabs/knobs.py).
    @accepts_knobs
    def dub(text: str, language: str, voice_preset: str, engine: str, quality_profile: str,
            speed: float | None = None, seed: float | None = None, allow_fallback: bool = True,
            text_normalization: bool = True, progress=gr.Progress(), session: gr.Request = None,
            **knob_values) -> Outputs:
        with errors.watch(session):
            request = dub_request(text, language, voice_preset, engine, quality_profile, speed, seed, allow_fallback,
                                  text_normalization, given(knob_values))
            return speak_outputs(service, request, progress)

    return dub


def make_live_dub_handler(service: SpeechService, errors: ErrorPanel | None = None) -> Callable[..., Iterator]:
    """The Dub button: the same request, its audio played while it is made (``speech.stream_outputs``)."""
    errors = errors or ErrorPanel()

    @accepts_knobs
    def dub_live(text: str, language: str, voice_preset: str, engine: str, quality_profile: str,
                 speed: float | None = None, seed: float | None = None, allow_fallback: bool = True,
                 text_normalization: bool = True, progress=gr.Progress(), session: gr.Request = None,
                 **knob_values) -> Iterator:
        with errors.watch(session):
            request = dub_request(text, language, voice_preset, engine, quality_profile, speed, seed, allow_fallback,
                                  text_normalization, given(knob_values, engine or choices.DEFAULT_ENGINE))
            yield from stream_outputs(service, request, progress)

    return dub_live


def build_dubbing_tab(service: SpeechService, voices: gr.JSON | None = None) -> controls.ResultView:
    """``voices``: the voice list (Voices tab) the voice dropdown follows."""
    manager = service.manager
    with gr.Tab("Dubbing", id="dubbing"):
        with gr.Row():
            with gr.Column(scale=3):
                text = controls.text_input(manager, "dub", value=EXAMPLE_TEXT)
                language, engine, profile = controls.engine_and_language(manager, "dub")
                preset = gr.Dropdown(choices.voice_choices(manager.voices.list()), value=DEFAULT_PRESET,
                                     label="Voice (preset or saved)", allow_custom_value=True, elem_id="dub-preset")
                speed, seed, allow_fallback, text_normalization = controls.advanced_options("dub")
                knobs = knob_panel("dub", speed, engine, profile, preset, manager.voices.library)
                button = gr.Button("Dub", variant="primary", elem_id="dub-button")
            with gr.Column(scale=2):
                view = controls.result_view("dub")
        inputs = [text, language, preset, engine, profile, speed, seed, allow_fallback, text_normalization]
        errors = ErrorPanel()
        event = button.click(make_live_dub_handler(service, errors), inputs=inputs, inputs_kwargs=knobs.page_kwargs,
                             outputs=view.live_outputs, js=controls.starting_js("dub"), api_visibility="private",
                             concurrency_id="synthesis",
                             concurrency_limit=manager.concurrency, show_progress_on=view.live)
        errors.attach(event, view.error, view.outputs)
        # The public `/dub` keeps its outputs (file, badges, metadata): an API-only event, not streamed.
        api = make_dub_handler(service)
        view.form = controls.form_of(api, inputs)  # History's "Use again" fills it by these names
        view.knobs = knobs
        gr.on([], api, inputs=inputs, inputs_kwargs=knobs.api_kwargs, outputs=view.outputs,
              api_name="dub", concurrency_id="synthesis", concurrency_limit=manager.concurrency,
              show_progress_on=view.audio)
        controls.keep_languages_fresh(manager, language, view)
    if voices is not None:
        voices.change(choices.follow_voices, inputs=[voices, preset], outputs=preset, api_visibility="private",
                      concurrency_limit=None)
    return view
