"""GraphQL of the ledger: the REST shapes (`backend.messaging.schemas`) and the same service —
messages of the brand and of a profile (Relay connections with the REST filters), one message
with its timeline, `sendMessage`, and the pressure policy."""

from __future__ import annotations

from uuid import UUID

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.graphql_entities import entity_type, graphql_enum, input_type, struct_of
from backend.core.graphql_fields import BrandUnit, brand_mutation, brand_query
from backend.core.graphql_results import parse_id
from backend.core.relay import Connection, Node
from backend.messaging import service
from backend.messaging.models import MessageChannel, MessagePriority, MessageStatus, SourceKind
from backend.messaging.schemas import (
    ChannelCaps,
    Fallback,
    Identity,
    MessageDetail,
    MessageEventOut,
    MessageOut,
    MessageSend,
    PressurePolicyOut,
    PressurePolicyUpdate,
)

READ, WRITE = "messages:read", "messages:write"
graphql_enum(MessageStatus, "MessageStatus")
graphql_enum(MessageChannel, "MessageChannel")
graphql_enum(MessagePriority, "MessagePriority")
graphql_enum(SourceKind, "MessageSourceKind")


async def detail_of(session: AsyncSession, message_id: UUID) -> MessageDetail:
    """A message with its timeline (REST's `getMessage` answer)."""
    message = await service.get_message(session, message_id)
    events = await service.get_timeline(session, message.id)
    out = MessageOut.of(message)
    return MessageDetail(
        **{f: getattr(out, f) for f in out.__struct_fields__},
        timeline=MessageEventOut.many(events),
    )


@entity_type(MessageEventOut, name="MessageEvent")
class MessageEventType:
    """One step of a message's timeline."""


@entity_type(MessageOut, name="Message", node=(READ, detail_of))
class MessageType(Node):
    """One message of the ledger (its timeline: `message(id:)`)."""


@entity_type(MessageDetail, name="MessageDetail")
class MessageDetailType:
    """A message and every step of its timeline."""


@entity_type(ChannelCaps, name="ChannelCaps")
class ChannelCapsType:
    pass


@entity_type(PressurePolicyOut, name="PressurePolicy")
class PressurePolicyType:
    pass


@input_type(Identity, name="MessageIdentityInput")
class MessageIdentityInput:
    pass


@input_type(Fallback, name="MessageFallbackInput")
class MessageFallbackInput:
    pass


@input_type(MessageSend, name="SendMessageInput")
class SendMessageInput:
    pass


@input_type(PressurePolicyUpdate, name="UpdatePressurePolicyInput")
class UpdatePressurePolicyInput:
    pass


@strawberry.type
class MessagesQuery:
    @brand_query(READ)
    async def messages(
        self,
        unit: BrandUnit,
        first: int = 50,
        after: str | None = None,
        status: MessageStatus | None = None,
        channel: MessageChannel | None = None,
        profile_id: strawberry.ID | None = None,
    ) -> Connection[MessageType]:
        """The brand's messages, oldest first, filtered by status, channel or profile."""
        page = unit.page(first, after)
        profile = parse_id(profile_id, "Profile") if profile_id is not None else None
        items, cursor = await service.list_messages(
            unit.session,
            page,
            status=MessageStatus(status.value) if status else None,
            channel=MessageChannel(channel.value) if channel else None,
            profile_id=profile,
        )
        return unit.connection(MessageOut.many(items), cursor, page)

    @brand_query(READ)
    async def profile_messages(
        self,
        unit: BrandUnit,
        profile_id: strawberry.ID,
        first: int = 50,
        after: str | None = None,
    ) -> Connection[MessageType]:
        """The messages sent (or refused, deferred…) to a profile, oldest first."""
        page = unit.page(first, after)
        profile = parse_id(profile_id, "Profile")
        items, cursor = await service.messages_of_profile(unit.session, profile, page)
        return unit.connection(MessageOut.many(items), cursor, page)

    @brand_query(READ, missing_is_null=True)
    async def message(self, unit: BrandUnit, id: strawberry.ID) -> MessageDetailType | None:
        """One message and its timeline (null when the brand has none with this id)."""
        return await detail_of(unit.session, parse_id(id, "Message"))

    @brand_query(READ)
    async def pressure_policy(self, unit: BrandUnit) -> PressurePolicyType:
        """Caps per rolling day, week and month (overall and per channel) and quiet hours."""
        policy = await service.get_policy(unit.session, unit.tenant)
        return PressurePolicyOut.of(policy)


@strawberry.type
class MessagesMutation:
    @brand_mutation(WRITE)
    async def send_message(self, unit: BrandUnit, input: SendMessageInput) -> MessageType:
        """Send one template to one profile (by `profileId` or an `identity`). The input's `key`
        makes it idempotent (the same key answers the same message, sent once); a profile that
        cannot be reached is recorded `refused` with the reason (or its `fallback` answered)."""
        message = await service.send(unit.session, unit.tenant, struct_of(MessageSend, input))
        return MessageOut.of(message)

    @brand_mutation(WRITE)
    async def update_pressure_policy(
        self, unit: BrandUnit, input: UpdatePressurePolicyInput
    ) -> PressurePolicyType:
        """Change caps or quiet hours (null removes one)."""
        data = struct_of(PressurePolicyUpdate, input)
        policy = await service.update_policy(unit.session, unit.tenant, data)
        return PressurePolicyOut.of(policy)
