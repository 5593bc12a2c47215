"""Structured JSON logs, and the request context (request id, agency, brand) they carry."""

from __future__ import annotations

import logging
import re
import sys
import time

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from backend.config import Settings
from backend.core.ids import new_id

REQUEST_ID_HEADER = b"x-request-id"
# A caller-supplied id is kept only if it is short and plain, so it cannot forge log lines.
_SAFE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._\-]{1,128}\Z")

access_log = structlog.get_logger("levier.access")


def configure_logging(settings: Settings) -> None:
    """One JSON line per event on stderr, ours and the libraries' (uvicorn, dramatiq)."""
    level = logging.getLevelName(settings.log_level.upper())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if settings.log_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def request_id_of(scope: Scope) -> str:
    """The request's id: the caller's ``X-Request-ID`` when it is safe, else a new one (once)."""
    state = scope.setdefault("state", {})
    request_id: str | None = state.get("request_id")
    if request_id is None:
        incoming = next((v for k, v in scope.get("headers", []) if k == REQUEST_ID_HEADER), b"")
        request_id = incoming.decode() if _SAFE_REQUEST_ID.match(incoming) else new_id().hex
        state["request_id"] = request_id
    return request_id


LOG_CONTEXT_KEY = "log_context"


def bind_log_context(scope: Scope | None = None, **values: object) -> None:
    """Add values to this request's log lines, the access log line included.

    The scope copy matters: guards may run in another context than the outer middleware.
    """
    values = {key: value for key, value in values.items() if value is not None}
    structlog.contextvars.bind_contextvars(**values)
    if scope is not None:
        scope.setdefault("state", {}).setdefault(LOG_CONTEXT_KEY, {}).update(values)


class RequestContextMiddleware:
    """Gives every request an id (echoed in ``X-Request-ID``), binds it to the logs and writes
    one access log line. Wraps the whole application, so unmatched routes are covered too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        structlog.contextvars.clear_contextvars()
        bind_log_context(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            access_log.info(
                "request",
                **scope.get("state", {}).get(LOG_CONTEXT_KEY, {}),
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            structlog.contextvars.clear_contextvars()
