"""The per-brand schedule: one run of each kind per period, whatever the replicas and ticks;
one catch-up run (not one per missed period) after downtime; `off` runs nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
from uuid import UUID

import pytest
from litestar import Litestar
from sqlalchemy import select

from backend.core.db import utcnow
from backend.core.tenancy import TenantId
from backend.rfm import service
from backend.rfm.models import RfmKind, RfmRun, RfmRunStatus, RfmSchedule
from backend.rfm.tasks import SCHEDULE_EVERY
from tests.factories import make_world, run_jobs, session_of
from tests.rfm.helpers import add_orders, make_profile, set_settings, settle
from workers.scheduler import Scheduler

UTC = dt.UTC


async def tick(app: Litestar, brand: UUID, now: dt.datetime) -> list[UUID]:
    async with session_of(app, brand) as session:
        queued = await service.schedule_due_runs(session, TenantId(brand), now)
        await session.commit()
    return queued


async def runs_of(app: Litestar, brand: UUID) -> list[RfmRun]:
    async with session_of(app, brand) as session:
        rows = await session.scalars(select(RfmRun).order_by(RfmRun.scheduled_for, RfmRun.kind))
        return list(rows)


async def test_monthly_runs_once_per_month_and_catch_up_once(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    assert len(await tick(app, brand, dt.datetime(2026, 3, 15, 10, tzinfo=UTC))) == 2
    assert await tick(app, brand, dt.datetime(2026, 3, 31, 23, tzinfo=UTC)) == []
    # Down from March to May: April is not run late, May runs once.
    assert len(await tick(app, brand, dt.datetime(2026, 5, 10, tzinfo=UTC))) == 2
    assert await tick(app, brand, dt.datetime(2026, 5, 11, tzinfo=UTC)) == []
    runs = await runs_of(app, brand)
    march, may = dt.datetime(2026, 3, 1, tzinfo=UTC), dt.datetime(2026, 5, 1, tzinfo=UTC)
    assert [(r.kind, r.scheduled_for, r.as_of, r.status) for r in runs] == [
        (RfmKind.ENGAGEMENT, march, march, RfmRunStatus.QUEUED),
        (RfmKind.PURCHASE, march, march, RfmRunStatus.QUEUED),
        (RfmKind.ENGAGEMENT, may, may, RfmRunStatus.QUEUED),
        (RfmKind.PURCHASE, may, may, RfmRunStatus.QUEUED),
    ]


async def test_weekly_and_daily_periods_start_on_monday_and_midnight(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    await set_settings(app, brand, schedule=RfmSchedule.WEEKLY)
    await tick(app, brand, dt.datetime(2026, 3, 12, 8, tzinfo=UTC))  # a Thursday
    assert {r.as_of for r in await runs_of(app, brand)} == {dt.datetime(2026, 3, 9, tzinfo=UTC)}
    await set_settings(app, brand, schedule=RfmSchedule.DAILY)
    await tick(app, brand, dt.datetime(2026, 3, 12, 8, tzinfo=UTC))
    assert dt.datetime(2026, 3, 12, tzinfo=UTC) in {r.as_of for r in await runs_of(app, brand)}


async def test_off_schedules_nothing(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    await set_settings(app, brand, schedule=RfmSchedule.OFF)
    assert await tick(app, brand, dt.datetime(2026, 3, 15, tzinfo=UTC)) == []
    assert await runs_of(app, brand) == []


async def test_concurrent_ticks_queue_each_period_once(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    now = dt.datetime(2026, 3, 15, tzinfo=UTC)
    results = await asyncio.gather(*[tick(app, brand, now) for _ in range(3)])
    assert sorted(len(r) for r in results) == [0, 0, 2]
    assert len(await runs_of(app, brand)) == 2


@pytest.mark.worker
async def test_the_scheduler_runs_every_brand_scheduled_rfm(app: Litestar) -> None:
    async with app.lifespan():
        # The app scheduler's first tick fans its periodic RFM schedule out to the brands that
        # exist then: let it finish before the brand exists, or it could score it before its
        # order is in (and take this period's one scheduled run).
        await settle(app)
        world = await make_world(app)
        brand = world.brand_a.id
        profile = await make_profile(app, brand, "sched@example.test")
        now = utcnow()
        await add_orders(app, brand, profile, (now - dt.timedelta(days=40), "25"))
        # The next periodic slot (the app's own scheduler may have used the current one).
        await Scheduler(app.state.session_factory, app.state.relay).tick(now + SCHEDULE_EVERY)
        await run_jobs(app)
        runs = await runs_of(app, brand)
        assert {(r.kind, r.status) for r in runs} == {
            (RfmKind.PURCHASE, RfmRunStatus.SUCCEEDED),
            (RfmKind.ENGAGEMENT, RfmRunStatus.SUCCEEDED),
        }
        assert {r.scheduled_for for r in runs} == {service.period_start(RfmSchedule.MONTHLY, now)}
        purchase = next(r for r in runs if r.kind is RfmKind.PURCHASE)
        # Scored as of the month's start: the order counts if it came before.
        assert purchase.scored_count == 1
