"""One FastAPI app on one port: the Gradio page at ``/``, ``GET /health/engines`` and ``/v1``.

``create_server`` builds it with ``gr.mount_gradio_app`` and ``serve`` runs it with uvicorn.
The launch settings stay the safe ones ``demo.launch`` had here: loopback unless
``GRADIO_SERVER_NAME`` says otherwise, no share link (uvicorn never opens one), Gradio's
login when ``VOICE_STUDIO_AUTH`` is set, the upload cap, files served only from Gradio's
cache and the f5-tts example clips (never the output folder), no server-side rendering, no MCP
server, no ``/monitoring`` page, no run history, no error details to the browser.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

import gradio as gr
from fastapi import FastAPI

from engines import EngineManager
from history import OutputHistory

from ..app import build_app
from ..serving.config import AppConfig
from ..serving.limits import Admission
from ..serving.speech_service import SpeechService
from ..tabs.cloning import packaged_examples_dir
from ..tabs.studio.timeline_view import mount_timeline_files
from .openai_api import openai_router
from .routes import health_routes

logger = logging.getLogger("voice_studio.app")

GRACEFUL_SHUTDOWN_S = 5


def create_server(manager: EngineManager, config: AppConfig, history: OutputHistory | None = None) -> FastAPI:
    """The whole app (loads no model): the page and ``/v1`` share one ``Admission`` and one history."""
    admission = Admission(max_running=manager.concurrency, max_waiting=config.queue_size)
    service = SpeechService(manager, history, admission)
    demo = build_app(manager, config, history, service=service)
    app = FastAPI(title="Voice Studio", docs_url=None, redoc_url=None, openapi_url=None)
    for route in health_routes(manager):
        app.router.routes.append(route)
    app.include_router(openai_router(service, config))
    mount_timeline_files(app)   # the Studio timeline's wavesurfer.js: a pinned, fetched, git-ignored folder
    if config.api_key is None and config.auth is None and not is_loopback(config.server_name):
        logger.warning("the /v1 API is open to the network without a key: set VOICE_STUDIO_API_KEY",
                       extra={"server_name": config.server_name})
    app = gr.mount_gradio_app(app, demo, path="/", **mount_options(config, history))
    # mount_gradio_app leaves this False, and Gradio refuses input files that were not uploaded
    # through it (a FileData naming a server path) only once it is True, as launch() sets it.
    demo.has_launched = True
    return app


def mount_options(config: AppConfig, history: OutputHistory | None = None) -> dict[str, Any]:
    """Files are served only from Gradio's cache and the f5-tts example clips. The output
    folder is never served: handlers hand out a copy of a result in Gradio's cache
    (``served_files``), so sidecars stay private. ``history`` is accepted for callers that
    pass it; its folder is deliberately not added."""
    allowed = [str(packaged_examples_dir())]
    return dict(
        server_name=config.server_name,
        server_port=config.server_port,
        auth=list(config.auth) if config.auth else None,
        max_file_size=config.max_file_size,
        allowed_paths=allowed,
        enable_monitoring=False,
        mcp_server=False,
        ssr_mode=False,
        run_history=False,
        show_error=False,
    )


def serve(app: FastAPI, config: AppConfig) -> None:
    import uvicorn

    uvicorn.run(app, host=config.server_name, port=config.server_port, log_config=None, access_log=False,
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
