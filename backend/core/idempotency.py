"""``Idempotency-Key`` on POST: a retried request gets the first answer instead of a second effect.

Same key and same request (method, path, query, body) → the stored response is replayed with
``Idempotent-Replayed: true``. Same key, other request → 422. Same key while the first request
is still running → 409. Server errors are not stored, so the client may retry them. Keys are
scoped to the credentials that sent them and expire after ``LEVIER_IDEMPOTENCY_TTL_HOURS``.
Routes flagged with ``opt={HANDLED_BY_ROUTE: True}`` (bulk uploads, too large to buffer) honour
the key themselves; routes flagged :data:`KEY_IGNORED` (OAuth, sign-in: their answers are
credentials, and their single use is their own) keep nothing here.

Secrets shown once are never stored. A route whose success answer may show one is flagged
``opt={SHOWS_SECRET: True}``; a GraphQL field that shows one carries :class:`ShownOnce`. Such an
answer is recorded without its headers and body, so the effect still happens once, and a replay
answers 409 ``idempotent-answer-withheld`` instead of the secret. Request bodies are kept only as
a keyed hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from http import HTTPStatus
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy import LargeBinary, String, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column
from strawberry.extensions import FieldExtension
from strawberry.types import Info

from backend.config import Settings
from backend.core.db import Base, IdMixin, utcnow
from backend.core.errors import LevierError, send_error, send_problem

HEADER = b"idempotency-key"
# Route ``opt`` flag: the handler honours the key itself (bulk uploads, never buffered here).
HANDLED_BY_ROUTE = "idempotency_handled_by_route"
# Route ``opt`` value (with HANDLED_BY_ROUTE): how the route honours the key, for the OpenAPI
# document (a key that names a resource, such as a message, rather than a stored answer).
KEY_DESCRIPTION = "idempotency_key_description"
# Route ``opt`` flag: the key is ignored and nothing is stored (OAuth and sign-in endpoints).
KEY_IGNORED = "idempotency_key_ignored"
# Route ``opt`` flag: a success answer may show a secret once; it is never stored nor replayed.
SHOWS_SECRET = "idempotency_shows_secret"  # noqa: S105  (a flag name)
# Request state flag, set while answering when a secret was shown (GraphQL fields).
_SECRET_SHOWN = "idempotency_secret_shown"  # noqa: S105
MAX_KEY_LENGTH = 255
# Response headers that describe this delivery, not the stored result.
_NOT_REPLAYED = {b"date", b"x-request-id", b"set-cookie", b"content-length"}


class IdempotencyRecord(IdMixin, Base):
    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("scope_hash", "key"),)

    scope_hash: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]  # None while the first request runs
    response_headers: Mapped[dict[str, Any] | None]
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]


class AnswerWithheld(LevierError):
    status, slug, title = HTTPStatus.CONFLICT, "idempotent-answer-withheld", "Answer withheld"


def mark_secret_shown(scope: Scope) -> None:
    """This request's answer shows a secret: the idempotency store must not keep it."""
    scope.setdefault("state", {})[_SECRET_SHOWN] = True


class ShownOnce(FieldExtension):
    """On a GraphQL field holding a secret shown once: its answer is never stored for replay."""

    def resolve(self, next_: Any, source: Any, info: Info[Any, Any], **kwargs: Any) -> Any:
        value = next_(source, info, **kwargs)
        request = getattr(info.context, "request", None)
        if value is not None and request is not None:
            mark_secret_shown(request.scope)
        return value


def _shows_secret(scope: Scope) -> bool:
    handler = scope.get("route_handler")
    flagged = handler is not None and bool(handler.opt.get(SHOWS_SECRET))
    return flagged or bool(scope.get("state", {}).get(_SECRET_SHOWN))


def header(scope: Scope, name: bytes) -> bytes | None:
    """The value of a request header (names are lower case in ASGI)."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        raw_key = header(scope, HEADER)
        handler = scope.get("route_handler")
        if raw_key is None or (
            handler is not None
            and (handler.opt.get(HANDLED_BY_ROUTE) or handler.opt.get(KEY_IGNORED))
        ):
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1").strip()
        if not 1 <= len(key) <= MAX_KEY_LENGTH:
            await send_problem(
                scope,
                send,
                400,
                detail=f"Idempotency-Key must have 1 to {MAX_KEY_LENGTH} characters",
            )
            return
        state = scope["litestar_app"].state
        settings: Settings = state.settings
        body = await read_body(receive, settings.max_body_bytes)
        if body is None:
            await send_problem(scope, send, 413, detail="request body is too large")
            return
        scope_hash = hashlib.sha256(header(scope, b"authorization") or b"").hexdigest()
        # Keyed: a body may hold a password or a secret, whose plain hash could be guessed back.
        request_hash = hmac.new(
            settings.secret_key.encode(),
            b"\n".join([b"POST", scope["path"].encode(), scope["query_string"], body]),
            hashlib.sha256,
        ).hexdigest()
        factory: async_sessionmaker[AsyncSession] = state.session_factory
        record = await _claim(factory, scope_hash, key, request_hash, settings)
        if isinstance(record, IdempotencyRecord):
            await _replay(record, scope, send)
            return
        if record == "mismatch":
            await send_problem(
                scope, send, 422, detail="this Idempotency-Key was used for a different request"
            )
            return
        if record == "running":
            await send_problem(
                scope, send, 409, detail="a request with this Idempotency-Key is still running"
            )
            return
        await self._run_and_store(scope, send, body, factory, scope_hash, key)

    async def _run_and_store(
        self,
        scope: Scope,
        send: Send,
        body: bytes,
        factory: async_sessionmaker[AsyncSession],
        scope_hash: str,
        key: str,
    ) -> None:
        status: int | None = None
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        delivered = False

        async def receive_body() -> Any:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers.extend((bytes(k), bytes(v)) for k, v in message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive_body, capture)
        finally:
            async with factory() as session, session.begin():
                query = select(IdempotencyRecord).where(
                    IdempotencyRecord.scope_hash == scope_hash, IdempotencyRecord.key == key
                )
                record = await session.scalar(query)
                if record is not None:
                    if status is None or status >= 500:
                        await session.delete(record)
                    elif status < 300 and _shows_secret(scope):
                        record.status_code = status
                        record.response_headers = {"withheld": True}
                        record.response_body = None
                    else:
                        record.status_code = status
                        record.response_headers = {
                            "headers": [
                                [k.decode("latin-1"), v.decode("latin-1")]
                                for k, v in headers
                                if k.lower() not in _NOT_REPLAYED
                            ]
                        }
                        record.response_body = b"".join(chunks)


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The request's whole body, or None past ``limit`` bytes."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(parts)


async def _claim(
    factory: async_sessionmaker[AsyncSession],
    scope_hash: str,
    key: str,
    request_hash: str,
    settings: Settings,
) -> IdempotencyRecord | str | None:
    """The record to replay, 'mismatch', 'running', or None once this request owns the key."""
    now = utcnow()
    async with factory() as session:
        async with session.begin():
            await session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.scope_hash == scope_hash,
                    IdempotencyRecord.key == key,
                    IdempotencyRecord.expires_at <= now,
                )
            )
            existing = await session.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.scope_hash == scope_hash, IdempotencyRecord.key == key
                )
            )
            if existing is not None:
                if existing.request_hash != request_hash:
                    return "mismatch"
                return existing if existing.status_code is not None else "running"
        try:
            async with session.begin():
                session.add(
                    IdempotencyRecord(
                        scope_hash=scope_hash,
                        key=key,
                        request_hash=request_hash,
                        expires_at=now + dt.timedelta(hours=settings.idempotency_ttl_hours),
                    )
                )
        except IntegrityError:
            return "running"  # a concurrent request with the same key won the insert
    return None


async def _replay(record: IdempotencyRecord, scope: Scope, send: Send) -> None:
    if (record.response_headers or {}).get("withheld"):
        error = AnswerWithheld(
            f"the request with this Idempotency-Key succeeded ({record.status_code}) and its "
            "answer showed a secret, which is shown once and never kept: read the resource, "
            "or issue a new secret"
        )
        await send_error(scope, send, error)
        return
    stored = (record.response_headers or {}).get("headers", [])
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in stored]
    body = record.response_body or b""
    headers.append((b"content-length", str(len(body)).encode()))
    headers.append((b"idempotent-replayed", b"true"))
    assert record.status_code is not None
    await send({"type": "http.response.start", "status": record.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
