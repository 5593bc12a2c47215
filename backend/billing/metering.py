"""Metered usage: counted from the ledger in batches, reported to Stripe exactly once.

Every few minutes ``billing.meter`` fans out ``billing.meter_brand``: each brand's sends since its
meter's cursor, up to ``LEVIER_BILLING_USAGE_SETTLE_SECONDS`` ago (a send is committed within
it), are counted per channel (``messaging.service.sent_counts``: the ledger's ``sent_at``) into
one report row per channel and window — windows cut at month starts and at the subscription's
start — and the cursor moves, in one transaction: a window is counted once whatever the
retries. Each row carries a deterministic ``identifier`` (brand, metric, window start).

``billing.send_reports`` claims pending rows (a lease, ``SKIP LOCKED``), sends each as a Billing
Meter event (``POST /v1/billing/meter_events`` with that ``identifier``, and the same value as the
request's idempotency key) and marks it reported. A job that crashed after Stripe took an event
sends it again: Stripe answers the first answer (same idempotency key) or refuses a second event
with that identifier — both mean the event is there, so it is marked reported and billed once.

Rows bill the brand's governing account's Stripe customer when a subscription carries the
metered prices and a metered price exists for the metric; otherwise they are kept
``unbilled`` (still counted: the allowance is enforced on them). Profiles stored are counted per
brand at most hourly and reported daily per account (a ``last`` meter). The 80 % and 100 %
warnings are checked after each brand's count.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from uuid import UUID, uuid5

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from backend.billing import catalogue, repository, standing
from backend.billing.models import MeterReport, ReportStatus, SubscriptionStatus
from backend.billing.plans import EVENT_NAMES, MESSAGE_METRICS, PROFILES
from backend.billing.stripe_api import StripeRefused, StripeUnavailable, call, stripe_client
from backend.config import Settings
from backend.core.db import start_as_writer, utcnow
from backend.core.jobs import enqueue
from backend.core.tenancy import TenantId
from backend.messaging import service as messaging_service
from backend.profiles import service as profiles_service
from backend.webhooks import service as webhooks_service

log = structlog.get_logger("levier.billing")

SEND_TASK = "billing.send_reports"
TELL_WARNING_TASK = "billing.tell_warning"
PROFILES_EVERY = dt.timedelta(hours=1)
THRESHOLDS = (80, 100)
SEND_BATCH = 100
# Stripe takes meter events up to 35 days old: older ones cannot be billed any more.
STRIPE_MAX_AGE = dt.timedelta(days=34)
WARNING_EVENT = "billing.usage_warning"
_WARNING_NAMESPACE = UUID("0193f0aa-7d1e-7c55-9b6e-3f1c2a4b5d6e")


def identifier(owner: UUID, metric: str, start: dt.datetime) -> str:
    """The Billing Meter event identifier of one batch (deterministic: a retry is the same)."""
    return f"levier:{owner}:{metric}:{int(start.timestamp())}"


def _cuts(start: dt.datetime, end: dt.datetime, extra: dt.datetime | None) -> list[dt.datetime]:
    """[start, …, end]: the window cut at each month start (and at ``extra``) inside it."""
    points = {start, end}
    month = standing.next_month(standing.month_start(start))
    while month < end:
        points.add(month)
        month = standing.next_month(month)
    if extra is not None and start < extra < end:
        points.add(extra)
    return sorted(points)


@dataclass(frozen=True)
class Counted:
    windows: int
    pending: int
    warnings: int


async def meter_brand(
    session: AsyncSession, tenant: TenantId, settings: Settings, now: dt.datetime | None = None
) -> Counted:
    """Count the brand's sends since its cursor into report rows, move the cursor, refresh its
    profile count (hourly) and record the thresholds its account crossed. The caller commits."""
    now = now or utcnow()
    await start_as_writer(session, "billing_brand_meters")  # SQLite: one meter at a time
    if not await repository.has_plans(session):
        return Counted(0, 0, 0)
    until = now - dt.timedelta(seconds=settings.billing_usage_settle_seconds)
    await repository.claim_brand_meter(session, tenant, standing.month_start(until))
    meter = await repository.brand_meter(session, tenant, lock=True)
    assert meter is not None
    governing = await standing.of_brand(session, tenant)
    billable = await _billable_metrics(session, governing)
    account = (
        await repository.get_account(session, governing.account_id)
        if governing.account_id
        else None
    )
    since = account.metering_since if account is not None else None
    rows: list[dict[str, object]] = []
    if meter.messages_until < until:
        cuts = _cuts(meter.messages_until, until, since)
        for start, end in itertools.pairwise(cuts):
            counts = await messaging_service.sent_counts(session, start, end)
            for channel, value in counts.items():
                if not value:
                    continue
                metric = MESSAGE_METRICS[channel.value]
                billed = (
                    metric in billable
                    and governing.stripe_customer_id is not None
                    and since is not None
                    and start >= since
                )
                rows.append(
                    {
                        "brand_id": tenant,
                        "account_id": governing.account_id,
                        "metric": metric,
                        "event_name": EVENT_NAMES[metric],
                        "window_start": start,
                        "window_end": end,
                        "value": value,
                        "identifier": identifier(tenant, metric, start),
                        "stripe_customer_id": governing.stripe_customer_id if billed else None,
                        "status": ReportStatus.PENDING if billed else ReportStatus.UNBILLED,
                    }
                )
        await repository.add_reports(session, rows)
        meter.messages_until = until
    if meter.profiles_counted_at is None or meter.profiles_counted_at <= now - PROFILES_EVERY:
        meter.profiles = await profiles_service.count_all_profiles(session)
        meter.profiles_counted_at = now
    await session.flush()
    warnings = await record_warnings(session, tenant, governing, now)
    pending = sum(1 for row in rows if row["status"] is ReportStatus.PENDING)
    return Counted(len(rows), pending, warnings)


async def _billable_metrics(session: AsyncSession, governing: standing.Standing) -> set[str]:
    """The metrics a metered price exists for, when a subscription of the governing account's
    customer carries the metered prices."""
    customer = governing.stripe_customer_id
    if customer is None:
        return set()
    accounts = await repository.accounts_of_customer(session, customer)
    if not any(a.metered and a.status is not SubscriptionStatus.CANCELED for a in accounts):
        return set()
    events = {p.meter_event_name for p in await catalogue.metered_prices(session)}
    return {metric for metric, event in EVENT_NAMES.items() if event in events}


async def record_warnings(
    session: AsyncSession, tenant: TenantId, governing: standing.Standing, now: dt.datetime
) -> int:
    """Record each 80/100 % threshold the governing account crossed this month (once), and
    queue telling each of its brands; how many were new."""
    if not governing.configured:
        return 0
    usage = await standing.usage_of(session, governing, now)
    key = str(governing.account_id) if governing.account_id else "agency"
    new = 0
    for metric in (*MESSAGE_METRICS.values(), PROFILES, "brands"):
        limit = governing.entitlements.limit_of(metric)
        used = usage.of(metric)
        if not limit:
            continue
        for threshold in THRESHOLDS:
            if used * 100 < limit * threshold:
                continue
            warning_id = await repository.insert_warning(
                session,
                {
                    "agency_id": governing.agency_id,
                    "account_key": key,
                    "period_start": usage.period_start,
                    "metric": metric,
                    "threshold": threshold,
                    "used": used,
                    "limit": limit,
                },
            )
            if warning_id is None:
                continue
            new += 1
            for brand_id in governing.covered:
                await enqueue(
                    session,
                    TELL_WARNING_TASK,
                    tenant=TenantId(brand_id),
                    warning_id=str(warning_id),
                )
    return new


async def tell_warning(session: AsyncSession, tenant: TenantId, warning_id: UUID) -> bool:
    """Publish a warning to the brand's webhook endpoints (once: the event id derives from the
    warning and the brand)."""
    warning = await repository.get_warning(session, warning_id)
    if warning is None:
        return False
    payload = {
        "agencyId": str(warning.agency_id),
        "brandId": str(tenant),
        "metric": warning.metric,
        "threshold": warning.threshold,
        "used": warning.used,
        "limit": warning.limit,
        "periodStart": warning.period_start.isoformat(),
    }
    event_id = uuid5(_WARNING_NAMESPACE, f"{warning.id}:{tenant}")
    await webhooks_service.publish(session, tenant, WARNING_EVENT, payload, event_id=event_id)
    return True


# Profiles, daily ---------------------------------------------------------------------------------


async def report_profiles(session: AsyncSession, day: dt.datetime) -> int:
    """One ``profiles`` report per metered account for ``day`` (UTC midnight): the profiles its
    brands store, as their meters last counted them. How many were new."""
    if not await repository.has_plans(session):
        return 0
    events = {p.meter_event_name for p in await catalogue.metered_prices(session)}
    rows: list[dict[str, object]] = []
    for account in await repository.metered_accounts(session):
        if account.status is SubscriptionStatus.CANCELED or account.stripe_customer_id is None:
            continue
        governing = (
            await standing.of_brand(session, account.brand_id)
            if account.brand_id is not None
            else await standing.of_agency(session, account.agency_id)
        )
        if governing.account_id != account.id:
            continue
        value = sum(m.profiles for m in await repository.meters_of(session, governing.covered))
        billed = EVENT_NAMES[PROFILES] in events
        rows.append(
            {
                "brand_id": None,
                "account_id": account.id,
                "metric": PROFILES,
                "event_name": EVENT_NAMES[PROFILES],
                "window_start": day,
                "window_end": day + dt.timedelta(days=1),
                "value": value,
                "identifier": identifier(account.id, PROFILES, day),
                "stripe_customer_id": account.stripe_customer_id if billed else None,
                "status": ReportStatus.PENDING if billed else ReportStatus.UNBILLED,
            }
        )
    await repository.add_reports(session, rows)
    return len(rows)


# Sending -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToSend:
    """A claimed report, detached from the session (sent outside any transaction)."""

    id: UUID
    event_name: str
    identifier: str
    customer: str
    value: int
    timestamp: int
    window_end: dt.datetime


@dataclass(frozen=True)
class Sent:
    report: ToSend
    reported: bool
    error: str | None = None
    give_up: bool = False


async def claim_reports(
    session: AsyncSession, settings: Settings, now: dt.datetime | None = None
) -> list[ToSend]:
    """Claim up to a batch of pending reports (the caller commits before sending them)."""
    now = now or utcnow()
    lease = dt.timedelta(seconds=2 * settings.stripe_timeout_seconds + 30)
    claimed = await repository.claim_pending(session, now, lease, SEND_BATCH)
    return [_to_send(report) for report in claimed if report.stripe_customer_id]


def _to_send(report: MeterReport) -> ToSend:
    assert report.stripe_customer_id is not None
    # Within the window (Stripe files it in the billing period holding this moment).
    moment = max(report.window_start, report.window_end - dt.timedelta(seconds=1))
    return ToSend(
        id=report.id,
        event_name=report.event_name,
        identifier=report.identifier,
        customer=report.stripe_customer_id,
        value=report.value,
        timestamp=int(moment.timestamp()),
        window_end=report.window_end,
    )


def _duplicate(exc: StripeRefused) -> bool:
    """Stripe refusing a second event with the identifier: the first one is there."""
    text = (exc.detail or "").lower()
    return exc.code == "duplicate_meter_event" or "already exists with identifier" in text


async def send_reports(settings: Settings, reports: list[ToSend]) -> list[Sent]:
    """Send each report as a Billing Meter event (no transaction is open here)."""
    if not reports:
        return []
    now = utcnow()
    outcomes: list[Sent] = []
    async with stripe_client(settings) as client:
        for report in reports:
            if report.window_end < now - STRIPE_MAX_AGE:
                outcomes.append(Sent(report, False, "older than Stripe accepts", give_up=True))
                continue
            params = {
                "event_name": report.event_name,
                "identifier": report.identifier,
                "timestamp": report.timestamp,
                "payload": {"stripe_customer_id": report.customer, "value": str(report.value)},
            }
            try:
                await call(
                    "reporting usage",
                    client.v1.billing.meter_events.create_async(
                        params,  # type: ignore[arg-type]
                        {"idempotency_key": report.identifier},
                    ),
                )
            except StripeRefused as exc:
                if _duplicate(exc):
                    outcomes.append(Sent(report, True))
                else:
                    outcomes.append(Sent(report, False, exc.detail))
                continue
            except StripeUnavailable as exc:
                outcomes.append(Sent(report, False, exc.detail))
                continue
            outcomes.append(Sent(report, True))
    return outcomes


async def record_sent(session: AsyncSession, outcomes: list[Sent]) -> int:
    """Mark what Stripe took reported; the others wait for the next round (the caller
    commits). How many were reported."""
    now = utcnow()
    reported = 0
    for outcome in outcomes:
        if outcome.reported:
            reported += 1
            await repository.mark_report(
                session,
                outcome.report.id,
                status=ReportStatus.REPORTED,
                reported_at=now,
                error=None,
            )
        else:
            status = ReportStatus.UNBILLED if outcome.give_up else ReportStatus.PENDING
            await repository.mark_report(
                session, outcome.report.id, status=status, reported_at=None, error=outcome.error
            )
            log.warning(
                "usage_report_not_taken", report=str(outcome.report.id), error=outcome.error
            )
    return reported
