"""Intake's HTTP app: the lifespan that wires the runtime, request guards, and the routers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

import structlog
from fastapi import FastAPI, Request, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handoff_intake.bootstrap import Intake, bootstrap, migrate
from handoff_intake.entrypoints import admin_api, leads_api, webhooks
from handoff_intake.settings import IntakeSettings
from handoff_shared.http import answer_invalid_requests_without_echo
from handoff_shared.metrics import add_metrics_route
from handoff_shared.tracing import child_traceparent, current_traceparent

log = structlog.get_logger(__name__)


class BodyLimit:
    """Refuses bodies over the cap with 413, counting the bytes as they stream in.

    Content-Length is checked first, but a chunked or lying client is caught by the count.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self._app = app
        self._max = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self._max):
            await _refuse(send, scope, declared.isdigit())
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max:
                await _refuse(send, scope, True)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        buffered: Message | None = {
            "type": "http.request",
            "body": b"".join(chunks),
            "more_body": False,
        }

        async def replay() -> Message:
            nonlocal buffered
            if buffered is not None:
                message, buffered = buffered, None
                return message
            return await receive()

        await self._app(scope, replay, send)


class TraceContext:
    """Continues the caller's trace (`traceparent`) in everything the request writes."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            incoming = dict(scope["headers"]).get(b"traceparent")
            current_traceparent.set(
                child_traceparent(incoming.decode("latin-1") if incoming else None)
            )
        await self._app(scope, receive, send)


async def _refuse(send: Send, scope: Scope, too_large: bool) -> None:
    response = JSONResponse(
        {"detail": "request body too large" if too_large else "malformed Content-Length"},
        status_code=(
            status.HTTP_413_CONTENT_TOO_LARGE if too_large else status.HTTP_400_BAD_REQUEST
        ),
    )
    await response(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def create_app(settings: IntakeSettings | None = None, intake: Intake | None = None) -> FastAPI:
    """The intake app; tests may pass a prepared Intake."""
    settings = settings or IntakeSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(migrate, settings)
        runtime = intake or bootstrap(settings)
        await runtime.load_sources_file()
        await runtime.seal_source_secrets()
        app.state.intake = runtime
        # Everything built so far lives as long as the process: moved out of the collector's
        # sight, it is not scanned again by every full collection (long pauses under load).
        gc.freeze()
        background = [
            asyncio.create_task(runtime.messaging.relay.run(), name="outbox-relay"),
            asyncio.create_task(runtime.messaging.consumer.run(), name="timeline-consumer"),
            asyncio.create_task(runtime.messaging.prune_inbox_forever(), name="inbox-pruning"),
            asyncio.create_task(runtime.messaging.report_backlog_forever(), name="outbox-backlog"),
            asyncio.create_task(runtime.backlog.run(), name="backlog-gauge"),
            asyncio.create_task(runtime.writer.run(), name="delivery-writer"),
        ]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await runtime.close()

    app = FastAPI(
        title="Handoff intake",
        version="0.2.0",
        summary="Receives leads from form tools and the CRM; every 2xx is a lead durably stored.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(TraceContext)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def database_unavailable(request: Request, error: Exception) -> Response:
        # The database being down is not the caller's fault, and nothing was stored: retry.
        log.error("database_unavailable", path=request.url.path, error=repr(error))
        return JSONResponse(
            {"detail": "the database is unavailable; nothing was stored, retry later"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )

    answer_invalid_requests_without_echo(app)
    add_metrics_route(app)

    @app.exception_handler(DataError)
    async def unstorable_value(request: Request, error: Exception) -> Response:
        # A last line of defence: validation should refuse such values before the database does.
        log.warning("unstorable_value", path=request.url.path, error=repr(error))
        return JSONResponse(
            {"detail": "a value cannot be stored (out of range or not valid text)"},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    app.include_router(webhooks.router)
    app.include_router(leads_api.router)
    app.include_router(admin_api.router)

    @app.get("/healthz")
    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    return app
