"""Plain HTTP routes beside Gradio's, for monitors: ``GET /health/engines``."""

from __future__ import annotations

from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from engines import EngineManager

HEALTH_PATH = "/health/engines"


def health_routes(manager: EngineManager) -> list[APIRoute]:
    """Routes to hand to the FastAPI app Gradio builds (``launch(app_kwargs={"routes": ...})``).

    The status code is 200 while at least one engine can serve and 503 when none can,
    so a plain HTTP monitor needs no JSON parsing; the body is ``manager.health()``.
    """

    def health_engines() -> JSONResponse:
        health = manager.health()
        return JSONResponse(health, status_code=503 if health["status"] == "unhealthy" else 200)

    return [APIRoute(HEALTH_PATH, health_engines, methods=["GET"], name="health_engines")]
