"""Scheduled triggers: date fields plus offsets (yearly or once) in the profile's time zone, and
inactivity; raised once whatever the scans, and caught up after the scheduler was down."""

from __future__ import annotations

import asyncio
import datetime as dt
from uuid import UUID

import pytest
from litestar import Litestar

from backend.core.db import utcnow
from backend.core.tenancy import TenantId
from backend.profiles import service as profile_service
from backend.profiles.models import AttributeType
from backend.profiles.schemas import ProfileUpdate
from backend.triggers import scan
from backend.triggers.models import TriggerKind
from backend.triggers.tasks import SCAN_EVERY
from tests.factories import make_world, run_jobs, session_of
from tests.triggers.helpers import (
    add_order,
    at,
    define_attribute,
    define_trigger,
    make_profile,
    occurrences,
)
from workers.scheduler import Scheduler

NINE = dt.time(9, 0)


async def run_scan(app: Litestar, brand_id: UUID, now: str) -> int:
    """One scheduler round for the brand at ``now``, in its own committed transaction."""
    async with session_of(app, brand_id) as session:
        raised = await scan.scan_brand(session, TenantId(brand_id), at(now))
        await session.commit()
    return raised


async def test_birthday_is_raised_once_across_a_scheduler_restart(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    profile = await make_profile(
        app, brand, email="ada@example.test", birth_date=dt.date(1990, 7, 14), time_zone="UTC"
    )
    await define_trigger(
        app,
        brand,
        "birthday",
        TriggerKind.DATE_ATTRIBUTE,
        "2027-07-01T00:00:00",
        date_field="birth_date",
        yearly=True,
        local_time=NINE,
    )
    assert await run_scan(app, brand, "2027-07-10T00:00:00") == 0
    # The scheduler is down from the 10th to the 20th: the birthday passes unscanned.
    assert await run_scan(app, brand, "2027-07-20T00:00:00") == 1
    assert await run_scan(app, brand, "2027-07-20T00:05:00") == 0
    assert await run_scan(app, brand, "2027-08-01T00:00:00") == 0

    raised = await occurrences(app, brand, "birthday")
    assert [(o.profile_id, o.occurred_at, o.dedupe_key) for o in raised] == [
        (profile, at("2027-07-14T09:00:00"), f"{profile}:2027")
    ]
    # Next year's birthday is another occurrence.
    assert await run_scan(app, brand, "2028-07-14T09:00:00") == 1
    assert len(await occurrences(app, brand, "birthday")) == 2


async def test_birthday_fires_at_the_local_time_of_the_profile_time_zone(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    born = dt.date(1985, 3, 10)
    auckland = await make_profile(
        app, brand, email="kiri@example.test", birth_date=born, time_zone="Pacific/Auckland"
    )
    angeles = await make_profile(
        app, brand, email="rosa@example.test", birth_date=born, time_zone="America/Los_Angeles"
    )
    await define_trigger(
        app,
        brand,
        "birthday",
        TriggerKind.DATE_ATTRIBUTE,
        "2027-03-01T00:00:00",
        date_field="birth_date",
        yearly=True,
        local_time=NINE,
    )
    # 09:00 on 10 March in Auckland (UTC+13) is 20:00 UTC on the 9th; in Los Angeles (UTC-8) it
    # is 17:00 UTC on the 10th.
    assert await run_scan(app, brand, "2027-03-09T20:30:00") == 1
    assert [o.profile_id for o in await occurrences(app, brand)] == [auckland]
    assert await run_scan(app, brand, "2027-03-10T17:30:00") == 1
    raised = {o.profile_id: o.occurred_at for o in await occurrences(app, brand)}
    assert raised == {
        auckland: at("2027-03-09T20:00:00"),
        angeles: at("2027-03-10T17:00:00"),
    }


async def test_a_profile_without_time_zone_counts_in_the_brand_time_zone(app: Litestar) -> None:
    world = await make_world(app)  # brands are in Europe/Brussels (UTC+1 in winter)
    brand = world.brand_a.id
    profile = await make_profile(
        app, brand, email="jan@example.test", birth_date=dt.date(1970, 1, 5)
    )
    await define_trigger(
        app,
        brand,
        "birthday",
        TriggerKind.DATE_ATTRIBUTE,
        "2027-01-01T00:00:00",
        date_field="birth_date",
        yearly=True,
        local_time=NINE,
    )
    assert await run_scan(app, brand, "2027-01-05T07:59:00") == 0
    assert await run_scan(app, brand, "2027-01-05T08:00:00") == 1
    assert [(o.profile_id, o.occurred_at) for o in await occurrences(app, brand)] == [
        (profile, at("2027-01-05T08:00:00"))
    ]


async def test_29_february_birthdays_fall_on_28_february_in_common_years(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    leapling = await make_profile(
        app, brand, email="leap@example.test", birth_date=dt.date(2000, 2, 29), time_zone="UTC"
    )
    on_28th = await make_profile(
        app, brand, email="eve@example.test", birth_date=dt.date(2001, 2, 28), time_zone="UTC"
    )
    await define_trigger(
        app,
        brand,
        "birthday",
        TriggerKind.DATE_ATTRIBUTE,
        "2027-02-01T00:00:00",
        date_field="birth_date",
        yearly=True,
        local_time=NINE,
    )
    # 2027 is a common year: both on the 28th.
    assert await run_scan(app, brand, "2027-03-02T00:00:00") == 2
    assert {o.profile_id: o.occurred_at for o in await occurrences(app, brand)} == {
        leapling: at("2027-02-28T09:00:00"),
        on_28th: at("2027-02-28T09:00:00"),
    }
    # 2028 is a leap year: the 28th for one, the 29th for the other.
    assert await run_scan(app, brand, "2028-02-28T12:00:00") == 1
    assert await run_scan(app, brand, "2028-03-01T00:00:00") == 1
    in_2028 = [o for o in await occurrences(app, brand) if o.occurred_at.year == 2028]
    assert {o.profile_id: o.occurred_at for o in in_2028} == {
        on_28th: at("2028-02-28T09:00:00"),
        leapling: at("2028-02-29T09:00:00"),
    }


async def test_contract_end_minus_30_days_fires_once_from_a_date_attribute(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    await define_attribute(app, brand, "contract_end", AttributeType.DATE)
    profile = await make_profile(
        app,
        brand,
        email="bo@example.test",
        time_zone="UTC",
        attributes={"contract_end": "2027-05-31"},
    )
    await make_profile(
        app,
        brand,
        email="later@example.test",
        time_zone="UTC",
        attributes={"contract_end": "2027-09-30"},
    )
    await define_trigger(
        app,
        brand,
        "contract_end_soon",
        TriggerKind.DATE_ATTRIBUTE,
        "2027-04-01T00:00:00",
        date_field="contract_end",
        offset_days=-30,
        local_time=dt.time(10, 0),
    )
    assert await run_scan(app, brand, "2027-05-01T09:59:00") == 0
    assert await run_scan(app, brand, "2027-05-01T10:00:00") == 1
    assert await run_scan(app, brand, "2027-06-15T00:00:00") == 0
    raised = await occurrences(app, brand)
    assert [(o.profile_id, o.occurred_at, o.payload["date"]) for o in raised] == [
        (profile, at("2027-05-01T10:00:00"), "2027-05-31")
    ]


async def test_a_datetime_attribute_counts_by_its_date_in_the_profile_time_zone(
    app: Litestar,
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    await define_attribute(app, brand, "delivered_at", AttributeType.DATETIME)
    # 23:30 UTC on the 1st is already the 2nd in Auckland.
    profile = await make_profile(
        app,
        brand,
        email="tui@example.test",
        time_zone="Pacific/Auckland",
        attributes={"delivered_at": "2027-06-01T23:30:00+00:00"},
    )
    await define_trigger(
        app,
        brand,
        "delivery_review",
        TriggerKind.DATE_ATTRIBUTE,
        "2027-05-01T00:00:00",
        date_field="delivered_at",
        offset_days=3,
        local_time=NINE,
    )
    assert await run_scan(app, brand, "2027-06-10T00:00:00") == 1
    # 09:00 on 5 June in Auckland (UTC+12 in winter) is 21:00 UTC on the 4th.
    raised = await occurrences(app, brand)
    assert [(o.profile_id, o.occurred_at) for o in raised] == [(profile, at("2027-06-04T21:00:00"))]


async def test_inactivity_is_raised_once_per_lapse(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    profile = await make_profile(app, brand, email="lapsed@example.test")
    await make_profile(app, brand, email="never@example.test")  # never ordered: no lapse
    await add_order(app, brand, profile, "A-1", "2027-01-01T12:00:00")
    await add_order(app, brand, profile, "A-2", "2027-01-10T12:00:00")
    await define_trigger(
        app,
        brand,
        "no_order_30_days",
        TriggerKind.INACTIVITY,
        "2027-01-01T00:00:00",
        inactivity_days=30,
    )
    # 30 days after the *last* order, not the first.
    assert await run_scan(app, brand, "2027-02-05T00:00:00") == 0
    assert await run_scan(app, brand, "2027-02-09T12:00:00") == 1
    assert await run_scan(app, brand, "2027-02-20T00:00:00") == 0
    # A new order ends the lapse; the next lapse is raised once more.
    await add_order(app, brand, profile, "A-3", "2027-02-21T08:00:00")
    assert await run_scan(app, brand, "2027-03-20T00:00:00") == 0
    assert await run_scan(app, brand, "2027-03-24T00:00:00") == 1
    assert await run_scan(app, brand, "2027-03-30T00:00:00") == 0
    raised = await occurrences(app, brand, "no_order_30_days")
    assert [o.occurred_at for o in raised] == [
        at("2027-02-09T12:00:00"),
        at("2027-03-23T08:00:00"),
    ]
    assert {o.profile_id for o in raised} == {profile}


async def test_scan_follows_a_changed_birth_date_and_other_brands_stay_out(
    app: Litestar,
) -> None:
    world = await make_world(app)
    brand, other = world.brand_a.id, world.brand_b.id
    profile = await make_profile(
        app, brand, email="ana@example.test", birth_date=dt.date(1990, 1, 1), time_zone="UTC"
    )
    await make_profile(
        app, other, email="ana@example.test", birth_date=dt.date(1990, 4, 10), time_zone="UTC"
    )
    await define_trigger(
        app,
        brand,
        "birthday",
        TriggerKind.DATE_ATTRIBUTE,
        "2027-04-01T00:00:00",
        date_field="birth_date",
        yearly=True,
    )
    async with session_of(app, brand) as session:
        await profile_service.update_profile(
            session, TenantId(brand), profile, ProfileUpdate(birth_date=dt.date(1990, 4, 10))
        )
        await session.commit()
    assert await run_scan(app, brand, "2027-04-11T00:00:00") == 1
    assert await run_scan(app, other, "2027-04-11T00:00:00") == 0  # brand B defined nothing
    assert [o.profile_id for o in await occurrences(app, brand)] == [profile]
    assert await occurrences(app, other) == []


async def test_a_disabled_trigger_is_not_scanned_and_resumes_from_its_reenabling(
    app: Litestar,
) -> None:
    from backend.triggers import service
    from backend.triggers.schemas import TriggerUpdate

    world = await make_world(app)
    brand = world.brand_a.id
    await make_profile(
        app, brand, email="off@example.test", birth_date=dt.date(1990, 5, 5), time_zone="UTC"
    )
    definition = await define_trigger(
        app,
        brand,
        "birthday",
        TriggerKind.DATE_ATTRIBUTE,
        "2027-05-01T00:00:00",
        date_field="birth_date",
        yearly=True,
        enabled=False,
    )
    assert await run_scan(app, brand, "2027-05-10T00:00:00") == 0
    async with session_of(app, brand) as session:
        await service.update_definition(
            session, definition.id, TriggerUpdate(enabled=True), now=at("2027-05-10T00:00:00")
        )
        await session.commit()
    assert await run_scan(app, brand, "2027-05-20T00:00:00") == 0  # the 5th passed while off
    # Down for over a year: the 2028 birthday is older than the catch-up bound.
    assert await run_scan(app, brand, "2028-06-10T00:00:00") == 0
    assert await occurrences(app, brand) == []


@pytest.mark.worker
async def test_the_scheduler_scans_every_active_brand_periodically(app: Litestar) -> None:
    async with app.lifespan():
        world = await make_world(app)
        brand = world.brand_a.id
        now = utcnow()
        yesterday = (now - dt.timedelta(days=1)).date()
        # 28 years earlier keeps a 29 February a 29 February.
        born = yesterday.replace(year=yesterday.year - 28)
        profile = await make_profile(
            app, brand, email="tick@example.test", birth_date=born, time_zone="UTC"
        )
        await define_trigger(
            app,
            brand,
            "birthday",
            TriggerKind.DATE_ATTRIBUTE,
            (now - dt.timedelta(days=2)).isoformat(),
            date_field="birth_date",
            yearly=True,
            local_time=NINE,
        )
        # The next scan period (the app's own scheduler may have used the current one at start).
        later = now + SCAN_EVERY
        await Scheduler(app.state.session_factory, app.state.relay).tick(later)
        await run_jobs(app)
        raised = await occurrences(app, brand)
        assert [(o.profile_id, o.occurred_at) for o in raised] == [
            (profile, dt.datetime.combine(yesterday, NINE, tzinfo=dt.UTC))
        ]


async def test_concurrent_scans_raise_a_birthday_once(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    await make_profile(
        app, brand, email="twice@example.test", birth_date=dt.date(1990, 7, 14), time_zone="UTC"
    )
    await define_trigger(
        app,
        brand,
        "birthday",
        TriggerKind.DATE_ATTRIBUTE,
        "2027-07-01T00:00:00",
        date_field="birth_date",
        yearly=True,
        local_time=NINE,
    )
    # Two replicas scanning at once: one holds the watermark, the other skips it (or, on
    # SQLite, waits for it and finds the window already covered).
    results = await asyncio.gather(
        run_scan(app, brand, "2027-07-15T00:00:00"), run_scan(app, brand, "2027-07-15T00:00:00")
    )
    assert sorted(results) == [0, 1]
    assert len(await occurrences(app, brand)) == 1
