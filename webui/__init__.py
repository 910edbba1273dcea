"""Voice Studio's web UI: ``build_app(manager, config)`` returns the Gradio Blocks.

One module per tab (``dubbing``, ``cloning``, ``status``); ``badges`` words what really
ran; ``synthesis`` holds what the synthesis handlers share. Handlers are plain functions
that call the ``EngineManager``; no model logic lives here.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from engines import EngineManager

from .cloning import build_cloning_tab, packaged_examples_dir
from .config import AppConfig
from .dubbing import build_dubbing_tab
from .routes import health_routes
from .status import build_status_tab
from .synthesis import Recorder

TITLE = "Voice Studio"
INTRO = ("Dub text in a preset voice or clone a voice from a short clip, with **F5-TTS** or **XTTS-v2**. "
         "The badges beside every result say which engine and settings really produced it.")


def build_app(manager: EngineManager, config: AppConfig | None = None, recorder: Recorder | None = None) -> gr.Blocks:
    """The Blocks app; loads no model. ``recorder`` keeps every result (the output history)."""
    config = config or AppConfig()
    with gr.Blocks(title=TITLE, analytics_enabled=config.analytics_enabled,
                   delete_cache=(config.cache_ttl_s, config.cache_ttl_s)) as demo:
        gr.Markdown(f"# {TITLE}\n{INTRO}")
        with gr.Tabs():
            build_dubbing_tab(manager, recorder)
            build_cloning_tab(manager, recorder)
            health_json, refresh = build_status_tab(manager)
        demo.load(refresh, outputs=health_json, api_visibility="private", concurrency_limit=None)
    demo.queue(max_size=config.queue_size, default_concurrency_limit=1)
    return demo


def launch_options(manager: EngineManager, config: AppConfig, extra_allowed_paths: list[str] | None = None) -> dict[str, Any]:
    """Keyword arguments for ``demo.launch``: loopback by default, never share, no telemetry."""
    return dict(
        server_name=config.server_name,
        server_port=config.server_port,
        share=False,
        auth=[config.auth] if config.auth else None,
        max_file_size=config.max_file_size,
        allowed_paths=[str(packaged_examples_dir()), *(extra_allowed_paths or [])],
        app_kwargs={"routes": health_routes(manager)},
        enable_monitoring=False,
        mcp_server=False,
        ssr_mode=False,
        run_history=False,
        show_error=False,
    )


__all__ = ["AppConfig", "build_app", "launch_options"]
