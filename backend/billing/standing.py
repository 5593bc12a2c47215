"""Who pays for a brand, on which plan, in which state: the billing standing, and the usage
counted against it this month.

A brand is governed by its own account once that account has had a subscription (it is billed
on its own), otherwise by its agency's account. An account covers the brands it governs; its
plan's entitlements bound their usage together. Without plans synced from Stripe (a deployment
without Stripe: the embedded default) everything is unlimited.

Standings are immutable snapshots, kept a few seconds by each process (the read cache of the
session factory, forgotten at once by a commit of this process that touched accounts, prices or
brands): the send gate reads one per batch.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.billing import repository
from backend.billing.models import (
    LIVE_STATUSES,
    BillingAccount,
    BillingMode,
    BillingPrice,
    PriceKind,
    ReportStatus,
    SubscriptionStatus,
)
from backend.billing.plans import (
    MESSAGE_METRICS,
    NOTHING,
    PROFILES,
    UNLIMITED,
    Entitlements,
)
from backend.config import Settings
from backend.core.db import utcnow
from backend.core.read_cache import cached, watch_config_tables
from backend.core.tenancy import TenantId, session_tenant
from backend.messaging import service as messaging_service
from backend.messaging.models import MessageChannel
from backend.profiles import service as profiles_service
from backend.tenancy import service as tenancy_service

watch_config_tables("billing_accounts", "billing_prices", "brands")


class State(StrEnum):
    """What billing allows now."""

    UNLIMITED = "unlimited"  # no Stripe: one unlimited plan
    ACTIVE = "active"  # trialing or paid
    GRACE = "grace"  # past due, within the grace period: everything still works
    PAUSED = "paused"  # past due beyond the grace period (or paused): sends held
    READ_ONLY = "read_only"  # canceled: reading and exports only, sends held
    NO_SUBSCRIPTION = "no_subscription"  # never subscribed: the default plan, else nothing


@dataclass(frozen=True)
class Standing:
    """Billing's view of a brand (or an agency's own account) when it was read."""

    configured: bool
    agency_id: UUID
    account_id: UUID | None = None
    brand_id: UUID | None = None  # the account's brand; None: the agency's own
    mode: BillingMode = BillingMode.AGENCY
    status: SubscriptionStatus = SubscriptionStatus.NONE
    plan_key: str | None = None
    plan_name: str | None = None
    entitlements: Entitlements = UNLIMITED
    stripe_customer_id: str | None = None
    trial_end: dt.datetime | None = None
    current_period_end: dt.datetime | None = None
    cancel_at_period_end: bool = False
    past_due_since: dt.datetime | None = None
    covered: tuple[UUID, ...] = field(default_factory=tuple)

    def grace_until(self, settings: Settings) -> dt.datetime | None:
        if self.past_due_since is None or self.status not in _OVERDUE:
            return None
        return self.past_due_since + dt.timedelta(days=settings.billing_past_due_grace_days)

    def state(self, settings: Settings, now: dt.datetime) -> State:
        if not self.configured:
            return State.UNLIMITED
        if self.status is SubscriptionStatus.CANCELED:
            return State.READ_ONLY
        if self.status is SubscriptionStatus.PAUSED:
            return State.PAUSED
        if self.status in _OVERDUE:
            until = self.grace_until(settings)
            return State.GRACE if until is not None and now < until else State.PAUSED
        if self.status in (SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE):
            return State.ACTIVE
        return State.NO_SUBSCRIPTION


_OVERDUE = frozenset({SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID})
# Statuses after which a brand's own account governs it (it has been subscribed).
_SUBSCRIBED = LIVE_STATUSES | {SubscriptionStatus.CANCELED}


def governs(account: BillingAccount) -> bool:
    """Whether a brand's own account governs it (else its agency's account does)."""
    return account.brand_id is None or account.status in _SUBSCRIBED


def month_start(moment: dt.datetime) -> dt.datetime:
    return dt.datetime(moment.year, moment.month, 1, tzinfo=dt.UTC)


def next_month(start: dt.datetime) -> dt.datetime:
    return (start + dt.timedelta(days=32)).replace(day=1)


def _entitlements(
    account: BillingAccount | None, prices: dict[str, BillingPrice], default: BillingPrice | None
) -> tuple[Entitlements, BillingPrice | None]:
    if account is not None and account.status in _SUBSCRIBED:
        plan = prices.get(account.plan_key or "")
        if plan is None:
            # Subscribed to a price Levier does not sell (not synced): nothing is granted.
            return NOTHING, None
        return Entitlements.of_json(plan.entitlements), plan
    if default is not None:
        return Entitlements.of_json(default.entitlements), default
    return NOTHING, None


async def _load(session: AsyncSession, agency_id: UUID, brand_id: UUID | None) -> Standing:
    prices = {
        p.lookup_key: p for p in await repository.active_prices(session) if p.kind is PriceKind.PLAN
    }
    if not prices:
        return Standing(configured=False, agency_id=agency_id, covered=())
    default = next((p for p in prices.values() if p.is_default), None)
    accounts = await repository.accounts_of_agency(session, agency_id)
    own = next((a for a in accounts if a.brand_id is None), None)
    separate = {a.brand_id: a for a in accounts if a.brand_id is not None and governs(a)}
    if brand_id is not None and brand_id in separate:
        account: BillingAccount | None = separate[brand_id]
        covered: tuple[UUID, ...] = (brand_id,)
    else:
        account = own
        brands = await tenancy_service.brand_ids_of_agency(session, agency_id)
        covered = tuple(b for b in brands if b not in separate)
    entitlements, plan = _entitlements(account, prices, default)
    if account is None:
        return Standing(
            configured=True,
            agency_id=agency_id,
            plan_key=plan.lookup_key if plan else None,
            plan_name=plan.name if plan else None,
            entitlements=entitlements,
            covered=covered,
        )
    return Standing(
        configured=True,
        agency_id=agency_id,
        account_id=account.id,
        brand_id=account.brand_id,
        mode=account.mode,
        status=account.status,
        plan_key=plan.lookup_key if plan else account.plan_key,
        plan_name=plan.name if plan else None,
        entitlements=entitlements,
        stripe_customer_id=account.stripe_customer_id,
        trial_end=account.trial_end,
        current_period_end=account.current_period_end,
        cancel_at_period_end=account.cancel_at_period_end,
        past_due_since=account.past_due_since,
        covered=covered,
    )


async def of_agency(session: AsyncSession, agency_id: UUID) -> Standing:
    """The standing of the agency's own account (the one its new brands join)."""
    return await cached(
        session, ("billing-standing", agency_id, None), lambda: _load(session, agency_id, None)
    )


async def of_brand(session: AsyncSession, brand_id: UUID) -> Standing:
    """The standing of the account governing ``brand_id``."""
    agency_id = await _agency_of(session, brand_id)
    return await cached(
        session,
        ("billing-standing", agency_id, brand_id),
        lambda: _load(session, agency_id, brand_id),
    )


async def _agency_of(session: AsyncSession, brand_id: UUID) -> UUID:
    async def load() -> UUID:
        return (await tenancy_service.get_brand(session, TenantId(brand_id))).agency_id

    return await cached(session, ("billing-brand-agency", brand_id), load)


# Usage ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """What an account used this month, per metric (`brands`, `profiles`, `messages_<channel>`),
    as of ``as_of``."""

    period_start: dt.datetime
    as_of: dt.datetime
    used: dict[str, int]

    def of(self, metric: str) -> int:
        return self.used.get(metric, 0)


async def usage_of(
    session: AsyncSession,
    standing: Standing,
    now: dt.datetime | None = None,
    *,
    profiles: bool = True,
) -> Usage:
    """The usage of ``standing``'s account this month: messages metered for its brands (their
    reports, pending or not) plus, for the session's own brand, what it sent since its meter
    last ran (read live from the ledger); profiles stored as each brand's meter last counted
    them, the session's own brand counted live (``profiles=False``: messages only, without
    counting the brand's profiles — the send gate's case)."""
    now = now or utcnow()
    start = month_start(now)
    live = session_tenant(session)
    live = live if live is not None and live in standing.covered else None
    metered = await repository.metered_by_brand(session, standing.covered, start)
    used: dict[str, int] = dict.fromkeys(MESSAGE_METRICS.values(), 0)
    for (_, metric, _), value in metered.items():
        if metric in used:
            used[metric] += value
    meters = {m.brand_id: m for m in await repository.meters_of(session, standing.covered)}
    if live is not None:
        meter = meters.get(live)
        since = max(meter.messages_until, start) if meter is not None else start
        for channel, count in (await messaging_service.sent_counts(session, since, now)).items():
            used[MESSAGE_METRICS[channel.value]] += count
    if profiles:
        stored = sum(m.profiles for b, m in meters.items() if b != live)
        if live is not None:
            stored += await profiles_service.count_all_profiles(session)
        used[PROFILES] = stored
    used["brands"] = len(standing.covered)
    return Usage(period_start=start, as_of=now, used=used)


async def reported_of(
    session: AsyncSession, brand_ids: tuple[UUID, ...], start: dt.datetime, end: dt.datetime
) -> dict[UUID, dict[str, dict[ReportStatus, int]]]:
    """Per brand and message metric, what was metered in [start, end), by report status."""
    found: dict[UUID, dict[str, dict[ReportStatus, int]]] = {
        b: {m: {} for m in MESSAGE_METRICS.values()} for b in brand_ids
    }
    for (brand, metric, status), value in (
        await repository.metered_by_brand(session, brand_ids, start, end)
    ).items():
        if metric in found[brand]:
            found[brand][metric][status] = value
    return found


def channel_of(metric: str) -> MessageChannel:
    return MessageChannel(metric.removeprefix("messages_"))
