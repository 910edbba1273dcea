"""The Dubbing tab: text in a preset voice, with what-really-ran badges beside the audio."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from engines import EngineManager, SynthesisRequest
from engines.presets import DEFAULT_PRESET

from . import choices, controls
from .synthesis import Outputs, Recorder, make_synthesizer, optional_float, optional_seed, run_request

EXAMPLE_TEXT = "Olá! Este é um teste de dublagem do Voice Studio."


def dub_request(text: str, language: str, voice_preset: str, engine: str, quality_profile: str | None,
                speed: Any = None, seed: Any = None, allow_fallback: bool = True,
                text_normalization: bool = True) -> SynthesisRequest:
    """The manager's request for these form values (empty profile: the engine's default)."""
    return SynthesisRequest(
        text=text or "", language=language or "", engine=engine or choices.DEFAULT_ENGINE,
        voice_preset=voice_preset or None, quality_profile=quality_profile or None,
        speed=optional_float(speed), seed=optional_seed(seed),
        allow_fallback=True if allow_fallback is None else bool(allow_fallback),
        text_normalization=True if text_normalization is None else bool(text_normalization),
    )


def make_dub_handler(manager: EngineManager, recorder: Recorder | None = None) -> Callable[..., Outputs]:
    synthesize = make_synthesizer(manager)

    # The parameter names are the public API's (`/dub`); keep them.
    def dub(text: str, language: str, voice_preset: str, engine: str, quality_profile: str,
            speed: float | None = None, seed: float | None = None, allow_fallback: bool = True,
            text_normalization: bool = True, progress=gr.Progress()) -> Outputs:
        request = dub_request(text, language, voice_preset, engine, quality_profile, speed, seed, allow_fallback,
                              text_normalization)
        return run_request(synthesize, request, progress, recorder)

    return dub


def build_dubbing_tab(manager: EngineManager, recorder: Recorder | None = None) -> controls.ResultView:
    with gr.Tab("Dubbing", id="dubbing"):
        with gr.Row():
            with gr.Column(scale=3):
                text = controls.text_input(manager, "dub", value=EXAMPLE_TEXT)
                language, engine, profile = controls.engine_and_language(manager, "dub")
                preset = gr.Dropdown(choices.preset_choices(), value=DEFAULT_PRESET,
                                     label="Voice preset", allow_custom_value=True, elem_id="dub-preset")
                speed, seed, allow_fallback, text_normalization = controls.advanced_options("dub")
                button = gr.Button("Dub", variant="primary", elem_id="dub-button")
            with gr.Column(scale=2):
                view = controls.result_view("dub")
        button.click(make_dub_handler(manager, recorder),
                     inputs=[text, language, preset, engine, profile, speed, seed, allow_fallback, text_normalization],
                     outputs=view.outputs, api_name="dub", concurrency_id="synthesis",
                     concurrency_limit=len(manager.engines))
    return view
