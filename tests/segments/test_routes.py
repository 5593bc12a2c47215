"""REST: segment CRUD, preview, evaluation through the worker, members, transitions, sizes,
static uploads, a profile's segments, 422 naming the bad node, and brand isolation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from litestar import Litestar

from backend.profiles.models import AttributeType
from tests.factories import World, make_world, problem, run_jobs
from tests.segments.helpers import define_attribute, make_profile

GOLD_FR = {
    "and": [
        {"field": "country", "op": "eq", "value": "FR"},
        {"attribute": "tier", "op": "eq", "value": "gold"},
    ]
}


def url(world: World, path: str = "", brand: Any = None) -> str:
    return f"/v1/brands/{brand or world.brand_a.id}/segments{path}"


async def create(client: httpx.AsyncClient, world: World, **body: Any) -> dict[str, Any]:
    response = await client.post(url(world), json=body, headers=world.manager_a.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def seed(app: Litestar, world: World) -> tuple[Any, Any, Any]:
    brand = world.brand_a.id
    await define_attribute(app, brand, "tier", AttributeType.TEXT)
    ada = await make_profile(
        app, brand, email="ada@example.com", country="FR", attributes={"tier": "gold"}
    )
    bob = await make_profile(
        app, brand, email="bob@example.com", country="FR", attributes={"tier": "silver"}
    )
    cyd = await make_profile(
        app, brand, email="cyd@example.com", country="BE", attributes={"tier": "gold"}
    )
    return ada, bob, cyd


async def test_preview_counts_an_unsaved_definition(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada, _, _ = await seed(app, world)
    response = await client.post(
        url(world, "/preview"), json={"definition": GOLD_FR}, headers=world.viewer_a.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 1
    assert [p["id"] for p in body["sample"]] == [str(ada)]
    assert body["sample"][0]["email"] == "ada@example.com"


async def test_bad_definitions_answer_422_naming_the_node(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await seed(app, world)
    bad = {
        "and": [
            {"field": "country", "op": "eq", "value": "FR"},
            {"attribute": "tier", "op": "gt", "value": "gold"},
            {"orders": {"windowDays": 5000}, "op": "gte", "value": 1},
        ]
    }
    for path, body in (("/preview", {"definition": bad}), ("", {"key": "x", "name": "X",
                                                                "definition": bad})):  # fmt: skip
        answer = problem(
            await client.post(url(world, path), json=body, headers=world.manager_a.headers), 422
        )
        assert [e["pointer"] for e in answer["errors"]] == ["/and/1/op", "/and/2/orders/windowDays"]
        assert "/and/1/op" in answer["detail"]


@pytest.mark.worker
async def test_segments_are_evaluated_and_their_history_kept(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada, bob, _ = await seed(app, world)
    created = await create(client, world, key="gold_fr", name="Gold in France", definition=GOLD_FR)
    assert created["refreshEveryMinutes"] == 1440
    assert created["nextRefreshAt"] is not None
    await run_jobs(app)  # the first evaluation, queued on creation
    viewer = world.viewer_a.headers
    segment = (await client.get(url(world, f"/{created['id']}"), headers=viewer)).json()
    assert segment["memberCount"] == 1
    members = (await client.get(url(world, f"/{created['id']}/members"), headers=viewer)).json()
    assert [m["profileId"] for m in members["items"]] == [str(ada)]

    # Bob turns gold; a manual evaluation records his entry.
    patched = await client.patch(
        f"/v1/brands/{world.brand_a.id}/profiles/{bob}",
        json={"attributes": {"tier": "gold"}},
        headers=world.manager_a.headers,
    )
    assert patched.status_code == 200, patched.text
    queued = await client.post(
        url(world, f"/{created['id']}/evaluate"), headers=world.manager_a.headers
    )
    assert queued.status_code == 202, queued.text
    await run_jobs(app)
    sizes = (await client.get(url(world, f"/{created['id']}/sizes"), headers=viewer)).json()
    assert [(s["size"], s["entered"], s["exited"]) for s in sizes["items"]][-1] == (2, 1, 0)
    assert queued.json()["evaluationId"] in [s["evaluationId"] for s in sizes["items"]]
    entered = await client.get(
        url(world, f"/{created['id']}/transitions"),
        params={"kind": "entered"},
        headers=viewer,
    )
    assert {t["profileId"] for t in entered.json()["items"]} == {str(ada), str(bob)}

    mine = await client.get(
        f"/v1/brands/{world.brand_a.id}/profiles/{bob}/segments", headers=viewer
    )
    assert mine.status_code == 200, mine.text
    assert [m["segmentKey"] for m in mine.json()["memberships"]] == ["gold_fr"]
    assert [t["kind"] for t in mine.json()["transitions"]] == ["entered"]

    # Trigger occurrences were raised for each entry.
    occurrences = await client.get(
        f"/v1/brands/{world.brand_a.id}/triggers/occurrences",
        params={"type": "segment.entered"},
        headers=viewer,
    )
    assert {o["profileId"] for o in occurrences.json()["items"]} == {str(ada), str(bob)}


async def test_static_upload_and_crud(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    ada, bob, _ = await seed(app, world)
    manager = world.manager_a.headers
    static = await create(client, world, key="vip", name="VIP", kind="static", definition=None)
    assert static["refreshEveryMinutes"] is None
    uploaded = await client.post(
        url(world, f"/{static['id']}/members"),
        json={"profileIds": [str(ada)], "emails": ["bob@example.com", "who@example.com"]},
        headers=manager,
    )
    assert uploaded.status_code == 200, uploaded.text
    assert (uploaded.json()["memberCount"], uploaded.json()["unknownKeys"]) == (
        2,
        ["email:who@example.com"],
    )
    replaced = await client.put(
        url(world, f"/{static['id']}/members"), json={"profileIds": [str(bob)]}, headers=manager
    )
    assert (replaced.json()["entered"], replaced.json()["exited"]) == (0, 1)
    rule = await create(client, world, key="gold", name="Gold", definition=GOLD_FR)
    problem(
        await client.post(
            url(world, f"/{rule['id']}/members"), json={"profileIds": []}, headers=manager
        ),
        422,
    )
    # A segment referenced by another cannot go; unknown keys and duplicates are refused.
    both = {"and": [{"segment": static["id"]}, {"segment": rule["id"]}]}
    user = await create(client, world, key="vip_gold", name="VIP gold", definition=both)
    problem(await client.delete(url(world, f"/{static['id']}"), headers=manager), 409)
    problem(await client.post(url(world), json={"key": "vip", "name": "again", "kind": "static"},
                              headers=manager), 409)  # fmt: skip
    cycle = {"definition": {"segment": user["id"]}}
    answer = problem(
        await client.patch(url(world, f"/{rule['id']}"), json=cycle, headers=manager), 422
    )
    assert answer["errors"][0]["pointer"] == "/segment"
    assert "cycle" in answer["errors"][0]["detail"]
    renamed = await client.patch(url(world, f"/{rule['id']}"), json={"name": "Gold!"},
                                 headers=manager)  # fmt: skip
    assert renamed.json()["name"] == "Gold!"
    assert (await client.delete(url(world, f"/{user['id']}"), headers=manager)).status_code == 204
    assert (await client.delete(url(world, f"/{static['id']}"), headers=manager)).status_code == 204
    listed = (await client.get(url(world), headers=world.viewer_a.headers)).json()
    assert [s["key"] for s in listed["items"]] == ["gold"]


async def test_another_brands_segments_answer_404(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    ada, _, _ = await seed(app, world)
    mine = await create(client, world, key="vip", name="VIP", kind="static")
    b = world.owner_b.headers
    foreign = url(world, f"/{mine['id']}", brand=world.brand_b.id)
    for method, path, body in (
        ("GET", "", None),
        ("PATCH", "", {"name": "Hijacked"}),
        ("DELETE", "", None),
        ("POST", "/evaluate", None),
        ("GET", "/members", None),
        ("POST", "/members", {"profileIds": [str(ada)]}),
        ("PUT", "/members", {"profileIds": []}),
        ("GET", "/transitions", None),
        ("GET", "/sizes", None),
    ):
        response = await client.request(method, foreign + path, json=body, headers=b)
        problem(response, 404)
    problem(await client.get(url(world, f"/{mine['id']}"), headers=b), 404)
    problem(
        await client.get(f"/v1/brands/{world.brand_b.id}/profiles/{ada}/segments", headers=b), 404
    )
    # Brand B cannot reference brand A's segment either, nor count its profiles.
    problem(
        await client.post(
            url(world, "/preview", brand=world.brand_b.id),
            json={"definition": {"segment": mine["id"]}},
            headers=b,
        ),
        422,
    )
    counted = await client.post(
        url(world, "/preview", brand=world.brand_b.id),
        json={"definition": {"field": "email", "op": "exists"}},
        headers=b,
    )
    assert counted.json()["count"] == 0
