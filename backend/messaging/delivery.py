"""Delivering one message: gate → render → provider → outcome, in three steps so that no
transaction stays open across the provider call.

:func:`prepare` claims the message in one statement, runs the gate, renders it (content's
``render_for``), instruments it (tracking's links and unsubscribe headers) and resolves its
provider — the caller commits. :func:`hand_over` calls the provider (outside any transaction;
the capture provider writes in the session, so its row commits with the outcome). Then
:func:`record_outcome` records ``sent`` or the failure — the caller commits. Every outcome is
on the timeline and told (:mod:`backend.messaging.notify`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.content import service as content_service
from backend.content.errors import RenderRefused
from backend.content.rendered import RenderedEmail, RenderedPush, RenderedSms
from backend.core import due_work
from backend.core.db import utcnow
from backend.core.jobs import enqueue
from backend.core.tenancy import TenantId
from backend.messaging import gate, notify, repository
from backend.messaging.devices import service as devices_service
from backend.messaging.models import Message, MessageChannel, MessageStatus
from backend.messaging.providers import registry
from backend.messaging.providers.base import (
    Outgoing,
    OutgoingEmail,
    OutgoingPush,
    OutgoingSms,
    Provider,
    ProviderError,
    ProviderKind,
    SendResult,
)
from backend.messaging.service import DELIVER_TASK, refuse, refuse_contact
from backend.messaging.tracking import links
from backend.profiles.models import Channel, Profile

# A claim older than this belongs to a worker that died: the message may be claimed again.
SEND_LEASE = dt.timedelta(seconds=20)
MAX_ATTEMPTS = 6
BACKOFF_BASE = dt.timedelta(seconds=30)
EXCERPT = 120
# Which devices a push provider reaches (the capture provider keeps a push to any device).
_DEVICE_KINDS = {ProviderKind.FCM: "fcm", ProviderKind.WEBPUSH: "webpush"}


@dataclass(frozen=True)
class Prepared:
    """A claimed message, gated and rendered: what the provider is handed, outside any
    transaction. A push has one outgoing per device of the profile, other channels one."""

    message_id: UUID
    outgoing: tuple[Outgoing, ...]
    provider: Provider


@dataclass(frozen=True)
class HandedOver:
    """What the provider answered, per outgoing (a result, or its error)."""

    prepared: Prepared
    answers: tuple[SendResult | ProviderError, ...]


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
        await refuse(session, tenant, message, "profile-erased")
        return None
    decision = await gate.decide(session, tenant, message, profile, now)
    if decision.outcome == "refuse":
        if decision.contact:
            await refuse_contact(session, tenant, message, decision.reason or "not-contactable")
        else:
            await refuse(session, tenant, message, decision.reason or "refused")
        return None
    if decision.outcome == "defer":
        assert decision.until is not None
        await defer(session, tenant, message, decision.until, decision.reason or "deferred")
        return None
    message.counted_at = now
    return await _render(session, tenant, settings, message, profile)


async def _render(
    session: AsyncSession, tenant: TenantId, settings: Settings, message: Message, profile: Profile
) -> Prepared | None:
    try:
        rendered = await content_service.render_for(
            session,
            tenant,
            settings,
            template_id=message.template_id,
            profile_id=message.profile_id,
            message_id=message.id,
            data=message.data,
            source={"kind": message.source_kind.value, "key": message.source_key},
        )
    except RenderRefused as exc:
        await fail(session, tenant, message, f"{exc.reason}: {exc.detail}")
        return None
    body = rendered.content
    message.template_version_id = rendered.version_id
    message.template_version = rendered.version
    message.locale = rendered.locale
    resolved = await registry.provider_for(session, tenant, settings, Channel(message.channel))
    message.provider_account_id = resolved.account_id
    message.provider_kind = resolved.kind.value
    common: dict[str, Any] = {"message_id": message.id, "tenant_id": tenant}
    outgoing: tuple[Outgoing, ...]
    if message.channel is MessageChannel.EMAIL and isinstance(body, RenderedEmail):
        message.subject = body.subject[:998]
        tracked = links.instrument_email(
            body,
            settings,
            tenant_id=tenant,
            message_id=message.id,
            profile_id=message.profile_id,
            topic=message.topic,
        )
        outgoing = (
            OutgoingEmail(
                **common,
                from_name=resolved.sender.from_name,
                from_address=resolved.sender.from_address,
                reply_to=resolved.sender.reply_to,
                to_address=profile.email or "",
                subject=body.subject,
                preheader=body.preheader,
                html=tracked.html,
                text=body.text,
                headers=tracked.headers,
            ),
        )
    elif message.channel is MessageChannel.SMS and isinstance(body, RenderedSms):
        message.subject = body.text[:EXCERPT]
        sender_id = resolved.sender.sms_sender_id or resolved.sender.from_name
        outgoing = (
            OutgoingSms(
                **common, sender_id=sender_id, to_phone=profile.phone or "", text=body.text
            ),
        )
    elif message.channel is MessageChannel.PUSH and isinstance(body, RenderedPush):
        message.subject = body.title[:EXCERPT]
        outgoing = await _pushes(session, settings, resolved.kind, common, body, profile.id)
        if not outgoing:
            await fail(session, tenant, message, "no-device: none the push provider reaches")
            return None
    else:
        await fail(
            session, tenant, message, "template-channel: the template is for another channel"
        )
        return None
    return Prepared(message.id, outgoing, resolved.provider)


async def _pushes(
    session: AsyncSession,
    settings: Settings,
    kind: ProviderKind,
    common: dict[str, Any],
    body: RenderedPush,
    profile_id: UUID,
) -> tuple[Outgoing, ...]:
    data = {str(k): v if isinstance(v, str) else str(v) for k, v in body.data.items()}
    data |= links.push_open_data(
        settings, tenant_id=common["tenant_id"], message_id=common["message_id"]
    )
    wanted = _DEVICE_KINDS.get(kind)
    return tuple(
        OutgoingPush(
            **common,
            device_id=device.id,
            target=device.target,
            title=body.title,
            body=body.body,
            image=body.image,
            deep_link=body.deep_link,
            data=data,
        )
        for device in await devices_service.devices_of(session, profile_id)
        if wanted is None or device.kind.value == wanted
    )


async def hand_over(prepared: Prepared) -> HandedOver:
    """The provider's answers (no transaction is open here, except the capture provider's
    own writes in the session)."""
    answers: list[SendResult | ProviderError] = []
    for outgoing in prepared.outgoing:
        try:
            answers.append(await prepared.provider.send(outgoing))
        except ProviderError as exc:
            answers.append(exc)
    return HandedOver(prepared, tuple(answers))


async def record_outcome(session: AsyncSession, tenant: TenantId, handed: HandedOver) -> None:
    """Sent when the provider took it (a push: for one device at least); devices the provider
    says are gone are forgotten; otherwise the failure (retried later when it may pass)."""
    sent: list[str | None] = []
    errors: list[ProviderError] = []
    for outgoing, answer in zip(handed.prepared.outgoing, handed.answers, strict=True):
        if isinstance(answer, SendResult):
            sent.append(answer.provider_message_id)
            continue
        errors.append(answer)
        if answer.gone and isinstance(outgoing, OutgoingPush):
            await devices_service.forget(session, outgoing.device_id)
    message_id = handed.prepared.message_id
    if sent:
        await record_sent(session, tenant, message_id, next((s for s in sent if s), None))
        return
    first = errors[0]
    retryable = any(e.retryable for e in errors) and not all(e.gone for e in errors)
    await record_failure(session, tenant, message_id, first.reason, retryable=retryable)


async def record_sent(
    session: AsyncSession, tenant: TenantId, message_id: UUID, provider_message_id: str | None
) -> None:
    message = await repository.get_message(session, message_id)
    if message is None:
        return
    now = utcnow()
    _set(message, MessageStatus.SENT)
    message.sent_at = now
    message.provider_message_id = provider_message_id
    repository.add_event(session, message.id, MessageStatus.SENT, occurred_at=now)
    await notify.tell(session, tenant, message, MessageStatus.SENT, now)


async def record_failure(
    session: AsyncSession, tenant: TenantId, message_id: UUID, reason: str, *, retryable: bool
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
    await fail(session, tenant, message, reason if not retryable else f"retries ran out: {reason}")


async def defer(
    session: AsyncSession, tenant: TenantId, message: Message, until: dt.datetime, reason: str
) -> None:
    """Defer to ``until``: due work the scheduler claims then (no sleeping job)."""
    now = utcnow()
    _set(message, MessageStatus.DEFERRED, reason)
    message.due_at = until
    message.counted_at = until
    repository.add_event(
        session, message.id, MessageStatus.DEFERRED, detail=reason, until=until, occurred_at=now
    )
    await due_work.schedule(
        session,
        DELIVER_TASK,
        until,
        tenant=tenant,
        dedupe_key=f"messaging:{message.id}:{message.attempts}:{until.isoformat()}",
        message_id=str(message.id),
    )
    await notify.tell(
        session, tenant, message, MessageStatus.DEFERRED, now, detail=reason, until=until
    )


async def fail(session: AsyncSession, tenant: TenantId, message: Message, reason: str) -> None:
    """Failed for good (no pressure slot held), and told."""
    now = utcnow()
    _set(message, MessageStatus.FAILED, reason)
    message.counted_at = None
    repository.add_event(session, message.id, MessageStatus.FAILED, detail=reason, occurred_at=now)
    await notify.tell(session, tenant, message, MessageStatus.FAILED, now, detail=reason)


def _set(message: Message, status: MessageStatus, reason: str | None = None) -> None:
    message.status = status
    message.status_reason = reason[:1000] if reason else None


async def requeue_stale(session: AsyncSession, tenant: TenantId, now: dt.datetime) -> int:
    """Queue again the messages whose worker died mid-send (claim older than the lease)."""
    stale = await repository.stale_sending(session, now - SEND_LEASE)
    for message_id in stale:
        await enqueue(session, DELIVER_TASK, tenant=tenant, message_id=str(message_id))
    return len(stale)
