"""The ledger's operations: record a message once per dedupe key, deliver it (gate → render →
provider → outcome), read messages and their timelines, and the pressure policy.

Delivering is :mod:`backend.messaging.delivery`. Services never commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
from backend.messaging.pressure import parse_hhmm
from backend.messaging.schemas import MessageSend, PressurePolicyUpdate
from backend.messaging.tracking.outcomes import ENGAGEMENT_EVENTS
from backend.profiles import lookup
from backend.profiles import service as profiles_service

DELIVER_TASK = "messaging.deliver"
# The profile events of a person's engagement with a message (tracking ingests them when a
# person opens or clicks; a machine's open or click — privacy proxy, scanner, prefetch — makes
# none): `email_opened`, `email_clicked`, `push_opened`, `push_clicked`, `sms_clicked`.
ENGAGEMENT_EVENT_NAMES: tuple[str, ...] = ENGAGEMENT_EVENTS
DELIVER_BATCH_TASK = "messaging.deliver_batch"
DELIVER_BATCH_SIZE = 500


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


@dataclass(frozen=True)
class RecordRequest:
    """One message to record (see :func:`record`; its dedupe key is the default one)."""

    source_kind: SourceKind
    source_key: str
    profile_id: UUID
    channel: MessageChannel
    template_id: UUID
    priority: MessagePriority
    topic: str | None = None
    data: dict[str, Any] | None = None
    fallback: dict[str, Any] | None = None
    deferrable: bool = True

    @property
    def dedupe_key(self) -> str:
        return f"{self.source_kind.value}:{self.source_key}:{self.profile_id}:{self.channel.value}"


@dataclass(frozen=True)
class Recorded:
    """A request's message: its id, whether this call wrote it, and its status now."""

    message_id: UUID
    created: bool
    status: MessageStatus
    status_reason: str | None


async def record_requests(
    session: AsyncSession, tenant: TenantId, requests: Sequence[RecordRequest]
) -> list[Recorded]:
    """:func:`record` for a batch (a campaign's or scenario steps'), in a constant number of
    statements: the keys claimed in one (and their holders read in one), the new messages and
    their ``queued`` timeline rows in one statement each, the messages recorded earlier read in
    one. One result per request, in order. Set-based: the messages are not in the session (the
    timeline is their record)."""
    if not requests:
        return []
    ids = {r.dedupe_key: new_id() for r in reversed(requests)}  # a key given twice: its first
    now = utcnow()
    claimed = await repository.claim_keys(session, list(ids.items()), now)
    holders = {key: ids[key] for key in claimed}
    holders.update(await repository.holders_of(session, [k for k in ids if k not in claimed]))
    rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    written: set[str] = set()
    for request in requests:
        key = request.dedupe_key
        if holders[key] != ids[key] or key in written:
            continue
        written.add(key)
        rows.append(
            {
                "tenant_id": tenant,
                "id": ids[key],
                "dedupe_key": key,
                "source_kind": request.source_kind,
                "source_key": request.source_key,
                "profile_id": request.profile_id,
                "channel": request.channel,
                "topic": request.topic,
                "priority": request.priority,
                "deferrable": request.deferrable,
                "template_id": request.template_id,
                "data": request.data or {},
                "fallback": request.fallback,
                "status": MessageStatus.QUEUED,
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
        )
        events.append(
            {
                "tenant_id": tenant,
                "message_id": ids[key],
                "id": new_id(),
                "kind": MessageStatus.QUEUED,
                "detail": None,
                "until": None,
                "url": None,
                "occurred_at": now,
                "created_at": now,
                "updated_at": now,
            }
        )
    await repository.insert_messages(session, rows)
    await repository.insert_events(session, events)
    earlier = [
        holders[k] for k in dict.fromkeys(r.dedupe_key for r in requests) if k not in written
    ]
    existing = {m.id: m for m in await repository.messages_by_ids(session, earlier)}
    results: list[Recorded] = []
    for request in requests:
        holder = holders[request.dedupe_key]
        if request.dedupe_key in written:
            results.append(Recorded(holder, True, MessageStatus.QUEUED, None))
            continue
        message = existing.get(holder)
        if message is None:  # pragma: no cover - kept together, dropped together
            raise NotFound("message not found")
        results.append(Recorded(holder, False, message.status, message.status_reason))
    return results


async def queue_delivery(
    session: AsyncSession, tenant: TenantId, message_ids: Sequence[UUID]
) -> None:
    """Queue the delivery of messages recorded in this transaction (after commit): one message
    alone, more as batches of the brand's due messages (a full batch queues the next)."""
    if len(message_ids) == 1:
        await enqueue(session, DELIVER_TASK, tenant=tenant, message_id=str(message_ids[0]))
        return
    for _ in range(0, len(message_ids), DELIVER_BATCH_SIZE):
        await enqueue(session, DELIVER_BATCH_TASK, tenant=tenant, limit=DELIVER_BATCH_SIZE)


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


# Recording many, holding and withdrawing a source's messages (campaigns) -----------------------


@dataclass(frozen=True)
class NewMessage:
    """One message of a batch to record (:func:`record_many`), under its own dedupe key. A
    ``template_version_id`` pins the version rendered (else the template's published one when
    sent); a ``sender_identity_id`` replaces the provider account's sender."""

    dedupe_key: str
    source_kind: SourceKind
    source_key: str
    profile_id: UUID
    channel: MessageChannel
    template_id: UUID
    priority: MessagePriority
    topic: str | None = None
    data: Mapping[str, Any] | None = None
    fallback: dict[str, Any] | None = None
    deferrable: bool = True
    template_version_id: UUID | None = None
    sender_identity_id: UUID | None = None


async def record_many(
    session: AsyncSession, tenant: TenantId, messages: Sequence[NewMessage]
) -> dict[str, UUID]:
    """Record each message once per dedupe key, set-based: the keys claimed in ONE
    ``INSERT … ON CONFLICT DO NOTHING``, the new messages (``queued``) in one INSERT, their
    timeline rows in one. A key recorded before — by an earlier run of the same batch, or
    concurrently — keeps its message. Every key's message id, new or not. Delivering them is
    the caller's to queue (:func:`deliver_later`)."""
    now = utcnow()
    wanted = {m.dedupe_key: m for m in messages}
    ids = {key: new_id() for key in wanted}
    claimed = await repository.claim_keys(session, list(ids.items()), now)
    rows = [
        {
            "tenant_id": tenant,
            "id": ids[key],
            "dedupe_key": key,
            "source_kind": m.source_kind,
            "source_key": m.source_key,
            "profile_id": m.profile_id,
            "channel": m.channel,
            "topic": m.topic,
            "priority": m.priority,
            "deferrable": m.deferrable,
            "template_id": m.template_id,
            "template_version_id": m.template_version_id,
            "data": dict(m.data or {}),
            "fallback": m.fallback,
            "status": MessageStatus.QUEUED,
            "attempts": 0,
            "sender_identity_id": m.sender_identity_id,
            "created_at": now,
            "updated_at": now,
        }
        for key, m in wanted.items()
        if key in claimed
    ]
    await repository.insert_messages(session, rows)
    await repository.insert_events(
        session,
        [
            {
                "tenant_id": tenant,
                "message_id": row["id"],
                "id": new_id(),
                "kind": MessageStatus.QUEUED,
                "detail": None,
                "until": None,
                "url": None,
                "occurred_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for row in rows
        ],
    )
    found = {key: ids[key] for key in claimed}
    found |= await repository.holders_of(session, [k for k in wanted if k not in claimed])
    return found


async def deliver_later(session: AsyncSession, tenant: TenantId) -> None:
    """Queue a batch delivery of the brand's due messages (a full batch queues the next)."""
    await enqueue(session, DELIVER_BATCH_TASK, tenant=tenant)


async def hold(session: AsyncSession, source_kind: SourceKind, source_keys: Sequence[str]) -> None:
    """From now on no worker claims these sources' waiting messages (those claimed already go
    on); they keep their status until :func:`lift_hold` or :func:`withdraw`."""
    await repository.hold(session, source_kind, source_keys)


async def lift_hold(
    session: AsyncSession, tenant: TenantId, source_kind: SourceKind, source_keys: Sequence[str]
) -> None:
    """Let workers claim these sources' messages again, and queue a delivery of those due."""
    await repository.lift_holds(session, source_kind, source_keys)
    await deliver_later(session, tenant)


async def withdraw(
    session: AsyncSession,
    tenant: TenantId,
    source_kind: SourceKind,
    source_keys: Sequence[str],
    reason: str,
    *,
    limit: int = 500,
) -> int:
    """Refuse up to ``limit`` of these sources' waiting (queued or deferred) messages with
    ``reason`` — on the timeline and told, as any refusal; how many. A message a worker has
    claimed already is not withdrawn (it is on its way)."""
    now = utcnow()
    taken = await repository.take_waiting(session, source_kind, source_keys, reason, now, limit)
    await repository.insert_events(
        session,
        [
            {
                "tenant_id": m.tenant_id,
                "message_id": m.id,
                "id": new_id(),
                "kind": MessageStatus.REFUSED,
                "detail": reason,
                "until": None,
                "url": None,
                "occurred_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for m in taken
        ],
    )
    await notify.tell_many(
        session, tenant, [notify.Told(m, MessageStatus.REFUSED, now, detail=reason) for m in taken]
    )
    return len(taken)


@dataclass
class SourceSummary:
    """What one source's messages became: how many are in each status, the refusals by reason
    (those replaced by a fallback message apart), and how many were seen opened and clicked."""

    statuses: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    replaced: int = 0
    opened: int = 0
    clicked: int = 0


async def source_summary(
    session: AsyncSession,
    source_kind: SourceKind,
    source_keys: Sequence[str],
    since: dt.datetime,
) -> dict[str, SourceSummary]:
    """Per source key, what its messages created since ``since`` became (two aggregate queries
    on the ledger's source index, whatever the number of messages)."""
    from backend.messaging.tracking import service as tracking

    floor = repository.id_floor(since)
    summaries = {key: SourceSummary() for key in source_keys}
    for key, status, reason, replaced, count in await repository.source_counts(
        session, source_kind, source_keys, floor
    ):
        summary = summaries.setdefault(key, SourceSummary())
        summary.statuses[status] = summary.statuses.get(status, 0) + count
        if replaced:
            summary.replaced += count
        elif status == MessageStatus.REFUSED.value:
            slug = reason or "refused"
            summary.refused[slug] = summary.refused.get(slug, 0) + count
    engaged = await tracking.engagement_by_source(session, source_kind, source_keys, floor)
    for key, (opened, clicked) in engaged.items():
        summary = summaries.setdefault(key, SourceSummary())
        summary.opened, summary.clicked = opened, clicked
    return summaries


async def in_flight(
    session: AsyncSession,
    source_kind: SourceKind,
    source_keys: Sequence[str],
    since: dt.datetime,
) -> int:
    """How many of these sources' messages created since ``since`` are still queued or being
    sent (deferred ones wait for their time: the gate's or the provider's business)."""
    return await repository.count_in_flight(
        session, source_kind, source_keys, repository.id_floor(since)
    )


async def sent_messages(
    session: AsyncSession, message_ids: Sequence[UUID]
) -> list[tuple[UUID, UUID, dt.datetime]]:
    """(message, profile, sent at) of those of these messages that were sent."""
    return await repository.sent_of(session, message_ids)


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


async def quiet_hours(session: AsyncSession, tenant: TenantId) -> tuple[dt.time, dt.time] | None:
    """The brand's quiet hours (start, end) as wall-clock times in each profile's zone (start
    after end: overnight), or None when it has none; campaigns and, by default, triggered
    messages are not sent within them."""
    policy = await gate.policy_of(session, tenant)
    start, end = parse_hhmm(policy.quiet_hours_start), parse_hhmm(policy.quiet_hours_end)
    if start is None or end is None or start == end:
        return None
    return start, end


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
