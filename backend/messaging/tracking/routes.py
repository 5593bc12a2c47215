"""Public tracking routes: the token in the path is the capability (no credentials, no cookie).

A token that does not verify answers 404, the same as an unknown path: nothing tells a prober
whether it was malformed, tampered with or signed by another deployment. A verified token
scopes the request's session to its brand before anything is read.
"""

from __future__ import annotations

import base64
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import Provide
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT, HTTP_302_FOUND

from backend.config import Settings
from backend.core.dependencies import DbSession, provide_tenant
from backend.core.edge import BODY_OPT, BodyRule
from backend.core.errors import Forbidden, NotFound, problem_responses
from backend.core.idempotency import KEY_IGNORED
from backend.core.schemas import Schema
from backend.core.tenancy import TenantId, open_session
from backend.messaging.tracking import hooks, pages, routing, service, tokens
from backend.messaging.tracking.tokens import Token, TokenKind

TOKEN_KIND_OPT = "tracking_token_kind"  # noqa: S105  (an opt key, not a secret)
# A transparent 1x1 GIF (42 bytes).
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_NO_STORE = {"Cache-Control": "no-store, max-age=0", "Pragma": "no-cache"}


async def token_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Verify the path's token for the route's kind; scope the request to the token's brand."""
    kind: TokenKind = handler.opt[TOKEN_KIND_OPT]
    try:
        token = tokens.verify(
            tokens.keys_of(connection.app.state.settings), connection.path_params["token"], kind
        )
    except tokens.BadToken:
        raise NotFound("not found") from None
    connection.state.tenant = TenantId(token.tenant_id)
    connection.state.tracking_token = token


def _token(request: Request[Any, Any, Any]) -> Token:
    token: Token = request.state.tracking_token
    return token


def _client(request: Request[Any, Any, Any]) -> tuple[str | None, str | None]:
    address = request.client.host if request.client else None
    return request.headers.get("user-agent"), address


class TrackingController(Controller):
    """Open pixel, click redirect and push opens."""

    path = "/t"
    include_in_schema = False
    guards = [token_guard]
    dependencies = {"tenant": Provide(provide_tenant, sync_to_thread=False)}
    opt = {KEY_IGNORED: True}

    @get("/o/{token:str}", opt={TOKEN_KIND_OPT: TokenKind.OPEN})
    async def open_pixel(
        self, request: Request[Any, Any, Any], db_session: DbSession
    ) -> Response[bytes]:
        """A 1x1 transparent GIF; the first open of the message by a person is recorded."""
        user_agent, address = _client(request)
        await service.opened(db_session, _token(request), user_agent=user_agent, address=address)
        return Response(PIXEL, media_type="image/gif", headers=_NO_STORE)

    @get("/c/{token:str}", opt={TOKEN_KIND_OPT: TokenKind.CLICK}, status_code=HTTP_302_FOUND)
    async def click(self, request: Request[Any, Any, Any], db_session: DbSession) -> Redirect:
        """302 to the link the message held (signed in the token: nowhere else)."""
        user_agent, address = _client(request)
        url = await service.clicked(
            db_session, _token(request), user_agent=user_agent, address=address
        )
        return Redirect(url, status_code=HTTP_302_FOUND, headers=_NO_STORE)

    @post(
        "/p/{token:str}",
        opt={TOKEN_KIND_OPT: TokenKind.PUSH_OPEN, BODY_OPT: BodyRule.NONE},
        status_code=HTTP_204_NO_CONTENT,
    )
    async def push_open(self, request: Request[Any, Any, Any], db_session: DbSession) -> None:
        """The app reports that the push was opened: POST the push data's `levierOpenUrl`."""
        await service.push_opened(db_session, _token(request))


class UnsubscribeController(Controller):
    """RFC 8058 one-click unsubscribe and the preference page, at the List-Unsubscribe URL.

    No cookie and no session: the signed URL is the only authority, so a cross-site request
    forger would need the token itself (which never leaves the recipient's mailbox and this
    page: `Referrer-Policy: no-referrer`). A form post the browser marks cross-site is refused
    all the same; the one-click post (mailbox providers send no such header) is not."""

    path = "/u"
    include_in_schema = False
    guards = [token_guard]
    dependencies = {"tenant": Provide(provide_tenant, sync_to_thread=False)}
    opt = {KEY_IGNORED: True, TOKEN_KIND_OPT: TokenKind.UNSUBSCRIBE}

    def _page(self, request: Request[Any, Any, Any], html: str) -> Response[str]:
        headers = {**_NO_STORE, "Content-Security-Policy": pages.PREFERENCES_CSP}
        return Response(html, media_type="text/html; charset=utf-8", headers=headers)

    @get("/{token:str}")
    async def preferences(
        self, request: Request[Any, Any, Any], db_session: DbSession
    ) -> Response[str]:
        """The preference page: each topic of the message's channel, and the channel itself."""
        token = _token(request)
        prefs = await service.preferences(db_session, token)
        html = pages.preferences_page(prefs, token.channel.slug, request.url.path, saved=False)
        return self._page(request, html)

    @post("/{token:str}", opt={BODY_OPT: BodyRule.RAW}, status_code=HTTP_200_OK)
    async def submit(self, request: Request[Any, Any, Any], db_session: DbSession) -> Response[str]:
        """`List-Unsubscribe=One-Click` (RFC 8058): unsubscribe now, no confirmation. Anything
        else is the preference page's form."""
        token = _token(request)
        form = await request.form()
        if form.get("List-Unsubscribe") == "One-Click":
            await service.one_click_unsubscribe(db_session, token)
            return Response("Unsubscribed.\n", media_type="text/plain", headers=_NO_STORE)
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            raise Forbidden("a preference form is posted from its own page")
        prefs = await service.preference_choices(
            db_session,
            token,
            subscribed_topics={str(v) for v in form.getall("topic", [])},
            channel_subscribed=form.get("channel") != "off",
        )
        html = pages.preferences_page(prefs, token.channel.slug, request.url.path, saved=True)
        return self._page(request, html)


async def account_hook_guard(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """The callback's brand, from its account id: the request session is then scoped to it."""
    account_id: UUID = connection.path_params["account_id"]
    async with open_session(connection.app.state.session_factory) as session:
        tenant = await routing.brand_of_account(session, account_id)
    if tenant is None:
        raise NotFound("no hook here")
    connection.state.tenant = tenant


class CallbackReceived(Schema):
    """``reports``: the verified reports the callback held; ``applied``: those that changed
    something (repeats and reports on messages this brand did not send change nothing)."""

    reports: int
    applied: int


class MessagingHookController(Controller):
    """Where email, SMS and push providers post their delivery reports."""

    path = "/v1/hooks/messaging"
    tags = ["messaging"]
    guards = [account_hook_guard]
    dependencies = {"tenant": Provide(provide_tenant, sync_to_thread=False)}

    @post(
        "/{account_id:uuid}",
        operation_id="receiveMessagingCallback",
        summary="Receive a provider's delivery reports",
        status_code=HTTP_200_OK,
        security=[],
        opt={BODY_OPT: BodyRule.RAW},
        responses=problem_responses(401, 404, 422),
    )
    async def receive(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        state: State,
        account_id: FromPath[UUID],
    ) -> CallbackReceived:
        """A provider's signed callback for one of the brand's provider accounts, verified as
        the provider signs it: SendGrid's Event Webhook (ECDSA,
        `X-Twilio-Email-Event-Webhook-Signature`), Mailgun's `signature` object (HMAC-SHA256 of
        timestamp and token, each token once), Twilio's `X-Twilio-Signature`. An unknown account
        answers 404, a signature that does not verify 401; nothing is stored then. Each report
        (delivered, bounced, complained, opened, clicked, unsubscribed, failed) is applied once
        per message: a repeated callback changes nothing."""
        settings: Settings = state.settings
        url = settings.public_url.rstrip("/") + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        received = await hooks.receive(
            db_session,
            settings,
            account_id,
            url=url,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.body(),
        )
        return CallbackReceived(reports=received.reports, applied=received.applied)
