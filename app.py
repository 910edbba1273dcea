"""Voice Studio: build the app from the environment and serve it. Nothing else.

    python app.py        # http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT to change)

One port serves the page, ``GET /health/engines`` and the OpenAI-compatible ``/v1``.
No model loads at start-up: engines load on first use or from the Engine status tab.
"""

from __future__ import annotations

import logging

from engines import manager_from_env
from engines.voices.library import VoiceLibrary
from history import OutputHistory
from webui import AppConfig, create_server, serve
from webui.serving.logs import configure_logging

logger = logging.getLogger("voice_studio.app")


def main() -> None:
    configure_logging()
    config = AppConfig.from_env()
    library = VoiceLibrary.from_env()
    manager = manager_from_env(library)  # one device, or every device VOICE_STUDIO_DEVICES names
    history = OutputHistory.from_env()
    app = create_server(manager, config, history)
    logger.info("starting", extra={"server_name": config.server_name, "server_port": config.server_port,
                                   "auth": config.auth is not None, "api_key": config.api_key is not None,
                                   "queue_size": config.queue_size, "output_dir": str(history.root),
                                   "voices_dir": str(library.root)})
    serve(app, config)


if __name__ == "__main__":
    main()
