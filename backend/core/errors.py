"""Errors: one ``LevierError`` hierarchy, answered everywhere in REST as RFC 9457 problem+json."""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.types import Scope, Send
from sqlalchemy.exc import IntegrityError

from backend.core.logging import request_id_of

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:levier:problem:"

log = structlog.get_logger("levier.errors")


class Problem(msgspec.Struct, omit_defaults=True):
    """An RFC 9457 problem detail."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = None


class LevierError(Exception):
    """An expected failure with a stable ``slug``, answered with ``status``."""

    status: int = HTTPStatus.BAD_REQUEST
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


class NotFound(LevierError):
    status, slug, title = HTTPStatus.NOT_FOUND, "not-found", "Not found"


class Unauthenticated(LevierError):
    status, slug, title = HTTPStatus.UNAUTHORIZED, "unauthenticated", "Authentication required"

    def __init__(
        self, detail: str | None = None, *, errors: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(
            detail, errors=errors, headers={"WWW-Authenticate": 'Bearer realm="levier"'}
        )


class Forbidden(LevierError):
    status, slug, title = HTTPStatus.FORBIDDEN, "forbidden", "Not allowed"


class InsufficientScope(Forbidden):
    """The token lacks the scope a route needs (RFC 6750 ``insufficient_scope``)."""

    slug, title = "insufficient-scope", "Insufficient scope"

    def __init__(self, scope: str) -> None:
        super().__init__(
            f"this needs the '{scope}' scope, which the token does not carry",
            headers={
                "WWW-Authenticate": (
                    f'Bearer realm="levier", error="insufficient_scope", scope="{scope}"'
                )
            },
        )
        self.scope = scope


class Conflict(LevierError):
    status, slug, title = HTTPStatus.CONFLICT, "conflict", "Conflict"


class InvalidInput(LevierError):
    status, slug, title = HTTPStatus.UNPROCESSABLE_ENTITY, "invalid-input", "Invalid input"


class ServiceUnavailable(LevierError):
    status, slug, title = HTTPStatus.SERVICE_UNAVAILABLE, "unavailable", "Service unavailable"


_SLUGS_BY_STATUS = {
    400: "bad-request",
    401: "unauthenticated",
    402: "payment-required",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "invalid-input",
    429: "rate-limited",
    500: "internal-error",
    503: "unavailable",
}


def problem_type(slug: str) -> str:
    return PROBLEM_TYPE_PREFIX + slug


def problem_response(
    request: Request[Any, Any, Any],
    *,
    status: int,
    slug: str | None = None,
    title: str | None = None,
    detail: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Problem]:
    status_phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
    problem = Problem(
        type=problem_type(slug or _SLUGS_BY_STATUS.get(status, "error")),
        title=title or status_phrase,
        status=status,
        detail=detail,
        instance=request.url.path,
        request_id=request_id_of(request.scope),
        errors=errors,
    )
    return Response(problem, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _handle_levier_error(request: Request[Any, Any, Any], exc: LevierError) -> Response[Problem]:
    return problem_response(
        request,
        status=exc.status,
        slug=exc.slug,
        title=exc.title,
        detail=exc.detail,
        errors=exc.errors,
        headers=exc.headers,
    )


_NAMED_IN_MESSAGE = re.compile(r"(?:unknown|missing required) field `([^`]+)`")
_PATH_PART = re.compile(r"[^.\[\]]+")


def named_field(message: str, key: str | None, source: str | None = "body") -> dict[str, Any]:
    """One validation problem in the shape every 422 uses: ``field`` (the wire name of the
    field at fault), ``pointer`` (its RFC 6901 JSON pointer in the body), ``message``.

    ``key`` is where the decoder stopped (``lines[0].unitPrice``; ``data`` for the body itself);
    an unknown or missing field is named by the message, one level below.
    """
    parts = [] if key in (None, "", "data", "$") else _PATH_PART.findall(key.removeprefix("$"))
    named = _NAMED_IN_MESSAGE.search(message)
    if named:
        parts.append(named.group(1))
    field = next((p for p in reversed(parts) if not p.isdigit()), None)
    item: dict[str, Any] = {"field": field, "message": message}
    if source == "body":
        item["pointer"] = "/" + "/".join(parts) if parts else ""
    if source is not None:
        item["source"] = source
    if key is not None:
        item["key"] = key  # as answered before the shape was unified
    return item


def _handle_validation(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[Problem]:
    errors = [
        named_field(str(e.get("message", "")), e.get("key"), e.get("source"))
        if isinstance(e, dict)
        else named_field(str(e), None, None)
        for e in (exc.extra if isinstance(exc.extra, list) else [])
    ]
    return problem_response(
        request,
        status=HTTPStatus.UNPROCESSABLE_ENTITY,
        slug="invalid-input",
        title="Invalid input",
        detail=exc.detail,
        errors=errors or None,
    )


def _handle_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    status = exc.status_code
    if status >= 500:
        log.error("http_error", status=status, detail=exc.detail)
    detail = exc.detail if status < 500 else None
    return problem_response(request, status=status, detail=detail, headers=exc.headers)


def _handle_integrity(request: Request[Any, Any, Any], exc: IntegrityError) -> Response[Problem]:
    # A constraint the service did not pre-check: a concurrent write won the race.
    log.info("integrity_conflict", error=str(exc.orig))
    return problem_response(
        request,
        status=HTTPStatus.CONFLICT,
        detail="the change conflicts with data stored meanwhile; retry",
    )


def _handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.exception("unhandled_error", exc_info=exc)
    return problem_response(
        request, status=HTTPStatus.INTERNAL_SERVER_ERROR, detail="an unexpected error occurred"
    )


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    LevierError: _handle_levier_error,
    ValidationException: _handle_validation,
    HTTPException: _handle_http,
    IntegrityError: _handle_integrity,
    Exception: _handle_unexpected,
}


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI documentation of the problem responses a route can answer.

    400 (malformed request) and 500 are always listed: any route can answer them.
    """
    statuses = tuple(sorted({400, 500, *statuses}))
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=HTTPStatus(status).phrase,
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
            examples=[_problem_example(status)],
        )
        for status in statuses
    }


def _problem_example(status: int) -> Example:
    slug = _SLUGS_BY_STATUS.get(status, "error")
    return Example(
        summary=HTTPStatus(status).phrase,
        value={
            "type": problem_type(slug),
            "title": HTTPStatus(status).phrase,
            "status": status,
            "detail": "what went wrong, for a person",
            "instance": "/v1/brands/01a20d85-e2eb-78a6-aa55-b28d88104b43",
            "request_id": "01a20d86365f789f894683f4079fae4a",
        },
    )


async def send_problem(
    scope: Scope,
    send: Send,
    status: int,
    *,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    slug: str | None = None,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> None:
    """Answer a problem from ASGI middleware, where no Litestar request exists yet."""
    problem = Problem(
        type=problem_type(slug or _SLUGS_BY_STATUS.get(status, "error")),
        title=title or HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=scope.get("path"),
        request_id=request_id_of(scope),
        errors=errors,
    )
    body = msgspec.json.encode(problem)
    raw_headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_error(scope: Scope, send: Send, error: LevierError) -> None:
    """Answer ``error`` from ASGI middleware, as its handler would."""
    await send_problem(
        scope,
        send,
        error.status,
        detail=error.detail,
        headers=error.headers,
        slug=error.slug,
        title=error.title,
        errors=error.errors,
    )
