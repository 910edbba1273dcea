"""HTTP serving on one port: the FastAPI app, ``GET /health/engines`` and the OpenAI-compatible ``/v1`` routes."""
