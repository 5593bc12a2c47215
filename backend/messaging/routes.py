"""REST routes of the ledger under ``/v1/brands/{brand_id}``: send a transactional message, read
messages and their timelines, read and change the pressure policy. The brand guard answers 404 for
a brand out of reach; a message of another brand is not found either."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Request, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_202_ACCEPTED

from backend.auth.scopes import needs
from backend.core.api import (
    PROFILE_READ_ERRORS,
    READ_ERRORS,
    WRITE_ERRORS,
    BrandController,
)
from backend.core.dependencies import DbSession, Paging, Tenant
from backend.core.idempotency import HANDLED_BY_ROUTE, KEY_DESCRIPTION
from backend.messaging import service
from backend.messaging.models import MessageChannel, MessageStatus
from backend.messaging.schemas import (
    MessageDetail,
    MessageEventOut,
    MessageOut,
    MessagePage,
    MessageSend,
    PressurePolicyOut,
    PressurePolicyUpdate,
)

KEY_DOC = (
    "Names the message (when the body has no `key`): the same key for the same profile and "
    "channel answers the same message, 202, sent once — also when the requests come at once "
    "(the ledger's dedupe key decides, no request waits for another's answer and none is "
    "answered 409). Kept with the message for `LEVIER_MESSAGE_RETENTION_MONTHS`."
)


class MessageController(BrandController):
    """The brand's messages: one ledger row per message, with its timeline."""

    path = "/v1/brands/{brand_id:uuid}/messages"
    tags = ["messages"]

    @post(
        "/",
        operation_id="sendMessage",
        summary="Send a transactional message",
        **needs("messages:write", opt={HANDLED_BY_ROUTE: True, KEY_DESCRIPTION: KEY_DOC}),
        status_code=HTTP_202_ACCEPTED,
        responses=WRITE_ERRORS,
    )
    async def send_message(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        tenant: Tenant,
        data: JSONBody[MessageSend],
    ) -> MessageOut:
        """Send one template to one profile (by `profileId` or an `identity` key), answering 202
        with the message. Idempotent: the `Idempotency-Key` header (or the body's `key`) names
        the message, so a retried request — even sent many times at once — answers the same
        message, sent once. A profile that cannot be reached on the channel (no address, bounced,
        suppressed, no consent for a non-transactional topic…) is still answered 202: the message
        is recorded with status `refused` and the reason in `statusReason` — or, with a
        `fallback`, the fallback channel's message is answered (the first one's refusal stays on
        its timeline). An unknown profile is 404 and records nothing."""
        message = await service.send(
            db_session, tenant, data, idempotency_key=request.headers.get("idempotency-key")
        )
        return MessageOut.of(message)

    @get(
        "/",
        operation_id="listMessages",
        summary="List messages",
        **needs("messages:read"),
        responses=READ_ERRORS,
    )
    async def list_messages(
        self,
        db_session: DbSession,
        page: Paging,
        status: Annotated[MessageStatus | None, QueryParameter()] = None,
        channel: Annotated[MessageChannel | None, QueryParameter()] = None,
        profile_id: Annotated[UUID | None, QueryParameter(name="profileId")] = None,
    ) -> MessagePage:
        """The brand's messages, oldest first, filtered by status, channel or profile."""
        items, cursor = await service.list_messages(
            db_session, page, status=status, channel=channel, profile_id=profile_id
        )
        return MessagePage(MessageOut.many(items), cursor)

    @get(
        "/{message_id:uuid}",
        operation_id="getMessage",
        summary="Read a message and its timeline",
        **needs("messages:read"),
        responses=READ_ERRORS,
    )
    async def get_message(self, db_session: DbSession, message_id: FromPath[UUID]) -> MessageDetail:
        """One message with every step of its timeline (queued, deferred until, sent, delivered,
        opened, clicked, bounced, refused or failed with the reason)."""
        message = await service.get_message(db_session, message_id)
        events = await service.get_timeline(db_session, message.id)
        out = MessageOut.of(message)
        return MessageDetail(
            **{f: getattr(out, f) for f in out.__struct_fields__},
            timeline=MessageEventOut.many(events),
        )


class ProfileMessagesController(BrandController):
    """A profile's messages."""

    path = "/v1/brands/{brand_id:uuid}/profiles/{profile_id:uuid}"
    tags = ["messages"]

    @get(
        "/messages",
        operation_id="listProfileMessages",
        summary="List a profile's messages",
        **needs("messages:read"),
        responses=PROFILE_READ_ERRORS,
    )
    async def profile_messages(
        self, db_session: DbSession, page: Paging, profile_id: FromPath[UUID]
    ) -> MessagePage:
        """The messages sent (or refused, deferred…) to the profile, oldest first."""
        items, cursor = await service.messages_of_profile(db_session, profile_id, page)
        return MessagePage(MessageOut.many(items), cursor)


class PressurePolicyController(BrandController):
    """The brand's commercial pressure policy and quiet hours."""

    path = "/v1/brands/{brand_id:uuid}/pressure-policy"
    tags = ["messages"]

    @get(
        "/",
        operation_id="getPressurePolicy",
        summary="Read the pressure policy",
        **needs("messages:read"),
        responses=READ_ERRORS,
    )
    async def get_policy(self, db_session: DbSession, tenant: Tenant) -> PressurePolicyOut:
        """Caps per rolling day, week and month (overall and per channel) and quiet hours;
        initialised from the brand settings' weekly cap and quiet hours."""
        return PressurePolicyOut.of(await service.get_policy(db_session, tenant))

    @patch(
        "/",
        operation_id="updatePressurePolicy",
        summary="Change the pressure policy",
        **needs("messages:write"),
        responses=WRITE_ERRORS,
    )
    async def update_policy(
        self, db_session: DbSession, tenant: Tenant, data: JSONBody[PressurePolicyUpdate]
    ) -> PressurePolicyOut:
        """Change caps or quiet hours (null removes one)."""
        return PressurePolicyOut.of(await service.update_policy(db_session, tenant, data))
