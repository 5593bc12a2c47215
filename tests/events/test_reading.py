"""Reading events: a profile's timeline newest first with keyset pages, and the brand's events
filtered by name, profile and time range."""

from __future__ import annotations

import httpx
from litestar import Litestar

from tests.events.helpers import event, events_of, send_batch
from tests.factories import make_world, problem
from tests.profiles.helpers import UNKNOWN_ID, brand_url, create_profile


async def test_timeline_is_newest_first_in_keyset_pages(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profile = await create_profile(client, world, email="a@example.com")
    other = await create_profile(client, world, email="b@example.com")
    events = [
        event(f"e{day}", profileId=profile["id"], occurredAt=f"2026-11-{day:02d}T10:00:00Z")
        for day in (3, 1, 5, 2, 4)
    ]
    events.append(event("other", profileId=other["id"]))
    await send_batch(client, world, events)
    url = brand_url(world, f"/profiles/{profile['id']}/events?limit=2")
    seen: list[str] = []
    cursor = None
    while True:
        response = await client.get(
            url + (f"&cursor={cursor}" if cursor else ""), headers=world.viewer_a.headers
        )
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 2
        seen += [e["eventId"] for e in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == ["e5", "e4", "e3", "e2", "e1"]


async def test_brand_events_filter_by_name_profile_and_time_range(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    a = await create_profile(client, world, email="a@example.com")
    b = await create_profile(client, world, email="b@example.com")
    await send_batch(
        client,
        world,
        [
            event("1", "page_viewed", profileId=a["id"], occurredAt="2026-11-01T10:00:00Z"),
            event("2", "signed_up", profileId=a["id"], occurredAt="2026-11-02T10:00:00Z"),
            event("3", "page_viewed", profileId=b["id"], occurredAt="2026-11-03T10:00:00Z"),
        ],
    )
    ids = lambda items: [e["eventId"] for e in items]  # noqa: E731
    assert ids(await events_of(client, world)) == ["3", "2", "1"]
    assert ids(await events_of(client, world, "?name=page_viewed")) == ["3", "1"]
    assert ids(await events_of(client, world, f"?profileId={a['id']}")) == ["2", "1"]
    window = "?since=2026-11-02T00:00:00Z&until=2026-11-03T10:00:00Z"
    assert ids(await events_of(client, world, window)) == ["2"]
    assert await events_of(client, world, f"?profileId={UNKNOWN_ID}") == []


async def test_bad_reading_parameters_answer_problems(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profile = await create_profile(client, world, email="a@example.com")
    for query in ("?cursor=garbage", "?limit=0", "?since=yesterday"):
        response = await client.get(
            brand_url(world, f"/events{query}"), headers=world.viewer_a.headers
        )
        assert 400 <= response.status_code < 500, query
        problem(response, response.status_code)
    unknown = await client.get(
        brand_url(world, f"/profiles/{UNKNOWN_ID}/events"), headers=world.viewer_a.headers
    )
    problem(unknown, 404)
    other_brand = await client.get(
        f"/v1/brands/{world.brand_b.id}/profiles/{profile['id']}/events",
        headers=world.owner_b.headers,
    )
    problem(other_brand, 404)
    problem(
        await client.get(
            brand_url(world, f"/profiles/{profile['id']}/events"), headers=world.owner_b.headers
        ),
        404,
    )


async def test_timeline_of_a_merged_id_redirects_to_the_survivor(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    older = await create_profile(client, world, email="old@example.com")
    newer = await create_profile(client, world, email="new@example.com")
    await send_batch(client, world, [event("x", profileId=newer["id"])])
    merged = await client.post(
        brand_url(world, f"/profiles/{older['id']}/merge"),
        json={"otherId": newer["id"]},
        headers=world.manager_a.headers,
    )
    assert merged.status_code == 200
    response = await client.get(
        brand_url(world, f"/profiles/{newer['id']}/events"), headers=world.viewer_a.headers
    )
    assert response.status_code == 308
    assert older["id"] in response.headers["location"]
    survivor = await client.get(response.headers["location"], headers=world.viewer_a.headers)
    assert [e["eventId"] for e in survivor.json()["items"]] == ["x"]
