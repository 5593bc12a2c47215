"""The runtime: entries from trigger occurrences (event entries, a redelivered or concurrent
occurrence), re-entry policies, awaited events and goals, splits, updates and webhooks, live
edits moving journeys in flight or letting them finish, pause and resume, a failing journey
isolated from its batch, and waits in the profile's time zone across summer time."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select
from standardwebhooks import Webhook

from backend.config import Settings
from backend.core.db import utcnow
from backend.core.tenancy import TenantId
from backend.profiles import service as profile_service
from backend.profiles.models import ConsentChange
from backend.scenarios import engine, entries, timing
from backend.scenarios.effects import Done, LiveEffects
from backend.scenarios.graph import Duration, UpdateNode
from backend.scenarios.models import Journey, JourneyState, ScenarioEntry
from backend.segments.models import SegmentMember
from backend.triggers import service as triggers_service
from backend.triggers.consumers import registered_consumers
from backend.triggers.models import TriggerOccurrence
from tests.factories import make_world, run_jobs, session_of
from tests.scenarios.helpers import (
    EXIT,
    advance_clock,
    enter,
    entry,
    journeys,
    person,
    post,
    scenario,
    steps,
    url,
)
from tests.webhooks.receiver import receiver

pytestmark = pytest.mark.worker
WAIT_HOUR = {"kind": "wait", "id": "hour", "duration": {"hours": 1}, "next": "done"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(webhook_allow_http=True, webhook_allow_private_targets=True)


async def test_an_event_starts_a_journey_once_and_a_filter_keeps_others_out(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    scenario_id = await scenario(
        client,
        world,
        [
            entry(
                "hour",
                kind="event",
                eventName="signed_up",
                propertyEquals={"source": "shop"},
                reentry={"policy": "always"},
            ),
            WAIT_HOUR,
            EXIT,
        ],
    )
    ada = await person(app, world, email="ada@example.com")
    bob = await person(app, world, email="bob@example.com")

    async def signed_up(event_id: str, profile: UUID, source: str) -> None:
        body = {
            "eventId": event_id,
            "name": "signed_up",
            "profileId": str(profile),
            "properties": {"source": source},
        }
        await post(client, world, "/events", body)

    await signed_up("e-1", ada, "shop")
    await signed_up("e-1", ada, "shop")  # re-sent: a duplicate event, no second occurrence
    await signed_up("e-2", bob, "store")  # the filter keeps it out
    await run_jobs(app, rounds=20)
    (journey,) = await journeys(app, world, scenario_id)
    assert journey.profile_id == ada
    assert (journey.state, journey.node_id) == (JourneyState.WAITING, "hour")
    assert journey.data["properties"] == {"source": "shop"}
    triggers = await client.get(url(world, "/triggers"), headers=world.viewer_a.headers)
    made = [t for t in triggers.json()["items"] if t["key"].startswith("scenario_")]
    assert [(t["kind"], t["eventName"], t["propertyEquals"]) for t in made] == [
        ("event", "signed_up", {"source": "shop"})
    ]


async def _occurrence(app: Litestar, world: Any, profile: UUID, key: str) -> TriggerOccurrence:
    async with session_of(app, world.brand_a.id) as session:
        occurrence = await triggers_service.raise_trigger(
            session,
            TenantId(world.brand_a.id),
            profile_id=profile,
            type="visit",
            dedupe_key=key,
            occurred_at=utcnow(),
            payload={"n": key},
        )
        await session.commit()
    assert occurrence is not None
    return occurrence


async def _deliver(app: Litestar, world: Any, occurrence: TriggerOccurrence) -> None:
    """The publishing task's delivery of one occurrence to every consumer (as it runs it)."""
    async with session_of(app, world.brand_a.id) as session:
        for consumer in registered_consumers():
            await consumer.on_occurrences(session, TenantId(world.brand_a.id), [occurrence])
        await session.commit()


async def test_an_occurrence_delivered_twice_even_at_once_starts_one_journey(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await post(
        client,
        world,
        "/triggers",
        {"key": "visit", "label": "Visit", "kind": "event", "eventName": "visit"},
    )
    scenario_id = await scenario(
        client,
        world,
        [
            entry("hour", kind="trigger", triggerKey="visit", reentry={"policy": "always"}),
            WAIT_HOUR,
            EXIT,
        ],
    )
    ada = await person(app, world, email="ada@example.com")
    occurrence = await _occurrence(app, world, ada, "first")
    await run_jobs(app, rounds=20)  # triggers.publish delivered it once already
    await _deliver(app, world, occurrence)  # a redelivery
    await asyncio.gather(*(_deliver(app, world, occurrence) for _ in range(4)))  # at once
    assert len(await journeys(app, world, scenario_id)) == 1
    second = await _occurrence(app, world, ada, "second")
    await asyncio.gather(*(_deliver(app, world, second) for _ in range(4)))
    await run_jobs(app, rounds=20)
    assert len(await journeys(app, world, scenario_id)) == 2  # `always`: a new occurrence enters


@pytest.mark.parametrize(
    ("reentry", "admitted"),
    [
        ({"policy": "never"}, [True, False, False, False]),
        ({"policy": "after_days", "days": 30}, [True, False, False, True]),
        ({"policy": "always"}, [True, True, True, True]),
    ],
    ids=["never", "after-30-days", "always"],
)
async def test_reentry_policies(
    app: Litestar, client: httpx.AsyncClient, reentry: dict[str, Any], admitted: list[bool]
) -> None:
    """Entries: now; again at once (first in flight); once the first finished, 10 days later;
    40 days later."""
    world = await make_world(app)
    scenario_id = await scenario(
        client, world, [entry("hour", kind="api", reentry=reentry), WAIT_HOUR, EXIT]
    )
    ada = await person(app, world, email="ada@example.com")
    tenant = TenantId(world.brand_a.id)
    version_id = await _live_version(app, world, scenario_id)
    results: list[bool] = []
    now = utcnow()
    for n, at in enumerate([now, now, now + dt.timedelta(days=10), now + dt.timedelta(days=40)]):
        if n == 2:  # the first journey ends: it waits its hour, then exits
            await run_jobs(app, rounds=20)
            await advance_clock(app, world, dt.timedelta(hours=2))
        async with session_of(app, world.brand_a.id) as session:
            started = await entries.admit(
                session,
                tenant,
                [entries.Candidate(UUID(scenario_id), version_id, ada, f"api:{n}", {})],
                now=at,
            )
            await session.commit()
        results.append(bool(started))
    assert results == admitted
    async with session_of(app, world.brand_a.id) as session:
        memory = await session.scalar(select(ScenarioEntry))
    assert memory is not None
    assert memory.entries == sum(admitted)


async def _live_version(app: Litestar, world: Any, scenario_id: str) -> UUID:
    from backend.scenarios.models import ScenarioVersion

    async with session_of(app, world.brand_a.id) as session:
        version = await session.scalar(
            select(ScenarioVersion).where(ScenarioVersion.scenario_id == UUID(scenario_id))
        )
    assert version is not None
    return version.id


async def test_an_awaited_event_or_its_timeout_and_a_goal_converting(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    scenario_id = await scenario(
        client,
        world,
        [
            entry("buy"),
            {
                "kind": "wait_event",
                "id": "buy",
                "eventName": "purchased",
                "timeout": {"days": 7},
                "happened": "thanks",
                "timedOut": "nudge",
            },
            {"kind": "wait", "id": "thanks", "duration": {"hours": 1}, "next": "done"},
            {"kind": "wait", "id": "nudge", "duration": {"days": 3}, "next": "done"},
            {
                "kind": "goal",
                "id": "vip",
                "eventName": "joined_club",
                "propertyEquals": {"tier": "gold"},
            },
            EXIT,
        ],
    )
    ada, bob, eve = [
        await person(app, world, email=f"{n}@example.com") for n in ("ada", "bob", "eve")
    ]
    for profile in (ada, bob, eve):
        await enter(client, world, scenario_id, profile)
    await run_jobs(app, rounds=20)

    async def event(event_id: str, name: str, profile: UUID, **properties: Any) -> None:
        body = {
            "eventId": event_id,
            "name": name,
            "profileId": str(profile),
            "properties": properties,
        }
        await post(client, world, "/events", body)

    await event("o-1", "purchased", ada)
    await event("c-1", "joined_club", eve, tier="silver")  # not the goal's tier
    await event("c-2", "joined_club", eve, tier="gold")
    await run_jobs(app, rounds=20)
    by_profile = {j.profile_id: j for j in await journeys(app, world, scenario_id)}
    assert (by_profile[ada].state, by_profile[ada].node_id) == (JourneyState.WAITING, "thanks")
    assert (by_profile[bob].state, by_profile[bob].node_id) == (JourneyState.WAITING, "buy")
    assert by_profile[eve].state is JourneyState.CONVERTED
    assert await steps(app, world, by_profile[eve].id) == [
        ("start", "entered"),
        ("buy", "interrupted"),
        ("vip", "converted"),
    ]
    await advance_clock(app, world, dt.timedelta(days=7, minutes=1))
    by_profile = {j.profile_id: j for j in await journeys(app, world, scenario_id)}
    assert by_profile[ada].state is JourneyState.COMPLETED
    assert (by_profile[bob].state, by_profile[bob].node_id) == (JourneyState.WAITING, "nudge")
    stats = (
        await client.get(
            url(world, f"/scenarios/{scenario_id}/stats"), headers=world.viewer_a.headers
        )
    ).json()
    nodes = {n["nodeId"]: n for n in stats["nodes"]}
    assert nodes["buy"]["outcomes"] == {"happened": 1, "interrupted": 1, "timed_out": 1}
    assert nodes["vip"]["converted"] == 1
    assert nodes["nudge"]["waiting"] == 1


async def test_a_split_is_deterministic_per_profile(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    scenario_id = await scenario(
        client,
        world,
        [
            entry("ab", kind="api", reentry={"policy": "always"}),
            {
                "kind": "split",
                "id": "ab",
                "branches": [
                    {"percent": 50, "next": "a", "label": "A"},
                    {"percent": 50, "next": "b", "label": "B"},
                ],
            },
            {"kind": "wait", "id": "a", "duration": {"hours": 1}, "next": "done"},
            {"kind": "wait", "id": "b", "duration": {"hours": 1}, "next": "done"},
            EXIT,
        ],
    )
    people = [await person(app, world, email=f"p{n}@example.com") for n in range(40)]
    for round_ in range(2):
        for profile in people:
            await enter(client, world, scenario_id, profile, key=f"{round_}:{profile}")
    await run_jobs(app, rounds=20)
    branches: dict[UUID, set[str]] = {}
    for journey in await journeys(app, world, scenario_id):
        branches.setdefault(journey.profile_id, set()).add(journey.node_id)
    assert all(len(b) == 1 for b in branches.values())  # the same branch both times
    split = Counter(next(iter(b)) for b in branches.values())
    assert min(split["a"], split["b"]) > 5, split


async def test_update_and_webhook_steps_act_once_and_sign(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await post(
        client, world, "/profile-attributes", {"key": "tier", "label": "Tier", "type": "text"}
    )
    await post(client, world, "/consent-topics", {"key": "news", "label": "News"})
    keep = (
        await post(
            client,
            world,
            "/segments",
            {"key": "keep", "name": "Keep", "kind": "static", "definition": None},
        )
    ).json()["id"]
    drop = (
        await post(
            client,
            world,
            "/segments",
            {"key": "drop", "name": "Drop", "kind": "static", "definition": None},
        )
    ).json()["id"]
    ada = await person(app, world, email="ada@example.com")
    await post(client, world, f"/segments/{drop}/members", {"profileIds": [str(ada)]})
    with receiver() as target:
        endpoint = (
            await post(
                client,
                world,
                "/webhook-endpoints",
                {"url": target.url, "eventTypes": ["profile.created"]},
            )
        ).json()
        scenario_id = await scenario(
            client,
            world,
            [
                entry("u"),
                {
                    "kind": "update",
                    "id": "u",
                    "attributes": {"tier": "gold"},
                    "addToList": keep,
                    "removeFromList": drop,
                    "consent": {"channel": "email", "topic": "news", "state": "granted"},
                    "next": "h",
                },
                {
                    "kind": "webhook",
                    "id": "h",
                    "endpointId": endpoint["id"],
                    "payload": {"list": "welcome"},
                    "next": "done",
                },
                EXIT,
            ],
        )
        await enter(client, world, scenario_id, ada)
        await run_jobs(app, rounds=20)
        await run_jobs(app, rounds=20)
        assert len(target.requests) == 1
        delivered = Webhook(endpoint["secret"]).verify(
            target.requests[0].body, target.requests[0].headers
        )
    assert delivered["type"] == "scenario.webhook"
    assert delivered["data"]["profileId"] == str(ada)
    assert delivered["data"]["payload"] == {"list": "welcome"}
    profile = (
        await client.get(url(world, f"/profiles/{ada}"), headers=world.viewer_a.headers)
    ).json()
    assert profile["attributes"]["tier"] == "gold"
    async with session_of(app, world.brand_a.id) as session:
        members = {
            (m.segment_id, m.profile_id)
            for m in (await session.scalars(select(SegmentMember))).all()
        }
        consents = (
            await session.scalars(select(ConsentChange).where(ConsentChange.topic == "news"))
        ).all()
    assert members == {(UUID(keep), ada)}
    assert [(c.state.value, c.source) for c in consents] == [("granted", "scenario")]
    (journey,) = await journeys(app, world, scenario_id)
    assert await steps(app, world, journey.id) == [
        ("start", "entered"),
        ("u", "updated"),
        ("h", "called"),
        ("done", "completed"),
    ]


async def test_a_live_edit_moves_journeys_in_flight_by_node_id(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    v1 = [
        entry("first"),
        {"kind": "wait", "id": "first", "duration": {"days": 1}, "next": "second"},
        {"kind": "wait", "id": "second", "duration": {"days": 1}, "next": "done"},
        EXIT,
    ]
    scenario_id = await scenario(client, world, v1)
    early, late = (
        await person(app, world, email="early@example.com"),
        await person(app, world, email="late@example.com"),
    )
    await enter(client, world, scenario_id, early)
    await enter(client, world, scenario_id, late)
    await run_jobs(app, rounds=20)
    # `late` goes on to "second"; `early` stays at "first" (both waiting).
    async with session_of(app, world.brand_a.id) as session:
        from sqlalchemy import update

        await session.execute(
            update(Journey)
            .where(Journey.profile_id == late)
            .values(due_at=utcnow() - dt.timedelta(seconds=1))
        )
        await session.commit()
    await advance_clock(app, world, dt.timedelta(seconds=0))
    v2 = [
        entry("shortcut"),
        {
            "kind": "wait",
            "id": "shortcut",
            "duration": {"hours": 1},
            "next": "second",
        },  # "first" removed
        {"kind": "wait", "id": "second", "duration": {"days": 1}, "next": "done"},  # kept
        EXIT,
    ]
    await client.patch(
        url(world, f"/scenarios/{scenario_id}"),
        json={"graph": {"nodes": v2}},
        headers=world.admin_a.headers,
    )
    await post(
        client,
        world,
        f"/scenarios/{scenario_id}/publish",
        {"migration": "move", "nodeMap": {"first": "shortcut"}},
    )
    by_profile = {j.profile_id: j for j in await journeys(app, world, scenario_id)}
    versions = (
        await client.get(
            url(world, f"/scenarios/{scenario_id}/versions"), headers=world.viewer_a.headers
        )
    ).json()["items"]
    v2_id = UUID(versions[1]["id"])
    assert {j.version_id for j in by_profile.values()} == {v2_id}
    assert by_profile[late].node_id == "second"
    assert by_profile[late].state is JourneyState.WAITING
    assert by_profile[early].node_id == "shortcut"
    await advance_clock(app, world, dt.timedelta(0))  # the wake-up publishing scheduled
    await advance_clock(app, world, dt.timedelta(hours=2))  # the shortcut's hour passes
    by_profile = {j.profile_id: j for j in await journeys(app, world, scenario_id)}
    assert by_profile[early].node_id == "second"
    await advance_clock(app, world, dt.timedelta(days=3))
    assert [n for n, _ in await steps(app, world, by_profile[early].id)] == [
        "start",
        "first",
        "shortcut",
        "second",
        "done",
    ]
    assert [o for _, o in await steps(app, world, by_profile[late].id)] == [
        "entered",
        "passed",
        "migrated",
        "passed",
        "completed",
    ]


async def test_finishing_on_the_old_version_while_new_profiles_take_the_new_one(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    v1 = [
        entry("old"),
        {"kind": "wait", "id": "old", "duration": {"days": 1}, "next": "done"},
        EXIT,
    ]
    scenario_id = await scenario(client, world, v1)
    ada, bob = (
        await person(app, world, email="ada@example.com"),
        await person(app, world, email="bob@example.com"),
    )
    await enter(client, world, scenario_id, ada)
    await run_jobs(app, rounds=20)
    v2 = [
        entry("new"),
        {"kind": "wait", "id": "new", "duration": {"hours": 1}, "next": "done"},
        EXIT,
    ]
    await client.patch(
        url(world, f"/scenarios/{scenario_id}"),
        json={"graph": {"nodes": v2}},
        headers=world.admin_a.headers,
    )
    await post(client, world, f"/scenarios/{scenario_id}/publish", {"migration": "finish"})
    await enter(client, world, scenario_id, bob)
    await run_jobs(app, rounds=20)
    by_profile = {j.profile_id: j for j in await journeys(app, world, scenario_id)}
    assert (by_profile[ada].node_id, by_profile[bob].node_id) == ("old", "new")
    versions = (
        await client.get(
            url(world, f"/scenarios/{scenario_id}/versions"), headers=world.viewer_a.headers
        )
    ).json()["items"]
    assert [v["state"] for v in versions] == ["finishing", "live"]
    await advance_clock(app, world, dt.timedelta(days=2))
    async with session_of(app, world.brand_a.id) as session:
        from backend.scenarios import service

        assert await service.retire_finished(session) == 1
        await session.commit()
    versions = (
        await client.get(
            url(world, f"/scenarios/{scenario_id}/versions"), headers=world.viewer_a.headers
        )
    ).json()["items"]
    assert [v["state"] for v in versions] == ["retired", "live"]


async def test_pause_holds_profiles_and_resume_runs_each_step_once(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    scenario_id = await scenario(
        client,
        world,
        [entry("hour"), {**WAIT_HOUR, "next": "hour2"}, {**WAIT_HOUR, "id": "hour2"}, EXIT],
    )
    ada = await person(app, world, email="ada@example.com")
    await enter(client, world, scenario_id, ada)
    await run_jobs(app, rounds=20)
    await post(client, world, f"/scenarios/{scenario_id}/pause", None)
    assert await advance_clock(app, world, dt.timedelta(hours=3)) == 0  # held
    (journey,) = await journeys(app, world, scenario_id)
    assert journey.node_id == "hour"
    await post(client, world, f"/scenarios/{scenario_id}/resume", None)
    assert await advance_clock(app, world, dt.timedelta(minutes=61)) == 1
    (journey,) = await journeys(app, world, scenario_id)
    assert (journey.node_id, journey.state) == ("hour2", JourneyState.WAITING)  # one step, not two
    assert [n for n, _ in await steps(app, world, journey.id)] == ["start", "hour", "hour2"]


class _Breaking(LiveEffects):
    """Live effects whose update of one profile raises what no step expects."""

    def __init__(self, *args: Any, broken: UUID) -> None:
        super().__init__(*args)
        self.broken = broken

    async def update(self, profile_id: UUID, node: UpdateNode) -> Done:
        if profile_id == self.broken:
            raise RuntimeError("the disk is on fire")
        return await super().update(profile_id, node)


async def test_a_journey_whose_step_breaks_fails_alone(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await post(
        client, world, "/profile-attributes", {"key": "tier", "label": "Tier", "type": "text"}
    )
    scenario_id = await scenario(
        client,
        world,
        [
            entry("u"),
            {"kind": "update", "id": "u", "attributes": {"tier": "x"}, "next": "done"},
            EXIT,
        ],
    )
    people = [await person(app, world, email=f"p{n}@example.com") for n in range(3)]
    async with session_of(app, world.brand_a.id) as session:
        tenant = TenantId(world.brand_a.id)
        version_id = await _live_version(app, world, scenario_id)
        await entries.admit(
            session,
            tenant,
            [
                entries.Candidate(UUID(scenario_id), version_id, p, f"k{n}", {})
                for n, p in enumerate(people)
            ],
        )
        await session.commit()
    async with session_of(app, world.brand_a.id) as session:
        effects = _Breaking(session, tenant, broken=people[1])
        assert await engine.advance(session, tenant, app.state.settings, effects=effects) == 3
        await session.commit()
    states = {j.profile_id: j.state for j in await journeys(app, world, scenario_id)}
    assert states == {
        people[0]: JourneyState.COMPLETED,
        people[1]: JourneyState.FAILED,
        people[2]: JourneyState.COMPLETED,
    }
    broken = next(j for j in await journeys(app, world, scenario_id) if j.profile_id == people[1])
    assert (await steps(app, world, broken.id))[-1] == ("start", "error")


BRUSSELS = ZoneInfo("Europe/Brussels")


@pytest.mark.parametrize(
    ("start", "wait", "expected_utc"),
    [
        # A day's wait keeps the wall-clock time across the spring change (UTC+1 → UTC+2).
        ("2026-03-28T09:00:00+01:00", Duration(days=1), "2026-03-29T07:00:00+00:00"),
        # ... and across the autumn change (UTC+2 → UTC+1).
        ("2026-10-24T09:00:00+02:00", Duration(days=1), "2026-10-25T08:00:00+00:00"),
        # Hours are counted on the clock.
        ("2026-03-28T09:00:00+01:00", Duration(hours=24), "2026-03-29T08:00:00+00:00"),
    ],
)
def test_duration_waits_survive_summer_time(start: str, wait: Duration, expected_utc: str) -> None:
    end = timing.after(dt.datetime.fromisoformat(start), wait, BRUSSELS)
    assert end == dt.datetime.fromisoformat(expected_utc)


@pytest.mark.parametrize(
    ("now", "at", "expected_utc"),
    [
        ("2026-03-28T22:00:00+00:00", dt.time(9), "2026-03-29T07:00:00+00:00"),  # after the jump
        (
            "2026-03-29T00:30:00+00:00",
            dt.time(2, 30),
            "2026-03-29T01:30:00+00:00",
        ),  # skipped: after the gap
        ("2026-10-25T00:10:00+00:00", dt.time(2, 30), "2026-10-25T00:30:00+00:00"),  # first of two
        ("2026-07-01T10:00:00+00:00", dt.time(9), "2026-07-02T07:00:00+00:00"),  # tomorrow
    ],
)
def test_a_time_of_day_wait_uses_the_profiles_zone(
    now: str, at: dt.time, expected_utc: str
) -> None:
    end = timing.next_time_of_day(dt.datetime.fromisoformat(now), at, BRUSSELS)
    assert end == dt.datetime.fromisoformat(expected_utc)


def test_a_birthday_wait_ends_at_the_next_anniversary() -> None:
    now = dt.datetime(2027, 3, 1, 12, tzinfo=dt.UTC)
    end = timing.until_date(now, dt.date(1992, 2, 29), -1, dt.time(9), BRUSSELS, yearly=True)
    assert end == dt.datetime(2028, 2, 28, 8, tzinfo=dt.UTC)  # 29 Feb 2028 minus a day, 09:00
    past = timing.until_date(now, dt.date(2020, 1, 1), 0, dt.time(9), BRUSSELS, yearly=False)
    assert past == now


async def test_a_segment_entry_and_an_entry_segment(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    """Entering a list starts a journey (only that list's entries count); a scenario with an
    entry segment takes only its members."""
    world = await make_world(app)

    async def static(key: str) -> str:
        body = {"key": key, "name": key, "kind": "static", "definition": None}
        segment_id: str = (await post(client, world, "/segments", body)).json()["id"]
        return segment_id

    vip, other, club = await static("vip"), await static("other"), await static("club")
    on_list = await scenario(
        client, world, [entry("hour", kind="segment_entered", segmentId=vip), WAIT_HOUR, EXIT]
    )
    members_only = await scenario(
        client,
        world,
        [entry("hour", kind="api", extra={"entrySegmentId": club}), WAIT_HOUR, EXIT],
    )
    ada, bob = (
        await person(app, world, email="ada@example.com"),
        await person(app, world, email="bob@example.com"),
    )
    await post(client, world, f"/segments/{vip}/members", {"profileIds": [str(ada)]})
    await post(client, world, f"/segments/{other}/members", {"profileIds": [str(bob)]})
    await post(client, world, f"/segments/{club}/members", {"profileIds": [str(bob)]})
    await run_jobs(app, rounds=20)
    assert [j.profile_id for j in await journeys(app, world, on_list)] == [ada]
    assert (await enter(client, world, members_only, ada))["admitted"] is False
    assert (await enter(client, world, members_only, bob))["admitted"] is True


async def test_a_merged_profiles_journeys_and_entry_memory_follow_the_survivor(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    scenario_id = await scenario(client, world, [entry("hour"), WAIT_HOUR, EXIT])
    older = await person(app, world, email="old@example.com")
    newer = await person(app, world, email="new@example.com")
    await enter(client, world, scenario_id, newer)
    await run_jobs(app, rounds=20)
    async with session_of(app, world.brand_a.id) as session:
        await profile_service.merge_profiles(
            session, TenantId(world.brand_a.id), older, newer, "same person"
        )
        await session.commit()
    (journey,) = await journeys(app, world, scenario_id)
    assert journey.profile_id == older
    async with session_of(app, world.brand_a.id) as session:
        memory = (await session.scalars(select(ScenarioEntry))).all()
    assert [m.profile_id for m in memory] == [older]
    # `never`: the survivor entered already (as the merged profile), so it does not again.
    assert (await enter(client, world, scenario_id, older))["admitted"] is False
