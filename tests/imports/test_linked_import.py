"""Linked-table imports: rows upserted on their key, the profile found by id (a merged id means
its survivor) or identity key, values checked against the table's columns, history kept."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from litestar import Litestar

from tests.factories import World, make_world, problem
from tests.imports.helpers import NDJSON, imported, ndjson, rejections, upload
from tests.profiles.helpers import brand_url, create_profile, define_table, fields_of

pytestmark = pytest.mark.worker

COUPONS = [
    {"key": "points", "label": "Points", "type": "number", "required": True},
    {"key": "label", "label": "Label", "type": "text"},
    {"key": "active", "label": "Active", "type": "boolean", "default": True},
]


async def coupons(client: httpx.AsyncClient, world: World) -> dict[str, dict[str, Any]]:
    """The table's rows by key (keyless rows under their id)."""
    response = await client.get(
        brand_url(world, "/linked-tables/coupons/rows"),
        params={"limit": 200},
        headers=world.viewer_a.headers,
    )
    assert response.status_code == 200, response.text
    return {row["key"] or row["id"]: row for row in response.json()["items"]}


async def history(client: httpx.AsyncClient, world: World, row_id: str) -> list[dict[str, Any]]:
    response = await client.get(
        brand_url(world, f"/linked-tables/coupons/rows/{row_id}/history"),
        headers=world.viewer_a.headers,
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def import_coupons(
    app: Litestar, client: httpx.AsyncClient, world: World, body: str, **kwargs: Any
) -> dict[str, Any]:
    return await imported(app, client, world, body, kind="linked/coupons", **kwargs)


async def test_csv_rows_find_their_profile_and_keep_valid_rows_when_others_fail(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await create_profile(client, world, email="ada@example.com")
    bob = await create_profile(client, world, externalIds=[{"source": "erp", "id": "E-7"}])
    await define_table(client, world, key="coupons", columns=COUPONS)
    body = (
        "key,email,externalIds.erp,points,active\n"
        "C1,Ada@Example.com,,10,true\n"
        "C2,,E-7,5,no\n"
        "C3,nobody@example.com,,1,true\n"
        "C4,ada@example.com,,lots,true\n"
        ",ada@example.com,,3,\n"
    )
    result = await import_coupons(app, client, world, body)
    assert (result["status"], result["kind"], result["linkedTable"]) == (
        "succeeded",
        "linked",
        "coupons",
    )
    assert (result["created"], result["updated"], result["rejected"]) == (3, 0, 2)
    rows = await coupons(client, world)
    assert (rows["C1"]["profileId"], rows["C1"]["values"]) == (
        ada["id"],
        {"points": 10, "active": True},
    )
    assert (rows["C2"]["profileId"], rows["C2"]["values"]["active"]) == (bob["id"], False)
    (keyless,) = [row for row in rows.values() if row["key"] is None]
    assert keyless["values"] == {"points": 3, "active": True}  # the column's default
    reasons = {r["line"]: r["reason"] for r in await rejections(client, world, result["id"])}
    assert reasons == {
        4: "no profile has these identity keys",
        5: "values.points: expected a number",
    }


async def test_a_row_key_updates_its_row_and_appends_to_its_history(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await create_profile(client, world, email="ada@example.com")
    await define_table(client, world, key="coupons", columns=COUPONS)
    await import_coupons(app, client, world, "key,email,points,label\nC1,ada@example.com,10,A\n")
    again = "key,points\nC1,25\nC1,30\n"  # no profile named: the row keeps its own
    result = await import_coupons(app, client, world, again)
    assert (result["created"], result["updated"], result["rejected"]) == (0, 2, 0)
    row = (await coupons(client, world))["C1"]
    assert (row["version"], row["values"]) == (3, {"points": 30, "label": "A", "active": True})
    versions = await history(client, world, row["id"])
    assert [(v["operation"], v["values"]["points"]) for v in versions] == [
        ("created", 10),
        ("updated", 25),
        ("updated", 30),
    ]


async def test_create_mode_rejects_a_stored_key_and_update_mode_an_unknown_one(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await create_profile(client, world, email="ada@example.com")
    await define_table(client, world, key="coupons", columns=COUPONS)
    await import_coupons(app, client, world, "key,email,points\nC1,ada@example.com,10\n")
    body = "key,email,points\nC1,ada@example.com,11\nC2,ada@example.com,12\n"
    created = await import_coupons(app, client, world, body, mode="create")
    assert (created["created"], created["rejected"]) == (1, 1)
    (taken,) = await rejections(client, world, created["id"])
    assert (taken["line"], taken["reason"]) == (2, "key: a row with this key exists in the table")
    body = "key,points\nC1,40\nC9,1\n,2\n"
    updated = await import_coupons(app, client, world, body, mode="update")
    assert (updated["updated"], updated["created"], updated["rejected"]) == (1, 0, 2)
    reasons = {r["line"]: r["reason"] for r in await rejections(client, world, updated["id"])}
    assert reasons == {
        3: "key: no row has this key in the table",
        4: "key: needed to find the row to update",
    }
    rows = await coupons(client, world)
    assert {key: row["values"]["points"] for key, row in rows.items()} == {"C1": 40, "C2": 12}


async def test_ndjson_rows_naming_a_merged_profile_go_to_the_survivor(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    older = await create_profile(client, world, email="old@example.com")
    newer = await create_profile(client, world, email="new@example.com")
    merged = await client.post(
        brand_url(world, f"/profiles/{older['id']}/merge"),
        json={"otherId": newer["id"]},
        headers=world.manager_a.headers,
    )
    assert merged.status_code == 200, merged.text
    await define_table(client, world, key="coupons", columns=COUPONS)
    body = ndjson(
        {"key": "N1", "profileId": newer["id"], "points": 7, "label": "merged id"},
        {"key": "N2", "profileId": "00000000-0000-7000-8000-000000000000", "points": 1},
    )
    result = await import_coupons(app, client, world, body, content_type=NDJSON)
    assert (result["created"], result["rejected"]) == (1, 1)
    assert (await coupons(client, world))["N1"]["profileId"] == older["id"]
    (unknown,) = await rejections(client, world, result["id"])
    assert (unknown["line"], unknown["reason"]) == (2, "profileId: no such profile")


async def test_mapping_renames_columns_and_unknown_columns_are_named(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await create_profile(client, world, email="ada@example.com")
    await define_table(client, world, key="coupons", columns=COUPONS)
    mapping = '{"Code": "key", "Mail": "email", "Pts": "values.points", "Note": null}'
    body = "Code,Mail,Pts,Note\nM1,ada@example.com,4,ignored\n"
    result = await import_coupons(app, client, world, body, mapping=mapping)
    assert result["created"] == 1
    row = (await coupons(client, world))["M1"]
    assert (row["profileId"], row["values"]) == (ada["id"], {"points": 4, "active": True})
    response = await upload(
        client, world, "key,email,colour\nX,a@b.co,red\n", kind="linked/coupons"
    )
    assert fields_of(problem(response, 422)) == ["colour"]


async def test_unknown_table_and_another_brands_table_answer_404(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    body = "key,email,points\nC1,ada@example.com,1\n"
    problem(await upload(client, world, body, kind="linked/nope"), 404)
    # Brand B has a "loyalty" table; brand A has none: its name reaches nothing from A.
    response = await client.post(
        f"/v1/brands/{world.brand_b.id}/linked-tables",
        json={"key": "loyalty", "label": "Loyalty", "columns": COUPONS},
        headers=world.owner_b.headers,
    )
    assert response.status_code == 201, response.text
    problem(await upload(client, world, body, kind="linked/loyalty"), 404)
    # And brand A's caller cannot import into brand B at all.
    other = await client.post(
        f"/v1/brands/{world.brand_b.id}/imports/linked/loyalty",
        content=body.encode(),
        headers={**world.manager_a.headers, "content-type": "text/csv"},
    )
    problem(other, 404)
