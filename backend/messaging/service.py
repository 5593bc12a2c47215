"""The ledger's operations: record a message once per dedupe key, deliver it (gate → render →
provider → outcome), read messages and their timelines, and the pressure policy.

Delivering is :mod:`backend.messaging.delivery`. Services never commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import utcnow
from backend.core.errors import InvalidInput, NotFound
from backend.core.ids import new_id
from backend.core.jobs import enqueue
from backend.core.pagination import PageRequest
from backend.core.signals import Signals
from backend.core.tenancy import TenantId
from backend.messaging import gate, notify, repository
from backend.messaging.models import (
    Message,
    MessageChannel,
    MessageEvent,
    MessagePriority,
    MessageStatus,
    PressurePolicy,
    SourceKind,
)
from backend.messaging.schemas import MessageSend, PressurePolicyUpdate
from backend.profiles import lookup
from backend.profiles import service as profiles_service

DELIVER_TASK = "messaging.deliver"
DELIVER_BATCH_TASK = "messaging.deliver_batch"


# Recording ------------------------------------------------------------------------------------


async def _resolve_profile(session: AsyncSession, data: MessageSend) -> UUID:
    if (data.profile_id is None) == (data.identity is None):
        raise InvalidInput(
            "name the profile by profileId or by identity, not both",
            errors=[{"field": "profileId"}],
        )
    if data.profile_id is not None:
        survivor = await profiles_service.survivor_of(session, data.profile_id)
    else:
        assert data.identity is not None
        key = (data.identity.kind, data.identity.value)
        survivor = (await lookup.owners_of_keys(session, [key])).get(key)
    if survivor is None:
        raise NotFound("profile not found")
    return survivor


async def send(
    session: AsyncSession,
    tenant: TenantId,
    data: MessageSend,
    *,
    idempotency_key: str | None = None,
) -> Message:
    """Record one transactional message (once per key: a retried request gets the same message)
    and queue its delivery in the caller's transaction. A profile that cannot be reached on the
    channel is recorded as refused with the reason — or, with a fallback, the fallback channel's
    message is recorded and returned."""
    profile_id = await _resolve_profile(session, data)
    source_key = data.key or idempotency_key or str(new_id())
    fallback = (
        {"channel": data.fallback.channel.value, "template_id": str(data.fallback.template_id)}
        if data.fallback is not None
        else None
    )
    message, created = await record(
        session,
        tenant,
        source_kind=SourceKind.TRANSACTIONAL,
        source_key=source_key,
        profile_id=profile_id,
        channel=data.channel,
        template_id=data.template_id,
        priority=MessagePriority.TRANSACTIONAL,
        topic=data.topic,
        data=data.data,
        fallback=fallback,
    )
    if not created:
        return await _final(session, message)
    profile = await profiles_service.get_profile(session, profile_id)
    reason = await gate.contactable(
        session, profile, message.channel, message.priority, message.topic
    )
    if reason is None:
        await enqueue(session, DELIVER_TASK, tenant=tenant, message_id=str(message.id))
        return message
    return await refuse_contact(session, tenant, message, reason) or message


async def _final(session: AsyncSession, message: Message) -> Message:
    """The message a retried request answers with: the fallback when the first was replaced."""
    if message.status is MessageStatus.REFUSED and message.fallback is not None:
        holder = await repository.holder_of(session, message.dedupe_key + ":fallback")
        replaced = await repository.get_message(session, holder) if holder else None
        if replaced is not None:
            return replaced
    return message


async def record(
    session: AsyncSession,
    tenant: TenantId,
    *,
    source_kind: SourceKind,
    source_key: str,
    profile_id: UUID,
    channel: MessageChannel,
    template_id: UUID,
    priority: MessagePriority,
    topic: str | None = None,
    data: dict[str, Any] | None = None,
    fallback: dict[str, Any] | None = None,
    fallback_of: UUID | None = None,
    deferrable: bool = True,
    dedupe_key: str | None = None,
) -> tuple[Message, bool]:
    """The message of this dedupe key (source, profile, channel), written now if new: (message,
    created). Campaigns and scenario steps record through here too."""
    key = dedupe_key or f"{source_kind.value}:{source_key}:{profile_id}:{channel.value}"
    message_id = new_id()
    holder = await repository.claim_key(session, key, message_id)
    if holder != message_id:
        existing = await repository.get_message(session, holder)
        if existing is None:  # pragma: no cover - kept together, dropped together
            raise NotFound("message not found")
        return existing, False
    message = Message(
        id=message_id,
        dedupe_key=key,
        source_kind=source_kind,
        source_key=source_key,
        profile_id=profile_id,
        channel=channel,
        topic=topic,
        priority=priority,
        deferrable=deferrable,
        template_id=template_id,
        data=data or {},
        fallback=fallback,
        fallback_of=fallback_of,
        status=MessageStatus.QUEUED,
    )
    session.add(message)
    repository.add_event(session, message_id, MessageStatus.QUEUED)
    await session.flush()
    return message, True


async def refuse_contact(
    session: AsyncSession, tenant: TenantId, message: Message, reason: str
) -> Message | None:
    """Refuse ``message`` (its channel cannot be reached); with a fallback, record and queue the
    fallback channel's message and return it. Both steps are on the timeline, and told (profile
    event ``message_refused``, webhook ``message.refused``)."""
    fallback = message.fallback if message.fallback_of is None else None
    if fallback is None:
        await refuse(session, tenant, message, reason)
        return None
    second, created = await record(
        session,
        tenant,
        source_kind=message.source_kind,
        source_key=message.source_key,
        profile_id=message.profile_id,
        channel=MessageChannel(fallback["channel"]),
        template_id=UUID(str(fallback["template_id"])),
        priority=message.priority,
        topic=message.topic,
        data=message.data,
        fallback_of=message.id,
        deferrable=message.deferrable,
        dedupe_key=message.dedupe_key + ":fallback",
    )
    detail = f"{reason}; fallback to {second.channel.value} (message {second.id})"
    await refuse(session, tenant, message, detail)
    if created:
        profile = await profiles_service.get_profile(session, second.profile_id)
        again = await gate.contactable(
            session, profile, second.channel, second.priority, second.topic
        )
        if again is not None:
            await refuse(session, tenant, second, again)
        else:
            await enqueue(session, DELIVER_TASK, tenant=tenant, message_id=str(second.id))
    return second


async def refuse(session: AsyncSession, tenant: TenantId, message: Message, reason: str) -> None:
    """The gate said no: refused with its reason (no pressure slot held), and told."""
    now = utcnow()
    _set_status(message, MessageStatus.REFUSED, reason)
    message.counted_at = None
    repository.add_event(session, message.id, MessageStatus.REFUSED, detail=reason, occurred_at=now)
    await notify.tell(session, tenant, message, MessageStatus.REFUSED, now, detail=reason)


def _set_status(message: Message, status: MessageStatus, reason: str | None = None) -> None:
    message.status = status
    message.status_reason = reason[:1000] if reason else None


# Reading ---------------------------------------------------------------------------------------


async def get_message(session: AsyncSession, message_id: UUID) -> Message:
    message = await repository.get_message(session, message_id)
    if message is None:
        raise NotFound("message not found")
    return message


async def get_timeline(session: AsyncSession, message_id: UUID) -> list[MessageEvent]:
    return await repository.timeline(session, message_id)


async def list_messages(
    session: AsyncSession,
    page: PageRequest,
    *,
    status: MessageStatus | None = None,
    channel: MessageChannel | None = None,
    profile_id: UUID | None = None,
) -> tuple[list[Message], str | None]:
    """The brand's messages, oldest first, filtered."""
    return await repository.list_messages(
        session,
        page,
        status=status.value if status else None,
        channel=channel.value if channel else None,
        profile_id=profile_id,
    )


async def messages_of_profile(
    session: AsyncSession, profile_id: UUID, page: PageRequest
) -> tuple[list[Message], str | None]:
    """A profile's messages (merged-away ids answer with the survivor's)."""
    profile = await profiles_service.get_profile(session, profile_id)
    return await repository.list_messages(session, page, profile_id=profile.id)


async def sent_counts(
    session: AsyncSession, since: dt.datetime, until: dt.datetime
) -> dict[MessageChannel, int]:
    """How many of the brand's messages were handed to their provider in [since, until), per
    channel (billing meters them)."""
    counts = await repository.sent_counts(session, since, until)
    return {channel: counts.get(channel.value, 0) for channel in MessageChannel}


async def release_held(session: AsyncSession, tenant: TenantId, reasons: Sequence[str]) -> int:
    """Deferred messages held for one of ``reasons`` (e.g. billing's paused sends) are due now,
    and a batch is queued to deliver them; how many."""
    released = await repository.release_deferred(session, reasons, utcnow())
    if released:
        await enqueue(session, DELIVER_BATCH_TASK, tenant=tenant)
    return released


# Pressure policy -------------------------------------------------------------------------------


async def get_policy(session: AsyncSession, tenant: TenantId) -> PressurePolicy:
    """The brand's pressure policy (initialised from its settings when first read)."""
    return await gate.policy_of(session, tenant)


async def update_policy(
    session: AsyncSession, tenant: TenantId, data: PressurePolicyUpdate
) -> PressurePolicy:
    policy = await gate.policy_of(session, tenant)
    for name in data.__struct_fields__:
        value = getattr(data, name)
        if value is msgspec.UNSET:
            continue
        if name == "channel_caps":
            value = {str(k): msgspec.to_builtins(v) for k, v in value.items()}
        setattr(policy, name, value)
    if (policy.quiet_hours_start is None) != (policy.quiet_hours_end is None):
        raise InvalidInput(
            "quiet hours need both a start and an end", errors=[{"field": "quietHoursEnd"}]
        )
    await session.flush()
    return policy


# Signals ---------------------------------------------------------------------------------------


async def follow_merge(
    session: AsyncSession, tenant: TenantId, survivor_id: UUID, merged_id: UUID
) -> None:
    """The merged profile's messages move to the survivor (and keep counting for pressure)."""
    await repository.repoint(session, merged_id, survivor_id)


def connect(signals: Signals) -> None:
    from backend.profiles.service import PROFILE_MERGED

    signals.connect(PROFILE_MERGED, follow_merge)
