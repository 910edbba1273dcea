"""Voice Studio's web UI: ``build_app(manager, config)`` returns the Gradio Blocks.

One module per tab (``dubbing``, ``cloning``, ``status``, ``history_tab``); ``badges``
words what really ran; ``synthesis`` holds what the synthesis handlers share and
``live`` plays audio while it is made; ``speech_service`` (admission, history) is shared
with the OpenAI-compatible ``/v1`` routes (``openai_api``); ``routes`` adds
``GET /health/engines``; ``server`` mounts it all on one FastAPI app. Handlers are plain
functions that call the ``EngineManager``; no model logic lives here.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from engines import EngineManager
from history import OutputHistory

from .cloning import build_cloning_tab, packaged_examples_dir
from .config import AppConfig
from .dubbing import build_dubbing_tab
from .history_tab import build_history_tab
from .routes import health_routes
from .server import create_server, serve
from .speech_service import SpeechService
from .status import build_status_tab

TITLE = "Voice Studio"
INTRO = ("Dub text in a preset voice or clone a voice from a short clip, with **F5-TTS** or **XTTS-v2**. "
         "The badges beside every result say which engine and settings really produced it.")


def build_app(manager: EngineManager, config: AppConfig | None = None,
              history: OutputHistory | None = None, service: SpeechService | None = None) -> gr.Blocks:
    """The Blocks app; loads no model. With ``history``, every result and failure is kept there.

    ``service`` holds the admission (synthesis slots and waiting line) the page shares with ``/v1``.
    """
    config = config or AppConfig()
    if service is None:
        from .limits import Admission

        service = SpeechService(manager, history, Admission(len(manager.engines), config.queue_size))
    with gr.Blocks(title=TITLE, analytics_enabled=config.analytics_enabled,
                   delete_cache=(config.cache_sweep_s, config.cache_ttl_s)) as demo:
        gr.Markdown(f"# {TITLE}\n{INTRO}")
        with gr.Tabs():
            views = [build_dubbing_tab(manager, history, service), build_cloning_tab(manager, history, service)]
            health_json, refresh_status = build_status_tab(manager)
            if history is not None:
                _, entries, refresh_history, limit = build_history_tab(history)
                for view in views:  # a new result shows in the History tab at once
                    view.metadata.change(refresh_history, inputs=limit, outputs=entries, api_visibility="private",
                                         concurrency_limit=None)
        demo.load(refresh_status, outputs=health_json, api_visibility="private", concurrency_limit=None)
    # Gradio runs at most one synthesis event per engine (the shared "synthesis" concurrency
    # group) and keeps at most ``queue_size`` waiting, refusing more with "Queue is full";
    # each event then takes its slot from the admission it shares with /v1.
    demo.queue(max_size=config.queue_size, default_concurrency_limit=1)
    return demo


def launch_options(manager: EngineManager, config: AppConfig, history: OutputHistory | None = None) -> dict[str, Any]:
    """Keyword arguments for ``demo.launch`` (the page alone, without ``/v1``): loopback, never share.

    ``python app.py`` serves ``create_server`` instead; this stays for embedding the page.
    """
    from .server import mount_options

    options = mount_options(config, history)
    return dict(options, share=False, app_kwargs={"routes": health_routes(manager)})


__all__ = ["AppConfig", "SpeechService", "build_app", "create_server", "launch_options", "serve"]
