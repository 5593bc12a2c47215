"""Trigger occurrences: stored once per (type, dedupe key), published to consumers after commit,
listed over REST within the brand (GraphQL: `test_graphql`), following merges and gone on
erasure; event triggers raised from accepted events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import httpx
import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.errors import InvalidInput
from backend.core.tenancy import TenantId
from backend.profiles import gdpr
from backend.profiles import service as profile_service
from backend.triggers import service
from backend.triggers.consumers import register_consumer, unregister_consumer
from backend.triggers.models import TriggerKind, TriggerOccurrence
from backend.triggers.service import AcceptedEvent
from tests.factories import World, make_world, problem, run_jobs, session_of
from tests.triggers.helpers import at, define_trigger, make_profile, occurrences


async def raise_one(
    app: Litestar, brand_id: UUID, profile_id: UUID, type: str, key: str, when: str
) -> TriggerOccurrence | None:
    async with session_of(app, brand_id) as session:
        occurrence = await service.raise_trigger(
            session,
            TenantId(brand_id),
            profile_id=profile_id,
            type=type,
            dedupe_key=key,
            occurred_at=at(when),
            payload={"key": key},
        )
        await session.commit()
    return occurrence


class RecordingConsumer:
    """A consumer as the scenario engine will be: it notes what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[TenantId, UUID, str]] = []

    async def on_occurrences(
        self, session: AsyncSession, tenant: TenantId, occurrences: Sequence[TriggerOccurrence]
    ) -> None:
        self.received.extend((tenant, o.id, o.dedupe_key) for o in occurrences)


async def test_a_trigger_is_stored_once_per_type_and_dedupe_key(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    profile = await make_profile(app, brand, email="once@example.test")
    first = await raise_one(app, brand, profile, "signed_up", "k-1", "2027-01-01T10:00:00")
    assert first is not None
    assert await raise_one(app, brand, profile, "signed_up", "k-1", "2027-01-02T10:00:00") is None
    other_type = await raise_one(app, brand, profile, "welcome", "k-1", "2027-01-01T10:00:00")
    assert other_type is not None
    stored = await occurrences(app, brand)
    assert sorted((o.type, o.occurred_at) for o in stored) == [
        ("signed_up", at("2027-01-01T10:00:00")),
        ("welcome", at("2027-01-01T10:00:00")),
    ]


async def test_raise_trigger_refuses_bad_input_naming_the_field(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    profile = await make_profile(app, brand, email="bad@example.test")
    async with session_of(app, brand) as session:
        with pytest.raises(InvalidInput) as refused:
            await service.raise_trigger(
                session,
                TenantId(brand),
                profile_id=profile,
                type="",
                dedupe_key="x" * 301,
                occurred_at=dt.datetime(2027, 1, 1),
                payload={},
            )
    fields = [e["field"] for e in refused.value.errors or []]
    assert fields == ["type", "dedupeKey", "occurredAt"]
    assert await occurrences(app, brand) == []


@pytest.mark.worker
async def test_new_occurrences_are_published_to_consumers_after_commit(app: Litestar) -> None:
    consumer = RecordingConsumer()
    register_consumer(consumer)
    try:
        async with app.lifespan():
            world = await make_world(app)
            brand = world.brand_a.id
            profile = await make_profile(app, brand, email="pub@example.test")
            first = await raise_one(app, brand, profile, "signed_up", "p-1", "2027-01-01T10:00:00")
            await raise_one(app, brand, profile, "signed_up", "p-1", "2027-01-01T10:00:00")
            # A rolled-back raise publishes nothing.
            async with session_of(app, brand) as session:
                await service.raise_trigger(
                    session,
                    TenantId(brand),
                    profile_id=profile,
                    type="signed_up",
                    dedupe_key="rolled-back",
                    occurred_at=at("2027-01-01T10:00:00"),
                    payload={},
                )
                await session.rollback()
            await run_jobs(app)
    finally:
        unregister_consumer(consumer)
    assert first is not None
    assert consumer.received == [(TenantId(brand), first.id, "p-1")]


def occurrences_url(world: World, query: str = "", brand: Any = None) -> str:
    return f"/v1/brands/{brand or world.brand_a.id}/triggers/occurrences{query}"


async def test_occurrences_are_listed_with_filters_and_pages(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    ada = await make_profile(app, brand, email="ada@example.test")
    bob = await make_profile(app, brand, email="bob@example.test")
    await raise_one(app, brand, ada, "birthday", "a", "2027-01-01T09:00:00")
    await raise_one(app, brand, bob, "birthday", "b", "2027-02-01T09:00:00")
    await raise_one(app, brand, ada, "cart_left", "c", "2027-03-01T09:00:00")
    v = world.viewer_a.headers

    async def keys(query: str) -> list[str]:
        response = await client.get(occurrences_url(world, query), headers=v)
        assert response.status_code == 200, response.text
        return [o["dedupeKey"] for o in response.json()["items"]]

    assert await keys("") == ["a", "b", "c"]
    assert await keys("?type=birthday") == ["a", "b"]
    assert await keys(f"?profileId={ada}") == ["a", "c"]
    assert await keys("?occurredFrom=2027-02-01T09:00:00Z") == ["b", "c"]
    assert await keys("?occurredUntil=2027-02-01T09:00:00%2B00:00") == ["a"]
    first = await client.get(occurrences_url(world, "?limit=2"), headers=v)
    assert [o["dedupeKey"] for o in first.json()["items"]] == ["a", "b"]
    assert await keys(f"?limit=2&cursor={first.json()['nextCursor']}") == ["c"]
    item = first.json()["items"][0]
    assert (item["type"], item["profileId"], item["payload"]) == (
        "birthday",
        str(ada),
        {"key": "a"},
    )
    # Per profile.
    per_profile = await client.get(
        f"/v1/brands/{brand}/triggers/profiles/{bob}/occurrences", headers=v
    )
    assert [o["dedupeKey"] for o in per_profile.json()["items"]] == ["b"]


async def test_bad_occurrence_filters_answer_422_naming_the_field(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    v = world.viewer_a.headers
    naive = await client.get(occurrences_url(world, "?occurredFrom=2027-01-01T00:00:00"), headers=v)
    assert [e["field"] for e in problem(naive, 422)["errors"]] == ["occurredFrom"]
    backwards = await client.get(
        occurrences_url(
            world, "?occurredFrom=2027-02-01T00:00:00Z&occurredUntil=2027-01-01T00:00:00Z"
        ),
        headers=v,
    )
    assert [e["field"] for e in problem(backwards, 422)["errors"]] == ["occurredUntil"]
    bad_cursor = await client.get(occurrences_url(world, "?cursor=nonsense"), headers=v)
    assert [e["field"] for e in problem(bad_cursor, 422)["errors"]] == ["cursor"]
    not_an_id = await client.get(occurrences_url(world, "?profileId=not-a-uuid"), headers=v)
    assert [e["field"] for e in problem(not_an_id, 422)["errors"]] == ["profile_id"]


async def test_occurrences_of_another_brand_are_never_listed(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    ada = await make_profile(app, brand, email="ada@example.test")
    await raise_one(app, brand, ada, "birthday", "a", "2027-01-01T09:00:00")
    b = world.owner_b.headers
    problem(await client.get(occurrences_url(world), headers=b), 404)
    mine = await client.get(occurrences_url(world, brand=world.brand_b.id), headers=b)
    assert mine.json()["items"] == []
    filtered = await client.get(
        occurrences_url(world, f"?profileId={ada}", brand=world.brand_b.id), headers=b
    )
    assert filtered.json()["items"] == []
    problem(
        await client.get(
            f"/v1/brands/{world.brand_b.id}/triggers/profiles/{ada}/occurrences", headers=b
        ),
        404,
    )
    problem(
        await client.get(f"/v1/brands/{brand}/triggers/profiles/{ada}/occurrences", headers=b), 404
    )


async def test_occurrences_follow_a_merge_and_go_with_an_erased_profile(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    tenant = TenantId(brand)
    older = await make_profile(app, brand, email="older@example.test")
    newer = await make_profile(app, brand, email="newer@example.test")
    await raise_one(app, brand, newer, "birthday", "n", "2027-01-01T09:00:00")
    async with session_of(app, brand) as session:
        await service.cart_updated(
            session, tenant, profile_id=newer, cart_id="c-1", updated_at=at("2027-01-01T10:00:00")
        )
        await profile_service.merge_profiles(session, tenant, older, newer, "test")
        await session.commit()
    assert [o.profile_id for o in await occurrences(app, brand)] == [older]
    # The merged id answers 308 to the survivor's occurrences.
    moved = await client.get(
        f"/v1/brands/{brand}/triggers/profiles/{newer}/occurrences", headers=world.viewer_a.headers
    )
    assert moved.status_code == 308
    assert str(older) in moved.headers["location"]

    async with session_of(app, brand) as session:
        await gdpr.erase_profile(session, tenant, older, "asked")
        await session.commit()
    assert await occurrences(app, brand) == []
    async with session_of(app, brand) as session:
        assert await service.repository.get_cart(session, "c-1") is None


async def test_event_triggers_are_raised_once_per_event(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    tenant = TenantId(brand)
    profile = await make_profile(app, brand, email="ev@example.test")
    await define_trigger(
        app,
        brand,
        "viewed_shoes",
        TriggerKind.EVENT,
        "2027-01-01T00:00:00",
        event_name="product_viewed",
        property_equals={"category": "shoes", "premium": True},
    )
    await define_trigger(
        app,
        brand,
        "any_view",
        TriggerKind.EVENT,
        "2027-01-01T00:00:00",
        event_name="product_viewed",
    )
    await define_trigger(
        app,
        brand,
        "off",
        TriggerKind.EVENT,
        "2027-01-01T00:00:00",
        event_name="product_viewed",
        enabled=False,
    )
    events = [
        AcceptedEvent(
            "e-1",
            "product_viewed",
            profile,
            at("2027-01-02T10:00:00"),
            {"category": "shoes", "premium": True},
        ),
        AcceptedEvent(
            "e-2",
            "product_viewed",
            profile,
            at("2027-01-02T11:00:00"),
            {"category": "shoes", "premium": 1},
        ),  # 1 is not true
        AcceptedEvent("e-3", "page_viewed", profile, at("2027-01-02T12:00:00"), {}),
    ]
    async with session_of(app, brand) as session:
        assert len(await service.on_events_accepted(session, tenant, events)) == 3
        await session.commit()
    async with session_of(app, brand) as session:  # the same events again: nothing new
        assert await service.on_events_accepted(session, tenant, events) == []
        await session.commit()
    raised = await occurrences(app, brand)
    assert sorted((o.type, o.dedupe_key) for o in raised) == [
        ("any_view", "e-1"),
        ("any_view", "e-2"),
        ("viewed_shoes", "e-1"),
    ]
    shoes = next(o for o in raised if o.type == "viewed_shoes")
    assert shoes.occurred_at == at("2027-01-02T10:00:00")
    assert shoes.payload == {
        "eventId": "e-1",
        "eventName": "product_viewed",
        "properties": {"category": "shoes", "premium": True},
    }
