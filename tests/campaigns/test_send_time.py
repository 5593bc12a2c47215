"""Send-time optimisation: each recipient's hour from their own opens and clicks (in their time
zone, DST-correct), the brand's default without history, placed in the window outside quiet
hours; machine opens never count, another brand's history never counts, and the queries do not
grow with the number of recipients."""

from __future__ import annotations

import datetime as dt
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest
from litestar import Litestar

from backend.campaigns.send_time import (
    DEFAULT_HOUR,
    MIN_BRAND_EVENTS,
    SendWindow,
    allowed_hour,
    best_hour,
    optimal_send_times,
)
from backend.core.db import utcnow
from backend.core.errors import InvalidInput
from backend.core.tenancy import TenantId
from backend.events import service as events_service
from backend.events.schemas import EventIn
from backend.messaging import service as messaging_service
from backend.messaging.schemas import PressurePolicyUpdate
from backend.messaging.tracking import service as tracking_service
from backend.messaging.tracking.tokens import Token, TokenKind, TrackedChannel
from tests.factories import make_world, session_of, statements_of
from tests.messaging.tracking.helpers import BROWSER_UA, Recipient, make_message
from tests.segments.helpers import make_profile

UTC = dt.UTC
# "Now" for the history: the Paris DST change is on 29 March 2026 (UTC+1 → UTC+2).
NOW = dt.datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
# 19:10 in Paris on days on both sides of a DST change: summer 2025 (17:10 UTC), winter (18:10).
EVENING_OPENS = [
    dt.datetime(2025, 10, 1, 17, 10, tzinfo=UTC),
    dt.datetime(2025, 10, 20, 17, 10, tzinfo=UTC),
    dt.datetime(2025, 12, 5, 18, 10, tzinfo=UTC),
    dt.datetime(2026, 2, 10, 18, 10, tzinfo=UTC),
    dt.datetime(2026, 3, 15, 18, 10, tzinfo=UTC),
]


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A time in March 2026, UTC."""
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def window(start: dt.datetime, hours: float) -> SendWindow:
    return SendWindow(start, start + dt.timedelta(hours=hours))


async def set_quiet_hours(app: Litestar, brand: UUID, start: str | None, end: str | None) -> None:
    async with session_of(app, brand) as session:
        await messaging_service.update_policy(
            session,
            TenantId(brand),
            PressurePolicyUpdate(quiet_hours_start=start, quiet_hours_end=end),
        )
        await session.commit()


async def engage(app: Litestar, brand: UUID, profile: UUID, moments: list[dt.datetime]) -> None:
    """Opens (and a click for every other one) recorded as tracking records them."""
    events = []
    for index, moment in enumerate(moments):
        name = "email_clicked" if index % 2 else "email_opened"
        events.append(
            EventIn(event_id=str(uuid4()), name=name, occurred_at=moment, profile_id=profile)
        )
    async with session_of(app, brand) as session:
        await events_service.ingest(
            session, TenantId(brand), events, source="messaging", platform=True
        )
        await session.commit()


async def send_times(
    app: Litestar, brand: UUID, profiles: list[UUID], span: SendWindow
) -> dict[UUID, dt.datetime]:
    async with session_of(app, brand) as session:
        chosen = await optimal_send_times(session, TenantId(brand), profiles, span, now=NOW)
        await session.commit()
    return chosen


# Pure rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ({19: 5.0}, 19),
        ({18: 1.0, 20: 1.0}, 18),  # a tie of equals: the earlier
        ({18: 1.0, 19: 0.9, 20: 1.0}, 19),  # the habit between two near neighbours
        ({0: 1.0, 23: 1.0, 1: 1.0}, 0),  # around midnight
        ({}, 0),
    ],
)
def test_best_hour(weights: dict[int, float], expected: int) -> None:
    assert best_hour([weights.get(h, 0.0) for h in range(24)]) == expected


@pytest.mark.parametrize(
    ("hour", "quiet", "expected"),
    [
        (19, (dt.time(21), dt.time(8)), 19),
        (23, (dt.time(21), dt.time(8)), 20),
        (7, (dt.time(21), dt.time(8)), 8),
        (2, (dt.time(21), dt.time(8)), 8),  # six hours either way: the earlier hour
        (21, (dt.time(21, 30), dt.time(8)), 21),  # 21:00 is before 21:30
        (13, (dt.time(12), dt.time(14)), 14),
        (13, None, 13),
    ],
)
def test_an_hour_in_quiet_hours_moves_to_the_nearest_allowed(
    hour: int, quiet: tuple[dt.time, dt.time] | None, expected: int
) -> None:
    assert allowed_hour(hour, quiet) == expected


# Against the database -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [
        # 27 March: Paris is UTC+1 → 19:00 is 18:00 UTC.
        (dt.datetime(2026, 3, 27, 0, 0, tzinfo=UTC), 24, dt.datetime(2026, 3, 27, 18, tzinfo=UTC)),
        # 30 March: Paris is UTC+2 → 19:00 is 17:00 UTC.
        (dt.datetime(2026, 3, 30, 0, 0, tzinfo=UTC), 24, dt.datetime(2026, 3, 30, 17, tzinfo=UTC)),
        # A window across the change, opening after the 28th's 19:00: the 29th's, in summer time.
        (dt.datetime(2026, 3, 28, 20, 0, tzinfo=UTC), 72, dt.datetime(2026, 3, 29, 17, tzinfo=UTC)),
    ],
)
async def test_a_profile_who_opens_at_seven_pm_in_paris_gets_seven_pm_in_paris(
    app: Litestar, start: dt.datetime, hours: float, expected: dt.datetime
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    await set_quiet_hours(app, brand, "21:00", "08:00")
    ada = await make_profile(app, brand, email="ada@example.com", time_zone="Europe/Paris")
    await engage(app, brand, ada, EVENING_OPENS)
    chosen = await send_times(app, brand, [ada], window(start, hours))
    assert chosen == {ada: expected}
    assert chosen[ada].tzinfo is UTC
    assert chosen[ada].astimezone(ZoneInfo("Europe/Paris")).time() == dt.time(19)


async def test_without_history_the_brand_default_applies_in_each_profiles_zone(
    app: Litestar,
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id  # Europe/Brussels
    await set_quiet_hours(app, brand, None, None)
    here = await make_profile(app, brand, email="here@example.com")
    there = await make_profile(app, brand, email="there@example.com", time_zone="America/New_York")
    few = await make_profile(app, brand, email="few@example.com")
    await engage(app, brand, few, EVENING_OPENS[:2])  # below the threshold: no hour of its own
    span = window(dt.datetime(2026, 3, 23, 0, 0, tzinfo=UTC), 24)
    chosen = await send_times(app, brand, [here, there, few], span)
    # 10:00 in Brussels (UTC+1) and in New York (already on summer time, UTC-4).
    assert chosen == {
        here: dt.datetime(2026, 3, 23, DEFAULT_HOUR - 1, tzinfo=UTC),
        there: dt.datetime(2026, 3, 23, DEFAULT_HOUR + 4, tzinfo=UTC),
        few: dt.datetime(2026, 3, 23, DEFAULT_HOUR - 1, tzinfo=UTC),
    }

    # Once the brand's profiles engage, its own best hour is the default: 15:00 in Brussels.
    crowd = [await make_profile(app, brand, email=f"c{i}@example.com") for i in range(4)]
    afternoon = [dt.datetime(2026, 3, d, 14, 20, tzinfo=UTC) for d in range(1, 7)]
    for person in crowd:
        await engage(app, brand, person, afternoon)
    assert len(crowd) * len(afternoon) >= MIN_BRAND_EVENTS
    chosen = await send_times(app, brand, [here, there], span)
    assert chosen == {
        here: dt.datetime(2026, 3, 23, 14, tzinfo=UTC),
        there: dt.datetime(2026, 3, 23, 19, tzinfo=UTC),  # 15:00 in New York
    }


@pytest.mark.parametrize(
    ("start", "hours", "quiet", "expected"),
    [
        # 09:00-12:00 UTC: 19:00 Paris (18:00 UTC) comes six hours after: the window's end.
        (at(24, 9), 3, None, at(24, 12)),
        # 19:30-23:00 UTC: the day's 19:00 Paris passed 90 minutes before: the window's start.
        (at(24, 19, 30), 3.5, None, at(24, 19, 30)),
        # The same with quiet hours from 21:00 Paris: only 19:30-19:59 UTC is allowed.
        (at(24, 19, 30), 3.5, ("21:00", "08:00"), at(24, 19, 30)),
        # 03:00-08:00 UTC: the evening before is nearer (9 h) than the next (10 h)...
        (at(24, 3), 5, None, at(24, 3)),
        # ...but 04:00 Paris is quiet: the allowed 07:00-08:00 UTC, nearest to the next evening.
        (at(24, 3), 5, ("21:00", "08:00"), at(24, 8)),
        # A window wholly in quiet hours (22:00-23:00 Paris): its moment nearest to 19:00.
        (at(24, 21), 1, ("21:00", "08:00"), at(24, 21)),
    ],
)
async def test_a_window_without_the_hour_gives_the_nearest_allowed_moment(
    app: Litestar,
    start: dt.datetime,
    hours: float,
    quiet: tuple[str, str] | None,
    expected: dt.datetime,
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    await set_quiet_hours(app, brand, *(quiet or (None, None)))
    ada = await make_profile(app, brand, email="ada@example.com", time_zone="Europe/Paris")
    await engage(app, brand, ada, EVENING_OPENS)
    span = window(start, hours)
    chosen = await send_times(app, brand, [ada], span)
    assert chosen == {ada: expected}
    assert span.start <= chosen[ada] <= span.end


async def test_quiet_hours_move_a_late_habit_to_their_start(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    night = await make_profile(app, brand, email="owl@example.com", time_zone="Europe/Paris")
    early = await make_profile(app, brand, email="lark@example.com", time_zone="Europe/Paris")
    # 23:40 and 06:30 in Paris (winter, UTC+1).
    await engage(
        app, brand, night, [dt.datetime(2026, 3, d, 22, 40, tzinfo=UTC) for d in (2, 5, 9)]
    )
    await engage(app, brand, early, [dt.datetime(2026, 3, d, 5, 30, tzinfo=UTC) for d in (2, 5, 9)])
    span = window(dt.datetime(2026, 3, 24, 0, tzinfo=UTC), 24)
    await set_quiet_hours(app, brand, None, None)
    assert await send_times(app, brand, [night, early], span) == {
        night: dt.datetime(2026, 3, 24, 22, tzinfo=UTC),
        early: dt.datetime(2026, 3, 24, 5, tzinfo=UTC),
    }
    await set_quiet_hours(app, brand, "21:00", "08:00")
    assert await send_times(app, brand, [night, early], span) == {
        night: dt.datetime(2026, 3, 24, 19, tzinfo=UTC),  # 20:00 Paris, the last hour before
        early: dt.datetime(2026, 3, 24, 7, tzinfo=UTC),  # 08:00 Paris, when they end
    }


async def test_machine_opens_never_count(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    await set_quiet_hours(app, brand, None, None)
    ada = await make_profile(app, brand, email="ada@example.com", time_zone="Europe/Paris")
    who = Recipient(TenantId(brand), ada)
    since_sent = utcnow() - dt.datetime(2025, 9, 1, tzinfo=UTC)
    for index in range(8):
        message = await make_message(app, who, sent_ago=since_sent)
        token = Token(TokenKind.OPEN, TrackedChannel.EMAIL, brand, message)
        day = dt.datetime(2026, 1, 5 + index, tzinfo=UTC)
        async with session_of(app, brand) as session:
            # Apple's privacy proxy fetches every image at 03:10 in Paris...
            machine = day.replace(hour=2, minute=10)
            await tracking_service.opened(
                session, token, user_agent="Mozilla/5.0", address="17.58.1.2", now=machine
            )
            if index < 3:  # ...and the person opens three of them at 19:10.
                person = day.replace(hour=18, minute=10)
                await tracking_service.opened(
                    session, token, user_agent=BROWSER_UA, address="198.51.100.7", now=person
                )
            await session.commit()
    span = window(dt.datetime(2026, 3, 24, 0, tzinfo=UTC), 24)
    assert await send_times(app, brand, [ada], span) == {
        ada: dt.datetime(2026, 3, 24, 18, tzinfo=UTC)
    }


async def test_another_brands_history_never_counts(app: Litestar) -> None:
    world = await make_world(app)
    a, b = world.brand_a.id, world.brand_b.id
    for brand in (a, b):
        await set_quiet_hours(app, brand, None, None)
    theirs = [await make_profile(app, b, email=f"b{i}@example.com") for i in range(5)]
    dawn = [dt.datetime(2026, 3, d, 5, 15, tzinfo=UTC) for d in range(1, 8)]
    for person in theirs:
        await engage(app, b, person, dawn)
    ours = await make_profile(app, a, email="ada@example.com")
    span = window(dt.datetime(2026, 3, 24, 0, tzinfo=UTC), 24)
    # Brand B's habit (06:00 Brussels) is its own default...
    assert (await send_times(app, b, [ours, theirs[0]], span))[theirs[0]] == dt.datetime(
        2026, 3, 24, 5, tzinfo=UTC
    )
    # ...never brand A's, nor does a B profile named to A bring its history along.
    default = dt.datetime(2026, 3, 24, DEFAULT_HOUR - 1, tzinfo=UTC)
    assert await send_times(app, a, [ours, theirs[0]], span) == {ours: default, theirs[0]: default}


async def test_no_ids_no_times_and_a_bad_window_is_refused(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    span = window(dt.datetime(2026, 3, 24, tzinfo=UTC), 24)
    assert await send_times(app, brand, [], span) == {}
    backwards = SendWindow(span.end, span.start)
    naive = SendWindow(dt.datetime(2026, 3, 24), dt.datetime(2026, 3, 25))
    for bad in (backwards, naive):
        with pytest.raises(InvalidInput):
            await send_times(app, brand, [uuid4()], bad)


async def test_queries_do_not_grow_with_the_recipients(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    people = [
        await make_profile(app, brand, email=f"p{i}@example.com", time_zone=zone)
        for i, zone in enumerate(["Europe/Paris", "America/New_York", None] * 10)
    ]
    for index, person in enumerate(people):
        await engage(app, brand, person, [m + dt.timedelta(hours=index % 5) for m in EVENING_OPENS])
    span = window(dt.datetime(2026, 3, 24, tzinfo=UTC), 48)
    # Once per process, PostgreSQL is asked which of the zones its time zone database holds.
    await send_times(app, brand, people, span)
    counts = []
    for group in (people[:1], people):
        with statements_of(app) as statements:
            chosen = await send_times(app, brand, group, span)
        assert set(chosen) == set(group)
        assert all(span.start <= moment <= span.end for moment in chosen.values())
        # (less the brand each PostgreSQL transaction sets for row-level security)
        counts.append(
            sum(1 for s in statements if "set_config" not in s and "levier_set_local" not in s)
        )
    # The brand, its policy, its sample of engagement and the zones of the sample's profiles;
    # then the recipients' zones and their activity.
    assert counts[0] == counts[1] == 6, counts
