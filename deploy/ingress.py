"""The app's ingress on Ray Serve: the page, ``/health/engines`` and ``/v1`` in one deployment.

It is the app ``python app.py`` serves (``webui.create_server``), built at replica start
over a ``RemoteManager`` whose engines are the engine deployments' handles, so every route,
limit and history entry is the same code. Its state (history, saved voices, Studio
projects) lives on the shared filesystem the variables name.
"""

from __future__ import annotations

import logging
from typing import Any

from ray import serve

from engines.remote import RemoteManager
from engines.voices.library import VoiceLibrary
from history import OutputHistory
from webui import AppConfig, create_server

logger = logging.getLogger("voice_studio.app")


@serve.ingress()
class Ingress:
    """``handles``: engine name -> its deployment's handle; ``capacity``: syntheses at once."""

    def __init__(self, handles: dict[str, Any], capacity: int):
        config = AppConfig.from_env()
        library = VoiceLibrary.from_env()
        history = OutputHistory.from_env()
        self.manager = RemoteManager(handles, library=library, capacity=capacity)
        self._app = create_server(self.manager, config, history)
        logger.info("ingress ready", extra={"engines": list(handles), "capacity": capacity,
                                            "output_dir": str(history.root), "voices_dir": str(library.root)})

    def __serve_build_asgi_app__(self):
        return self._app
