"""The Engine status tab: the overall status, one card per engine, the optional parts, Refresh, and
(for admins) Load / Unload and F5-TTS's model picker.

Loading, unloading and switching models are admin actions (``admin.AdminPolicy``): without an
admin setting the controls and their API (``/load_engine``, ``/unload_engine``,
``/switch_model``) do not exist, and every admin handler checks the caller itself. Everyone
else sees why the controls are missing and which variable enables them. An Unload runs after
the work queued before it and a request queued later loads the engine again, so it fails no
request; a model switch does the same (``model_picker.py``).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from engines import EngineManager, VoiceStudioError
from engines.quality.speaker import SpeakerVerifier
from engines.weights.downloads import describe_snapshot

from ...serving.admin import AdminPolicy, admin_note
from ...serving.labels import engine_label
from .devices import render_devices
from .model_picker import PICKER_ENGINE, build_model_picker, model_text
from .optional_parts import optional_parts, overall_note, render_parts, with_parts
from .verify_panel import build_verify_panel

logger = logging.getLogger("voice_studio.webui")

STATUS_STYLE = {
    "available": ("#16a34a", "Available (loaded)"),
    "not_loaded": ("#6b7280", "Not loaded (loads on first use)"),
    "loading": ("#2563eb", "Loading…"),
    "unavailable": ("#dc2626", "Unavailable"),
}
OVERALL_STYLE = {"healthy": "#16a34a", "degraded": "#f59e0b", "unhealthy": "#dc2626"}
# Light rows that fill the card: a hairline between rows, no grid, muted labels.
_TABLE_STYLE = "width:100%;border-collapse:collapse;border:none;margin:0;font-size:0.9em;table-layout:auto"
_ROW_STYLE = "border:none;border-bottom:1px solid rgba(127,127,127,0.18);background:transparent"
_CELL_STYLE = "border:none;padding:5px 12px 5px 0;vertical-align:top;text-align:left;background:transparent"


def unload_confirm_js(name: str) -> str:
    """Browser-side confirmation: the handler's ``confirmed`` input is the user's answer."""
    question = (f"Unload {engine_label(name)}? Requests already queued finish first; "
                "the next request loads it again.")
    return f"() => [window.confirm({question!r})]"


def engine_status(manager: EngineManager) -> dict[str, Any]:
    """The health dict (the same JSON as ``GET /health/engines``); loads nothing."""
    return manager.health()


def load_engine(manager: EngineManager, name: str,
                health: Callable[[], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Load (or retry) an engine now and return ``health()``; a failure shows on its card, not as a crash."""
    try:
        manager.load(name)
    except VoiceStudioError as exc:
        raise gr.Error(str(exc), title=f"Could not load {engine_label(name)}", print_exception=False) from exc
    health = (health or manager.health)()
    error = health["engines"][name].get("error")
    if error:
        gr.Warning(f"{engine_label(name)} could not be loaded: {error}")
    else:
        gr.Info(f"{engine_label(name)} is loaded.")
    return health


def unload_engine(manager: EngineManager, name: str,
                  health: Callable[[], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Unload after the work already queued; the next request loads the engine again."""
    try:
        manager.unload(name)
    except VoiceStudioError as exc:
        raise gr.Error(str(exc), title=f"Could not unload {engine_label(name)}", print_exception=False) from exc
    gr.Info(f"{engine_label(name)} is unloaded; the next request loads it again.")
    return (health or manager.health)()


def _row(label: str, value: Any) -> str:
    shown = "—" if value is None or value == "" else value
    return (f"<tr style='{_ROW_STYLE}'><th style='{_CELL_STYLE};white-space:nowrap;font-weight:600;opacity:0.75;"
            f"width:1%'>{html.escape(label)}</th>"
            f"<td style='{_CELL_STYLE};word-break:break-word'>{html.escape(str(shown))}</td></tr>")


def render_card(name: str, health: dict[str, Any]) -> str:
    """One engine's card body: its name, a status pill and a full-width table of facts."""
    colour, wording = STATUS_STYLE.get(health["status"], ("#6b7280", health["status"]))
    languages = health.get("languages") or []
    details = health.get("details") or {}
    rows = [
        _row("Device", health.get("device")),
        _row("Sample rate", f"{health.get('sample_rate')} Hz"),
        _row("Languages", ", ".join(languages)),
        _row("Model source", health.get("model")),
        _row("Weights on this machine", "yes" if health.get("weights_present") else "no"),
        _row("Load time", f"{health['load_s']:.1f} s" if health.get("load_s") is not None else None),
        _row("GPU memory", f"{health['gpu_memory_mb']:.0f} MB" if health.get("gpu_memory_mb") is not None else None),
        _row("Licence", health.get("license")),
        _row("Last error", health.get("error")),
    ]
    model = model_text(health) if name == PICKER_ENGINE else None
    if model:
        rows.insert(3, _row("Model", model))
    download = details.get("download")
    if download:
        rows.insert(4, _row("Download", describe_snapshot(download)))
    if details.get("load_step"):
        rows.insert(1, _row("Loading", details["load_step"]))
    hint = ""
    if health["status"] == "unavailable" and health.get("error"):
        hint = ("<p style='margin:8px 0 0;color:#b91c1c'><b>What to do:</b> "
                f"{html.escape(health['error'])}</p>")
    return (f"<div class='vs-engine-card' data-engine='{html.escape(name)}' style='width:100%'>"
            f"<h3 style='margin:0 0 8px'>{html.escape(engine_label(name))} "
            f"<span data-status='{html.escape(health['status'])}' style='background:{colour};color:#fff;"
            f"border-radius:999px;padding:2px 10px;font-size:0.75em;vertical-align:middle'>"
            f"{html.escape(wording)}</span></h3>"
            f"<table class='vs-engine-facts' style='{_TABLE_STYLE}'>{''.join(rows)}</table>{hint}</div>")


def render_overall(health: dict[str, Any] | None) -> str:
    """"Overall: healthy" is the engines' word; the optional parts that are missing follow it, each with
    the variable to set, so the line never reads as complete while one is missing."""
    if not health:
        return ""
    overall = health.get("status", "?")
    note = overall_note(health)
    note_html = (f" <span class='vs-overall-note' style='color:#b45309;font-weight:600;overflow-wrap:anywhere'>"
                 f"{html.escape(note)}</span>") if note else ""
    return (f"<p style='margin:0'><b>Overall:</b> <span data-overall='{html.escape(overall)}' style='color:"
            f"{OVERALL_STYLE.get(overall, '#6b7280')};font-weight:700'>{html.escape(overall)}</span>{note_html}"
            f" <small>({html.escape(str(health.get('timestamp', '')))})</small></p>")


@dataclass
class StatusTab:
    """What ``build_app`` wires: the health JSON, its refresh, and the admin rows and note to show per user."""

    health_json: gr.JSON
    refresh: Callable[[], dict[str, Any]]
    admin: AdminPolicy
    admin_rows: list[gr.Row] = field(default_factory=list)
    note: gr.Markdown | None = None

    @property
    def per_user(self) -> list[Any]:
        """The outputs of ``admin_visibility``: the admin rows, then the note for everyone else."""
        return [*self.admin_rows, *([self.note] if self.note is not None else [])]

    def admin_visibility(self, request: gr.Request) -> list[Any]:
        """On page load: show Load / Unload / the picker to an admin (by ``VOICE_STUDIO_ADMINS`` login),
        and to anyone else why they are missing."""
        username = getattr(request, "username", None)
        shown = self.admin.allows(username)
        note = [gr.Markdown(admin_note(self.admin, username), visible=not shown)] if self.note is not None else []
        return [gr.Row(visible=shown) for _ in self.admin_rows] + note


def build_status_tab(manager: EngineManager, admin: AdminPolicy | None = None) -> StatusTab:
    """The tab; Load / Unload and the model picker only where ``admin`` lets anyone be an admin."""
    admin = admin or AdminPolicy()
    speaker = SpeakerVerifier.from_env(manager.settings.device, manager.on_device, manager.asr.load_lock)
    refresh = with_parts(lambda: engine_status(manager), optional_parts(manager, speaker))

    names = list(manager.engines)
    admin_rows: list[gr.Row] = []
    with gr.Tab("Engine status", id="status") as tab:
        with gr.Row():
            overall = gr.HTML(label="Overall status", elem_id="status-overall", scale=5)
            refresh_button = gr.Button("Refresh", size="sm", scale=0, min_width=110, elem_id="status-refresh")
        note = gr.Markdown(admin_note(admin, None), visible=not admin.everyone, elem_id="status-admin-note")
        cards: dict[str, gr.HTML] = {}
        admin_buttons: dict[str, tuple[gr.Button, gr.Button]] = {}
        with gr.Row(equal_height=True, elem_id="status-cards"):
            for name in names:
                with gr.Column(variant="panel", min_width=340, elem_id=f"status-card-{name}"):
                    cards[name] = gr.HTML(label=f"{engine_label(name)} status", elem_id=f"status-card-html-{name}")
                    if admin.enabled:
                        with gr.Row(visible=admin.everyone, elem_id=f"status-admin-{name}") as row:
                            admin_buttons[name] = (
                                gr.Button(f"Load {engine_label(name)}", size="sm", elem_id=f"status-load-{name}"),
                                gr.Button(f"Unload {engine_label(name)}", size="sm",
                                          elem_id=f"status-unload-{name}"))
                        admin_rows.append(row)
        picker = None
        # Under the cards (a card beside it would stretch); not over several devices or replicas,
        # whose model is chosen at start (F5TTS_MODEL).
        if admin.enabled and PICKER_ENGINE in cards and manager.switches_models:
            picker = build_model_picker(manager, admin, cards[PICKER_ENGINE])
            admin_rows.append(picker.row)
        parts = gr.HTML(label="Optional parts", elem_id="status-parts")
        # --- where the engines run: each device, Ray Serve's replicas (devices.py) ---
        devices_view = gr.HTML(elem_id="status-devices")
        with gr.Accordion("Health JSON (also GET /health/engines)", open=False):
            health_json = gr.JSON(label="Health", elem_id="status-json")
        if picker is not None:
            picker.wire(health_json, refresh)

        def render(health: dict[str, Any] | None) -> list[str]:
            engines = (health or {}).get("engines", {})
            return [render_overall(health), render_parts(health)] + [
                render_card(n, engines[n]) if n in engines else "" for n in names]

        health_json.change(render, inputs=health_json, outputs=[overall, parts, *cards.values()],
                           api_visibility="private", show_progress="hidden")
        health_json.change(render_devices, inputs=health_json, outputs=devices_view, api_visibility="private",
                           show_progress="hidden")
        # --- speech quality: speech recognition's card, Verify per engine, /verify_engine (verify_panel.py) ---
        admin_rows += build_verify_panel(manager, health_json, admin, speaker, refresh)
        refresh_button.click(refresh, outputs=health_json, api_name="engine_status", concurrency_limit=None)
        tab.select(refresh, outputs=health_json, api_visibility="private", concurrency_limit=None)
        if admin.enabled:
            _wire_admin(manager, admin, admin_buttons, health_json, refresh)
    return StatusTab(health_json, refresh, admin, admin_rows, note)


def _wire_admin(manager: EngineManager, admin: AdminPolicy, buttons: dict[str, tuple[gr.Button, gr.Button]],
                health_json: gr.JSON, refresh: Callable[[], dict[str, Any]]) -> None:
    """The buttons on each card and the ``/load_engine`` / ``/unload_engine`` API; all check the caller."""
    admin_events = dict(outputs=health_json, concurrency_id="engine_admin", concurrency_limit=1)

    # The parameter names are the public API's; keep them.
    def load(engine: str, request: gr.Request) -> dict[str, Any]:
        admin.require(request, "load")
        return load_engine(manager, _engine_name(manager, engine), refresh)

    def unload(engine: str, request: gr.Request) -> dict[str, Any]:
        admin.require(request, "unload")
        return unload_engine(manager, _engine_name(manager, engine), refresh)

    engine_box = gr.Dropdown(list(manager.engines), label="Engine", visible=False, allow_custom_value=True,
                             elem_id="status-admin-engine")
    gr.on([], load, inputs=engine_box, api_name="load_engine", **admin_events)
    gr.on([], unload, inputs=engine_box, api_name="unload_engine", **admin_events)

    confirmed = gr.Checkbox(value=False, label="Unload confirmed", visible=False, elem_id="status-unload-confirmed")
    for name, (load_button, unload_button) in buttons.items():
        load_button.click(_bind_load(load, name), api_visibility="private", **admin_events)
        unload_button.click(_bind_unload(unload, name), inputs=confirmed, js=unload_confirm_js(name),
                            api_visibility="private", **admin_events)


def _engine_name(manager: EngineManager, engine: Any) -> str:
    name = str(engine or "").strip()
    try:
        manager.engine(name)
    except VoiceStudioError as exc:
        raise gr.Error(str(exc), title="Bad input", print_exception=False) from exc
    return name


def _bind_load(load: Callable[..., dict[str, Any]], name: str) -> Callable[..., Any]:
    def handler(request: gr.Request) -> dict[str, Any]:
        return load(name, request)

    handler.__name__ = f"load_{name}"
    return handler


def _bind_unload(unload: Callable[..., Any], name: str) -> Callable[..., Any]:
    def handler(confirmed: bool, request: gr.Request) -> Any:
        if not confirmed:  # the user answered "Cancel" in the browser's confirmation
            return gr.skip()
        return unload(name, request)

    handler.__name__ = f"unload_{name}"
    return handler
