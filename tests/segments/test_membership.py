"""Materialised membership: each entry and exit recorded once, a rerun changes nothing, sizes
kept per evaluation, static uploads, erasure and merges, and publication to triggers."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from litestar import Litestar
from sqlalchemy import select

from backend.core.tenancy import TenantId
from backend.profiles import service as profile_service
from backend.profiles.schemas import ProfileUpdate
from backend.segments import membership
from backend.segments.models import Segment, SegmentKind, SegmentSize
from backend.segments.schemas import MembersUpload
from backend.triggers.models import TriggerOccurrence
from backend.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from tests.factories import make_world, session_of
from tests.segments.helpers import (
    NOW,
    add_order,
    create_segment,
    days_ago,
    evaluate,
    make_profile,
    members,
    transitions,
)

FRENCH = {"field": "country", "op": "eq", "value": "FR"}


async def update(app: Litestar, brand: UUID, profile_id: UUID, **fields: object) -> None:
    async with session_of(app, brand) as session:
        await profile_service.update_profile(
            session, TenantId(brand), profile_id, ProfileUpdate(**fields)
        )
        await session.commit()


async def segment_row(app: Litestar, brand: UUID, segment_id: UUID) -> Segment:
    async with session_of(app, brand) as session:
        segment = await session.scalar(select(Segment).where(Segment.id == segment_id))
    assert segment is not None
    return segment


async def test_transitions_are_recorded_once_per_change(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    ada = await make_profile(app, brand, country="FR", email="ada@example.com")
    bob = await make_profile(app, brand, country="BE", email="bob@example.com")
    segment = await create_segment(app, brand, "french", FRENCH)

    first = await evaluate(app, brand, segment.id, NOW)
    assert first is not None
    assert (first.size, first.entered, first.exited) == (1, 1, 0)
    again = await evaluate(app, brand, segment.id, NOW + dt.timedelta(hours=1))
    assert again is not None
    assert (again.size, again.entered, again.exited) == (1, 0, 0)
    assert await transitions(app, brand, segment.id) == [(ada, "entered")]

    await update(app, brand, ada, country="BE")
    await update(app, brand, bob, country="FR")
    third = await evaluate(app, brand, segment.id, NOW + dt.timedelta(hours=2))
    assert third is not None
    assert (third.size, third.entered, third.exited) == (1, 1, 1)
    assert sorted(await transitions(app, brand, segment.id)) == sorted(
        [(ada, "entered"), (bob, "entered"), (ada, "exited")]
    )
    assert await members(app, brand, segment.id) == {bob}
    row = await segment_row(app, brand, segment.id)
    assert row.member_count == 1
    assert row.last_evaluated_at == NOW + dt.timedelta(hours=2)

    async with session_of(app, brand) as session:
        sizes = (
            await session.scalars(
                select(SegmentSize)
                .where(SegmentSize.segment_id == segment.id)
                .order_by(SegmentSize.measured_at)
            )
        ).all()
    assert [(s.size, s.entered, s.exited) for s in sizes] == [(1, 1, 0), (1, 0, 0), (1, 1, 1)]


async def test_one_evaluation_run_twice_records_nothing_more(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    await make_profile(app, brand, country="FR", email="ada@example.com")
    segment = await create_segment(app, brand, "french", FRENCH)
    evaluation_id = UUID("01900000-0000-7000-8000-000000000001")
    for _ in range(2):
        async with session_of(app, brand) as session:
            await membership.evaluate(
                session, TenantId(brand), segment.id, evaluation_id=evaluation_id, now=NOW
            )
            await session.commit()
    assert len(await transitions(app, brand, segment.id)) == 1


async def test_transition_ids_are_time_ordered_and_distinct(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    ids = [
        await make_profile(app, brand, country="FR", email=f"p{n}@example.com") for n in range(5)
    ]
    segment = await create_segment(app, brand, "french", FRENCH)
    await evaluate(app, brand, segment.id, NOW)
    for profile_id in ids[:2]:
        await update(app, brand, profile_id, country="DE")
    await evaluate(app, brand, segment.id, NOW + dt.timedelta(minutes=1))
    recorded = await transitions(app, brand, segment.id)
    assert [kind for _, kind in recorded] == ["entered"] * 5 + ["exited"] * 2
    assert {p for p, kind in recorded if kind == "exited"} == set(ids[:2])


async def test_static_segments_take_uploaded_lists(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    ada = await make_profile(app, brand, email="ada@example.com")
    bob = await make_profile(app, brand, email="bob@example.com", phone="+32470123456")
    cyd = await make_profile(app, brand, email="cyd@example.com")
    segment = await create_segment(app, brand, "vip_list", None, kind=SegmentKind.STATIC)
    stranger = UUID("01900000-0000-7000-8000-00000000beef")

    async with session_of(app, brand) as session:
        added = await membership.upload_members(
            session,
            TenantId(brand),
            segment.id,
            MembersUpload(
                profile_ids=[ada, stranger], emails=["BOB@example.com", "nobody@example.com"]
            ),
            replace=False,
            now=NOW,
        )
        await session.commit()
    assert (added.outcome.entered, added.outcome.exited) == (2, 0)
    assert added.unknown_profile_ids == [stranger]
    assert added.unknown_keys == ["email:nobody@example.com"]
    assert await members(app, brand, segment.id) == {ada, bob}

    async with session_of(app, brand) as session:
        replaced = await membership.upload_members(
            session,
            TenantId(brand),
            segment.id,
            MembersUpload(profile_ids=[cyd], phones=["+32470123456"]),
            replace=True,
            now=NOW + dt.timedelta(hours=1),
        )
        await session.commit()
    assert (replaced.outcome.entered, replaced.outcome.exited) == (1, 1)
    assert await members(app, brand, segment.id) == {bob, cyd}
    assert (await segment_row(app, brand, segment.id)).member_count == 2
    assert sorted(await transitions(app, brand, segment.id)) == sorted(
        [(ada, "entered"), (bob, "entered"), (cyd, "entered"), (ada, "exited")]
    )


async def test_erasure_and_merges_keep_memberships_with_their_person(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    ada = await make_profile(app, brand, country="FR", email="ada@example.com")
    twin = await make_profile(app, brand, country="FR", phone="+32470123456")
    gone = await make_profile(app, brand, country="FR", email="gone@example.com")
    segment = await create_segment(app, brand, "french", FRENCH)
    await evaluate(app, brand, segment.id, NOW)
    async with session_of(app, brand) as session:
        await profile_service.delete_profile(session, TenantId(brand), gone)
        await profile_service.merge_profiles(session, TenantId(brand), ada, twin, "test")
        await session.commit()
    assert await members(app, brand, segment.id) == {ada}
    assert (await segment_row(app, brand, segment.id)).member_count == 1
    assert {p for p, _ in await transitions(app, brand, segment.id)} == {ada}


async def test_publishing_raises_one_trigger_occurrence_per_transition(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    ada = await make_profile(app, brand, country="FR", email="ada@example.com")
    segment = await create_segment(
        app, brand, "buyers", {"orders": {"windowDays": 30}, "op": "gte", "value": 1}
    )
    await add_order(app, brand, ada, "A1", days_ago(1))
    async with session_of(app, brand) as session:
        session.add(
            WebhookEndpoint(
                url="https://hooks.example.com/levier",
                event_types=["segment.entered", "segment.exited"],
                secret_ciphertext="sealed",
                secret_hint="whsec_x",
            )
        )
        await session.commit()
    outcome = await evaluate(app, brand, segment.id, NOW)
    assert outcome is not None
    for _ in range(2):  # published twice (at least once delivery): raised once
        async with session_of(app, brand) as session:
            assert await membership.publish(session, TenantId(brand), outcome.evaluation_id) is None
            await session.commit()
    async with session_of(app, brand) as session:
        raised = (await session.scalars(select(TriggerOccurrence))).all()
    [transition] = await transitions(app, brand, segment.id)
    assert [(o.type, o.profile_id) for o in raised] == [("segment.entered", ada)]
    assert raised[0].payload["segmentKey"] == "buyers"
    assert transition == (ada, "entered")
    async with session_of(app, brand) as session:
        published = (await session.scalars(select(WebhookEvent))).all()
    # ... and one webhook event, whose id (the receivers' webhook-id) is the transition's
    assert [(e.type, e.payload["profileId"]) for e in published] == [("segment.entered", str(ada))]
    async with session_of(app, brand) as session:
        assert len((await session.scalars(select(WebhookDelivery))).all()) == 1
