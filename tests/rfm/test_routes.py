"""REST: settings (validation naming the field, nothing half-stored), runs started with 202 and
scored by the worker, scores in bulk and per profile, scopes, and brand isolation on every route
(another brand's ids answer 404)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

import httpx
import pytest
from litestar import Litestar

from backend.core.db import utcnow
from tests.factories import World, make_world, problem, run_jobs
from tests.profiles.helpers import fields_of, headers_with_scopes
from tests.rfm.helpers import add_orders, make_profile, settle

DEFAULTS = {
    "purchaseWindowDays": 365,
    "engagementWindowDays": 365,
    "engagementEvents": ["email_opened", "email_clicked", "sms_clicked", "push_opened"],
    "schedule": "monthly",
    "thresholds": None,
}


def url(brand: UUID, path: str) -> str:
    return f"/v1/brands/{brand}/rfm{path}"


async def start(client: httpx.AsyncClient, world: World, **body: Any) -> dict[str, Any]:
    response = await client.post(
        url(world.brand_a.id, "/runs"), json=body, headers=world.manager_a.headers
    )
    assert response.status_code == 202, response.text
    run: dict[str, Any] = response.json()
    return run


async def test_settings_default_then_replace(client: httpx.AsyncClient, app: Litestar) -> None:
    world = await make_world(app)
    response = await client.get(url(world.brand_a.id, "/settings"), headers=world.viewer_a.headers)
    assert response.status_code == 200
    assert response.json() == DEFAULTS
    body = {
        "purchaseWindowDays": 730,
        "engagementEvents": ["email_opened", "push_opened"],
        "schedule": "weekly",
        "thresholds": {
            "purchase": {
                "recency": [7, 30, 90, 180],
                "frequency": [1, 2, 3, 5],
                "monetary": [10, 50.5, 100, 1000],
            }
        },
    }
    response = await client.put(
        url(world.brand_a.id, "/settings"), json=body, headers=world.manager_a.headers
    )
    assert response.status_code == 200, response.text
    stored = {**DEFAULTS, **body}
    stored["thresholds"] = {
        "purchase": {
            "recency": [7.0, 30.0, 90.0, 180.0],
            "frequency": [1.0, 2.0, 3.0, 5.0],
            "monetary": [10.0, 50.5, 100.0, 1000.0],
        },
        "engagement": None,
    }
    assert response.json() == stored
    again = await client.get(url(world.brand_a.id, "/settings"), headers=world.viewer_a.headers)
    assert again.json() == stored


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"purchaseWindowDays": 0}, "purchaseWindowDays"),
        ({"engagementWindowDays": 3651}, "engagementWindowDays"),
        ({"engagementEvents": []}, "engagementEvents"),
        ({"engagementEvents": ["email_opened", " "]}, "engagementEvents[1]"),
        (
            {
                "thresholds": {
                    "purchase": {
                        "recency": [1, 2, 3],
                        "frequency": [1, 2, 3, 4],
                        "monetary": [1, 2, 3, 4],
                    }
                }
            },
            "thresholds.purchase.recency",
        ),
        (
            {
                "thresholds": {
                    "engagement": {
                        "recency": [1, 2, 3, 4],
                        "frequency": [1, 3, 2, 4],
                        "monetary": [1, 2, 3, 4],
                    }
                }
            },
            "thresholds.engagement.frequency",
        ),
        (
            {
                "thresholds": {
                    "purchase": {
                        "recency": [1, 2, 3, 4],
                        "frequency": [1, 2, 3, 4],
                        "monetary": [5, 5, 6, 7],
                    }
                }
            },
            "thresholds.purchase.monetary",
        ),
        ({"schedule": "yearly"}, "schedule"),
        ({"purchaseWindowDays": "long"}, "purchaseWindowDays"),
        ({"windowDays": 30}, "windowDays"),
    ],
)
async def test_bad_settings_answer_422_naming_the_field_and_store_nothing(
    client: httpx.AsyncClient, app: Litestar, body: dict[str, Any], field: str
) -> None:
    world = await make_world(app)
    response = await client.put(
        url(world.brand_a.id, "/settings"),
        json={"schedule": "daily", **body},
        headers=world.manager_a.headers,
    )
    assert field in fields_of(problem(response, 422))
    stored = await client.get(url(world.brand_a.id, "/settings"), headers=world.viewer_a.headers)
    assert stored.json() == DEFAULTS


@pytest.mark.parametrize(
    "as_of",
    [
        # in the future (an id of its own: workers must collect the same test names)
        pytest.param((utcnow() + dt.timedelta(hours=1)).isoformat(), id="future"),
        pytest.param("2026-01-01T00:00:00", id="no-utc-offset"),
        pytest.param("yesterday", id="not-a-date"),
    ],
)
async def test_bad_as_of_answers_422_and_queues_nothing(
    client: httpx.AsyncClient, app: Litestar, as_of: str
) -> None:
    world = await make_world(app)
    response = await client.post(
        url(world.brand_a.id, "/runs"), json={"asOf": as_of}, headers=world.manager_a.headers
    )
    assert "asOf" in fields_of(problem(response, 422))
    runs = await client.get(url(world.brand_a.id, "/runs"), headers=world.viewer_a.headers)
    assert runs.json() == {"items": [], "nextCursor": None}


async def test_unknown_kind_answers_422(client: httpx.AsyncClient, app: Litestar) -> None:
    world = await make_world(app)
    response = await client.post(
        url(world.brand_a.id, "/runs"), json={"kind": "loyalty"}, headers=world.manager_a.headers
    )
    assert "kind" in fields_of(problem(response, 422))


@pytest.mark.worker
async def test_a_run_is_queued_then_scored_and_its_scores_read(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    now = utcnow()
    buyers = [await make_profile(app, brand, f"b{i}@example.test") for i in range(3)]
    for i, profile in enumerate(buyers):
        await add_orders(
            app,
            brand,
            profile,
            *[(now - dt.timedelta(days=10 * (i + 1) + k), "20") for k in range(i + 1)],
        )
    idle = await make_profile(app, brand, "idle@example.test")
    await settle(app)

    run = await start(client, world)
    assert run["status"] == "queued"
    assert (run["kind"], run["windowDays"], run["method"]) == ("purchase", 365, "quintiles")
    await run_jobs(app)
    done = await client.get(url(brand, f"/runs/{run['id']}"), headers=world.viewer_a.headers)
    body = done.json()
    assert (body["status"], body["scoredCount"], body["error"]) == ("succeeded", 3, None)
    assert body["cutPoints"]["frequency"] == [1.4, 1.8, 2.2, 2.6]

    page = await client.get(
        url(brand, "/scores"), params={"limit": 2}, headers=world.viewer_a.headers
    )
    first = page.json()
    assert len(first["items"]) == 2
    rest = await client.get(
        url(brand, "/scores"),
        params={"limit": 2, "cursor": first["nextCursor"]},
        headers=world.viewer_a.headers,
    )
    items = first["items"] + rest.json()["items"]
    assert rest.json()["nextCursor"] is None
    assert sorted(i["profileId"] for i in items) == sorted(str(b) for b in buyers)
    top = next(i for i in items if i["profileId"] == str(buyers[0]))
    assert (top["recencyDays"], top["frequency"], top["monetary"]) == (10, 1, "20.0000")
    assert (top["r"], top["f"], top["segment"]) == (5, 1, "New")
    lost = await client.get(
        url(brand, "/scores"), params={"segment": "Can't lose"}, headers=world.viewer_a.headers
    )
    assert [i["profileId"] for i in lost.json()["items"]] == [str(buyers[2])]
    by_run = await client.get(
        url(brand, "/scores"), params={"runId": run["id"]}, headers=world.viewer_a.headers
    )
    assert len(by_run.json()["items"]) == 3
    engagement = await client.get(
        url(brand, "/scores"), params={"kind": "engagement"}, headers=world.viewer_a.headers
    )
    assert engagement.json() == {"items": [], "nextCursor": None}

    mine = await client.get(
        f"/v1/brands/{brand}/profiles/{buyers[0]}/rfm", headers=world.viewer_a.headers
    )
    assert mine.status_code == 200, mine.text
    assert mine.json()["purchase"]["segment"] == "New"
    assert mine.json()["purchase"]["runId"] == run["id"]
    assert mine.json()["engagement"] is None
    assert mine.json()["history"][0]["runId"] == run["id"]  # newest first
    nothing = await client.get(
        f"/v1/brands/{brand}/profiles/{idle}/rfm", headers=world.viewer_a.headers
    )
    assert nothing.json() == {"purchase": None, "engagement": None, "history": []}

    listed = await client.get(url(brand, "/runs"), headers=world.viewer_a.headers)
    on_demand = [r["id"] for r in listed.json()["items"] if r["scheduledFor"] is None]
    assert on_demand == [run["id"]]


async def test_reads_need_segments_read_and_writes_segments_write(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    problem(await client.post(url(brand, "/runs"), json={}, headers=world.viewer_a.headers), 403)
    problem(await client.put(url(brand, "/settings"), json={}, headers=world.viewer_a.headers), 403)
    no_scope = await headers_with_scopes(app, world.manager_a, "profiles:read")
    problem(await client.get(url(brand, "/runs"), headers=no_scope), 403)
    read_only = await headers_with_scopes(app, world.manager_a, "segments:read")
    assert (await client.get(url(brand, "/runs"), headers=read_only)).status_code == 200
    problem(await client.post(url(brand, "/runs"), json={}, headers=read_only), 403)


async def test_another_brand_ids_answer_404_on_every_route(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    world = await make_world(app)
    theirs = await make_profile(app, world.brand_b.id, "theirs@example.test")
    await add_orders(app, world.brand_b.id, theirs, (utcnow() - dt.timedelta(days=1), "10"))
    response = await client.post(
        url(world.brand_b.id, "/runs"), json={}, headers=world.owner_b.headers
    )
    assert response.status_code == 202
    their_run = response.json()["id"]
    a, b = world.brand_a.id, world.brand_b.id
    headers = world.owner_a.headers
    # Brand A's caller naming brand B's objects under brand A.
    problem(await client.get(url(a, f"/runs/{their_run}"), headers=headers), 404)
    problem(await client.get(url(a, "/scores"), params={"runId": their_run}, headers=headers), 404)
    problem(await client.get(f"/v1/brands/{a}/profiles/{theirs}/rfm", headers=headers), 404)
    # Brand A's caller naming brand B itself.
    for method, path, body in (
        ("GET", "/settings", None),
        ("PUT", "/settings", {}),
        ("GET", "/runs", None),
        ("POST", "/runs", {}),
        ("GET", f"/runs/{their_run}", None),
        ("GET", "/scores", None),
    ):
        response = await client.request(method, url(b, path), json=body, headers=headers)
        problem(response, 404)
    problem(await client.get(f"/v1/brands/{b}/profiles/{theirs}/rfm", headers=headers), 404)
    # Nothing of brand B moved.
    runs = await client.get(url(b, "/runs"), headers=world.owner_b.headers)
    assert [r["id"] for r in runs.json()["items"]] == [their_run]
