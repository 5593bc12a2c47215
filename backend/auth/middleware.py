"""Bearer-token authentication: turns ``Authorization`` into ``scope["user"]`` (a Caller or None).

A missing token is not an error here (guards decide what needs a caller); a malformed, unknown,
expired or revoked token is, at once: 401 before any route code runs.
"""

from __future__ import annotations

import datetime as dt

from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from backend.auth.caller import Caller
from backend.auth.caller_cache import CallerCache
from backend.auth.service import resolve_token_until
from backend.core.errors import send_problem
from backend.core.logging import bind_log_context
from backend.core.security import hash_secret

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="levier"'}
# The OAuth endpoints authenticate clients themselves (HTTP Basic or form fields); partner
# hooks are authenticated by their signature (a partner's own Authorization header is ignored).
_OWN_AUTHENTICATION = ("/oauth/", "/v1/hooks/")


class AuthenticationMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        scope["user"] = None
        # A websocket authenticates in its first message (GraphQL's connection_init: browsers
        # cannot set headers on a websocket), not with a header.
        if scope["type"] == ScopeType.WEBSOCKET or scope["path"].startswith(_OWN_AUTHENTICATION):
            await self.app(scope, receive, send)
            return
        header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        if header is not None:
            scheme, _, token = header.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                await send_problem(
                    scope,
                    send,
                    401,
                    detail="use an 'Authorization: Bearer <token>' header",
                    headers=_CHALLENGE,
                )
                return
            caller = await _caller_of(scope, token.strip())
            if caller is None:
                await send_problem(
                    scope,
                    send,
                    401,
                    detail="the token is invalid, expired or revoked",
                    headers=_CHALLENGE,
                )
                return
            scope["user"] = caller
            bind_log_context(
                scope,
                user_id=str(caller.user_id) if caller.user_id else None,
                client_id=str(caller.client_id) if caller.client_id else None,
            )
        await self.app(scope, receive, send)


async def _caller_of(scope: Scope, token: str) -> Caller | None:
    return await caller_of_token(scope["litestar_app"].state, token)


async def caller_of_token(state: State, token: str) -> Caller | None:
    """The caller of a bearer token (None: invalid, expired or revoked), through the process's
    cache of resolved tokens."""
    cache: CallerCache = state.caller_cache

    async def resolve() -> tuple[Caller, dt.datetime] | None:
        async with state.session_factory() as session:
            return await resolve_token_until(session, token)

    return await cache.resolve(hash_secret(token), resolve)


async def authenticate_token(state: State, token: str) -> tuple[Caller, dt.datetime] | None:
    """The caller of a bearer token and when the token expires (None: invalid, expired or
    revoked), resolved now and kept in the process's cache: for a connection that lives on."""
    async with state.session_factory() as session:
        resolved = await resolve_token_until(session, token)
    if resolved is not None:
        cache: CallerCache = state.caller_cache
        cache.put(hash_secret(token), *resolved)
    return resolved
