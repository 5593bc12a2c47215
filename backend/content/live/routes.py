"""The public live-content URLs mail clients fetch when a message is opened.

No authentication: the signed token in the URL is the capability, and names the brand the
request's session is then scoped to. Left out of the OpenAPI document: these URLs are written
into messages by templates, never called by API clients.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.handlers.base import BaseRouteHandler

from backend.content.live import service, tokens
from backend.content.live.drawing import ImageCache
from backend.content.live.tokens import LiveBlock
from backend.core.db import utcnow
from backend.core.dependencies import DbSession
from backend.core.errors import NotFound
from backend.core.tenancy import TenantId

PNG, HTML = ".png", ".html"
STATE_KEY = "live_block"


def live_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """The block the token names, its signature checked: the session is scoped to its brand.
    Any fault answers the same 404, saying nothing of what was wrong."""
    name: str = connection.path_params["file"]
    token, dot, suffix = name.rpartition(".")
    block = None
    if dot and f".{suffix}" in (PNG, HTML):
        key = tokens.signing_key(connection.app.state.settings.secret_key)
        block = tokens.verify(key, token)
    if block is None:
        raise NotFound("no live content here")
    connection.state.tenant = TenantId(block.brand_id)
    connection.state[STATE_KEY] = (block, f".{suffix}")


class LiveContentController(Controller):
    """Live blocks filled at open time."""

    path = "/l"
    guards = [live_guard]
    include_in_schema = False

    @get("/{file:str}", security=[])
    async def live_block(
        self, request: Request[Any, Any, Any], db_session: DbSession, state: State
    ) -> Response[bytes]:
        """The block as an image (`<token>.png`) or an HTML fragment (`<token>.html`), drawn
        from the profile's current data."""
        block: LiveBlock
        block, suffix = request.state[STATE_KEY]
        now = utcnow()
        if suffix == HTML:
            html, cache_control = await service.fragment(db_session, block, now)
            return _answer(html.encode(), "text/html; charset=utf-8", cache_control)
        cache: ImageCache = state.live_images
        png, cache_control = await service.image(db_session, cache, block, now)
        return _answer(png, "image/png", cache_control)


def _answer(body: bytes, media_type: str, cache_control: str) -> Response[bytes]:
    return Response(body, media_type=media_type, headers={"Cache-Control": cache_control})
