"""The ledger's operations: record a message once per dedupe key, deliver it (gate → render →
provider → outcome), read messages and their timelines, and the pressure policy.

Delivery is split in three steps so that no transaction stays open across the provider call:
:func:`prepare` (claim in one statement, gate, render; the caller commits), the provider's send,
then :func:`record_sent` / :func:`record_failure` (the caller commits). Services never commit.
"""

from __future__ import annotations

import datetime as dt
import importlib
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.core.db import utcnow
from backend.core.errors import InvalidInput, NotFound
from backend.core.ids import new_id
from backend.core.jobs import enqueue
from backend.core.pagination import PageRequest
from backend.core.signals import Signals
from backend.core.tenancy import TenantId
from backend.messaging import gate, repository
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
# A claim older than this belongs to a worker that died: the message may be claimed again.
SEND_LEASE = dt.timedelta(seconds=20)
MAX_ATTEMPTS = 6
BACKOFF_BASE = dt.timedelta(seconds=30)
EXCERPT = 120


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
    fallback channel's message and return it. Both steps are on the timeline."""
    fallback = message.fallback if message.fallback_of is None else None
    if fallback is None:
        _set_status(message, MessageStatus.REFUSED, reason)
        repository.add_event(session, message.id, MessageStatus.REFUSED, detail=reason)
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
    _set_status(message, MessageStatus.REFUSED, detail)
    repository.add_event(session, message.id, MessageStatus.REFUSED, detail=detail)
    if created:
        profile = await profiles_service.get_profile(session, second.profile_id)
        again = await gate.contactable(
            session, profile, second.channel, second.priority, second.topic
        )
        if again is not None:
            _set_status(second, MessageStatus.REFUSED, again)
            repository.add_event(session, second.id, MessageStatus.REFUSED, detail=again)
        else:
            await enqueue(session, DELIVER_TASK, tenant=tenant, message_id=str(second.id))
    return second


def _set_status(message: Message, status: MessageStatus, reason: str | None = None) -> None:
    message.status = status
    message.status_reason = reason[:1000] if reason else None


# Delivering ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A claimed message, gated and rendered: what the provider is handed, outside any
    transaction."""

    message_id: UUID
    outgoing: Any  # an Outgoing* of backend.messaging.providers.base
    provider: Any  # the Provider


async def prepare(
    session: AsyncSession, tenant: TenantId, settings: Settings, message_id: UUID
) -> Prepared | None:
    """Claim the message (one statement), run the gate and render it. None when there is
    nothing to send now (claimed elsewhere, already done, refused, deferred or failed — each
    recorded)."""
    now = utcnow()
    message = await repository.claim_for_sending(session, message_id, now, SEND_LEASE)
    if message is None:
        return None
    profile = await gate.current_profile(session, message)
    if profile is None:
        _refuse(session, message, "profile-erased")
        return None
    decision = await gate.decide(session, tenant, message, profile, now)
    if decision.outcome == "refuse":
        if decision.contact:
            await refuse_contact(session, tenant, message, decision.reason or "not-contactable")
        else:
            _refuse(session, message, decision.reason or "refused")
        return None
    if decision.outcome == "defer":
        assert decision.until is not None
        await defer(session, tenant, message, decision.until, decision.reason or "deferred")
        return None
    message.counted_at = now
    return await _render(session, tenant, settings, message, profile)


async def _render(
    session: AsyncSession, tenant: TenantId, settings: Settings, message: Message, profile: Any
) -> Prepared | None:
    content = importlib.import_module("backend.content.service")
    errors = importlib.import_module("backend.content.errors")
    registry = importlib.import_module("backend.messaging.providers.registry")
    base = importlib.import_module("backend.messaging.providers.base")
    try:
        rendered = await content.render_for(
            session,
            tenant,
            settings,
            template_id=message.template_id,
            profile_id=message.profile_id,
            message_id=message.id,
            data=message.data,
            source=message.source_kind.value,
        )
    except errors.RenderRefused as exc:
        _fail(session, message, f"{exc.reason}: {exc.detail}")
        return None
    message.template_version_id = rendered.version_id
    message.template_version = rendered.version
    message.locale = rendered.locale
    resolved = await registry.provider_for(session, tenant, settings, message.channel.value)
    message.provider_account_id = resolved.account_id
    message.provider_kind = str(resolved.kind)
    body = rendered.content
    common = {"message_id": message.id, "tenant_id": tenant}
    if message.channel is MessageChannel.EMAIL:
        message.subject = body.subject[:998]
        outgoing = base.OutgoingEmail(
            **common,
            from_name=resolved.sender.from_name,
            from_address=resolved.sender.from_address,
            reply_to=getattr(resolved.sender, "reply_to", None),
            to_address=profile.email,
            subject=body.subject,
            preheader=body.preheader,
            html=body.html,
            text=body.text,
        )
        outgoing = await _instrument(session, settings, outgoing, body)
    elif message.channel is MessageChannel.SMS:
        message.subject = body.text[:EXCERPT]
        outgoing = base.OutgoingSms(
            **common,
            sender_id=resolved.sender.sms_sender_id,
            to_phone=profile.phone,
            text=body.text,
        )
    else:
        _fail(session, message, "push delivery needs the devices part (not merged)")
        return None
    return Prepared(message.id, outgoing, resolved.provider)


async def _instrument(session: AsyncSession, settings: Settings, outgoing: Any, body: Any) -> Any:
    """Tracking's link rewriting and unsubscribe headers, when that part is present."""
    try:
        links = importlib.import_module("backend.messaging.tracking.links")
    except ImportError:
        return outgoing  # sent as rendered
    instrumented: Any = await links.instrument(session, settings, outgoing, body)
    return instrumented


async def record_sent(
    session: AsyncSession, tenant: TenantId, message_id: UUID, provider_message_id: str | None
) -> None:
    message = await repository.get_message(session, message_id)
    if message is None:
        return
    now = utcnow()
    _set_status(message, MessageStatus.SENT)
    message.sent_at = now
    message.provider_message_id = provider_message_id
    repository.add_event(session, message.id, MessageStatus.SENT, occurred_at=now)


async def record_failure(
    session: AsyncSession,
    tenant: TenantId,
    message_id: UUID,
    reason: str,
    *,
    retryable: bool,
    gone: bool = False,
) -> None:
    """A provider refusal: retryable → deferred with exponential backoff (bounded attempts, then
    failed); permanent → failed with the provider's reason."""
    message = await repository.get_message(session, message_id)
    if message is None:
        return
    if retryable and message.attempts < MAX_ATTEMPTS:
        until = utcnow() + BACKOFF_BASE * (2 ** (message.attempts - 1))
        await defer(session, tenant, message, until, f"provider: {reason}")
        return
    _fail(session, message, reason if not retryable else f"gave up after retries: {reason}")


async def defer(
    session: AsyncSession, tenant: TenantId, message: Message, until: dt.datetime, reason: str
) -> None:
    """Defer to ``until``: due work the scheduler claims then (no sleeping job)."""
    from backend.core import due_work

    _set_status(message, MessageStatus.DEFERRED, reason)
    message.due_at = until
    message.counted_at = until
    repository.add_event(session, message.id, MessageStatus.DEFERRED, detail=reason, until=until)
    await due_work.schedule(
        session,
        DELIVER_TASK,
        until,
        tenant=tenant,
        dedupe_key=f"messaging:{message.id}:{message.attempts}:{until.isoformat()}",
        message_id=str(message.id),
    )


def _refuse(session: AsyncSession, message: Message, reason: str) -> None:
    _set_status(message, MessageStatus.REFUSED, reason)
    message.counted_at = None
    repository.add_event(session, message.id, MessageStatus.REFUSED, detail=reason)


def _fail(session: AsyncSession, message: Message, reason: str) -> None:
    _set_status(message, MessageStatus.FAILED, reason)
    message.counted_at = None
    repository.add_event(session, message.id, MessageStatus.FAILED, detail=reason)


async def requeue_stale(session: AsyncSession, tenant: TenantId, now: dt.datetime) -> int:
    """Queue again the messages whose worker died mid-send (claim older than the lease)."""
    stale = await repository.stale_sending(session, now - SEND_LEASE)
    for message_id in stale:
        await enqueue(session, DELIVER_TASK, tenant=tenant, message_id=str(message_id))
    return len(stale)


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
