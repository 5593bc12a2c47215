"""Linked tables: typed columns, rows of one profile validated on every write, their history,
and rows that follow their profile through merges and deletion."""

from __future__ import annotations

import re
from typing import Any

import httpx
from litestar import Litestar

from tests.factories import World, make_world, problem, statements_of
from tests.profiles.helpers import (
    UNKNOWN_ID,
    add_row,
    brand_url,
    create_profile,
    define_table,
    fields_of,
)

COUPON_COLUMNS: list[dict[str, Any]] = [
    {"key": "code", "type": "text", "required": True},
    {"key": "value", "type": "number", "default": 5},
    {"key": "used", "type": "boolean", "default": False},
    {"key": "expires", "type": "date"},
    {"key": "channel", "type": "enum", "options": ["email", "sms"]},
]


async def _coupons(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    return await define_table(
        client, world, key="coupons", columns=[dict(c) for c in COUPON_COLUMNS]
    )


def _rows_url(world: World, path: str = "") -> str:
    return brand_url(world, f"/linked-tables/coupons/rows{path}")


async def test_a_table_is_defined_with_typed_columns(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    table = await _coupons(client, world)
    response = await client.get(
        brand_url(world, "/linked-tables/coupons"), headers=world.viewer_a.headers
    )
    assert response.status_code == 200
    assert response.json() == table
    assert [c["type"] for c in table["columns"]] == ["text", "number", "boolean", "date", "enum"]


async def test_a_table_key_is_unique_in_the_brand(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    await _coupons(client, world)
    response = await client.post(
        brand_url(world, "/linked-tables"),
        json={"key": "coupons", "label": "Again"},
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 409)) == ["key"]


async def test_a_bad_column_definition_names_the_column(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.post(
        brand_url(world, "/linked-tables"),
        json={
            "key": "points",
            "label": "Points",
            "columns": [
                {"key": "balance", "label": "Balance", "type": "number", "default": "many"},
                {"key": "tier", "label": "Tier", "type": "enum"},
            ],
        },
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 422)) == ["columns[0].default", "columns[1].options"]


async def test_a_row_gets_defaults_and_answers_its_values(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await _coupons(client, world)
    profile = await create_profile(client, world, email="ada@example.com")
    row = await add_row(
        client, world, "coupons", profileId=profile["id"], values={"code": "WELCOME10"}
    )
    assert row["values"] == {"code": "WELCOME10", "value": 5, "used": False}
    assert row["profileId"] == profile["id"]
    assert row["version"] == 1


async def test_a_row_can_name_its_profile_by_identity_key(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await _coupons(client, world)
    profile = await create_profile(client, world, email="ada@example.com")
    row = await add_row(
        client,
        world,
        "coupons",
        profileKey={"kind": "email", "value": "ADA@example.com"},
        values={"code": "X"},
    )
    assert row["profileId"] == profile["id"]


async def test_an_unknown_identity_key_names_the_field(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await _coupons(client, world)
    response = await client.post(
        _rows_url(world),
        json={
            "profileKey": {"kind": "email", "value": "nobody@example.com"},
            "values": {"code": "X"},
        },
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 422)) == ["profileKey.value"]


async def test_wrong_values_name_each_column_and_store_nothing(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await _coupons(client, world)
    profile = await create_profile(client, world, email="ada@example.com")
    response = await client.post(
        _rows_url(world),
        json={
            "profileId": profile["id"],
            "values": {"value": "ten", "expires": "soon", "channel": "fax", "colour": "red"},
        },
        headers=world.manager_a.headers,
    )
    body = problem(response, 422)
    assert sorted(fields_of(body)) == [
        "values.channel",
        "values.code",
        "values.colour",
        "values.expires",
        "values.value",
    ]
    listed = await client.get(_rows_url(world), headers=world.viewer_a.headers)
    assert listed.json()["items"] == []


async def test_an_unknown_table_answers_404(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    profile = await create_profile(client, world, email="ada@example.com")
    response = await client.post(
        brand_url(world, "/linked-tables/nothing/rows"),
        json={"profileId": profile["id"], "values": {}},
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 404)) == ["key"]


async def test_every_change_of_a_row_is_kept_in_its_history(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await _coupons(client, world)
    profile = await create_profile(client, world, email="ada@example.com")
    row = await add_row(client, world, "coupons", profileId=profile["id"], values={"code": "A"})
    url = _rows_url(world, f"/{row['id']}")
    updated = await client.patch(
        url, json={"values": {"used": True}}, headers=world.manager_a.headers
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["version"] == 2
    deleted = await client.delete(url, headers=world.manager_a.headers)
    assert deleted.status_code == 204
    assert (await client.get(url, headers=world.viewer_a.headers)).status_code == 404
    history = await client.get(f"{url}/history", headers=world.viewer_a.headers)
    assert history.status_code == 200, history.text
    versions = history.json()["items"]
    assert [(v["version"], v["operation"]) for v in versions] == [
        (1, "created"),
        (2, "updated"),
        (3, "deleted"),
    ]
    assert [v["values"]["used"] for v in versions] == [False, True, True]


async def test_rows_are_listed_by_profile_in_keyset_pages(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await _coupons(client, world)
    ada = await create_profile(client, world, email="ada@example.com")
    bob = await create_profile(client, world, email="bob@example.com")
    for code in ("A1", "A2", "A3"):
        await add_row(client, world, "coupons", profileId=ada["id"], values={"code": code})
    await add_row(client, world, "coupons", profileId=bob["id"], values={"code": "B1"})
    first = await client.get(
        _rows_url(world),
        params={"profileId": ada["id"], "limit": 2},
        headers=world.viewer_a.headers,
    )
    page = first.json()
    second = await client.get(
        _rows_url(world),
        params={"profileId": ada["id"], "limit": 2, "cursor": page["nextCursor"]},
        headers=world.viewer_a.headers,
    )
    codes = [r["values"]["code"] for r in page["items"] + second.json()["items"]]
    assert codes == ["A1", "A2", "A3"]
    assert second.json()["nextCursor"] is None


async def test_a_profile_lists_its_rows_of_one_table(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await _coupons(client, world)
    ada = await create_profile(client, world, email="ada@example.com")
    await add_row(client, world, "coupons", profileId=ada["id"], values={"code": "A"})
    response = await client.get(
        brand_url(world, f"/profiles/{ada['id']}/linked/coupons"), headers=world.viewer_a.headers
    )
    assert response.status_code == 200, response.text
    assert [r["values"]["code"] for r in response.json()["items"]] == ["A"]


async def test_rows_follow_their_profile_into_the_survivor_of_a_merge(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await _coupons(client, world)
    older = await create_profile(client, world, email="ada@example.com")
    newer = await create_profile(client, world, phone="+32470123456")
    row = await add_row(client, world, "coupons", profileId=newer["id"], values={"code": "N"})
    merged = await client.post(
        brand_url(world, f"/profiles/{older['id']}/merge"),
        json={"otherId": newer["id"]},
        headers=world.manager_a.headers,
    )
    assert merged.status_code == 200, merged.text
    moved = await client.get(_rows_url(world, f"/{row['id']}"), headers=world.viewer_a.headers)
    assert moved.json()["profileId"] == older["id"]
    history = await client.get(
        _rows_url(world, f"/{row['id']}/history"), headers=world.viewer_a.headers
    )
    assert [v["operation"] for v in history.json()["items"]] == ["created", "merged"]
    redirected = await client.get(
        brand_url(world, f"/profiles/{newer['id']}/linked/coupons"),
        headers=world.viewer_a.headers,
    )
    assert redirected.status_code == 308
    assert older["id"] in redirected.headers["location"]


async def test_rows_and_their_history_go_with_a_deleted_profile(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await _coupons(client, world)
    ada = await create_profile(client, world, email="ada@example.com")
    row = await add_row(client, world, "coupons", profileId=ada["id"], values={"code": "A"})
    deleted = await client.delete(
        brand_url(world, f"/profiles/{ada['id']}"), headers=world.manager_a.headers
    )
    assert deleted.status_code == 204
    history = await client.get(
        _rows_url(world, f"/{row['id']}/history"), headers=world.viewer_a.headers
    )
    problem(history, 404)


async def test_columns_can_be_added_but_not_retyped_or_removed(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await _coupons(client, world)
    columns = [dict(c, label=c["key"].title()) for c in COUPON_COLUMNS]
    added = await client.patch(
        brand_url(world, "/linked-tables/coupons"),
        json={"columns": [*columns, {"key": "store", "label": "Store", "type": "text"}]},
        headers=world.manager_a.headers,
    )
    assert added.status_code == 200, added.text
    assert added.json()["columns"][-1]["key"] == "store"
    retyped = [dict(columns[0], type="number"), *columns[1:]]
    response = await client.patch(
        brand_url(world, "/linked-tables/coupons"),
        json={"columns": retyped},
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 422)) == ["columns", "columns[0].type"]


async def test_deleting_a_table_deletes_its_rows(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    await _coupons(client, world)
    ada = await create_profile(client, world, email="ada@example.com")
    row = await add_row(client, world, "coupons", profileId=ada["id"], values={"code": "A"})
    deleted = await client.delete(
        brand_url(world, "/linked-tables/coupons"), headers=world.manager_a.headers
    )
    assert deleted.status_code == 204
    await _coupons(client, world)  # the same key again: a new, empty table
    response = await client.get(
        _rows_url(world, f"/{row['id']}/history"), headers=world.viewer_a.headers
    )
    problem(response, 404)


async def test_a_row_for_an_unknown_profile_names_the_field(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await _coupons(client, world)
    response = await client.post(
        _rows_url(world),
        json={"profileId": UNKNOWN_ID, "values": {"code": "X"}},
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 422)) == ["profileId"]


async def _linked_page(
    app: Litestar, client: httpx.AsyncClient, world: World, first: int
) -> tuple[int, list[dict[str, Any]]]:
    """The profiles page with its coupons, and how many linked-table statements it cost."""
    query = f"""{{ profiles(brand: "{world.brand_a.id}", first: {first}) {{ items: nodes {{ email
        linkedRows(table: "coupons") {{ table values version }} }} }} }}"""
    with statements_of(app) as statements:
        response = await client.post(
            "/graphql", json={"query": query}, headers=world.viewer_a.headers
        )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["data"]["profiles"]["items"]
    return len([s for s in statements if re.search(r"\bFROM linked_", s)]), items


async def test_linked_rows_of_a_page_of_profiles_load_in_constant_queries(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await _coupons(client, world)
    for index in range(4):
        profile = await create_profile(client, world, email=f"p{index}@example.com")
        await add_row(
            client, world, "coupons", profileId=profile["id"], values={"code": f"C{index}"}
        )
    small, _ = await _linked_page(app, client, world, 1)
    large, items = await _linked_page(app, client, world, 4)
    assert large == small
    assert [i["linkedRows"][0]["values"]["code"] for i in items] == ["C0", "C1", "C2", "C3"]
