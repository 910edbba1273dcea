"""Voice Studio's web UI: ``build_app(manager, config)`` returns the Gradio Blocks, and
``create_server`` mounts it with ``/v1`` and ``GET /health/engines`` on one FastAPI app.

Three folders, each importing only the ones below it:

- ``http``: the FastAPI app on one port (``server``), ``GET /health/engines`` (``routes``)
  and the OpenAI-compatible ``/v1`` routes (``openai_api``, ``openai_requests``);
- ``app`` builds the page from ``tabs``: one module or package per tab (``dubbing``, ``cloning``,
  ``voices_tab``, and the packages ``studio``, ``status``, ``history``) and the pieces they share
  (``controls``, ``choices``, ``badges``: what really ran, in words; ``error_panel``; ``knobs``,
  each engine's settings in Advanced; and ``speech``, which turns a synthesis into the tab's
  outputs, whole or played while made);
- ``serving``: what the page and ``/v1`` share: the ``speech_service`` behind every synthesis
  (admission from ``limits``, the History, failure records, error wording), who may load and
  unload engines (``admin``), the app's settings (``config``), ZeroGPU (``gpu``), audio
  encodings (``audio_formats``), files handed to the page (``served_files``), engine labels
  (``labels``) and logging (``logs``).

Handlers are plain functions that call the ``SpeechService`` or the ``EngineManager``; no
model logic lives here.
"""

from __future__ import annotations

from .app import build_app
from .http.server import create_server, serve
from .serving.config import AppConfig
from .serving.speech_service import SpeechService

__all__ = ["AppConfig", "SpeechService", "build_app", "create_server", "serve"]
