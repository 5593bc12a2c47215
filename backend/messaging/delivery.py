"""Delivering messages in batches: claim → gate → render → provider → outcome, in three steps
so that no transaction stays open across the provider calls.

:func:`prepare_batch` claims up to N due messages of the brand in ONE statement, runs the gate
for the whole batch on set-based reads (profiles, consents, the pressure locks, counts and policy:
a handful of queries per batch), renders the sendable messages (content's ``render_many``, given
the profiles the gate read), instruments each (tracking's links and unsubscribe headers),
resolves the provider once per channel and writes every claimed message back set-based — its
claim, its pressure slot or its outcome: one UPDATE, one INSERT of timeline rows, one ingest of
profile events — the caller commits. :func:`hand_over` calls the providers with
bounded concurrency, outside any transaction (the capture provider writes in the session, one
send at a time, so its rows commit with the outcome). Then :func:`record_outcomes` records
``sent`` or the failures set-based — the caller commits. A message delivered alone (the
transactional API's) is a batch of one: the same code path. Every outcome is on the timeline
and told (:mod:`backend.messaging.notify`)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.billing import service as billing_service
from backend.config import Settings
from backend.content import service as content_service
from backend.content.errors import RenderRefused
from backend.content.rendered import RenderedEmail, RenderedPush, RenderedSms
from backend.core import due_work
from backend.core.db import utcnow
from backend.core.ids import new_id
from backend.core.jobs import enqueue
from backend.core.metrics import count_send_outcomes
from backend.core.tenancy import TenantId
from backend.messaging import gate, notify, repository
from backend.messaging.accounts import repository as accounts_repository
from backend.messaging.devices import service as devices_service
from backend.messaging.models import Message, MessageChannel, MessagePriority, MessageStatus
from backend.messaging.pressure import zone_of
from backend.messaging.providers import registry
from backend.messaging.providers.base import (
    Outgoing,
    OutgoingEmail,
    OutgoingPush,
    OutgoingSms,
    Provider,
    ProviderError,
    ProviderKind,
    SenderIdentity,
    SendResult,
)
from backend.messaging.service import DELIVER_TASK, refuse_contact
from backend.messaging.tracking import links
from backend.profiles import consents as consents_service
from backend.profiles import repository as profiles_repository
from backend.profiles.models import Channel, Profile
from backend.tenancy import service as tenancy_service

MAX_ATTEMPTS = 6
BACKOFF_BASE = dt.timedelta(seconds=30)
EXCERPT = 120
BATCH_SIZE = 500  # messages claimed at once by one task
SEND_CONCURRENCY = 32  # provider calls in flight per batch (a provider's pool bounds it too)
# Which devices a push provider reaches (the capture provider keeps a push to any device).
_DEVICE_KINDS = {ProviderKind.FCM: "fcm", ProviderKind.WEBPUSH: "webpush"}


@dataclass(frozen=True)
class Prepared:
    """A claimed message, gated and rendered: what the provider is handed, outside any
    transaction. A push has one outgoing per device of the profile, other channels one. The
    message is detached from the session (written back set-based)."""

    message: Message
    outgoing: tuple[Outgoing, ...]
    provider: Provider

    @property
    def message_id(self) -> UUID:
        return self.message.id


@dataclass(frozen=True)
class HandedOver:
    """What the provider answered, per outgoing (a result, or its error)."""

    prepared: Prepared
    answers: tuple[SendResult | ProviderError, ...]


@dataclass
class Outcomes:
    """What a batch changed, written in a few statements by :meth:`write`: the messages' new
    state, their timeline rows, the deferrals' due work and what is told of each outcome."""

    now: dt.datetime = field(default_factory=utcnow)
    messages: list[Message] = field(default_factory=list)  # written back
    written: set[UUID] = field(default_factory=set)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    told: list[notify.Told] = field(default_factory=list)
    deferred: list[Message] = field(default_factory=list)

    def step(
        self,
        message: Message,
        status: MessageStatus,
        reason: str | None = None,
        until: dt.datetime | None = None,
    ) -> None:
        message.status = status
        message.status_reason = reason[:1000] if reason else None
        self.hold(message)
        self.timeline.append(
            {
                "tenant_id": message.tenant_id,
                "message_id": message.id,
                "id": new_id(),
                "kind": status,
                "detail": reason[:1000] if reason else None,
                "until": until,
                "url": None,
                "occurred_at": self.now,
                "created_at": self.now,
                "updated_at": self.now,
            }
        )
        self.told.append(notify.Told(message, status, self.now, detail=reason, until=until))

    def hold(self, message: Message) -> None:
        """Write the message back as it is (a claimed one handed over: its claim and its
        pressure slot commit together)."""
        if message.id not in self.written:
            self.written.add(message.id)
            self.messages.append(message)

    def refuse(self, message: Message, reason: str) -> None:
        """The gate said no: refused with its reason (no pressure slot held)."""
        message.counted_at = None
        self.step(message, MessageStatus.REFUSED, reason)

    def defer(self, message: Message, until: dt.datetime, reason: str) -> None:
        """Deferred to ``until``: due work the scheduler claims then (no sleeping job)."""
        message.due_at = until
        message.counted_at = until
        self.deferred.append(message)
        self.step(message, MessageStatus.DEFERRED, reason, until)

    def fail(self, message: Message, reason: str) -> None:
        """Failed for good (no pressure slot held)."""
        message.counted_at = None
        self.step(message, MessageStatus.FAILED, reason)

    def sent(self, message: Message, provider_message_id: str | None) -> None:
        message.sent_at = self.now
        message.provider_message_id = provider_message_id
        self.step(message, MessageStatus.SENT)

    async def write(self, session: AsyncSession, tenant: TenantId) -> None:
        await repository.write_back(session, self.messages, self.now)
        await repository.insert_events(session, self.timeline)
        for message in self.deferred:
            assert message.due_at is not None
            until = message.due_at
            await due_work.schedule(
                session,
                DELIVER_TASK,
                until,
                tenant=tenant,
                dedupe_key=f"messaging:{message.id}:{message.attempts}:{until.isoformat()}",
                message_id=str(message.id),
            )
        await notify.tell_many(session, tenant, self.told)
        count_send_outcomes((str(m.channel), m.provider_kind, str(m.status)) for m in self.messages)


async def prepare_batch(
    session: AsyncSession,
    tenant: TenantId,
    settings: Settings,
    *,
    message_ids: Sequence[UUID] | None = None,
    limit: int = BATCH_SIZE,
) -> tuple[int, list[Prepared]]:
    """Claim up to ``limit`` due messages (among ``message_ids`` when given) in one statement,
    gate and render them: (how many were claimed, those to hand to a provider). The others are
    refused, deferred or failed, each recorded with its reason. The caller commits."""
    now = utcnow()
    lease = dt.timedelta(seconds=settings.message_send_lease_seconds)
    claimed = await repository.claim_batch(session, now, lease, limit, message_ids)
    if not claimed:
        return 0, []
    outcomes = Outcomes(now=now)
    sendable = await _gate(session, tenant, claimed, outcomes)
    sendable = await _billing_hold(session, tenant, settings, sendable, outcomes)
    prepared: list[Prepared] = []
    resolved: dict[MessageChannel, registry.Resolved] = {}
    requests = [
        content_service.RenderRequest(
            template_id=message.template_id,
            profile_id=message.profile_id,
            message_id=message.id,
            data=message.data,
            source={"kind": message.source_kind.value, "key": message.source_key},
            # A version pinned when recorded (a campaign's variant) is the one rendered.
            version_id=message.template_version_id,
        )
        for message, _ in sendable
    ]
    # Every message's render in a constant number of queries (content's batch API).
    renders = await content_service.render_many(
        session, tenant, settings, requests, profiles={p.id: p for _, p in sendable}
    )
    senders = await _senders(session, settings, [m for m, _ in sendable])
    for (message, profile), rendered in zip(sendable, renders, strict=True):
        message.counted_at = outcomes.now
        one = await _outgoing(
            session,
            tenant,
            settings,
            message,
            profile,
            rendered,
            resolved,
            outcomes,
            senders.get(message.sender_identity_id) if message.sender_identity_id else None,
        )
        if one is not None:
            # Its claim and its slot commit together (a racing batch counts it); its outcome
            # is written after the send.
            outcomes.hold(message)
            prepared.append(one)
    await outcomes.write(session, tenant)
    return len(claimed), prepared


async def _senders(
    session: AsyncSession, settings: Settings, messages: Sequence[Message]
) -> dict[UUID, SenderIdentity]:
    """The sender identities some messages name instead of their account's (one read each;
    an identity deleted since leaves those messages to the account's sender)."""
    found: dict[UUID, SenderIdentity] = {}
    for identity_id in {m.sender_identity_id for m in messages if m.sender_identity_id}:
        identity = await accounts_repository.get_identity(session, identity_id)
        if identity is not None:
            found[identity_id] = registry.sender_of(settings, identity)
    return found


async def _gate(
    session: AsyncSession, tenant: TenantId, claimed: list[Message], outcomes: Outcomes
) -> list[tuple[Message, Profile]]:
    """The gate for the whole batch, on set-based reads; (message, profile) of those to send."""
    now = outcomes.now
    wanted = list({m.profile_id for m in claimed})
    profiles = {p.id: p for p in await profiles_repository.profiles_by_ids(session, wanted)}
    of: dict[UUID, Profile] = {}
    for message in claimed:
        profile = profiles.get(message.profile_id)
        if profile is None:  # merged (followed to the survivor) or erased: rare, one by one
            profile = await gate.current_profile(session, message)
            if profile is not None:
                profiles[profile.id] = profile
        if profile is not None:
            of[message.id] = profile
    changes = await consents_service.current_of_many(session, list({p.id for p in of.values()}))
    candidates: list[tuple[Message, Profile]] = []
    for message in claimed:
        profile = of.get(message.id)
        if profile is None:
            outcomes.refuse(message, "profile-erased")
            continue
        has_device = message.channel is MessageChannel.PUSH and (
            await devices_service.count_devices(session, profile.id) > 0
        )
        reason = gate.contact_reason(
            profile,
            changes.get(profile.id, []),
            message.channel,
            message.priority,
            message.topic,
            has_device=has_device,
        )
        if reason is not None:
            if message.fallback is not None and message.fallback_of is None:
                # The fallback records a second message: the ORM path, one by one (rare).
                attached = await repository.get_message(session, message.id)
                assert attached is not None
                attached.profile_id = message.profile_id
                attached.claimed_at = message.claimed_at
                attached.attempts = message.attempts
                await refuse_contact(session, tenant, attached, reason)
                continue
            outcomes.refuse(message, reason)
            continue
        candidates.append((message, profile))
    paced = [(m, p) for m, p in candidates if m.priority is not MessagePriority.TRANSACTIONAL]
    if not paced:
        return candidates
    # Pressure: every paced profile locked in one statement (a stable order), then one count.
    await repository.lock_profiles_pressure(session, [p.id for _, p in paced])
    # Decide at a moment after the locks: a batch that held them before us committed slots at
    # times before this one, which the windows then count (a slot "later than now" would not).
    now = outcomes.now = utcnow()
    policy = gate.as_policy(await gate.policy_of(session, tenant))
    counted = await repository.counted_of_many(
        session, [p.id for _, p in paced], now, [m.id for m in claimed]
    )
    brand_zone = (await tenancy_service.get_brand(session, tenant)).time_zone
    sendable: list[tuple[Message, Profile]] = []
    for message, profile in candidates:
        if message.priority is MessagePriority.TRANSACTIONAL:
            sendable.append((message, profile))
            continue
        slots = counted.setdefault(profile.id, [])
        zone = zone_of(profile.time_zone, brand_zone)
        decision = gate.slot_decision(policy, zone, slots, message, now)
        if decision.outcome == "send":
            slots.append((message.channel.value, now))  # the next message of the batch sees it
            sendable.append((message, profile))
        elif decision.outcome == "defer":
            assert decision.until is not None
            slots.append((message.channel.value, decision.until))
            outcomes.defer(message, decision.until, decision.reason or "deferred")
        else:
            outcomes.refuse(message, decision.reason or "refused")
    return sendable


async def _billing_hold(
    session: AsyncSession,
    tenant: TenantId,
    settings: Settings,
    sendable: list[tuple[Message, Profile]],
    outcomes: Outcomes,
) -> list[tuple[Message, Profile]]:
    """Billing's word on the batch (read once): while sends are paused, the brand read-only or
    the month's allowance spent, non-transactional messages are deferred (held, not dropped);
    transactional ones pass up to the grace margin, then are refused."""
    allowance = await billing_service.send_allowance(session, tenant, settings)
    kept: list[tuple[Message, Profile]] = []
    for message, profile in sendable:
        transactional = message.priority is MessagePriority.TRANSACTIONAL
        held = allowance.take(message.channel.value, transactional=transactional)
        if held is None:
            kept.append((message, profile))
        elif held.until is not None:
            outcomes.defer(message, held.until, held.reason)
        else:
            outcomes.refuse(message, held.reason)
    return kept


async def _outgoing(
    session: AsyncSession,
    tenant: TenantId,
    settings: Settings,
    message: Message,
    profile: Profile,
    rendered: content_service.RenderedMessage | RenderRefused,
    resolved_of: dict[MessageChannel, registry.Resolved],
    outcomes: Outcomes,
    sender_override: SenderIdentity | None = None,
) -> Prepared | None:
    """What the provider is handed for one rendered message (its render refused: failed);
    ``sender_override`` in place of the account's sender (the provider still signs DKIM with
    the account's identity key)."""
    if isinstance(rendered, RenderRefused):
        outcomes.fail(message, f"{rendered.reason}: {rendered.detail}")
        return None
    body = rendered.content
    message.template_version_id = rendered.version_id
    message.template_version = rendered.version
    message.locale = rendered.locale
    resolved = resolved_of.get(message.channel)
    if resolved is None:
        resolved = await registry.provider_for(session, tenant, settings, Channel(message.channel))
        resolved_of[message.channel] = resolved
    message.provider_account_id = resolved.account_id
    message.provider_kind = resolved.kind.value
    sender = sender_override or resolved.sender
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
                from_name=sender.from_name,
                from_address=sender.from_address,
                reply_to=sender.reply_to,
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
        sender_id = sender.sms_sender_id or sender.from_name
        outgoing = (
            OutgoingSms(
                **common, sender_id=sender_id, to_phone=profile.phone or "", text=body.text
            ),
        )
    elif message.channel is MessageChannel.PUSH and isinstance(body, RenderedPush):
        message.subject = body.title[:EXCERPT]
        outgoing = await _pushes(session, settings, resolved.kind, common, body, profile.id)
        if not outgoing:
            outcomes.fail(message, "no-device: none the push provider reaches")
            return None
    else:
        outcomes.fail(message, "template-channel: the template is for another channel")
        return None
    return Prepared(message, outgoing, resolved.provider)


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


async def hand_over(prepared: Sequence[Prepared]) -> list[HandedOver]:
    """The providers' answers, in order (no transaction is open here). External providers are
    called concurrently, at most :data:`SEND_CONCURRENCY` at once; the capture provider writes
    in the session, so its sends go one at a time."""
    limit = asyncio.Semaphore(SEND_CONCURRENCY)

    async def one(item: Prepared) -> HandedOver:
        answers: list[SendResult | ProviderError] = []
        for outgoing in item.outgoing:
            try:
                if item.provider.kind is ProviderKind.CAPTURE:
                    answers.append(await item.provider.send(outgoing))
                else:
                    async with limit:
                        answers.append(await item.provider.send(outgoing))
            except ProviderError as exc:
                answers.append(exc)
        return HandedOver(item, tuple(answers))

    captured = [await one(p) for p in prepared if p.provider.kind is ProviderKind.CAPTURE]
    external = await asyncio.gather(
        *(one(p) for p in prepared if p.provider.kind is not ProviderKind.CAPTURE)
    )
    done = {h.prepared.message_id: h for h in [*captured, *external]}
    return [done[p.message_id] for p in prepared]


async def record_outcomes(
    session: AsyncSession, tenant: TenantId, handed: Sequence[HandedOver]
) -> None:
    """Per message: sent when the provider took it (a push: for one device at least); devices
    the provider says are gone are forgotten; otherwise the failure — retryable: deferred with
    exponential backoff (bounded attempts, then failed); permanent: failed with the provider's
    reason. Written set-based; the caller commits."""
    outcomes = Outcomes()
    for item in handed:
        message = item.prepared.message
        sent: list[str | None] = []
        errors: list[ProviderError] = []
        for outgoing, answer in zip(item.prepared.outgoing, item.answers, strict=True):
            if isinstance(answer, SendResult):
                sent.append(answer.provider_message_id)
                continue
            errors.append(answer)
            if answer.gone and isinstance(outgoing, OutgoingPush):
                await devices_service.forget(session, outgoing.device_id)
        if sent:
            outcomes.sent(message, next((s for s in sent if s), None))
            continue
        first = errors[0]
        retryable = any(e.retryable for e in errors) and not all(e.gone for e in errors)
        if retryable and message.attempts < MAX_ATTEMPTS:
            until = outcomes.now + BACKOFF_BASE * (2 ** (message.attempts - 1))
            outcomes.defer(message, until, f"provider: {first.reason}")
        else:
            why = first.reason if not retryable else f"retries ran out: {first.reason}"
            outcomes.fail(message, why)
    await outcomes.write(session, tenant)


async def requeue_stale(
    session: AsyncSession, tenant: TenantId, settings: Settings, now: dt.datetime
) -> int:
    """Queue again the messages whose worker died mid-send (claim older than the lease)."""
    lease = dt.timedelta(seconds=settings.message_send_lease_seconds)
    stale = await repository.stale_sending(session, now - lease)
    for message_id in stale:
        await enqueue(session, DELIVER_TASK, tenant=tenant, message_id=str(message_id))
    return len(stale)
