"""What billing offers the other domains: usage checked against entitlements where work starts,
and the send gate's word on a batch. Services never commit.

- **A new brand** (``tenancy``'s ``BRAND_CREATING`` signal): refused when the agency's plan has no
  room for another brand, or its subscription was canceled.
- **An import of profiles** (:func:`check_profiles_allowance`, called by ``imports``): refused
  once the brands the account bills store as many profiles as the plan allows.
- **A campaign starting** (:func:`check_messages_allowance`, for the campaigns domain to call
  with its audience's size): refused when the audience exceeds the month's remaining messages
  on the channel, when sends are paused (past due beyond the grace period) or the brand is
  read-only (canceled).
- **The send gate** (:func:`send_allowance`, read once per batch by ``messaging.delivery``):
  non-transactional sends are held (deferred, never dropped) while sends are paused, the brand is
  read-only or the month's allowance is spent; transactional ones keep flowing up to the grace
  margin past the allowance (``LEVIER_BILLING_TRANSACTIONAL_GRACE_PERCENT``).
- **Writes of a brand** (:func:`brand_write_gate`, installed as a core brand write gate): a
  brand whose subscription was canceled is read-only — reads, exports (a ``:read`` scope) and
  billing itself (to subscribe again) still work.
- **Deleting a brand** billed on a live subscription of its own is refused (cancel it first).

Every refusal is a 402 problem naming the limit (``errors[0].field``: ``brands``,
``profiles``, ``messages.<channel>``) with its ``limit``, what is ``used`` and ``remaining``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from http import HTTPStatus
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.billing import repository, standing
from backend.billing.models import LIVE_STATUSES, SubscriptionStatus
from backend.billing.plans import CHANNELS, MESSAGE_METRICS, PROFILES, Entitlements
from backend.billing.standing import Standing, State
from backend.config import Settings
from backend.core.db import utcnow
from backend.core.errors import Conflict, InvalidInput, LevierError
from backend.core.signals import Signals
from backend.core.tenancy import TenantId, open_session
from backend.messaging.models import MessageChannel

# Why billing held a message (its ``status_reason``): released together when the hold lifts.
HELD_PAUSED = "billing-sends-paused"
HELD_READ_ONLY = "billing-read-only"
HELD_NO_SUBSCRIPTION = "billing-no-subscription"
HELD_ALLOWANCE = {channel: f"billing-allowance-{channel}" for channel in CHANNELS}
HOLD_REASONS = (HELD_PAUSED, HELD_READ_ONLY, HELD_NO_SUBSCRIPTION, *HELD_ALLOWANCE.values())


class PlanLimitReached(LevierError):
    status, slug, title = HTTPStatus.PAYMENT_REQUIRED, "plan-limit-reached", "Plan limit reached"


class SubscriptionRequired(LevierError):
    status, slug, title = (
        HTTPStatus.PAYMENT_REQUIRED,
        "subscription-required",
        "Subscription required",
    )


class SendsPaused(LevierError):
    status, slug, title = HTTPStatus.PAYMENT_REQUIRED, "billing-sends-paused", "Sends paused"


class BillingReadOnly(LevierError):
    status, slug, title = HTTPStatus.PAYMENT_REQUIRED, "billing-read-only", "Read-only"


def _limit_error(
    governing: Standing, metric: str, limit: int, used: int, requested: int, what: str
) -> LevierError:
    field_name = f"messages.{metric.removeprefix('messages_')}" if metric in _MESSAGES else metric
    remaining = max(limit - used, 0)
    plan = governing.plan_key
    if plan is None:
        return SubscriptionRequired(
            f"{what}: the agency has no subscription (and the deployment no default plan); "
            "start one to use Levier",
            errors=[
                {
                    "field": field_name,
                    "limit": limit,
                    "used": used,
                    "remaining": remaining,
                    "requested": requested,
                    "message": "no subscription",
                }
            ],
        )
    return PlanLimitReached(
        f"{what}: the plan {plan!r} allows {limit} {field_name.replace('.', ' ')}"
        f"{' a month' if metric in _MESSAGES else ''}; {used} used, {remaining} left, "
        f"{requested} asked",
        errors=[
            {
                "field": field_name,
                "limit": limit,
                "used": used,
                "remaining": remaining,
                "requested": requested,
                "message": f"the plan's limit of {limit}",
            }
        ],
    )


_MESSAGES = frozenset(MESSAGE_METRICS.values())


def _refuse_state(governing: Standing, state: State, what: str) -> None:
    if state is State.READ_ONLY:
        raise BillingReadOnly(
            f"{what}: the subscription was canceled, so the account is read-only (reading and "
            "exports still work); subscribe again to change it"
        )
    if state is State.PAUSED:
        raise SendsPaused(
            f"{what}: the subscription is {governing.status.value} past its grace period, so "
            "sends are paused until the invoice is paid"
        )


# Where work starts ---------------------------------------------------------------------------


async def entitlements_of(session: AsyncSession, tenant: TenantId) -> Entitlements:
    """What the brand's plan grants (features such as `ab_tests` and `live_content`, the
    `api_rate_tier`, the limits); everything without Stripe."""
    return (await standing.of_brand(session, tenant)).entitlements


async def check_brand_allowance(session: AsyncSession, agency_id: UUID) -> None:
    """Refuse a new brand of the agency beyond its plan's brands (or when read-only)."""
    governing = await standing.of_agency(session, agency_id)
    if not governing.configured:
        return
    if governing.status is SubscriptionStatus.CANCELED:
        _refuse_state(governing, State.READ_ONLY, "creating a brand")
    limit = governing.entitlements.brands
    used = len(governing.covered)
    if limit is not None and used + 1 > limit:
        raise _limit_error(governing, "brands", limit, used, 1, "creating a brand")


async def check_profiles_allowance(
    session: AsyncSession, tenant: TenantId, adding: int = 1
) -> None:
    """Refuse work adding ``adding`` profiles (an import: at least one) beyond the plan's
    profiles, over the brands its account bills."""
    governing = await standing.of_brand(session, tenant)
    if not governing.configured:
        return
    if governing.status is SubscriptionStatus.CANCELED:
        _refuse_state(governing, State.READ_ONLY, "importing profiles")
    limit = governing.entitlements.profiles
    if limit is None:
        return
    used = (await standing.usage_of(session, governing)).of(PROFILES)
    if used + adding > limit:
        raise _limit_error(governing, PROFILES, limit, used, adding, "importing profiles")


async def check_messages_allowance(
    session: AsyncSession,
    tenant: TenantId,
    settings: Settings,
    *,
    channel: MessageChannel | str,
    count: int,
) -> None:
    """Refuse starting work that sends ``count`` messages on ``channel`` (a campaign's
    audience) when it exceeds the month's remaining messages of the plan, when sends are
    paused (past due beyond the grace period) or when the brand is read-only (canceled): a 402
    problem naming the limit."""
    try:
        channel = MessageChannel(channel)
    except ValueError:
        raise InvalidInput(f"unknown channel {channel!r}", errors=[{"field": "channel"}]) from None
    if count < 0:
        raise InvalidInput("count must be 0 or more", errors=[{"field": "count"}])
    governing = await standing.of_brand(session, tenant)
    if not governing.configured:
        return
    what = f"sending {count} {channel.value} messages"
    _refuse_state(governing, governing.state(settings, utcnow()), what)
    metric = MESSAGE_METRICS[channel.value]
    limit = governing.entitlements.limit_of(metric)
    if limit is None:
        return
    used = (await standing.usage_of(session, governing, profiles=False)).of(metric)
    if count > max(limit - used, 0):
        raise _limit_error(governing, metric, limit, used, count, what)


# The send gate -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Held:
    """Billing holds a message: deferred until ``until``, or refused when ``until`` is None."""

    reason: str
    until: dt.datetime | None


@dataclass
class SendAllowance:
    """Billing's word on one batch: taken message by message, in the batch's order."""

    unlimited: bool = True
    hold: str | None = None  # non-transactional messages are held for this reason
    refuse_transactional: str | None = None
    room: dict[str, int | None] = field(default_factory=dict)
    transactional_room: dict[str, int | None] = field(default_factory=dict)
    recheck: dt.datetime | None = None

    def take(self, channel: str, *, transactional: bool) -> Held | None:
        """None when the message may go (its slot of the allowance is taken), else why not."""
        if self.unlimited:
            return None
        if transactional:
            if self.refuse_transactional is not None:
                return Held(self.refuse_transactional, None)
            room = self.transactional_room.get(channel)
            if room is not None:
                if room <= 0:
                    return Held(HELD_ALLOWANCE[channel], None)
                self.transactional_room[channel] = room - 1
            left = self.room.get(channel)
            if left is not None:
                self.room[channel] = left - 1
            return None
        if self.hold is not None:
            return Held(self.hold, self.recheck)
        room = self.room.get(channel)
        if room is None:
            return None
        if room <= 0:
            return Held(HELD_ALLOWANCE[channel], self.recheck)
        self.room[channel] = room - 1
        grace = self.transactional_room.get(channel)
        if grace is not None:
            self.transactional_room[channel] = grace - 1
        return None


async def send_allowance(
    session: AsyncSession, tenant: TenantId, settings: Settings
) -> SendAllowance:
    """What billing allows a batch of the brand's messages (one read: the standing is cached
    a few seconds per process, usage read only when a limit applies)."""
    governing = await standing.of_brand(session, tenant)
    if not governing.configured:
        return SendAllowance()
    now = utcnow()
    state = governing.state(settings, now)
    allowance = SendAllowance(
        unlimited=False,
        recheck=now + dt.timedelta(seconds=settings.billing_hold_recheck_seconds),
    )
    if state is State.READ_ONLY:
        allowance.hold = allowance.refuse_transactional = HELD_READ_ONLY
        return allowance
    if state is State.NO_SUBSCRIPTION and governing.plan_key is None:
        allowance.hold = allowance.refuse_transactional = HELD_NO_SUBSCRIPTION
        return allowance
    if state is State.PAUSED:
        allowance.hold = HELD_PAUSED
    limits = {c: governing.entitlements.messages.get(c) for c in CHANNELS}
    usage = (
        await standing.usage_of(session, governing, now, profiles=False)
        if any(v is not None for v in limits.values())
        else None
    )
    grace = settings.billing_transactional_grace_percent
    for channel, limit in limits.items():
        if limit is None or usage is None:
            allowance.room[channel] = allowance.transactional_room[channel] = None
            continue
        used = usage.of(MESSAGE_METRICS[channel])
        allowance.room[channel] = limit - used
        allowance.transactional_room[channel] = limit + limit * grace // 100 - used
    return allowance


# Writes of a read-only brand -----------------------------------------------------------------


async def brand_write_gate(
    factory: async_sessionmaker[AsyncSession], tenant: TenantId, scope: str | None
) -> None:
    """Refuse a write to a brand whose governing subscription was canceled (402), except what
    only reads (a ``:read`` scope: exports, previews) and billing's own routes."""
    if scope is None or scope.endswith(":read") or scope.startswith("billing:"):
        return
    async with open_session(factory) as session:
        governing = await standing.of_brand(session, tenant)
    if governing.configured and governing.status is SubscriptionStatus.CANCELED:
        _refuse_state(governing, State.READ_ONLY, "changing the brand")


# Signals -------------------------------------------------------------------------------------


async def refuse_deleting_billed_brand(session: AsyncSession, tenant: TenantId) -> None:
    """A brand billed on a live subscription of its own is not deleted (its subscription would
    go on billing): cancel it in the customer portal first."""
    account = await repository.brand_account(session, tenant)
    if account is not None and account.status in LIVE_STATUSES:
        raise Conflict(
            f"the brand is billed on its own subscription ({account.status.value}): cancel it "
            "in the customer portal before deleting the brand"
        )


def connect(signals: Signals) -> None:
    from backend.tenancy.service import BRAND_CREATING, BRAND_DELETING

    signals.connect(BRAND_CREATING, check_brand_allowance)
    signals.connect(BRAND_DELETING, refuse_deleting_billed_brand)
