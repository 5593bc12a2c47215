"""Helpers of the RFM tests: profiles, orders and events made through the real services, and
runs scored in place (the same service calls the tasks make)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from uuid import UUID

from litestar import Litestar
from sqlalchemy import select

from backend.core.schemas import parse_input
from backend.core.tenancy import TenantId
from backend.events import service as events_service
from backend.events.models import Event
from backend.events.schemas import EventIn
from backend.profiles import orders
from backend.profiles import service as profile_service
from backend.profiles.schemas import OrderIn, ProfileCreate
from backend.rfm import service
from backend.rfm.models import RfmKind, RfmRun, RfmScore
from backend.rfm.schemas import RfmRunIn, RfmSettingsIn
from tests.factories import first_scheduler_tick_done, run_jobs, session_of

UTC = dt.UTC
AS_OF = dt.datetime(2026, 6, 1, tzinfo=UTC)
DAY = dt.timedelta(days=1)


async def make_profile(app: Litestar, brand_id: UUID, email: str) -> UUID:
    async with session_of(app, brand_id) as session:
        profile, _ = await profile_service.create_profile(
            session, TenantId(brand_id), ProfileCreate(email=email)
        )
        await session.commit()
    return profile.id


async def add_orders(
    app: Litestar, brand_id: UUID, profile_id: UUID, *orders_: tuple[dt.datetime, str]
) -> None:
    """Orders of the profile: (when, amount)."""
    async with session_of(app, brand_id) as session:
        for when, amount in orders_:
            await orders.create_order(
                session,
                profile_id,
                OrderIn(
                    order_id=f"o-{profile_id}-{when.isoformat()}-{amount}",
                    occurred_at=when,
                    amount=Decimal(amount),
                    currency="EUR",
                ),
            )
        await session.commit()


async def add_events(
    app: Litestar, brand_id: UUID, profile_id: UUID, *events: tuple[str, dt.datetime]
) -> None:
    """Events of the profile: (name, when)."""
    async with session_of(app, brand_id) as session:
        outcomes = await events_service.ingest(
            session,
            TenantId(brand_id),
            [
                EventIn(
                    event_id=f"e-{profile_id}-{name}-{when.isoformat()}",
                    name=name,
                    occurred_at=when,
                    profile_id=profile_id,
                )
                for name, when in events
            ],
            source="test",
        )
        assert all(o.outcome.value == "accepted" for o in outcomes), outcomes
        await session.commit()


async def set_settings(app: Litestar, brand_id: UUID, **fields: Any) -> None:
    async with session_of(app, brand_id) as session:
        await service.update_settings(session, parse_input(RfmSettingsIn, **fields))
        await session.commit()


async def run_rfm(
    app: Litestar,
    brand_id: UUID,
    kind: RfmKind = RfmKind.PURCHASE,
    as_of: dt.datetime = AS_OF,
    *,
    now: dt.datetime | None = None,
) -> RfmRun:
    """Start, score and emit a run as the tasks would, each step committed."""
    tenant = TenantId(brand_id)
    async with session_of(app, brand_id) as session:
        run = await service.start_run(
            session, tenant, RfmRunIn(kind=kind, as_of=as_of), now=now or as_of
        )
        await session.commit()
    await score(app, brand_id, run.id)
    await emit(app, brand_id, run.id)
    async with session_of(app, brand_id) as session:
        return await service.get_run(session, run.id)


async def score(app: Litestar, brand_id: UUID, run_id: UUID) -> None:
    async with session_of(app, brand_id) as session:
        await service.execute_run(session, TenantId(brand_id), run_id)
        await session.commit()


async def emit(app: Litestar, brand_id: UUID, run_id: UUID, limit: int = 1000) -> None:
    after: UUID | None = None
    while True:
        async with session_of(app, brand_id) as session:
            after = await service.emit_changes(
                session, TenantId(brand_id), run_id, after, limit=limit
            )
            await session.commit()
        if after is None:
            return


async def scores_of(app: Litestar, brand_id: UUID, run_id: UUID) -> dict[UUID, RfmScore]:
    async with session_of(app, brand_id) as session:
        rows = await session.scalars(select(RfmScore).where(RfmScore.run_id == run_id))
        return {s.profile_id: s for s in rows}


async def changed_events(app: Litestar, brand_id: UUID) -> list[Event]:
    async with session_of(app, brand_id) as session:
        rows = await session.scalars(
            select(Event).where(Event.name == service.SEGMENT_CHANGED).order_by(Event.event_id)
        )
        return list(rows)


def triple(score: RfmScore) -> tuple[int, int, int, str]:
    return (score.r, score.f, score.m, score.segment)


async def settle(app: Litestar) -> None:
    """Let the app scheduler's first tick and the work it queued (the brands' scheduled runs of
    this period) finish, so a run the test starts next is the latest to succeed."""
    await first_scheduler_tick_done(app)
    await run_jobs(app)
