"""The Cloning tab: speak text in the voice of an uploaded or recorded reference clip."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import gradio as gr

from engines import InputError, SynthesisRequest
from engines.audio.waveforms import load_reference_audio

from ..serving.speech_service import SpeechService
from . import choices, controls
from .badges import render_error_block
from .error_panel import ErrorPanel
from .knobs import accepts_knobs, given, knob_panel
from .speech import Outputs, optional_float, optional_seed, speak_outputs, stream_outputs

TRANSCRIPT_INFO = ("F5-TTS needs the exact words spoken in the reference. Leave it empty and speech "
                   "recognition writes them here (edit them if it misheard); without it, XTTS is used.")


def check_reference_upload(path: str | None) -> Any:
    """An upload is decoded at once (bounded, as a Clone would), so a file that is not a usable clip is
    refused now, in our words: a toast, and the error beside the output until the next result."""
    if not path:
        return gr.skip()
    try:
        load_reference_audio(path)
    except InputError as exc:
        gr.Warning(str(exc), title="Not a usable reference clip")
        return render_error_block(str(exc), "input")
    return ""


def packaged_examples_dir() -> Path:
    """Reference clips shipped in the f5-tts package, with known transcripts."""
    return Path(str(files("f5_tts").joinpath("infer/examples")))


def clone_examples() -> list[list[Any]]:
    """Examples that work out of the box: [reference, transcript, text, language, engine]."""
    basic = packaged_examples_dir() / "basic" / "basic_ref_en.wav"
    if not basic.is_file():
        return []
    transcript = "Some call me nature, others call me mother nature."
    return [
        [str(basic), transcript, "Olá! Esta voz foi clonada a partir de um exemplo em inglês.", "pt-BR", "f5tts"],
        [str(basic), "", "Hello there! Without a transcript, XTTS clones this voice.", "en", "xtts"],
        [str(basic), transcript, "¡Hola! Esta voz fue clonada con XTTS.", "es", "xtts"],
    ]


def clone_request(reference_audio: str | None, reference_text: str | None, text: str, language: str,
                  engine: str, quality_profile: str | None, speed: Any = None, seed: Any = None,
                  allow_fallback: bool = True, text_normalization: bool = True,
                  knobs: dict[str, Any] | None = None) -> SynthesisRequest:
    # An empty path (not None) keeps the request a cloning one, so the manager says
    # "no reference audio" instead of dubbing with a preset.
    return SynthesisRequest(
        text=text or "", language=language or "", engine=engine or choices.DEFAULT_ENGINE,
        reference_audio=reference_audio or "", reference_text=(reference_text or "").strip() or None,
        quality_profile=quality_profile or None, speed=optional_float(speed), seed=optional_seed(seed),
        allow_fallback=True if allow_fallback is None else bool(allow_fallback),
        text_normalization=True if text_normalization is None else bool(text_normalization), knobs=knobs or None,
    )


def transcript_from_result(metadata: dict[str, Any] | None, current: str | None) -> str:
    """The transcript box after a result: what speech recognition heard, else what was typed."""
    if metadata and metadata.get("reference_text_source") == "asr" and metadata.get("reference_text"):
        return str(metadata["reference_text"])
    return current or ""


def make_clone_handler(service: SpeechService, errors: ErrorPanel | None = None) -> Callable[..., Outputs]:
    errors = errors or ErrorPanel()

    # The parameter names are the public API's (`/clone`); keep them. The knobs follow (webui/tabs/knobs.py).
    @accepts_knobs
    def clone(reference_audio: str | None, reference_text: str, text: str, language: str, engine: str,
              quality_profile: str, speed: float | None = None, seed: float | None = None,
              allow_fallback: bool = True, text_normalization: bool = True, progress=gr.Progress(),
              session: gr.Request = None, **knob_values) -> Outputs:
        with errors.watch(session):
            request = clone_request(reference_audio, reference_text, text, language, engine, quality_profile,
                                    speed, seed, allow_fallback, text_normalization, given(knob_values))
            return speak_outputs(service, request, progress)

    return clone


def make_live_clone_handler(service: SpeechService, errors: ErrorPanel | None = None) -> Callable[..., Iterator]:
    """The Clone button: the same request, its audio played while it is made (``speech.stream_outputs``)."""
    errors = errors or ErrorPanel()

    @accepts_knobs
    def clone_live(reference_audio: str | None, reference_text: str, text: str, language: str, engine: str,
                   quality_profile: str, speed: float | None = None, seed: float | None = None,
                   allow_fallback: bool = True, text_normalization: bool = True, progress=gr.Progress(),
                   session: gr.Request = None, **knob_values) -> Iterator:
        with errors.watch(session):
            request = clone_request(reference_audio, reference_text, text, language, engine, quality_profile,
                                    speed, seed, allow_fallback, text_normalization,
                                    given(knob_values, engine or choices.DEFAULT_ENGINE))
            yield from stream_outputs(service, request, progress)

    return clone_live


def build_cloning_tab(service: SpeechService, save_voice: Callable[..., None] | None = None) -> controls.ResultView:
    """``save_voice(reference, transcript, language, metadata)`` adds "Save this voice" under the result."""
    manager = service.manager
    with gr.Tab("Cloning", id="cloning"):
        with gr.Row():
            with gr.Column(scale=3):
                reference = gr.Audio(label="Reference voice (3-12 s of clear speech)", sources=["upload", "microphone"],
                                     type="filepath", elem_id="clone-reference")
                transcript = gr.Textbox(label="Reference transcript (needed for F5-TTS)", info=TRANSCRIPT_INFO,
                                        lines=2, value="", elem_id="clone-transcript")
                text = controls.text_input(manager, "clone")
                language, engine, profile = controls.engine_and_language(manager, "clone")
                speed, seed, allow_fallback, text_normalization = controls.advanced_options("clone")
                knobs = knob_panel("clone", speed, engine, profile)
                button = gr.Button("Clone", variant="primary", elem_id="clone-button")
            with gr.Column(scale=2):
                view = controls.result_view("clone")
                if save_voice is not None:
                    save_voice(reference, transcript, language, view.metadata)
        examples = clone_examples()
        if examples:
            gr.Examples(examples, inputs=[reference, transcript, text, language, engine],
                        label="Examples (reference clips shipped with f5-tts)", cache_examples=False)
        inputs = [reference, transcript, text, language, engine, profile, speed, seed, allow_fallback,
                  text_normalization]
        errors = ErrorPanel()
        event = button.click(make_live_clone_handler(service, errors), inputs=inputs,
                             inputs_kwargs=knobs.page_kwargs, outputs=view.live_outputs, js=controls.starting_js("clone"),
                             api_visibility="private", concurrency_id="synthesis",
                             concurrency_limit=manager.concurrency, show_progress_on=view.live)
        errors.attach(event, view.error, view.outputs)
        reference.upload(check_reference_upload, inputs=reference, outputs=view.error, show_progress="hidden",
                         api_visibility="private", concurrency_limit=None)
        event.success(transcript_from_result, inputs=[view.metadata, transcript], outputs=transcript,
                      api_visibility="private", concurrency_limit=None)
        # The public `/clone` keeps its outputs (file, badges, metadata): an API-only event, not streamed.
        api = make_clone_handler(service)
        view.form = controls.form_of(api, inputs)  # History's "Use again" fills it by these names
        view.knobs = knobs
        gr.on([], api, inputs=inputs, inputs_kwargs=knobs.api_kwargs, outputs=view.outputs,
              api_name="clone", concurrency_id="synthesis", concurrency_limit=manager.concurrency,
              show_progress_on=view.audio)
        controls.keep_languages_fresh(manager, language, view)
    return view
