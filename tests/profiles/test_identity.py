"""Identity resolution: upsert by any identity key, merges (older survives, latest write wins,
keys and consents re-pointed), merge history, and merged ids redirecting to the survivor."""

from __future__ import annotations

from typing import Any

import httpx
from litestar import Litestar

from tests.factories import World, make_world, problem
from tests.profiles.helpers import (
    brand_url,
    create_profile,
    define_attribute,
    define_topic,
    fields_of,
    read_profile,
    record_consent,
)


async def upsert(client: httpx.AsyncClient, world: World, **body: Any) -> httpx.Response:
    return await client.post(
        brand_url(world, "/profiles"),
        params={"mode": "upsert"},
        json=body,
        headers=world.manager_a.headers,
    )


async def lookup(client: httpx.AsyncClient, world: World, **params: str) -> list[str]:
    response = await client.get(
        brand_url(world, "/profiles"), params=params, headers=world.viewer_a.headers
    )
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_upsert_with_unknown_keys_creates_a_profile(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await upsert(client, world, email="new@example.com")
    assert response.status_code == 201, response.text
    assert await lookup(client, world, email="new@example.com") == [response.json()["id"]]


async def test_upsert_by_a_known_key_updates_that_profile(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = await create_profile(
        client, world, externalIds=[{"source": "erp", "id": "42"}], firstName="Ada"
    )
    response = await upsert(
        client, world, externalIds=[{"source": "erp", "id": "42"}], email="ada@example.com"
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"] == created["id"]
    body = await read_profile(client, world, created["id"])
    assert (body["firstName"], body["email"]) == ("Ada", "ada@example.com")


async def test_upsert_joining_two_profiles_merges_them_into_the_older(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    older = await create_profile(client, world, email="ada@example.com")
    newer = await create_profile(client, world, phone="+32470123456")
    response = await upsert(client, world, email="ada@example.com", phone="+32470123456")
    assert response.status_code == 200, response.text
    assert response.json()["id"] == older["id"]
    assert await lookup(client, world, phone="+32470123456") == [older["id"]]
    listed = await client.get(brand_url(world, "/profiles"), headers=world.viewer_a.headers)
    assert [p["id"] for p in listed.json()["items"]] == [older["id"]]
    assert newer["id"] != older["id"]


async def test_merge_keeps_the_latest_written_value_of_each_attribute(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await define_attribute(client, world, key="tier", type="text")
    await define_attribute(client, world, key="store", type="text")
    older = await create_profile(
        client, world, email="a@example.com", firstName="Old", attributes={"store": "Liège"}
    )
    newer = await create_profile(
        client, world, phone="+32470123456", firstName="New", attributes={"tier": "gold"}
    )
    # The older profile is written last: its values are now the latest.
    response = await client.patch(
        brand_url(world, f"/profiles/{older['id']}"),
        json={"attributes": {"tier": "platinum"}},
        headers=world.manager_a.headers,
    )
    assert response.status_code == 200, response.text
    merged = await client.post(
        brand_url(world, f"/profiles/{newer['id']}/merge"),
        json={"otherId": older["id"]},
        headers=world.manager_a.headers,
    )
    assert merged.status_code == 200, merged.text
    body = merged.json()
    assert body["id"] == older["id"]
    assert body["attributes"] == {"tier": "platinum", "store": "Liège"}
    assert body["firstName"] == "Old"
    assert (body["email"], body["phone"]) == ("a@example.com", "+32470123456")


async def test_merge_re_points_identity_keys_and_consents_to_the_survivor(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await define_topic(client, world, "newsletter")
    older = await create_profile(client, world, email="a@example.com")
    newer = await create_profile(
        client, world, email="b@example.com", externalIds=[{"source": "shop", "id": "9"}]
    )
    await record_consent(client, world, newer["id"], channel="email", state="granted")
    await record_consent(
        client, world, newer["id"], channel="email", topic="newsletter", state="granted"
    )
    response = await client.post(
        brand_url(world, f"/profiles/{older['id']}/merge"),
        json={"otherId": newer["id"], "reason": "same person per call centre"},
        headers=world.manager_a.headers,
    )
    assert response.status_code == 200, response.text
    for params in (
        {"email": "a@example.com"},
        {"email": "b@example.com"},
        {"externalId": "shop:9"},
    ):
        assert await lookup(client, world, **params) == [older["id"]], params
    consents = await client.get(
        brand_url(world, f"/profiles/{older['id']}/consents"), headers=world.viewer_a.headers
    )
    assert sorted((c["channel"], c["topic"] or "") for c in consents.json()["items"]) == [
        ("email", ""),
        ("email", "newsletter"),
    ]
    history = await client.get(
        brand_url(world, f"/profiles/{older['id']}/consents/history"),
        headers=world.viewer_a.headers,
    )
    assert len(history.json()["items"]) == 2


async def test_merged_id_answers_308_to_the_survivor(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    older = await create_profile(client, world, email="a@example.com")
    newer = await create_profile(client, world, phone="+32470123456")
    await upsert(client, world, email="a@example.com", phone="+32470123456")
    response = await client.get(
        brand_url(world, f"/profiles/{newer['id']}/consents"),
        params={"x": "1"},
        headers=world.viewer_a.headers,
    )
    problem(response, 308)
    assert response.headers["location"] == brand_url(world, f"/profiles/{older['id']}/consents?x=1")
    followed = await client.get(response.headers["location"], headers=world.viewer_a.headers)
    assert followed.status_code == 200, followed.text


async def test_writing_to_a_merged_id_answers_308(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    older = await create_profile(client, world, email="a@example.com")
    newer = await create_profile(client, world, email="b@example.com")
    await client.post(
        brand_url(world, f"/profiles/{older['id']}/merge"),
        json={"otherId": newer["id"]},
        headers=world.manager_a.headers,
    )
    response = await client.patch(
        brand_url(world, f"/profiles/{newer['id']}"),
        json={"firstName": "x"},
        headers=world.manager_a.headers,
    )
    problem(response, 308)
    assert response.headers["location"].endswith(f"/profiles/{older['id']}")


async def test_merge_of_a_merge_redirects_to_the_last_survivor(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    first = await create_profile(client, world, email="a@example.com")
    second = await create_profile(client, world, email="b@example.com")
    third = await create_profile(client, world, email="c@example.com")
    for survivor, other in ((second, third), (first, second)):
        response = await client.post(
            brand_url(world, f"/profiles/{survivor['id']}/merge"),
            json={"otherId": other["id"]},
            headers=world.manager_a.headers,
        )
        assert response.status_code == 200, response.text
    response = await client.get(
        brand_url(world, f"/profiles/{third['id']}"), headers=world.viewer_a.headers
    )
    assert response.headers["location"].endswith(f"/profiles/{first['id']}")


async def test_merge_history_records_survivor_merged_id_reason_and_keys(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    older = await create_profile(client, world, email="a@example.com")
    newer = await create_profile(client, world, phone="+32470123456")
    await upsert(client, world, email="a@example.com", phone="+32470123456")
    response = await client.get(
        brand_url(world, f"/profiles/{older['id']}/history"), headers=world.viewer_a.headers
    )
    assert response.status_code == 200, response.text
    [merge] = response.json()["items"]
    assert (merge["survivorId"], merge["mergedId"], merge["reason"]) == (
        older["id"],
        newer["id"],
        "identity",
    )
    assert merge["keys"] == ["phone:+32470123456"]
    assert merge["mergedAt"]


async def test_merge_keeps_unique_values_with_the_survivor(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await define_attribute(client, world, key="card", type="text", unique=True)
    older = await create_profile(client, world, email="a@example.com")
    newer = await create_profile(client, world, email="b@example.com", attributes={"card": "K1"})
    await client.post(
        brand_url(world, f"/profiles/{older['id']}/merge"),
        json={"otherId": newer["id"]},
        headers=world.manager_a.headers,
    )
    assert (await read_profile(client, world, older["id"]))["attributes"] == {"card": "K1"}
    response = await client.post(
        brand_url(world, "/profiles"),
        json={"attributes": {"card": "K1"}},
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 409)) == ["attributes.card"]


async def test_merging_a_profile_with_itself_is_refused(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = await create_profile(client, world, email="a@example.com")
    response = await client.post(
        brand_url(world, f"/profiles/{created['id']}/merge"),
        json={"otherId": created["id"]},
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 422)) == ["otherId"]


async def test_merging_with_a_profile_of_another_brand_is_refused(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    mine = await create_profile(client, world, email="a@example.com")
    theirs = await client.post(
        f"/v1/brands/{world.brand_b.id}/profiles",
        json={"email": "b@example.com"},
        headers=world.owner_b.headers,
    )
    response = await client.post(
        brand_url(world, f"/profiles/{mine['id']}/merge"),
        json={"otherId": theirs.json()["id"]},
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 422)) == ["otherId"]
    other_brand = await client.get(
        f"/v1/brands/{world.brand_b.id}/profiles/{theirs.json()['id']}",
        headers=world.owner_b.headers,
    )
    assert other_brand.status_code == 200
