"""OpenAI-compatible routes on the app's own port: ``POST /v1/audio/speech``, ``GET /v1/models``,
``GET /v1/audio/voices``.

- **Keys.** With ``VOICE_STUDIO_API_KEY`` set, every route needs ``Authorization: Bearer
  <key>`` (compared in constant time). With a UI login (``VOICE_STUDIO_AUTH``) and no key,
  ``/v1`` is closed: it is never open behind a login. With neither, it is open, like the page.
- **Limits.** A speech request takes its slot from the same ``Admission`` as the page's
  handlers; a full line is 429. An ``input`` over the limit, and every other bad field,
  is refused before anything runs.
- **Streaming.** ``stream_format: "audio"`` (the default) sends the encoded audio as the
  engine makes it (``X-Accel-Buffering: no``); ``"sse"`` sends ``speech.audio.delta``
  events (base64), then ``speech.audio.done``. The headers go out with the first chunk,
  when the engine that really runs is known (``X-Engine-Used``, ``X-Engine-Fallback``,
  ``X-Fallback-Reason``, ``X-Quality-Profile-Used``). The result is saved to History once
  the audio is complete, after the headers left: a streamed answer carries the entry's id in
  the ``speech.audio.done`` event (SSE); ``"stream": false`` renders the whole clip first
  and answers with ``X-History-Id`` too.
"""

from __future__ import annotations

import base64
import functools
import hmac
import json
import logging
import threading
import time
import unicodedata
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from anyio import CapacityLimiter
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from engines import EngineChoice, SynthesisStream
from engines.audio.waveforms import resample

from ..serving.audio_formats import FORMATS, EncodingError, encode, stream_encoder
from ..serving.config import AppConfig
from ..serving.speech_service import Failure, SpeechService
from .openai_requests import ApiError, SpeechJob, model_table, parse_body, read_speech, voice_table

logger = logging.getLogger("voice_studio.openai_api")

OUTPUT_RATE = 24000  # OpenAI's pcm rate, and both engines' own
STATUS_BY_KIND = {"bad_input": 400, "no_engine": 503, "queue_full": 429, "refused": 400, "internal": 500}
CODE_BY_KIND = {"bad_input": "invalid_input", "no_engine": "engine_unavailable", "queue_full": "queue_full",
                "refused": "synthesis_refused", "internal": "internal_error"}


def openai_router(service: SpeechService, config: AppConfig) -> APIRouter:
    """The ``/v1`` routes, bound to the app's service (manager, history, admission) and settings."""
    router = APIRouter(prefix="/v1")
    manager = service.manager
    # Threads for waiting on a slot and on audio, apart from the pool Gradio and Starlette share.
    limiter = CapacityLimiter(service.admission.max_running + service.admission.max_waiting + 4)
    max_body = 6 * manager.settings.max_text_chars + 65536

    def guarded(route: Callable) -> Callable:
        async def handle(request: Request) -> Response:
            try:
                authorize(request, config)
                return await route(request)
            except ApiError as exc:
                if exc.status >= 500:
                    logger.warning("/v1 request failed", extra={"status": exc.status, "error": exc.message})
                return JSONResponse(exc.body(), status_code=exc.status)
        handle.__name__ = route.__name__
        return handle

    async def list_models(request: Request) -> Response:
        data = [{"id": row["id"], "object": "model", "created": 0, "owned_by": "voice-studio", **row}
                for row in model_table(manager)]
        return JSONResponse({"object": "list", "data": data})

    async def list_voices(request: Request) -> Response:
        return JSONResponse({"voices": voice_table(manager)})

    async def create_speech(request: Request) -> Response:
        job = read_speech(parse_body(await read_body(request, max_body)), manager, config.default_language)
        await anyio.to_thread.run_sync(_validate, service, job, limiter=limiter)
        ticket = await anyio.to_thread.run_sync(_admit, service, job, limiter=limiter)
        try:
            if not job.stream and job.stream_format == "audio":
                return await anyio.to_thread.run_sync(_whole, service, job, limiter=limiter)
            return await _streamed(service, job, ticket, limiter)
        finally:
            if not job.stream and job.stream_format == "audio":
                ticket.release()

    router.add_api_route("/models", guarded(list_models), methods=["GET"], name="openai_models")
    router.add_api_route("/audio/voices", guarded(list_voices), methods=["GET"], name="openai_voices")
    router.add_api_route("/audio/speech", guarded(create_speech), methods=["POST"], name="openai_speech")
    return router


def authorize(request: Request, config: AppConfig) -> None:
    if config.api_key is None:
        if config.auth is not None:
            raise ApiError(401, "the /v1 API is closed because the web page has a login (VOICE_STUDIO_AUTH) and no "
                                "API key is set: set VOICE_STUDIO_API_KEY and send it as 'Authorization: Bearer <key>'",
                           "api_closed")
        return
    scheme, _, given = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>' (the key is VOICE_STUDIO_API_KEY)",
                       "missing_api_key")
    if not hmac.compare_digest(given.strip().encode("utf-8"), config.api_key.encode("utf-8")):
        raise ApiError(401, "incorrect API key", "invalid_api_key")


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused once it passes ``limit`` bytes (never read whole first)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the request body is {int(declared):,} bytes; the limit is {limit:,}", "request_too_large")
    parts, size = [], 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise ApiError(413, f"the request body is over the limit of {limit:,} bytes", "request_too_large")
        parts.append(part)
    return b"".join(parts)


def _raise_for(exc: BaseException, service: SpeechService, job: SpeechJob, record: bool = True) -> None:
    failure = Failure.of(exc)
    if failure.kind == "internal":
        logger.error("/v1 synthesis crashed", exc_info=exc)
    if record and failure.kind != "queue_full":
        service.record_failure(job.request, failure.message)
    param = "voice" if "voice" in failure.message and failure.kind == "bad_input" else None
    raise ApiError(STATUS_BY_KIND[failure.kind], failure.message, CODE_BY_KIND[failure.kind], param) from exc


def _validate(service: SpeechService, job: SpeechJob) -> None:
    try:
        service.manager.validate(job.request)
    except Exception as exc:  # mapped to its HTTP status; nothing ran
        _raise_for(exc, service, job, record=False)


def _admit(service: SpeechService, job: SpeechJob):
    try:
        return service.admit()
    except Exception as exc:  # a full line is 429
        _raise_for(exc, service, job, record=False)


def _whole(service: SpeechService, job: SpeechJob) -> Response:
    try:
        result = service.synthesize(job.request)
        audio = encode(result.audio, result.sample_rate, job.response_format)
    except Exception as exc:  # mapped to its HTTP status and recorded
        _raise_for(exc, service, job)
    saved = service.save(job.request, result)
    headers = {**result_headers(result.report.choice), "Cache-Control": "no-cache"}
    if saved.entry is not None:
        headers["X-History-Id"] = saved.entry.id
    return Response(audio, media_type=FORMATS[job.response_format].content_type, headers=headers)


async def _streamed(service: SpeechService, job: SpeechJob, ticket, limiter: CapacityLimiter) -> Response:
    """Open the stream (fallback settles here), then answer with headers and the audio as it comes."""
    try:
        encoder = stream_encoder(job.response_format, OUTPUT_RATE)
    except EncodingError as exc:
        ticket.release()
        raise ApiError(500, str(exc), "encoder_unavailable") from exc
    try:
        live: SynthesisStream = await anyio.to_thread.run_sync(_open, service, job, limiter=limiter)
    except BaseException:
        ticket.release()
        encoder.close()
        raise
    state = _StreamState()
    producer = threading.Thread(target=_produce, args=(service, job, live, encoder, ticket, state),
                                name="v1-speech-producer", daemon=True)
    producer.start()
    headers = {**result_headers(live.choice), "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    if job.stream_format == "sse":
        body = _sse_body(encoder, state, limiter)
        media_type = "text/event-stream"
    else:
        body = _chunks(encoder, state, limiter)
        media_type = FORMATS[job.response_format].content_type
    return ClosingStreamingResponse(body, media_type=media_type, headers=headers)


def _open(service: SpeechService, job: SpeechJob) -> SynthesisStream:
    try:
        return service.stream(job.request)
    except Exception as exc:  # before any audio: mapped to its HTTP status and recorded
        _raise_for(exc, service, job)


class _StreamState:
    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self.done: dict[str, Any] = {}
        self.started = time.monotonic()


def _produce(service: SpeechService, job: SpeechJob, live: SynthesisStream, encoder, ticket,
             state: _StreamState) -> None:
    """On its own thread: engine chunks into the encoder; the result into the history; the slot back."""
    try:
        for chunk in live:
            if state.cancelled.is_set():
                break
            if live.sample_rate != OUTPUT_RATE:
                chunk = resample(chunk, live.sample_rate, OUTPUT_RATE)
            encoder.feed(chunk)
        if state.cancelled.is_set() or live.result is None:
            service.record_failure(job.request, "the client disconnected before the audio was complete")
            encoder.fail(ConnectionAbortedError("client disconnected"))
            return
        result = live.result
        saved = service.save(job.request, result)
        state.done = {**{k: result.metadata.get(k) for k in ("tts_engine_used", "engine_fallback", "fallback_reason",
                                                              "quality_profile_used", "duration_s", "seed")},
                      **saved.fields()}
        encoder.finish()
    except Exception as exc:  # after the headers left: the body ends early, the history records why
        failure = Failure.of(exc)
        message = failure.message
        if state.cancelled.is_set():  # the encoder was closed under us because the client went away
            message = "the client disconnected before the audio was complete"
        else:
            logger.error("/v1 stream failed", exc_info=exc if failure.kind == "internal" else None,
                         extra={"error": message})
        service.record_failure(job.request, message)
        encoder.fail(exc)
    finally:
        live.close()
        ticket.release()


async def _chunks(encoder, state: _StreamState, limiter: CapacityLimiter) -> AsyncIterator[bytes]:
    try:
        take = functools.partial(anyio.to_thread.run_sync, encoder.take, limiter=limiter, abandon_on_cancel=True)
        while (item := await take()) is not None:
            if item:
                yield item
    finally:
        state.cancelled.set()  # a no-op after a complete stream; stops the producer after a disconnect
        encoder.close()


async def _sse_body(encoder, state: _StreamState, limiter: CapacityLimiter) -> AsyncIterator[bytes]:
    """``speech.audio.delta`` per encoded piece, then ``speech.audio.done`` (or ``error``)."""
    total = 0
    chunks = _chunks(encoder, state, limiter)
    try:
        async for data in chunks:
            total += len(data)
            yield _event("speech.audio.delta", {"audio": base64.b64encode(data).decode("ascii")})
    except Exception as exc:  # the status line is gone already: say it in the stream
        failure = Failure.of(exc)
        yield _event("error", {"error": {"message": failure.message, "type": "server_error", "param": None,
                                         "code": CODE_BY_KIND[failure.kind]}})
        return
    finally:
        await chunks.aclose()
    yield _event("speech.audio.done", {"usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0},
                                       "audio_bytes": total, **state.done})


def _event(kind: str, payload: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **payload})}\n\n".encode()


class ClosingStreamingResponse(StreamingResponse):
    """Closes its body generator however the response ends (a client that went away included)."""

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.body_iterator.aclose()


def result_headers(choice: EngineChoice) -> dict[str, str]:
    """What really ran, as headers: known before the first chunk, so a stream sends them too."""
    headers = {"X-Engine-Used": str(choice.tts_engine_used),
               "X-Engine-Fallback": "true" if choice.engine_fallback else "false",
               "X-Quality-Profile-Used": str(choice.quality_profile_used)}
    if choice.fallback_reason:
        headers["X-Fallback-Reason"] = header_text(choice.fallback_reason)
    if choice.seed is not None:
        headers["X-Seed"] = str(choice.seed)
    return headers


def header_text(text: str, limit: int = 400) -> str:
    """Plain ASCII on one line (headers carry latin-1 at most): accents folded, arrows spelt out."""
    folded = unicodedata.normalize("NFKD", str(text).replace("→", "->"))
    ascii_text = folded.encode("ascii", "ignore").decode("ascii")
    return " ".join(ascii_text.split())[:limit]
