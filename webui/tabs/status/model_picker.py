"""The F5-TTS model picker on the Engine status tab, for admins, and its ``/switch_model`` API.

An admin picks a known checkpoint (each bound to its architecture, as ``F5TTS_MODEL`` binds
it) or a custom one (a path on the server or ``hf://owner/repo/file``, with an architecture,
vocab and languages, or those the app was started with). The switch reads the new weights
while the old model serves, lets the requests in flight finish, and loads the new model on
the device worker, with its steps in the progress bar (``engines/switching.py``). Like Load
and Unload, the picker and its API exist only with an admin setting, and the handler checks
the caller itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from engines import EngineManager, InputError, VoiceStudioError
from engines.f5.models import ARCH_WORDS, CUSTOM, F5ModelChoice, describe_known, model_choices
from engines.settings import KNOWN_F5_CHECKPOINTS, NAMED_ARCHS

from ...serving.admin import AdminPolicy
from ...serving.labels import engine_label

PICKER_ENGINE = "f5tts"


def architecture_choices(configured_arch: str) -> list[tuple[str, str]]:
    """The architectures a custom checkpoint may be run with; empty: as the app was started."""
    return [(f"as started ({Path(configured_arch).name})", "")] + [
        (f"{name} ({ARCH_WORDS[name]})", name) for name in NAMED_ARCHS]


def model_text(health: dict[str, Any]) -> str | None:
    """The card's "Model" row: the known checkpoint with its architecture and languages, or the custom file."""
    served = (health.get("details") or {}).get("served_model") or {}
    key = served.get("model")
    if key in KNOWN_F5_CHECKPOINTS:
        return describe_known(KNOWN_F5_CHECKPOINTS[key])
    if key == CUSTOM:
        return f"custom checkpoint {served.get('checkpoint')}"
    return None


def switch_model(manager: EngineManager, choice: F5ModelChoice, progress: Callable | None = None,
                 health: Callable[[], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Switch F5-TTS's model and return ``health()`` (default: the manager's); errors become
    ``gr.Error`` with the engines' own message."""
    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, desc=message)

    label = engine_label(PICKER_ENGINE)
    try:
        manager.switch_model(PICKER_ENGINE, choice, report)
    except InputError as exc:
        raise gr.Error(str(exc), title="Bad input", print_exception=False) from exc
    except VoiceStudioError as exc:
        raise gr.Error(str(exc), title=f"{label} kept its model", print_exception=False) from exc
    after = (health or manager.health)()
    gr.Info(f"{label} now runs {model_text(after['engines'][PICKER_ENGINE]) or choice.model}.")
    return after


@dataclass
class ModelPicker:
    """The picker's components (in ``row``, which only admins see); ``wire`` adds its events and API."""

    manager: EngineManager
    admin: AdminPolicy
    row: gr.Row
    inputs: list[gr.components.Component]
    button: gr.Button
    card: gr.HTML

    def wire(self, health_json: gr.JSON, refresh: Callable[[], dict[str, Any]]) -> None:
        """The button and ``/switch_model`` (progress on the engine's card), both answering ``refresh()``."""
        manager, admin = self.manager, self.admin

        # The parameter names are the public API's (/switch_model); keep them.
        def switch(engine: str, model: str, checkpoint: str = "", architecture: str = "", vocab: str = "",
                   languages: str = "", progress=gr.Progress(), request: gr.Request = None) -> dict[str, Any]:
            admin.require(request, "switch model")
            if (engine or "").strip() != PICKER_ENGINE:
                raise gr.Error(f"only {engine_label(PICKER_ENGINE)} has a model picker (engine {PICKER_ENGINE!r}); "
                               f"got {str(engine)[:40]!r}", title="Bad input", print_exception=False)
            choice = F5ModelChoice(model, checkpoint, architecture, vocab, languages)
            return switch_model(manager, choice, progress, refresh)

        events = dict(outputs=health_json, concurrency_id="engine_admin", concurrency_limit=1)
        self.button.click(switch, inputs=self.inputs, api_visibility="private", show_progress_on=self.card, **events)
        gr.on([], switch, inputs=self.inputs, api_name="switch_model", **events)


def build_model_picker(manager: EngineManager, admin: AdminPolicy, card: gr.HTML) -> ModelPicker:
    """The picker, in a row only admins see (the switch shows its progress on ``card``); wire it once the
    health exists."""
    engine = manager.engine(PICKER_ENGINE)
    current = engine.served_model()["model"]
    with gr.Row(visible=admin.everyone, elem_id="status-model-picker") as row:
        with gr.Accordion(f"Switch {engine_label(PICKER_ENGINE)}'s model", open=False,
                          elem_id="status-model-accordion"):
            model = gr.Dropdown(model_choices(), value=current, label="Model", elem_id="status-model")
            with gr.Group(visible=current == CUSTOM, elem_id="status-model-custom") as custom:
                checkpoint = gr.Textbox(label="Custom checkpoint: a .safetensors or .pt file on the server, or "
                                              "hf://owner/repo/path/file", max_lines=1,
                                        elem_id="status-model-checkpoint")
                architecture = gr.Dropdown(architecture_choices(engine.configured.arch_spec), value="",
                                           label="Architecture (the weights cannot tell v0 from v1)",
                                           elem_id="status-model-arch")
                with gr.Row():
                    vocab = gr.Textbox(label="Vocab (empty: as started)", max_lines=1, elem_id="status-model-vocab")
                    languages = gr.Textbox(label="Languages (comma list; empty: as started)", max_lines=1,
                                           elem_id="status-model-languages")
            button = gr.Button("Switch model", variant="primary", size="sm", elem_id="status-model-switch")
            engine_box = gr.Textbox(PICKER_ENGINE, visible=False, elem_id="status-model-engine")
    model.change(lambda picked: gr.Group(visible=picked == CUSTOM), inputs=model, outputs=custom,
                 api_visibility="private", show_progress="hidden")
    return ModelPicker(manager, admin, row, [engine_box, model, checkpoint, architecture, vocab, languages], button,
                       card)
