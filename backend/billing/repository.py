"""Queries of billing: prices, accounts, Stripe events, meters, reports and warnings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.billing.models import (
    BillingAccount,
    BillingPrice,
    BrandMeter,
    MeterReport,
    PriceKind,
    ReportStatus,
    StripeEvent,
    UsageWarning,
)
from backend.core.db import dialect_of, insert_for, start_as_writer, utcnow
from backend.core.ids import new_id
from backend.core.pagination import PageRequest, paginate

# Prices ----------------------------------------------------------------------------------------


async def has_plans(session: AsyncSession) -> bool:
    """Whether plans were synced from Stripe: billing is enforced from then on."""
    found = await session.scalar(
        select(BillingPrice.id)
        .where(BillingPrice.kind == PriceKind.PLAN, BillingPrice.active.is_(True))
        .limit(1)
    )
    return found is not None


async def active_prices(session: AsyncSession) -> list[BillingPrice]:
    return list(
        (
            await session.scalars(
                select(BillingPrice)
                .where(BillingPrice.active.is_(True))
                .order_by(BillingPrice.lookup_key)
            )
        ).all()
    )


async def all_prices(session: AsyncSession) -> list[BillingPrice]:
    return list((await session.scalars(select(BillingPrice))).all())


async def list_plans(
    session: AsyncSession, page: PageRequest
) -> tuple[list[BillingPrice], str | None]:
    query = select(BillingPrice).where(
        BillingPrice.kind == PriceKind.PLAN, BillingPrice.active.is_(True)
    )
    return await paginate(session, query, BillingPrice.id, page)


async def count_plans(session: AsyncSession) -> int:
    total = await session.scalar(
        select(func.count())
        .select_from(BillingPrice)
        .where(BillingPrice.kind == PriceKind.PLAN, BillingPrice.active.is_(True))
    )
    return int(total or 0)


# Accounts --------------------------------------------------------------------------------------


async def accounts_of_agency(session: AsyncSession, agency_id: UUID) -> list[BillingAccount]:
    return list(
        (
            await session.scalars(
                select(BillingAccount)
                .where(BillingAccount.agency_id == agency_id)
                .order_by(BillingAccount.id)
            )
        ).all()
    )


async def agency_account(session: AsyncSession, agency_id: UUID) -> BillingAccount | None:
    return await session.scalar(
        select(BillingAccount).where(
            BillingAccount.agency_id == agency_id, BillingAccount.brand_id.is_(None)
        )
    )


async def brand_account(session: AsyncSession, brand_id: UUID) -> BillingAccount | None:
    return await session.scalar(select(BillingAccount).where(BillingAccount.brand_id == brand_id))


async def get_account(
    session: AsyncSession, account_id: UUID, *, lock: bool = False
) -> BillingAccount | None:
    query = select(BillingAccount).where(BillingAccount.id == account_id)
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


async def account_by_subscription(
    session: AsyncSession, subscription_id: str
) -> BillingAccount | None:
    return await session.scalar(
        select(BillingAccount).where(BillingAccount.stripe_subscription_id == subscription_id)
    )


async def accounts_of_customer(session: AsyncSession, customer_id: str) -> list[BillingAccount]:
    return list(
        (
            await session.scalars(
                select(BillingAccount).where(BillingAccount.stripe_customer_id == customer_id)
            )
        ).all()
    )


async def metered_accounts(session: AsyncSession) -> list[BillingAccount]:
    """Accounts whose subscription carries the metered prices."""
    return list(
        (
            await session.scalars(
                select(BillingAccount).where(
                    BillingAccount.metered.is_(True),
                    BillingAccount.stripe_customer_id.is_not(None),
                )
            )
        ).all()
    )


# Stripe events ---------------------------------------------------------------------------------


async def insert_event(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Store an event once by its id; False when it was stored already (a redelivery)."""
    statement = (
        insert_for(session, StripeEvent)
        .values(values)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(StripeEvent.id)
    )
    return await session.scalar(statement) is not None


async def lock_ordering_key(session: AsyncSession, key: str) -> None:
    """One applier per subscription at a time (PostgreSQL: a transaction lock on the key;
    SQLite: the transaction is the one writer before it reads anything)."""
    if dialect_of(session) == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"billing:{key}"}
        )
    else:
        await start_as_writer(session, "billing_stripe_events")


async def waiting_events(session: AsyncSession, key: str) -> list[StripeEvent]:
    """The key's events not applied yet, in Stripe's order (then in the order received)."""
    return list(
        (
            await session.scalars(
                select(StripeEvent)
                .where(StripeEvent.ordering_key == key, StripeEvent.processed_at.is_(None))
                .order_by(StripeEvent.created, StripeEvent.received_at, StripeEvent.id)
            )
        ).all()
    )


async def stuck_ordering_keys(session: AsyncSession, received_before: dt.datetime) -> list[str]:
    """Keys with events received a while ago and still not applied (their job failed)."""
    return list(
        (
            await session.scalars(
                select(StripeEvent.ordering_key)
                .where(
                    StripeEvent.processed_at.is_(None),
                    StripeEvent.received_at < received_before,
                )
                .group_by(StripeEvent.ordering_key)
                .limit(500)
            )
        ).all()
    )


async def get_event(session: AsyncSession, event_id: str) -> StripeEvent | None:
    return await session.get(StripeEvent, event_id)


# Meters and reports ----------------------------------------------------------------------------


async def brand_meter(session: AsyncSession, brand_id: UUID, *, lock: bool) -> BrandMeter | None:
    query = select(BrandMeter).where(BrandMeter.brand_id == brand_id)
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


async def claim_brand_meter(session: AsyncSession, brand_id: UUID, start: dt.datetime) -> None:
    """The brand's meter row, created at ``start`` when missing (concurrent callers agree)."""
    await session.execute(
        insert_for(session, BrandMeter)
        .values(brand_id=brand_id, messages_until=start, profiles=0)
        .on_conflict_do_nothing(index_elements=["brand_id"])
    )


async def meters_of(session: AsyncSession, brand_ids: Sequence[UUID]) -> list[BrandMeter]:
    if not brand_ids:
        return []
    return list(
        (await session.scalars(select(BrandMeter).where(BrandMeter.brand_id.in_(brand_ids)))).all()
    )


async def add_reports(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert reports; one whose identifier exists already is the same batch, kept as it is."""
    for row in rows:
        await session.execute(
            insert_for(session, MeterReport)
            .values({"id": new_id(), "created_at": utcnow(), "attempts": 0, **row})
            .on_conflict_do_nothing(index_elements=["identifier"])
        )


async def metered_by_brand(
    session: AsyncSession,
    brand_ids: Sequence[UUID],
    since: dt.datetime,
    until: dt.datetime | None = None,
) -> dict[tuple[UUID, str, ReportStatus], int]:
    """Σ of the brands' message reports per (brand, metric, status), windows starting in
    [since, until)."""
    if not brand_ids:
        return {}
    query = select(
        MeterReport.brand_id, MeterReport.metric, MeterReport.status, func.sum(MeterReport.value)
    ).where(MeterReport.brand_id.in_(brand_ids), MeterReport.window_start >= since)
    if until is not None:
        query = query.where(MeterReport.window_start < until)
    query = query.group_by(MeterReport.brand_id, MeterReport.metric, MeterReport.status)
    return {
        (brand, metric, ReportStatus(status)): int(total or 0)
        for brand, metric, status, total in (await session.execute(query)).all()
        if brand is not None
    }


async def reports_of_account(
    session: AsyncSession, account_id: UUID, metric: str, since: dt.datetime, until: dt.datetime
) -> list[MeterReport]:
    return list(
        (
            await session.scalars(
                select(MeterReport)
                .where(
                    MeterReport.account_id == account_id,
                    MeterReport.metric == metric,
                    MeterReport.brand_id.is_(None),
                    MeterReport.window_start >= since,
                    MeterReport.window_start < until,
                )
                .order_by(MeterReport.window_start)
            )
        ).all()
    )


async def claim_pending(
    session: AsyncSession, now: dt.datetime, lease: dt.timedelta, limit: int
) -> list[MeterReport]:
    """Pending reports no other sender holds, held for ``lease`` (PostgreSQL: rows locked and
    skipped by concurrent claimers; SQLite: one writer)."""
    waiting = (
        select(MeterReport.id)
        .where(
            MeterReport.status == ReportStatus.PENDING,
            or_(MeterReport.sending_until.is_(None), MeterReport.sending_until < now),
        )
        .order_by(MeterReport.window_start, MeterReport.id)
        .limit(limit)
    )
    if dialect_of(session) == "postgresql":
        waiting = waiting.with_for_update(skip_locked=True)
    else:
        await start_as_writer(session, "billing_meter_reports")
    ids = list((await session.scalars(waiting)).all())
    if not ids:
        return []
    await session.execute(
        update(MeterReport)
        .where(MeterReport.id.in_(ids))
        .values(sending_until=now + lease, attempts=MeterReport.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return list(
        (
            await session.scalars(
                select(MeterReport)
                .where(MeterReport.id.in_(ids))
                .order_by(MeterReport.window_start, MeterReport.id)
                .execution_options(populate_existing=True)
            )
        ).all()
    )


async def mark_report(
    session: AsyncSession,
    report_id: UUID,
    *,
    status: ReportStatus,
    reported_at: dt.datetime | None,
    error: str | None,
) -> None:
    await session.execute(
        update(MeterReport)
        .where(MeterReport.id == report_id)
        .values(
            status=status,
            reported_at=reported_at,
            last_error=error,
            sending_until=None,
        )
        .execution_options(synchronize_session=False)
    )


async def count_pending(session: AsyncSession) -> int:
    total = await session.scalar(
        select(func.count())
        .select_from(MeterReport)
        .where(MeterReport.status == ReportStatus.PENDING)
    )
    return int(total or 0)


# Warnings --------------------------------------------------------------------------------------


async def insert_warning(session: AsyncSession, values: dict[str, Any]) -> UUID | None:
    """The new warning's id; None when this threshold was crossed (and told) already."""
    warning_id = new_id()
    statement = (
        insert_for(session, UsageWarning)
        .values({"id": warning_id, "created_at": utcnow(), **values})
        .on_conflict_do_nothing(
            index_elements=["agency_id", "account_key", "period_start", "metric", "threshold"]
        )
        .returning(UsageWarning.id)
    )
    inserted = await session.scalar(statement)
    return UUID(str(inserted)) if inserted is not None else None


async def warnings_of(
    session: AsyncSession, agency_id: UUID, account_key: str, period_start: dt.datetime
) -> list[UsageWarning]:
    return list(
        (
            await session.scalars(
                select(UsageWarning)
                .where(
                    UsageWarning.agency_id == agency_id,
                    UsageWarning.account_key == account_key,
                    UsageWarning.period_start == period_start,
                )
                .order_by(UsageWarning.metric, UsageWarning.threshold)
            )
        ).all()
    )


async def get_warning(session: AsyncSession, warning_id: UUID) -> UsageWarning | None:
    return await session.get(UsageWarning, warning_id)
