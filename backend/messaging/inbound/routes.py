"""Twilio's incoming-message webhook: public, authenticated by ``X-Twilio-Signature``.

The brand is in the URL (the request is scoped to it before anything is read); the account's
auth token then proves the request: an account of another brand is simply not found."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import Provide
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath

from backend.core.dependencies import DbSession, Tenant, provide_tenant
from backend.core.edge import BODY_OPT, BodyRule
from backend.core.errors import problem_responses
from backend.core.tenancy import TenantId
from backend.messaging.inbound import service


async def brand_from_path(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """The request session is scoped to the brand the URL names."""
    connection.state.tenant = TenantId(connection.path_params["brand_id"])


def signed_url(settings_public_url: str, request: Request[Any, Any, Any]) -> str:
    """The URL Twilio was given, hence signed: the deployment's public URL and this path."""
    query = request.url.query
    return settings_public_url.rstrip("/") + request.url.path + (f"?{query}" if query else "")


class InboundSmsController(Controller):
    """Where SMS providers post what people send to a brand's numbers."""

    path = "/v1/hooks/messaging"
    tags = ["messaging"]
    guards = [brand_from_path]
    dependencies = {"tenant": Provide(provide_tenant, sync_to_thread=False)}

    @post(
        "/{brand_id:uuid}/{account_id:uuid}/inbound-sms",
        operation_id="receiveInboundSms",
        summary="Receive an inbound SMS (Twilio)",
        status_code=200,
        security=[],
        media_type="text/xml",
        opt={BODY_OPT: BodyRule.RAW},  # form-encoded, read only once the signature holds
        responses=problem_responses(401, 404),
    )
    async def receive_sms(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        tenant: Tenant,
        state: State,
        account_id: FromPath[UUID],
    ) -> Response[str]:
        """A message a person sent to one of the account's numbers, as Twilio posts it
        (form-encoded, `X-Twilio-Signature`). STOP, STOPALL, UNSUBSCRIBE, CANCEL, END or QUIT
        unsubscribes the profile holding the sender's phone from SMS; START, YES or UNSTOP
        subscribes it again. A redelivered `MessageSid` changes nothing. Answers an empty TwiML
        response (Twilio then sends no reply of ours)."""
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        await service.receive_sms(
            db_session,
            tenant,
            state.settings,
            account_id,
            url=signed_url(state.settings.public_url, request),
            headers=headers,
            body=body,
        )
        return Response(service.EMPTY_TWIML, media_type="text/xml")
