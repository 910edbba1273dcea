"""Voice Studio's web UI: ``build_app(manager, config)`` returns the Gradio Blocks.

One module per tab (``dubbing``, ``cloning``, ``voices_tab``, ``status``, ``history_tab``); ``badges``
words what really ran; ``synthesis`` holds what the synthesis handlers share;
``error_panel`` keeps a failure visible under the output; ``admin`` says who may load
and unload engines; ``routes`` adds ``GET /health/engines``. Handlers are plain functions
that call the ``EngineManager``; no model logic lives here.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import gradio as gr

from engines import EngineManager
from history import OutputHistory

from .admin import AdminPolicy
from .cloning import build_cloning_tab, packaged_examples_dir
from .config import AppConfig
from .dubbing import build_dubbing_tab
from .history_tab import build_history_tab
from .routes import health_routes
from .status import build_status_tab
from .voices_tab import VoiceHandlers, build_voices_tab, library_of, save_from_cloning
from .studio_tab import build_studio_tab

TITLE = "Voice Studio"
INTRO = ("Dub text in a preset or saved voice or clone a voice from a short clip, with **F5-TTS** or **XTTS-v2**. "
         "The badges beside every result say which engine and settings really produced it.")


def build_app(manager: EngineManager, config: AppConfig | None = None,
              history: OutputHistory | None = None) -> gr.Blocks:
    """The Blocks app; loads no model. With ``history``, every result and failure is kept there."""
    config = config or AppConfig()
    with gr.Blocks(title=TITLE, analytics_enabled=config.analytics_enabled,
                   delete_cache=(config.cache_sweep_s, config.cache_ttl_s)) as demo:
        gr.Markdown(f"# {TITLE}\n{INTRO}")
        library = library_of(manager)
        handlers = VoiceHandlers(manager, library) if library is not None else None
        # The voice list every tab follows (Dubbing's dropdown, the Voices tab), refreshed after each change.
        voices = gr.JSON(label="Voices", visible=False, elem_id="voices-json") if handlers is not None else None
        save_voice = partial(save_from_cloning, handlers, voices) if handlers is not None else None
        with gr.Tabs():
            views = [build_dubbing_tab(manager, history, voices), build_cloning_tab(manager, history, save_voice)]
            if handlers is not None:
                build_voices_tab(manager, voices, handlers)
            build_studio_tab(manager, history, history.root if history is not None else None)
            status = build_status_tab(manager, AdminPolicy.from_config(config))
            if history is not None:
                _, entries, refresh_history, limit = build_history_tab(history)
                for view in views:  # a new result shows in the History tab at once
                    view.metadata.change(refresh_history, inputs=limit, outputs=entries, api_visibility="private",
                                         concurrency_limit=None, show_progress="hidden")
        demo.load(status.refresh, outputs=status.health_json, api_visibility="private", concurrency_limit=None)
        if status.admin_rows and not status.admin.everyone:  # Load / Unload appear for admins only
            demo.load(status.admin_visibility, outputs=status.admin_rows, api_visibility="private",
                      concurrency_limit=None, show_progress="hidden")
        if handlers is not None:
            demo.load(handlers.refresh_list, outputs=voices, api_visibility="private", concurrency_limit=None)
    # One synthesis per engine at a time is the manager's lock; Gradio runs at most one
    # synthesis event per engine (the shared "synthesis" concurrency group) and keeps at
    # most ``queue_size`` waiting, refusing more with "Queue is full".
    demo.queue(max_size=config.queue_size, default_concurrency_limit=1)
    return demo


def launch_options(manager: EngineManager, config: AppConfig, history: OutputHistory | None = None) -> dict[str, Any]:
    """Keyword arguments for ``demo.launch``: loopback by default, never share, no telemetry.

    Gradio may serve files only from its cache and the f5-tts example clips; no other
    server path is reachable. The output folder is never served: handlers hand out a
    copy of a result in Gradio's cache (``served_files``), so sidecars stay private.
    ``history`` is accepted for callers that pass it; its folder is deliberately not added.
    """
    allowed = [str(packaged_examples_dir())]
    return dict(
        server_name=config.server_name,
        server_port=config.server_port,
        share=False,
        auth=list(config.auth) if config.auth else None,
        max_file_size=config.max_file_size,
        allowed_paths=allowed,
        app_kwargs={"routes": health_routes(manager)},
        enable_monitoring=False,
        mcp_server=False,
        ssr_mode=False,
        run_history=False,
        show_error=False,
    )


__all__ = ["AppConfig", "build_app", "launch_options"]
