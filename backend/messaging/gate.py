"""The send gate, applied to every message in this order, each refusal with a stable reason:

1. the profile exists (merges followed to the survivor) — ``profile-erased`` otherwise;
2. the channel is contactable: an address (``no-address``, ``invalid-address``), not bounced
   (``bounced``) nor suppressed (``suppressed``), and — except for transactional messages —
   consent for the channel (``no-consent``, ``consent-<state>``, ``globally-unsubscribed``) and
   for the message's topic (``no-topic-consent``);
3. commercial pressure (transactional exempt): over a cap, the message is deferred to the
   profile's next free slot when its source allows, otherwise refused ``pressure-cap``;
4. quiet hours in the profile's time zone (transactional exempt; triggered when the policy says):
   deferred to their end.

Step 2's refusal is the one a channel fallback replaces (:func:`contactable`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.errors import Conflict
from backend.core.tenancy import TenantId
from backend.messaging import repository
from backend.messaging.devices import service as devices_service
from backend.messaging.models import Message, MessageChannel, MessagePriority, PressurePolicy
from backend.messaging.pressure import (
    Caps,
    Policy,
    after_quiet_hours,
    next_free_slot,
    parse_hhmm,
    zone_of,
)
from backend.profiles import consents as consents_service
from backend.profiles import service as profiles_service
from backend.profiles.models import Channel, ConsentChange, ConsentState, Profile
from backend.tenancy import service as tenancy_service

# Reasons a transactional message ignores (it needs no consent), and only those.
CONSENT_REASONS = frozenset({"no-consent", "globally-unsubscribed"})


@dataclass(frozen=True)
class Decision:
    """``send`` (at ``counted_at``), ``defer`` (until ``until``) or ``refuse``; ``reason`` says
    why; ``contact`` marks a refusal of the channel (the one a fallback may replace)."""

    outcome: str
    reason: str | None = None
    until: dt.datetime | None = None
    contact: bool = False


async def current_profile(session: AsyncSession, message: Message) -> Profile | None:
    """The message's profile, following merges (the message is re-pointed at the survivor)."""
    survivor = await profiles_service.survivor_of(session, message.profile_id)
    if survivor is None:
        return None
    if survivor != message.profile_id:
        message.profile_id = survivor
    return await profiles_service.get_profile(session, survivor)


async def contactable(
    session: AsyncSession,
    profile: Profile,
    channel: MessageChannel,
    priority: MessagePriority,
    topic: str | None,
) -> str | None:
    """None when ``profile`` can receive this message on ``channel``; else the first reason."""
    changes = (await consents_service.current_of_many(session, [profile.id]))[profile.id]
    has_device = channel is MessageChannel.PUSH and await _has_device(session, profile.id)
    return contact_reason(profile, changes, channel, priority, topic, has_device=has_device)


# The profile channel each message channel asks contactability about.
_ASKED = {channel: (Channel(channel.value),) for channel in MessageChannel}


def contact_reason(
    profile: Profile,
    changes: Sequence[ConsentChange],
    channel: MessageChannel,
    priority: MessagePriority,
    topic: str | None,
    *,
    has_device: bool,
) -> str | None:
    """:func:`contactable` on what was read already (a batch reads every profile's consents in
    one query): None, or the first reason."""
    (answer,) = consents_service.contactability(profile, changes, _ASKED[channel])
    reasons = list(answer.reasons)
    if channel is MessageChannel.PUSH:
        # Push addresses are devices, not profile fields: the devices service answers.
        reasons = [r for r in reasons if r != "no-address"]
        if not has_device:
            reasons.insert(0, "no-device")
    if priority is MessagePriority.TRANSACTIONAL:
        reasons = [r for r in reasons if r not in CONSENT_REASONS and not r.startswith("consent-")]
    elif topic is not None and not reasons:
        latest = [c for c in changes if c.topic == topic and c.channel in (None, channel.value)]
        latest.sort(key=lambda c: c.occurred_at)
        if not latest or latest[-1].state is not ConsentState.GRANTED:
            reasons.append("no-topic-consent")
    return reasons[0] if reasons else None


async def _has_device(session: AsyncSession, profile_id: UUID) -> bool:
    return await devices_service.count_devices(session, profile_id) > 0


async def policy_of(session: AsyncSession, tenant: TenantId) -> PressurePolicy:
    """The brand's stored policy, initialised from its settings (weekly cap, quiet hours) the
    first time it is read."""
    stored = await repository.get_policy(session)
    if stored is not None:
        return stored
    try:
        settings = await tenancy_service.get_settings(session, tenant)
        values = {
            "per_week": settings.max_messages_per_week,
            "quiet_hours_start": settings.quiet_hours_start,
            "quiet_hours_end": settings.quiet_hours_end,
        }
    except Conflict:  # not provisioned yet: the settings' own defaults
        values = {"per_week": 3, "quiet_hours_start": "21:00", "quiet_hours_end": "08:00"}
    return await repository.insert_policy(
        session, {**values, "channel_caps": {}, "quiet_hours_for_triggered": True}
    )


def as_policy(row: PressurePolicy) -> Policy:
    def caps(values: dict[str, int | None]) -> Caps:
        return Caps({k: v for k, v in values.items() if v is not None})

    return Policy(
        overall=caps({"day": row.per_day, "week": row.per_week, "month": row.per_month}),
        per_channel={c: caps(dict(v)) for c, v in (row.channel_caps or {}).items()},
        quiet_start=parse_hhmm(row.quiet_hours_start),
        quiet_end=parse_hhmm(row.quiet_hours_end),
        quiet_hours_for_triggered=row.quiet_hours_for_triggered,
    )


async def decide(
    session: AsyncSession,
    tenant: TenantId,
    message: Message,
    profile: Profile,
    now: dt.datetime,
) -> Decision:
    """Steps 2 to 4 for a message whose profile exists (step 1 is :func:`current_profile`)."""
    reason = await contactable(session, profile, message.channel, message.priority, message.topic)
    if reason is not None:
        return Decision("refuse", reason, contact=True)
    if message.priority is MessagePriority.TRANSACTIONAL:
        return Decision("send")
    await repository.lock_profiles_pressure(session, [profile.id])
    policy = as_policy(await policy_of(session, tenant))
    counted = (await repository.counted_of_many(session, [profile.id], now, [message.id]))[
        profile.id
    ]
    brand_zone = (await tenancy_service.get_brand(session, tenant)).time_zone
    return slot_decision(policy, zone_of(profile.time_zone, brand_zone), counted, message, now)


def slot_decision(
    policy: Policy,
    zone: ZoneInfo,
    counted: Sequence[tuple[str, dt.datetime]],
    message: Message,
    now: dt.datetime,
) -> Decision:
    """Steps 3 and 4 on what was read already (``counted``: the profile's slots taken, the
    profile's pressure lock held): send now, defer to the first slot both allow, or refuse."""
    quiet = message.priority is MessagePriority.CAMPAIGN or policy.quiet_hours_for_triggered
    slot = now
    why: str | None = None
    for _ in range(8):  # caps and quiet hours each move the slot later; stop when both agree
        free = next_free_slot(policy, message.channel.value, counted, slot)
        if free > slot:
            why = why or "pressure-cap"
        calm = after_quiet_hours(policy, zone, free) if quiet else free
        if calm > free:
            why = why or "quiet-hours"
        if calm == slot:
            break
        slot = calm
    if slot <= now:
        return Decision("send")
    if why == "pressure-cap" and not message.deferrable:
        return Decision("refuse", "pressure-cap")
    return Decision("defer", why, until=slot)
