"""GraphQL subscriptions over a websocket: the ``graphql-transport-ws`` protocol on ``/graphql``.

- **Authentication** is the first message's: ``connection_init`` with the payload
  ``{"authorization": "Bearer <token>"}``, the token validated as a request's (an OAuth access
  token, not expired, not revoked, its user or client enabled). No token, a malformed one or
  one that does not validate closes the connection with 4403 (the protocol's answer to a refused
  ``connection_init``); a ``subscribe`` before it, with 4401; no ``connection_init`` within
  ``LEVIER_GRAPHQL_WS_INIT_TIMEOUT_SECONDS``, with 4408. The handshake's own ``Authorization``
  header is not read (browsers cannot set one on a websocket).
- **The token's life is the connection's**: when it expires the connection closes with 4401;
  each subscription checks the caller again before every read (through the process's cache of
  tokens, like requests), so a revoked token or a withdrawn grant ends it within
  ``LEVIER_CALLER_CACHE_SECONDS``.
- **Subscriptions only**: queries and mutations go over HTTP (they answer an error here), and
  subscriptions over the websocket only (HTTP refuses them).
- **Limits**: ``LEVIER_GRAPHQL_WS_MAX_SUBSCRIPTIONS`` operations at once per connection (one
  more answers an error), messages of at most ``LEVIER_GRAPHQL_WS_MAX_MESSAGE_BYTES`` (larger
  closes with 1009), JSON checked for depth and NUL as request bodies are (4400), and the
  document limits of queries (size, tokens, depth, aliases).
- **Origins**: a browser page may open the websocket from the API's own origin or one of
  ``LEVIER_CORS_ORIGINS``; others are refused at the handshake (403). No cookie authenticates a
  websocket, so a foreign page could do nothing with it anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import AsyncGenerator, Iterator
from typing import Any

from litestar import WebSocket
from litestar.exceptions import WebSocketDisconnect
from strawberry.exceptions import ConnectionRejectionError
from strawberry.extensions import SchemaExtension
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived
from strawberry.litestar.controller import LitestarWebSocketAdapter
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage
from strawberry.types.graphql import OperationType

from backend.auth.caller import Caller
from backend.auth.context import GraphQLContext
from backend.auth.middleware import authenticate_token, caller_of_token
from backend.core.db import utcnow
from backend.core.edge import check_json
from backend.core.errors import LevierError

CLOSE_UNAUTHORIZED = 4401  # the token expired (and a subscribe before connection_init)
CLOSE_INVALID_MESSAGE = 4400
CLOSE_TOO_BIG = 1009  # RFC 6455: a message too big to process


class TransportOperations(SchemaExtension):
    """Subscriptions over the websocket only, queries and mutations over HTTP only: a query
    over the websocket would hold the connection's session for its life, and a subscription
    over HTTP would outlive the request's checks."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        over_websocket = getattr(context, "websocket", None) is not None
        allowed = set(self.execution_context.allowed_operations)
        if over_websocket:
            allowed &= {OperationType.SUBSCRIPTION}
        else:
            allowed -= {OperationType.SUBSCRIPTION}
        self.execution_context.allowed_operations = allowed
        yield


def bearer_token(params: dict[str, Any] | None) -> str | None:
    """The token of a ``connection_init`` payload's ``authorization`` (``Bearer <token>``)."""
    if not params:
        return None
    value = params.get("authorization", params.get("Authorization"))
    if not isinstance(value, str):
        return None
    scheme, _, token = value.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def authenticate(context: GraphQLContext) -> None:
    """``connection_init``: the payload's bearer token validated, the caller set on the
    connection's context; refused (4403) otherwise."""
    token = bearer_token(context.connection_params)
    if token is None:
        raise ConnectionRejectionError({"message": 'send {"authorization": "Bearer <token>"}'})
    socket = context.websocket
    assert socket is not None
    state = socket.app.state
    resolved = await authenticate_token(state, token)
    if resolved is None:
        raise ConnectionRejectionError({"message": "the token is invalid, expired or revoked"})
    caller, expires_at = resolved

    async def reauthorize() -> Caller | None:
        return await caller_of_token(state, token)

    context.caller = caller
    context.authorized_until = expires_at
    context.reauthorize = reauthorize


class LevierTransportWS(BaseGraphQLTransportWSHandler[GraphQLContext, None]):
    """graphql-transport-ws, with the connection closed (4401) when its token expires."""

    _expiry: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        until = self.context.authorized_until
        if self.connection_acknowledged and until is not None and self._expiry is None:
            self._expiry = asyncio.create_task(self._close_at(until))

    async def _close_at(self, until: dt.datetime) -> None:
        await asyncio.sleep(max((until - utcnow()).total_seconds(), 0.0))
        await self.websocket.close(CLOSE_UNAUTHORIZED, "the token expired")

    async def shutdown(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._expiry
        await super().shutdown()


class LevierWebSocketAdapter(LitestarWebSocketAdapter):
    """Messages read as text and capped in size, their JSON checked as request bodies are
    (depth, NUL), before they are decoded."""

    max_bytes: int = 128 * 1024
    max_depth: int = 64

    def __init__(
        self, view: Any, request: WebSocket[Any, Any, Any], response: WebSocket[Any, Any, Any]
    ) -> None:
        super().__init__(view, request, response)
        self.max_bytes = view.max_message_bytes
        self.max_depth = view.json_max_depth

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        try:
            while self.ws.connection_state != "disconnect":
                text = await self.ws.receive_text()
                if text == "":  # Litestar's reading of a binary message
                    raise NonTextMessageReceived
                raw = text.encode()
                if len(raw) > self.max_bytes:
                    await self.close(
                        CLOSE_TOO_BIG, f"a message holds at most {self.max_bytes} bytes"
                    )
                    return
                try:
                    check_json(raw, self.max_depth)
                except LevierError as refused:
                    await self.close(CLOSE_INVALID_MESSAGE, str(refused)[:120])
                    return
                try:
                    yield self.view.decode_json(text)
                except json.JSONDecodeError as error:
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from error
        except WebSocketDisconnect:
            pass
