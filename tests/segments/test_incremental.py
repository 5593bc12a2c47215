"""Incremental evaluation end to end with the worker: a profile write, an accepted event (an
order among them) or a consent change schedules that profile's re-evaluation a few seconds later
(once per profile and slot); the scheduler runs it; entries and exits are recorded once. And
the scheduled refresh of segments, claimed once and caught up once after downtime."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from uuid import UUID

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select

from backend.core.db import utcnow
from backend.core.due_work import DueTask
from backend.core.tenancy import TenantId
from backend.segments import membership
from backend.segments.models import SegmentSize
from tests.factories import World, make_world, run_jobs, session_of
from tests.segments.helpers import create_segment, members, transitions
from workers.scheduler import Scheduler

pytestmark = pytest.mark.worker


async def tick(app: Litestar, now: dt.datetime | None = None) -> None:
    """A scheduler round far enough ahead for every slot, then every job it queued."""
    later = (now or utcnow()) + dt.timedelta(seconds=membership.REFRESH_SLOT_SECONDS + 2)
    await Scheduler(app.state.session_factory, app.state.relay).tick(later)
    await run_jobs(app)


async def next_slot() -> None:
    """Wait for the next refresh slot (the scheduler above ran the current one early)."""
    slot = membership.REFRESH_SLOT_SECONDS
    await asyncio.sleep(slot - utcnow().timestamp() % slot + 0.05)


def _slot_now() -> int:
    return int(utcnow().timestamp() // membership.REFRESH_SLOT_SECONDS)


async def send(client: httpx.AsyncClient, world: World, **event: Any) -> dict[str, Any]:
    response = await client.post(
        f"/v1/brands/{world.brand_a.id}/events", json=event, headers=world.manager_a.headers
    )
    assert response.status_code in (200, 202), response.text
    body: dict[str, Any] = response.json()
    return body


async def due_refreshes(app: Litestar) -> int:
    async with session_of(app) as session:
        query = select(func.count()).where(DueTask.task_name == membership.REFRESH_PROFILE_TASK)
        return int(await session.scalar(query) or 0)


async def test_profile_writes_events_and_consents_update_memberships(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    buyers = await create_segment(
        app, brand, "buyers", {"orders": {"windowDays": 30}, "op": "gte", "value": 1}
    )
    french = await create_segment(app, brand, "french", {"field": "country", "op": "eq",
                                                          "value": "FR"})  # fmt: skip
    emailable = await create_segment(app, brand, "emailable", {"contactable": "email"})
    await run_jobs(app)  # first evaluations: nobody yet

    await next_slot()
    first_slot = _slot_now()
    created = await client.post(
        f"/v1/brands/{brand}/profiles",
        json={"email": "ada@example.com", "country": "FR"},
        headers=world.manager_a.headers,
    )
    assert created.status_code == 201, created.text
    ada = UUID(created.json()["id"])
    order = {"orderId": "O-1", "amount": "12.50", "currency": "EUR"}
    await send(client, world, eventId="o-1", name="order_completed", email="ada@example.com",
               properties=order)  # fmt: skip
    await send(client, world, eventId="v-1", name="page_viewed", email="ada@example.com")
    # Three writes in one slot: one evaluation (a loaded machine may spread them over two).
    assert 1 <= await due_refreshes(app) <= _slot_now() - first_slot + 1
    await tick(app)
    assert await members(app, brand, buyers.id) == {ada}
    assert await members(app, brand, french.id) == {ada}
    assert await members(app, brand, emailable.id) == set()

    await next_slot()
    granted = await client.post(
        f"/v1/brands/{brand}/profiles/{ada}/consents",
        json={"state": "granted", "source": "form", "channel": "email"},
        headers=world.manager_a.headers,
    )
    assert granted.status_code == 201, granted.text
    moved = await client.patch(
        f"/v1/brands/{brand}/profiles/{ada}",
        json={"country": "BE"},
        headers=world.manager_a.headers,
    )
    assert moved.status_code == 200, moved.text
    await tick(app, utcnow())
    assert await members(app, brand, emailable.id) == {ada}
    assert await members(app, brand, french.id) == set()
    assert await transitions(app, brand, french.id) == [(ada, "entered"), (ada, "exited")]
    assert await transitions(app, brand, buyers.id) == [(ada, "entered")]
    await tick(app, utcnow() + dt.timedelta(minutes=1))  # nothing new to do: nothing recorded
    assert len(await transitions(app, brand, french.id)) == 2


async def test_segments_refresh_on_their_schedule_once_after_downtime(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    segment = await create_segment(app, brand, "all", {"field": "createdAt", "op": "exists"})
    await run_jobs(app)
    async with session_of(app, brand) as session:
        # Three intervals passed without a scheduler: one refresh is due, not three.
        later = utcnow() + dt.timedelta(days=3)
        assert await membership.refresh_due(session, TenantId(brand), later) == 1
        assert await membership.refresh_due(session, TenantId(brand), later) == 0
        await session.commit()
    await run_jobs(app)
    async with session_of(app, brand) as session:
        causes = (
            await session.scalars(
                select(SegmentSize.cause)
                .where(SegmentSize.segment_id == segment.id)
                .order_by(SegmentSize.measured_at)
            )
        ).all()
    assert [c.value for c in causes] == ["manual", "schedule"]


async def test_orders_and_linked_rows_written_directly_update_memberships(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    headers = world.manager_a.headers
    table = await client.post(
        f"/v1/brands/{brand}/linked-tables",
        json={
            "key": "coupons",
            "label": "Coupons",
            "columns": [{"key": "code", "label": "Code", "type": "text"}],
        },
        headers=headers,
    )
    assert table.status_code == 201, table.text
    buyers = await create_segment(
        app, brand, "buyers", {"orders": {"windowDays": 30}, "op": "gte", "value": 1}
    )
    holders = await create_segment(
        app, brand, "holders", {"linked": {"table": "coupons"}, "op": "exists"}
    )
    created = await client.post(
        f"/v1/brands/{brand}/profiles", json={"email": "ada@example.com"}, headers=headers
    )
    ada = UUID(created.json()["id"])
    await tick(app)
    assert await members(app, brand, buyers.id) == set()
    await next_slot()

    order = {"orderId": "O-1", "occurredAt": utcnow().isoformat(), "amount": "9.90",
             "currency": "EUR"}  # fmt: skip
    ordered = await client.post(f"/v1/brands/{brand}/profiles/{ada}/orders", json=order,
                                headers=headers)  # fmt: skip
    assert ordered.status_code == 201, ordered.text
    row = await client.post(
        f"/v1/brands/{brand}/linked-tables/coupons/rows",
        json={"profileId": str(ada), "values": {"code": "WELCOME"}},
        headers=headers,
    )
    assert row.status_code == 201, row.text
    assert await due_refreshes(app) >= 1
    await tick(app, utcnow())
    assert await members(app, brand, buyers.id) == {ada}
    assert await members(app, brand, holders.id) == {ada}

    await next_slot()
    gone = await client.delete(
        f"/v1/brands/{brand}/linked-tables/coupons/rows/{row.json()['id']}", headers=headers
    )
    assert gone.status_code == 204, gone.text
    await tick(app, utcnow())
    assert await members(app, brand, holders.id) == set()
    assert await transitions(app, brand, holders.id) == [(ada, "entered"), (ada, "exited")]


async def test_a_finished_rfm_run_evaluates_the_brands_segments_again(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    segment = await create_segment(
        app, brand, "recent", {"rfm": {"kind": "purchase", "score": "r"}, "op": "gte", "value": 1}
    )
    created = await client.post(
        f"/v1/brands/{brand}/profiles", json={"email": "ada@example.com"},
        headers=world.manager_a.headers,
    )  # fmt: skip
    ada = UUID(created.json()["id"])
    order = {"orderId": "O-1", "occurredAt": utcnow().isoformat(), "amount": "9.90",
             "currency": "EUR"}  # fmt: skip
    ordered = await client.post(f"/v1/brands/{brand}/profiles/{ada}/orders", json=order,
                                headers=world.manager_a.headers)  # fmt: skip
    assert ordered.status_code == 201, ordered.text
    await tick(app)
    assert await members(app, brand, segment.id) == set()  # no RFM run yet
    run = await client.post(
        f"/v1/brands/{brand}/rfm/runs", json={}, headers=world.manager_a.headers
    )
    assert run.status_code == 202, run.text
    await run_jobs(app)  # the run, then the evaluations it queued
    assert await members(app, brand, segment.id) == {ada}
