"""GraphQL: the brand-level events query and a profile's latest events through a dataloader
(one events query for a whole page of profiles)."""

from __future__ import annotations

import httpx
from litestar import Litestar

from tests.events.helpers import event, send_batch
from tests.factories import make_world, statements_of
from tests.profiles.helpers import create_profile, headers_with_scopes
from tests.test_graphql import gql, gql_data


async def test_brand_events_query_filters_and_pages(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profile = await create_profile(client, world, email="a@example.com")
    await send_batch(
        client,
        world,
        [
            event(
                f"e{day}",
                "page_viewed",
                profileId=profile["id"],
                occurredAt=f"2026-11-0{day}T10:00:00Z",
                properties={"day": day},
            )
            for day in (1, 2, 3)
        ]
        + [event("s", "signed_up", profileId=profile["id"], occurredAt="2026-11-04T10:00:00Z")],
    )
    query = """query($brand: ID!, $after: String) {
      events(brand: $brand, first: 2, after: $after, name: "page_viewed") {
        items { eventId name profileId properties } nextCursor } }"""
    first = await gql_data(client, query, world.viewer_a, {"brand": str(world.brand_a.id)})
    page = first["events"]
    assert [e["eventId"] for e in page["items"]] == ["e3", "e2"]
    assert page["items"][0]["properties"] == {"day": 3}
    assert page["items"][0]["profileId"] == profile["id"]
    second = await gql_data(
        client, query, world.viewer_a, {"brand": str(world.brand_a.id), "after": page["nextCursor"]}
    )
    assert [e["eventId"] for e in second["events"]["items"]] == ["e1"]
    assert second["events"]["nextCursor"] is None


async def test_profile_events_load_through_one_query_per_page(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profiles = [await create_profile(client, world, email=f"p{i}@example.com") for i in range(4)]
    await send_batch(
        client,
        world,
        [
            event(f"{p['id']}-{n}", profileId=p["id"], occurredAt=f"2026-11-0{n}T10:00:00Z")
            for p in profiles
            for n in (1, 2, 3)
        ],
    )
    with statements_of(app) as statements:
        data = await gql_data(
            client,
            "query($brand: ID!) { profiles(brand: $brand) { items: nodes { id: uuid "
            "events(last: 2) { eventId } } } }",
            world.viewer_a,
            {"brand": str(world.brand_a.id)},
        )
    items = data["profiles"]["items"]
    assert len(items) == 4
    for item in items:
        assert [e["eventId"] for e in item["events"]] == [f"{item['id']}-3", f"{item['id']}-2"]
    assert len([s for s in statements if "FROM events" in s]) == 1


async def test_events_need_the_read_scope_and_stay_in_their_brand(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profile = await create_profile(client, world, email="a@example.com")
    await send_batch(client, world, [event("x", profileId=profile["id"])])
    query = "query($brand: ID!) { events(brand: $brand) { items { eventId } } }"
    other = await gql(client, query, world.owner_b, {"brand": str(world.brand_a.id)})
    assert other["data"] is None
    assert "errors" in other
    own = await gql_data(client, query, world.owner_b, {"brand": str(world.brand_b.id)})
    assert own["events"]["items"] == []
    profiles_only = await headers_with_scopes(app, world.viewer_a, "profiles:read")
    answer = await gql(
        client,
        "query($brand: ID!) { profiles(brand: $brand) { nodes { events { eventId } } } }",
        variables={"brand": str(world.brand_a.id)},
        headers=profiles_only,
    )
    assert answer.get("errors"), answer
    assert "events:read" in answer["errors"][0]["message"]
