"""Runs: segment changes compared with the run before (an `rfm.segment_changed` event per change,
exactly once, whatever the reruns), engagement RFM with its named segments, idempotent scoring,
and merged or deleted profiles."""

from __future__ import annotations

import datetime as dt

import pytest
from litestar import Litestar
from sqlalchemy import func, select

from backend.core.pagination import PageRequest
from backend.core.tenancy import TenantId
from backend.profiles import service as profile_service
from backend.rfm import service
from backend.rfm.models import RfmDirection, RfmKind, RfmRunStatus, RfmScore
from backend.rfm.schemas import RfmRunIn
from backend.tenancy import service as tenancy_service
from tests.factories import make_world, session_of
from tests.rfm.helpers import (
    AS_OF,
    DAY,
    add_events,
    add_orders,
    changed_events,
    emit,
    make_profile,
    run_rfm,
    score,
    scores_of,
    set_settings,
    triple,
)

T1 = AS_OF - 100 * DAY
PURCHASE_THRESHOLDS = {
    "purchase": {
        "recency": [7, 30, 90, 180],
        "frequency": [1, 2, 3, 4],
        "monetary": [50, 100, 200, 400],
    }
}


async def test_changed_segments_raise_one_event_each_exactly_once(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    await set_settings(app, brand, thresholds=PURCHASE_THRESHOLDS)
    falls = await make_profile(app, brand, "falls@example.test")
    await add_orders(app, brand, falls, *[(T1 - (1 + i) * DAY, "100") for i in range(5)])
    rises = await make_profile(app, brand, "rises@example.test")
    await add_orders(app, brand, rises, (T1 - 100 * DAY, "30"))
    stays = await make_profile(app, brand, "stays@example.test")
    await add_orders(app, brand, stays, (T1 - 200 * DAY, "30"), (T1 - 201 * DAY, "30"))
    leaves = await make_profile(app, brand, "leaves@example.test")
    await add_orders(app, brand, leaves, (T1 - 300 * DAY, "30"))
    first = await run_rfm(app, brand, as_of=T1)
    before = await scores_of(app, brand, first.id)
    assert triple(before[falls])[3] == "Champions"
    assert triple(before[rises])[3] == "Hibernating"
    assert triple(before[stays])[3] == "Lost"
    assert await changed_events(app, brand) == []

    arrives = await make_profile(app, brand, "arrives@example.test")
    await add_orders(app, brand, arrives, (AS_OF - DAY, "30"))
    await add_orders(app, brand, rises, *[(AS_OF - (2 + i) * DAY, "100") for i in range(4)])
    second = await run_rfm(app, brand, as_of=AS_OF)
    assert (second.scored_count, second.changed_count) == (4, 2)
    after = await scores_of(app, brand, second.id)
    assert set(after) == {falls, rises, stays, arrives}  # `leaves` fell out of the window
    assert (after[falls].previous_segment, after[falls].segment) == ("Champions", "Can't lose")
    assert after[falls].direction is RfmDirection.DOWN
    assert (after[rises].previous_segment, after[rises].segment) == ("Hibernating", "Champions")
    assert after[rises].direction is RfmDirection.UP
    assert after[stays].direction is RfmDirection.SAME
    assert (after[arrives].previous_segment, after[arrives].direction) == (None, None)

    events = await changed_events(app, brand)
    assert sorted((e.profile_id, e.properties["direction"]) for e in events) == sorted(
        [(falls, "down"), (rises, "up")]
    )
    by_profile = {e.profile_id: e for e in events}
    assert by_profile[falls].event_id == f"rfm:{second.id}:{falls}"
    assert by_profile[falls].properties == {
        "kind": "purchase",
        "from": "Champions",
        "to": "Can't lose",
        "direction": "down",
        "runId": str(second.id),
    }
    assert by_profile[falls].occurred_at == AS_OF
    assert by_profile[falls].source == "rfm"

    # The task delivered again, and the emission run again: nothing new.
    await score(app, brand, second.id)
    await emit(app, brand, second.id, limit=1)
    assert len(await changed_events(app, brand)) == 2
    again = await scores_of(app, brand, second.id)
    assert {p: triple(s) for p, s in again.items()} == {p: triple(s) for p, s in after.items()}


async def test_emission_in_chunks_covers_every_change(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    await set_settings(app, brand, thresholds=PURCHASE_THRESHOLDS)
    profiles = [await make_profile(app, brand, f"c{i}@example.test") for i in range(3)]
    for profile in profiles:
        await add_orders(app, brand, profile, *[(T1 - (1 + i) * DAY, "100") for i in range(5)])
    await run_rfm(app, brand, as_of=T1)
    async with session_of(app, brand) as session:
        run = await service.start_run(session, TenantId(brand), RfmRunIn(as_of=AS_OF), now=AS_OF)
        await session.commit()
    await score(app, brand, run.id)
    await emit(app, brand, run.id, limit=2)  # chunks of 2, 1
    assert sorted(e.profile_id for e in await changed_events(app, brand)) == sorted(profiles)


async def test_engagement_scores_from_engagement_events_and_orders(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    hyper, engaged, cooling, dormant, dormant_buyer, zombie, browser = [
        await make_profile(app, brand, f"{n}@example.test")
        for n in ("hyper", "engaged", "cooling", "dormant", "buyer", "zombie", "browser")
    ]
    names = [
        "email_opened",
        "email_clicked",
        "sms_clicked",
        "push_opened",
        "email_opened",
        "push_opened",
    ]
    await add_events(app, brand, hyper, *[(n, AS_OF - i * DAY) for i, n in enumerate(names)])
    await add_events(
        app, brand, engaged, *[("email_clicked", AS_OF - (5 + i) * DAY) for i in range(4)]
    )
    await add_events(
        app, brand, cooling, *[("sms_clicked", AS_OF - (20 + i) * DAY) for i in range(3)]
    )
    await add_events(
        app, brand, dormant, ("email_opened", AS_OF - 60 * DAY), ("email_opened", AS_OF - 61 * DAY)
    )
    await add_events(
        app,
        brand,
        dormant_buyer,
        ("push_opened", AS_OF - 150 * DAY),
        ("push_opened", AS_OF - 151 * DAY),
    )
    await add_events(
        app, brand, zombie, ("email_opened", AS_OF - 200 * DAY), ("email_opened", AS_OF - 400 * DAY)
    )  # the second one is outside the window
    await add_events(app, brand, browser, ("page_viewed", AS_OF - DAY))  # not engagement
    await add_orders(app, brand, hyper, (AS_OF - 10 * DAY, "300"))
    await add_orders(app, brand, engaged, (AS_OF - 10 * DAY, "100"))
    await add_orders(app, brand, dormant_buyer, (AS_OF - 10 * DAY, "50"))
    await add_orders(app, brand, browser, (AS_OF - 10 * DAY, "999"))

    run = await run_rfm(app, brand, RfmKind.ENGAGEMENT)
    assert run.status is RfmRunStatus.SUCCEEDED
    assert run.cut_points == {
        "recency": [5.0, 20.0, 60.0, 150.0],
        "frequency": [2.0, 2.0, 3.0, 4.0],
        "monetary": [0.0, 0.0, 50.0, 100.0],
    }
    scores = await scores_of(app, brand, run.id)
    assert browser not in scores
    assert {p: (s.recency_days, s.frequency, int(s.monetary)) for p, s in scores.items()} == {
        hyper: (0, 6, 300),
        engaged: (5, 4, 100),
        cooling: (20, 3, 0),
        dormant: (60, 2, 0),
        dormant_buyer: (150, 2, 50),
        zombie: (200, 1, 0),
    }
    assert {p: triple(s) for p, s in scores.items()} == {
        hyper: (5, 5, 5, "Hyperactive"),
        engaged: (4, 4, 4, "Engaged"),
        cooling: (3, 3, 1, "Cooling"),
        dormant: (2, 1, 1, "Dormant"),
        dormant_buyer: (1, 1, 3, "Dormant"),
        zombie: (1, 1, 1, "Zombies"),  # engaged once, 200 days ago
    }
    # Purchase RFM is a kind of its own: its current run is untouched.
    async with session_of(app, brand) as session:
        purchase, _ = await service.list_scores(session, PageRequest())
    assert purchase == []


async def test_fading_stars_declined_on_every_axis_from_a_valuable_score(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    await set_settings(
        app,
        brand,
        engagement_window_days=60,
        thresholds={
            "engagement": {
                "recency": [7, 30, 90, 180],
                "frequency": [1, 2, 4, 8],
                "monetary": [10, 50, 100, 500],
            }
        },
    )
    star = await make_profile(app, brand, "star@example.test")
    await add_events(app, brand, star, *[("email_opened", T1 - (20 + i) * DAY) for i in range(3)])
    await add_events(app, brand, star, *[("email_clicked", T1 - i * DAY) for i in range(6)])
    await add_orders(app, brand, star, (T1 - 20 * DAY, "500"), (T1 - 2 * DAY, "100"))
    first = await run_rfm(app, brand, RfmKind.ENGAGEMENT, as_of=T1)
    assert triple((await scores_of(app, brand, first.id))[star]) == (5, 5, 5, "Hyperactive")
    second = await run_rfm(app, brand, RfmKind.ENGAGEMENT, as_of=T1 + 50 * DAY)
    faded = (await scores_of(app, brand, second.id))[star]
    assert triple(faded) == (3, 4, 3, "Fading stars")
    assert faded.direction is RfmDirection.DOWN
    [event] = await changed_events(app, brand)
    assert event.properties["kind"] == "engagement"
    assert (event.properties["from"], event.properties["to"]) == ("Hyperactive", "Fading stars")


async def test_a_finished_run_is_not_scored_again(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    profile = await make_profile(app, brand, "once@example.test")
    await add_orders(app, brand, profile, (AS_OF - DAY, "10"))
    run = await run_rfm(app, brand)
    await add_orders(app, brand, profile, (AS_OF - 2 * DAY, "10"))
    await score(app, brand, run.id)
    async with session_of(app, brand) as session:
        again = await service.get_run(session, run.id)
    assert (again.finished_at, again.scored_count) == (run.finished_at, 1)
    assert (await scores_of(app, brand, run.id))[profile].frequency == 1


async def test_merged_and_deleted_profiles_take_their_scores_along(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    older = await make_profile(app, brand, "older@example.test")
    newer = await make_profile(app, brand, "newer@example.test")
    gone = await make_profile(app, brand, "gone@example.test")
    for profile in (older, newer, gone):
        await add_orders(app, brand, profile, (AS_OF - DAY, "10"))
    run = await run_rfm(app, brand)
    async with session_of(app, brand) as session:
        await profile_service.merge_profiles(session, TenantId(brand), older, newer, "test")
        await profile_service.delete_profile(session, TenantId(brand), gone)
        await session.commit()
    assert set(await scores_of(app, brand, run.id)) == {older}


async def test_the_previous_run_is_the_latest_succeeded_run_of_the_same_kind(
    app: Litestar,
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    profile = await make_profile(app, brand, "kinds@example.test")
    await add_orders(app, brand, profile, (T1 - DAY, "10"))
    await add_events(app, brand, profile, ("email_opened", T1 - DAY))
    await run_rfm(app, brand, as_of=T1)
    await run_rfm(app, brand, RfmKind.ENGAGEMENT, as_of=T1)
    later = await run_rfm(app, brand, as_of=T1 + dt.timedelta(days=200))
    [after] = (await scores_of(app, brand, later.id)).values()
    # One profile: every cut point is its own value, so it scores 1 + 0 on F and M, 1 on R.
    assert after.previous_segment == "Lost"
    assert after.direction is RfmDirection.SAME


async def test_a_deleted_brand_takes_its_scores_along(app: Litestar) -> None:
    world = await make_world(app)
    runs = {}
    for brand in (world.brand_a.id, world.brand_b.id):
        profile = await make_profile(app, brand, "both@example.test")
        await add_orders(app, brand, profile, (AS_OF - DAY, "10"))
        runs[brand] = await run_rfm(app, brand)
    async with session_of(app, world.brand_a.id) as session:
        await tenancy_service.delete_brand(session, TenantId(world.brand_a.id))
        await session.commit()
    async with session_of(app, world.brand_a.id) as session:
        left = await session.scalar(
            select(func.count()).select_from(RfmScore).where(RfmScore.tenant_id == world.brand_a.id)
        )
    assert left == 0
    assert len(await scores_of(app, world.brand_b.id, runs[world.brand_b.id].id)) == 1


async def test_a_statement_that_cannot_succeed_fails_the_run_and_stores_nothing(
    app: Litestar, stack: str
) -> None:
    if stack != "postgres":
        pytest.skip("SQLite does not bound numeric precision")
    world = await make_world(app)
    brand = world.brand_a.id
    whale = await make_profile(app, brand, "whale@example.test")
    # 101 orders just under the order bound: their sum overflows the scores' monetary column.
    await add_orders(
        app, brand, whale, *[(AS_OF - (1 + i) * DAY, "999999999999") for i in range(101)]
    )
    run = await run_rfm(app, brand)
    assert run.status is RfmRunStatus.FAILED
    assert run.error is not None
    assert "overflow" in run.error
    assert (run.scored_count, run.finished_at is not None) == (0, True)
    assert await scores_of(app, brand, run.id) == {}
    await score(app, brand, run.id)  # delivered again: a failed run stays failed
    async with session_of(app, brand) as session:
        assert (await service.get_run(session, run.id)).status is RfmRunStatus.FAILED
