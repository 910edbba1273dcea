"""Voice Studio's web UI: ``build_app(manager, config)`` returns the Gradio Blocks, and
``create_server`` mounts it with ``/v1`` and ``GET /health/engines`` on one FastAPI app.

Three folders, each importing only the ones below it:

- ``http``: the FastAPI app on one port (``server``), ``GET /health/engines`` (``routes``)
  and the OpenAI-compatible ``/v1`` routes (``openai_api``, ``openai_requests``);
- ``app`` builds the page from ``tabs``: one module per tab (``dubbing``, ``cloning``,
  ``voices_tab``, ``studio`` (a package), ``status``, ``history_tab``) and the pieces they share
  (``controls``, ``choices``, ``error_panel``, and ``live``, which plays audio while it is made);
- ``serving``: what the page and ``/v1`` share around a synthesis: admission (``limits``,
  ``speech_service``), the synthesis handlers' common path (``synthesis``), ``badges``
  (what really ran, in words), who may load and unload engines (``admin``), the app's
  settings (``config``), ZeroGPU (``gpu``), audio encodings (``audio_formats``), files
  handed to the page (``served_files``) and logging (``logs``).

Handlers are plain functions that call the ``EngineManager``; no model logic lives here.
"""

from __future__ import annotations

from typing import Any

from engines import EngineManager
from history import OutputHistory

from .app import build_app
from .http.routes import health_routes
from .http.server import create_server, serve
from .serving.config import AppConfig
from .serving.speech_service import SpeechService


def launch_options(manager: EngineManager, config: AppConfig, history: OutputHistory | None = None) -> dict[str, Any]:
    """Keyword arguments for ``demo.launch`` (the page alone, without ``/v1``): loopback, never share.

    ``python app.py`` serves ``create_server`` instead; this stays for embedding the page.
    """
    from .http.server import mount_options

    options = mount_options(config, history)
    return dict(options, share=False, app_kwargs={"routes": health_routes(manager)})


__all__ = ["AppConfig", "SpeechService", "build_app", "create_server", "launch_options", "serve"]
