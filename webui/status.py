"""The Engine status tab: one card per engine, the overall status, Refresh, Load / Unload."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr

from engines import EngineManager, VoiceStudioError

from .badges import engine_label
from .verify_panel import build_verify_panel

logger = logging.getLogger("voice_studio.webui")

STATUS_STYLE = {
    "available": ("#16a34a", "Available (loaded)"),
    "not_loaded": ("#6b7280", "Not loaded (loads on first use)"),
    "unavailable": ("#dc2626", "Unavailable"),
}
OVERALL_STYLE = {"healthy": "#16a34a", "degraded": "#f59e0b", "unhealthy": "#dc2626"}


def engine_status(manager: EngineManager) -> dict[str, Any]:
    """The health dict (the same JSON as ``GET /health/engines``); loads nothing."""
    return manager.health()


def load_engine(manager: EngineManager, name: str) -> dict[str, Any]:
    """Load (or retry) an engine now; a failure shows on its card, not as a crash."""
    try:
        manager.load(name)
    except VoiceStudioError as exc:
        raise gr.Error(str(exc), title=f"Could not load {engine_label(name)}") from exc
    health = manager.health()
    error = health["engines"][name].get("error")
    if error:
        gr.Warning(f"{engine_label(name)} could not be loaded: {error}")
    return health


def unload_engine(manager: EngineManager, name: str) -> dict[str, Any]:
    manager.unload(name)
    return manager.health()


def _row(label: str, value: Any) -> str:
    shown = "—" if value is None or value == "" else value
    cell = "border:none;padding:2px 12px 2px 0;vertical-align:top;text-align:left"
    return (f"<tr><th style='{cell};white-space:nowrap'>{html.escape(label)}</th>"
            f"<td style='{cell};word-break:break-all'>{html.escape(str(shown))}</td></tr>")


def render_card(name: str, health: dict[str, Any]) -> str:
    colour, wording = STATUS_STYLE.get(health["status"], ("#6b7280", health["status"]))
    languages = health.get("languages") or []
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
    hint = ""
    if health["status"] == "unavailable" and health.get("error"):
        hint = ("<p style='margin:8px 0 0;color:#b91c1c'><b>What to do:</b> "
                f"{html.escape(health['error'])}</p>")
    return (f"<div class='vs-engine-card' data-engine='{html.escape(name)}' style='border:1px solid #d1d5db;"
            f"border-radius:10px;padding:12px'>"
            f"<h3 style='margin:0 0 6px'>{html.escape(engine_label(name))} "
            f"<span data-status='{html.escape(health['status'])}' style='background:{colour};color:#fff;"
            f"border-radius:999px;padding:2px 10px;font-size:0.75em'>{html.escape(wording)}</span></h3>"
            f"<table style='border:none;margin:0;font-size:0.9em'>{''.join(rows)}</table>{hint}</div>")


def render_status(health: dict[str, Any] | None) -> str:
    if not health:
        return ""
    overall = health.get("status", "?")
    head = (f"<p><b>Overall:</b> <span data-overall='{html.escape(overall)}' style='color:"
            f"{OVERALL_STYLE.get(overall, '#6b7280')};font-weight:700'>{html.escape(overall)}</span>"
            f" <small>({html.escape(str(health.get('timestamp', '')))})</small></p>")
    cards = "".join(render_card(name, h) for name, h in health.get("engines", {}).items())
    return (head + "<div style='display:grid;grid-template-columns:repeat(auto-fit,minmax(360px,1fr));gap:12px'>"
            + cards + "</div>")


def build_status_tab(manager: EngineManager) -> tuple[gr.JSON, Callable[[], dict[str, Any]]]:
    """Returns the health JSON component and its refresh function (the app refreshes it on page load)."""

    def refresh() -> dict[str, Any]:
        return engine_status(manager)

    with gr.Tab("Engine status", id="status") as tab:
        cards = gr.HTML(elem_id="status-cards")
        with gr.Row():
            refresh_button = gr.Button("Refresh", elem_id="status-refresh")
            buttons = {}
            for name in manager.engines:
                buttons[name] = (gr.Button(f"Load {engine_label(name)}", elem_id=f"status-load-{name}"),
                                 gr.Button(f"Unload {engine_label(name)}", elem_id=f"status-unload-{name}"))
        with gr.Accordion("Health JSON (also GET /health/engines)", open=False):
            health_json = gr.JSON(label="Health", elem_id="status-json")
        # --- speech quality: speech recognition's card, Verify per engine, /verify_engine (verify_panel.py) ---
        build_verify_panel(manager, health_json)
        health_json.change(render_status, inputs=health_json, outputs=cards, api_visibility="private")
        refresh_button.click(refresh, outputs=health_json, api_name="engine_status", concurrency_limit=None)
        tab.select(refresh, outputs=health_json, api_visibility="private", concurrency_limit=None)
        for name, (load_button, unload_button) in buttons.items():
            load_button.click(_bind(load_engine, manager, name), outputs=health_json, api_visibility="private",
                              concurrency_id="engine_admin", concurrency_limit=1)
            unload_button.click(_bind(unload_engine, manager, name), outputs=health_json, api_visibility="private",
                                concurrency_id="engine_admin", concurrency_limit=1)
    return health_json, refresh


def _bind(fn: Callable[[EngineManager, str], dict[str, Any]], manager: EngineManager,
          name: str) -> Callable[[], dict[str, Any]]:
    def handler() -> dict[str, Any]:
        return fn(manager, name)

    handler.__name__ = f"{fn.__name__}_{name}"
    return handler
