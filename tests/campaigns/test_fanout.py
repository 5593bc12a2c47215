"""The fan-out step by step (each task run as a worker runs it, in the order a test wants):
exactly one message per recipient whatever runs twice, exclusions and refusals counted by
reason, pause holding what was not claimed, resume without duplicates, cancel withdrawing the
rest, an A/B test's winner going to the rest while the holdout receives nothing."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import httpx
from litestar import Litestar
from sqlalchemy import func, select

from backend.campaigns import fanout
from backend.campaigns.assignment import Split, point
from backend.campaigns.models import RecipientState
from backend.config import Settings
from backend.core.db import utcnow
from backend.core.tenancy import TenantId
from backend.messaging import service as messaging_service
from backend.messaging.models import Message, MessageChannel, MessagePriority, SourceKind
from backend.messaging.providers.models import CapturedMessage
from backend.messaging.tracking import service as tracking
from backend.messaging.tracking.tokens import TokenKind, keys_of, verify
from backend.profiles import service as profile_service
from backend.profiles.schemas import ProfileCreate
from tests.campaigns.helpers import (
    HUMAN,
    PIXEL,
    Brand,
    captured_to,
    covering,
    create,
    deliver,
    make_profiles,
    progress,
    ready_brand,
    recipients,
    run_task,
    schedule,
    static_segment,
)
from tests.factories import session_of
from tests.segments.helpers import add_order


async def _start(
    app: Litestar, settings: Settings, brand: Brand, campaign: dict[str, object]
) -> UUID:
    """Run the start the schedule queued, then the snapshot: the occurrence's id."""
    planned = str(campaign["nextRunAt"])
    async with session_of(app, brand.id) as session:
        started = await fanout.start(
            session,
            TenantId(brand.id),
            UUID(str(campaign["id"])),
            dt.datetime.fromisoformat(planned),
        )
        await session.commit()
    assert started is not None
    await run_task(app, settings, brand.id, fanout.SNAPSHOT_TASK, occurrence_id=str(started))
    return started


async def _release(app: Litestar, settings: Settings, brand: Brand, occurrence: UUID) -> None:
    await run_task(app, settings, brand.id, fanout.RELEASE_TASK, occurrence_id=str(occurrence))


async def test_each_member_gets_one_message_whatever_runs_twice(
    app: Litestar, client: httpx.AsyncClient, settings: Settings
) -> None:
    brand = await ready_brand(app, client, members=6)
    # One member is excluded by a segment, one more has no consent (the gate refuses it).
    excluded = await static_segment(app, brand.id, "lapsed", [brand.profiles[0]])
    async with session_of(app, brand.id) as session:
        silent, _ = await profile_service.create_profile(
            session, TenantId(brand.id), ProfileCreate(email="silent@example.com")
        )
        await session.commit()
    include = await static_segment(app, brand.id, "all", [*brand.profiles, silent.id])
    campaign = await create(client, brand, audience={"include": [include], "exclude": [excluded]})
    campaign = await schedule(client, brand, campaign["id"])
    assert campaign["status"] == "scheduled"
    occurrence = await _start(app, settings, brand, campaign)
    # A start run again (a redelivered task, a second scheduler) starts nothing more.
    async with session_of(app, brand.id) as session:
        again = await fanout.start(
            session,
            TenantId(brand.id),
            UUID(campaign["id"]),
            dt.datetime.fromisoformat(campaign["nextRunAt"]),
        )
        await session.commit()
    assert again is None
    # The snapshot run again writes and counts nothing twice.
    await run_task(app, settings, brand.id, fanout.SNAPSHOT_TASK, occurrence_id=str(occurrence))
    await _release(app, settings, brand, occurrence)
    await _release(app, settings, brand, occurrence)  # a redelivered release: nothing left
    await deliver(app, settings, brand.id)

    sent = await captured_to(app, brand.id)
    assert sent == {f"p{n}@example.com": 1 for n in range(1, 6)}
    async with session_of(app, brand.id) as session:
        messages = await session.scalar(select(func.count()).select_from(Message))
    assert messages == 6  # five sent, one refused (no consent); none for the excluded one
    # A chunk recorded again (a worker killed after the ledger's insert) finds its keys.
    async with session_of(app, brand.id) as session:
        key = f"campaign:{occurrence}:{brand.profiles[1]}:email"
        kept = await messaging_service.record_many(
            session,
            TenantId(brand.id),
            [
                messaging_service.NewMessage(
                    dedupe_key=key,
                    source_kind=SourceKind.CAMPAIGN,
                    source_key=f"{occurrence}:a",
                    profile_id=brand.profiles[1],
                    channel=MessageChannel.EMAIL,
                    template_id=UUID(brand.template_id),
                    priority=MessagePriority.CAMPAIGN,
                )
            ],
        )
        await session.commit()
        assert await session.scalar(select(func.count()).select_from(Message)) == 6
        by_key = await session.scalar(select(Message.id).where(Message.dedupe_key == key))
    assert kept == {key: by_key}

    state = await progress(client, brand, campaign["id"])
    assert state["targeted"] == 7
    assert state["excluded"] == {"excluded-segment": 1, "no-consent": 1}
    assert (state["sent"], state["failed"], state["waiting"], state["queued"]) == (5, 0, 0, 0)
    await run_task(app, settings, brand.id, fanout.SETTLE_TASK, occurrence_id=str(occurrence))
    state = await progress(client, brand, campaign["id"])
    assert (state["occurrenceStatus"], state["campaignStatus"]) == ("sent", "sent")


async def test_pause_holds_what_was_not_claimed_and_resume_sends_it_once(
    app: Litestar, client: httpx.AsyncClient, settings: Settings
) -> None:
    brand = await ready_brand(app, client, members=4)
    campaign = await schedule(client, brand, (await create(client, brand))["id"])
    occurrence = await _start(app, settings, brand, campaign)
    await _release(app, settings, brand, occurrence)  # four messages queued in the ledger
    paused = await client.post(
        brand.url(f"/campaigns/{campaign['id']}/pause"), headers=brand.headers
    )
    assert paused.json()["status"] == "paused", paused.text
    # A sending campaign is not edited nor deleted; paused, it is not paused again.
    for method, path, status in (
        ("PATCH", "", 409),
        ("DELETE", "", 409),
        ("POST", "/pause", 409),
        ("POST", "/schedule", 409),
    ):
        answer = await client.request(
            method,
            brand.url(f"/campaigns/{campaign['id']}{path}"),
            json={"name": "x"} if method == "PATCH" else None,
            headers=brand.headers,
        )
        assert answer.status_code == status, (method, path, answer.text)
    await deliver(app, settings, brand.id)
    assert await captured_to(app, brand.id) == {}
    state = await progress(client, brand, campaign["id"])
    assert (state["occurrenceStatus"], state["queued"], state["sent"]) == ("paused", 4, 0)

    resumed = await client.post(
        brand.url(f"/campaigns/{campaign['id']}/resume"), headers=brand.headers
    )
    assert resumed.json()["status"] == "sending", resumed.text
    await _release(app, settings, brand, occurrence)
    await deliver(app, settings, brand.id)
    assert await captured_to(app, brand.id) == {f"p{n}@example.com": 1 for n in range(4)}


async def test_cancel_withdraws_what_was_not_sent(
    app: Litestar, client: httpx.AsyncClient, settings: Settings
) -> None:
    brand = await ready_brand(app, client, members=5)
    # 60 an hour: one recipient per release, the next a minute later.
    created = await create(client, brand, throttlePerHour=60)
    campaign = await schedule(client, brand, created["id"])
    occurrence = await _start(app, settings, brand, campaign)
    await _release(app, settings, brand, occurrence)
    await _release(app, settings, brand, occurrence)  # the throttle: not before a minute
    state = await progress(client, brand, campaign["id"])
    assert (state["released"], state["waiting"], state["queued"]) == (1, 4, 1)
    cancelled = await client.post(
        brand.url(f"/campaigns/{campaign['id']}/cancel"), headers=brand.headers
    )
    assert cancelled.json()["status"] == "cancelled", cancelled.text
    await run_task(app, settings, brand.id, fanout.WITHDRAW_TASK, occurrence_id=str(occurrence))
    await deliver(app, settings, brand.id)
    assert await captured_to(app, brand.id) == {}
    state = await progress(client, brand, campaign["id"])
    assert (state["cancelled"], state["sent"], state["queued"]) == (5, 0, 0)
    async with session_of(app, brand.id) as session:
        reasons = (await session.scalars(select(Message.status_reason))).all()
    assert reasons == ["campaign-cancelled"]
    again = await client.post(
        brand.url(f"/campaigns/{campaign['id']}/cancel"), headers=brand.headers
    )
    assert again.status_code == 409


async def _open(app: Litestar, settings: Settings, brand_id: UUID, message_ids: set[UUID]) -> None:
    """A person opens these messages a minute after they were sent (their pixel's token)."""
    async with session_of(app, brand_id) as session:
        rows = (
            await session.scalars(
                select(CapturedMessage).where(CapturedMessage.message_id.in_(message_ids))
            )
        ).all()
        for row in rows:
            found = PIXEL.search(row.payload["html"])
            assert found is not None
            token = verify(keys_of(settings), found.group(1), TokenKind.OPEN)
            now = utcnow() + dt.timedelta(minutes=1)
            await tracking.opened(session, token, user_agent=HUMAN, address="203.0.113.7", now=now)
        await session.commit()


async def test_ab_winner_goes_to_the_rest_and_the_holdout_gets_nothing(
    app: Litestar, client: httpx.AsyncClient, settings: Settings
) -> None:
    brand = await ready_brand(app, client, members=0)
    created = await create(
        client,
        brand,
        variants=[
            {"key": "a", "weight": 50},
            {"key": "b", "weight": 50, "subject": "B for {{ first_name }}"},
        ],
        test={
            "mode": "winner",
            "testPercent": 40,
            "holdoutPercent": 20,
            "winnerMetric": "opens",
            "decideAfterMinutes": 60,
        },
    )
    split = Split(holdout=0.2, test=0.4, weights=[("a", 50), ("b", 50)])
    parts = {
        (RecipientState.HOLDOUT, None),
        (RecipientState.WAITING, "a"),
        (RecipientState.WAITING, "b"),
        (RecipientState.AWAITING_WINNER, None),
    }
    profiles = await covering(app, brand, created["id"], split, parts, at_least=20)
    campaign = await schedule(client, brand, created["id"])
    occurrence = await _start(app, settings, brand, campaign)
    expected = {p: split.assign(point(UUID(created["id"]), p)) for p in profiles}
    found = {r.profile_id: (r.state, r.variant) for r in await recipients(app, brand.id)}
    assert found == expected  # deterministic per (campaign, profile), and recorded
    holdout = {p for p, (state, _) in expected.items() if state is RecipientState.HOLDOUT}
    cell = {p: v for p, (state, v) in expected.items() if state is RecipientState.WAITING}
    rest = {p for p, (state, _) in expected.items() if state is RecipientState.AWAITING_WINNER}

    await _release(app, settings, brand, occurrence)
    await deliver(app, settings, brand.id)
    assert sum((await captured_to(app, brand.id)).values()) == len(cell)
    async with session_of(app, brand.id) as session:
        b_messages = {
            r.message_id
            for r in await recipients(app, brand.id)
            if r.variant == "b" and r.message_id
        }
    await _open(app, settings, brand.id, b_messages)
    await run_task(app, settings, brand.id, fanout.DECIDE_TASK, occurrence_id=str(occurrence))
    await _release(app, settings, brand, occurrence)
    await deliver(app, settings, brand.id)

    state = await progress(client, brand, campaign["id"])
    assert state["winnerVariant"] == "b"
    scores = {v["key"]: v["score"] for v in state["variants"]}
    assert scores["b"] == 1.0
    assert scores["a"] == 0.0
    assert state["holdout"] == len(holdout)
    async with session_of(app, brand.id) as session:
        captured = (await session.scalars(select(CapturedMessage))).all()
    emails = {row.recipient: row.payload["subject"] for row in captured}
    by_profile = {p: f"p{profiles.index(p)}@example.com" for p in profiles}
    assert len(captured) == len(cell) + len(rest)  # one each, nothing for the holdout
    assert not {by_profile[p] for p in holdout} & set(emails)
    for profile_id in rest:
        number = profiles.index(profile_id)
        assert emails[by_profile[profile_id]] == f"B for P{number}"  # the winner's subject
    listed = await client.get(
        brand.url(f"/campaigns/{campaign['id']}/occurrences/{occurrence}/recipients"),
        params={"state": "holdout"},
        headers=brand.headers,
    )
    assert {UUID(r["profileId"]) for r in listed.json()["items"]} == holdout


async def test_local_time_recipients_are_due_at_their_own_wall_time_across_dst(
    app: Litestar, client: httpx.AsyncClient, settings: Settings
) -> None:
    brand = await ready_brand(app, client, members=0)
    zones = ["Europe/Brussels", "America/New_York", "Asia/Tokyo", None]
    profiles = []
    for n, zone in enumerate(zones):
        profiles += await make_profiles(app, brand.id, 1, prefix=f"z{n}-", time_zone=zone)
    segment = await static_segment(app, brand.id, "zoned", profiles)
    due: dict[str, list[str]] = {}
    # The EU's clocks go forward on 2030-03-31 (01:00Z); the US's went on 2030-03-10.
    for wall in ("2030-03-30T09:00", "2030-03-31T09:00"):
        created = await create(
            client,
            brand,
            audience={"include": [segment]},
            schedule={"kind": "local", "localTime": wall},
        )
        campaign = await schedule(client, brand, created["id"])
        # It starts when the wall time is first reached anywhere (UTC+14).
        first = dt.datetime.fromisoformat(wall).replace(tzinfo=dt.UTC) - dt.timedelta(hours=14)
        assert dt.datetime.fromisoformat(campaign["nextRunAt"]) == first
        occurrence = await _start(app, settings, brand, campaign)
        rows = {
            r.profile_id: r
            for r in await recipients(app, brand.id)
            if r.occurrence_id == occurrence
        }
        due[wall] = [rows[p].due_at.isoformat() for p in profiles]  # type: ignore[union-attr]
    assert due == {
        # Brussels CET, New York EDT, Tokyo, the brand's zone (Brussels) for a profile without
        "2030-03-30T09:00": [
            "2030-03-30T08:00:00+00:00",
            "2030-03-30T13:00:00+00:00",
            "2030-03-30T00:00:00+00:00",
            "2030-03-30T08:00:00+00:00",
        ],
        # Brussels CEST now
        "2030-03-31T09:00": [
            "2030-03-31T07:00:00+00:00",
            "2030-03-31T13:00:00+00:00",
            "2030-03-31T00:00:00+00:00",
            "2030-03-31T07:00:00+00:00",
        ],
    }
    # Released as each zone's time comes: at 00:30Z only Tokyo's, the rest planned for 07:00Z.
    async with session_of(app, brand.id) as session:
        released = await fanout.release(
            session,
            TenantId(brand.id),
            occurrence,
            now=dt.datetime(2030, 3, 31, 0, 30, tzinfo=dt.UTC),
        )
        await session.commit()
    assert released == 1
    async with session_of(app, brand.id) as session:
        from backend.core.due_work import DueTask

        planned = (
            await session.scalars(
                select(DueTask.due_at).where(DueTask.task_name == fanout.RELEASE_TASK)
            )
        ).all()
    assert dt.datetime(2030, 3, 31, 7, 0, tzinfo=dt.UTC) in planned


async def test_a_conversion_winner_counts_orders_within_the_window_after_the_send(
    app: Litestar, client: httpx.AsyncClient, settings: Settings
) -> None:
    brand = await ready_brand(app, client, members=0)
    created = await create(
        client,
        brand,
        variants=[{"key": "a", "weight": 50}, {"key": "b", "weight": 50}],
        test={
            "mode": "winner",
            "testPercent": 60,
            "winnerMetric": "conversions",
            "attributionHours": 24,
            "decideAfterMinutes": 60,
        },
    )
    split = Split(holdout=0.0, test=0.6, weights=[("a", 50), ("b", 50)])
    parts = {(RecipientState.WAITING, "a"), (RecipientState.WAITING, "b")}
    await covering(app, brand, created["id"], split, parts, at_least=8)
    campaign = await schedule(client, brand, created["id"])
    occurrence = await _start(app, settings, brand, campaign)
    await _release(app, settings, brand, occurrence)
    await deliver(app, settings, brand.id)
    cell = {r.profile_id: r.variant for r in await recipients(app, brand.id) if r.message_id}
    a_side = [p for p, v in cell.items() if v == "a"]
    b_side = [p for p, v in cell.items() if v == "b"]
    assert a_side
    assert b_side
    now = utcnow()
    for n, profile_id in enumerate(a_side):  # every "a" recipient buys after the email
        await add_order(app, brand.id, profile_id, f"after-{n}", now + dt.timedelta(minutes=5))
    # A "b" recipient's order before the send, and another's past the window, do not count.
    await add_order(app, brand.id, b_side[0], "before", now - dt.timedelta(days=1))
    if len(b_side) > 1:
        await add_order(app, brand.id, b_side[1], "late", now + dt.timedelta(hours=30))
    decided_at = now + dt.timedelta(hours=40)
    async with session_of(app, brand.id) as session:
        winner = await fanout.decide(session, TenantId(brand.id), occurrence, now=decided_at)
        await session.commit()
    assert winner == "a"
    state = await progress(client, brand, campaign["id"])
    scores = {v["key"]: v["score"] for v in state["variants"]}
    assert scores == {"a": 1.0, "b": 0.0}


async def test_a_merged_recipient_moves_to_the_survivor_unless_it_is_one_already(
    app: Litestar, client: httpx.AsyncClient, settings: Settings
) -> None:
    brand = await ready_brand(app, client, members=0)
    elder = (await make_profiles(app, brand.id, 1, prefix="elder"))[0]  # survives any merge
    first, second, third = await make_profiles(app, brand.id, 3)
    segment = await static_segment(app, brand.id, "three", [first, second, third])
    created = await create(client, brand, audience={"include": [segment]})
    occurrence = await _start(app, settings, brand, await schedule(client, brand, created["id"]))
    async with session_of(app, brand.id) as session:
        # Both in the audience: the merged one's row goes with it.
        await profile_service.merge_profiles(session, TenantId(brand.id), first, second, "test")
        # Only the merged one in it: its row moves to the (older) survivor.
        await profile_service.merge_profiles(session, TenantId(brand.id), elder, third, "test")
        await session.commit()
    rows = {r.profile_id: r.occurrence_id for r in await recipients(app, brand.id)}
    assert rows == {first: occurrence, elder: occurrence}
