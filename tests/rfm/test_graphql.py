"""GraphQL of RFM: settings replaced and read, a run started (expected failures as
`OperationError` naming the field), runs and scores as connections, a profile's scores, read
through the same services as REST; another brand's run is not found; a viewer cannot write."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

import httpx
import pytest
from litestar import Litestar

from backend.core.db import utcnow
from backend.rfm.models import RfmKind
from tests.factories import World, make_world, run_jobs
from tests.rfm.helpers import AS_OF, DAY, add_orders, make_profile, run_rfm, settle
from tests.test_graphql import gql, gql_data

START = """mutation($brand: ID!, $input: StartRfmRunInput!) {
  startRfmRun(brand: $brand, input: $input) {
    __typename
    ... on RfmRun { id uuid status kind }
    ... on OperationError { httpStatus detail fieldErrors { field pointer message } }
  } }"""
REPLACE = """mutation($brand: ID!, $input: ReplaceRfmSettingsInput!) {
  replaceRfmSettings(brand: $brand, input: $input) {
    __typename
    ... on RfmSettings { purchaseWindowDays engagementWindowDays engagementEvents schedule
                         thresholds { purchase { recency } engagement { recency } } }
    ... on OperationError { httpStatus detail fieldErrors { field pointer message } }
  } }"""
SETTINGS = """query($brand: ID!) {
  rfmSettings(brand: $brand) { purchaseWindowDays schedule thresholds { purchase { recency } } }
}"""
AXES = {"recency": [7, 30, 90, 180], "frequency": [1, 2, 3, 4], "monetary": [1, 2, 3, 4]}


async def test_settings_are_replaced_as_a_whole_and_read(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    defaults = await gql_data(client, SETTINGS, world.viewer_a, {"brand": brand})
    assert defaults["rfmSettings"]["thresholds"] is None
    good = {"purchaseWindowDays": 180, "schedule": "WEEKLY", "thresholds": {"purchase": AXES}}
    data = await gql_data(client, REPLACE, world.manager_a, {"brand": brand, "input": good})
    assert data["replaceRfmSettings"] == {
        "__typename": "RfmSettings",
        "purchaseWindowDays": 180,
        "engagementWindowDays": 365,  # left out: the default
        "engagementEvents": data["replaceRfmSettings"]["engagementEvents"],
        "schedule": "WEEKLY",
        "thresholds": {"purchase": {"recency": [7.0, 30.0, 90.0, 180.0]}, "engagement": None},
    }
    assert data["replaceRfmSettings"]["engagementEvents"]  # the default names
    read = await gql_data(client, SETTINGS, world.viewer_a, {"brand": brand})
    assert read["rfmSettings"] == {
        "purchaseWindowDays": 180,
        "schedule": "WEEKLY",
        "thresholds": {"purchase": {"recency": [7.0, 30.0, 90.0, 180.0]}},
    }
    rest = await client.get(f"/v1/brands/{brand}/rfm/settings", headers=world.viewer_a.headers)
    assert rest.json()["thresholds"]["purchase"]["recency"] == [7.0, 30.0, 90.0, 180.0]


@pytest.mark.parametrize(
    ("input", "field"),
    [
        ({"purchaseWindowDays": 0}, "purchaseWindowDays"),
        ({"engagementWindowDays": 99999}, "engagementWindowDays"),
        ({"engagementEvents": []}, "engagementEvents"),
        ({"thresholds": {"purchase": {**AXES, "recency": [3, 2, 1, 0]}}}, "thresholds"),
        ({"thresholds": {"purchase": {**AXES, "monetary": [1, 2]}}}, "thresholds"),
    ],
)
async def test_bad_settings_name_their_field_and_store_nothing(
    app: Litestar, client: httpx.AsyncClient, input: dict[str, Any], field: str
) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    data = await gql_data(client, REPLACE, world.manager_a, {"brand": brand, "input": input})
    error = data["replaceRfmSettings"]
    assert (error["__typename"], error["httpStatus"]) == ("OperationError", 422)
    fields = [item["field"] or "" for item in error["fieldErrors"]]
    assert any(name.startswith(field) for name in fields), error
    read = await gql_data(client, SETTINGS, world.viewer_a, {"brand": brand})
    assert read["rfmSettings"]["purchaseWindowDays"] == 365  # nothing stored


@pytest.mark.parametrize(
    ("as_of", "field"),
    [
        ("2999-01-01T00:00:00+00:00", "asOf"),  # in the future
        ("2026-01-01T00:00:00", "asOf"),  # no UTC offset
    ],
)
async def test_a_bad_run_is_an_operation_error_naming_the_field(
    app: Litestar, client: httpx.AsyncClient, as_of: str, field: str
) -> None:
    world = await make_world(app)
    data = await gql_data(
        client,
        START,
        world.manager_a,
        {"brand": str(world.brand_a.id), "input": {"asOf": as_of}},
    )
    error = data["startRfmRun"]
    assert (error["__typename"], error["httpStatus"]) == ("OperationError", 422)
    assert [item["field"] for item in error["fieldErrors"]] == [field], error


RUNS = """query($brand: ID!, $after: String, $kind: RfmKind) {
  rfmRuns(brand: $brand, first: 1, after: $after, kind: $kind) {
    nodes { id uuid kind status scoredCount } totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor } } }"""
SCORES = """query($brand: ID!, $after: String, $runId: ID, $segment: String) {
  rfmScores(brand: $brand, first: 2, after: $after, runId: $runId, segment: $segment) {
    edges { cursor node { profileId runId monetary segment } }
    pageInfo { hasNextPage endCursor } } }"""


async def _pages(
    client: httpx.AsyncClient,
    person: Any,
    query: str,
    name: str,
    variables: dict[str, Any],
) -> tuple[int, list[dict[str, Any]]]:
    """Every node of a connection, page after page, and how many pages there were."""
    found: list[dict[str, Any]] = []
    after: str | None = None
    for pages in range(1, 20):
        data = await gql_data(client, query, person, {**variables, "after": after})
        connection = data[name]
        found += connection.get("nodes") or [e["node"] for e in connection.get("edges", [])]
        if not connection["pageInfo"]["hasNextPage"]:
            return pages, found
        after = connection["pageInfo"]["endCursor"]
    raise AssertionError("more pages than items")


async def _scored_brand(app: Litestar, world: World) -> tuple[list[UUID], UUID, UUID]:
    """Three profiles with orders, scored by two purchase runs and one engagement run."""
    brand = world.brand_a.id
    profiles = [await make_profile(app, brand, f"p{i}@example.test") for i in range(3)]
    for i, profile in enumerate(profiles):
        await add_orders(app, brand, profile, (AS_OF - (i + 1) * 10 * DAY, f"{10 * (i + 1)}.5"))
    first = await run_rfm(app, brand, as_of=AS_OF)
    second = await run_rfm(app, brand, as_of=AS_OF + DAY)
    await run_rfm(app, brand, kind=RfmKind.ENGAGEMENT)
    return profiles, first.id, second.id


async def test_runs_and_scores_are_listed_a_page_at_a_time(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    profiles, first, second = await _scored_brand(app, world)

    pages, runs = await _pages(client, world.viewer_a, RUNS, "rfmRuns", {"brand": brand})
    assert pages == 3
    assert [(r["uuid"], r["kind"]) for r in runs[:2]] == [
        (str(first), "PURCHASE"),
        (str(second), "PURCHASE"),
    ]
    assert runs[2]["kind"] == "ENGAGEMENT"
    assert all(r["id"] != r["uuid"] and r["status"] == "SUCCEEDED" for r in runs)
    purchase = await gql_data(
        client, RUNS, world.viewer_a, {"brand": brand, "kind": "PURCHASE", "after": None}
    )
    assert purchase["rfmRuns"]["totalCount"] == 2

    # The current run's scores by default, another run's by its id (either form).
    cases = [({}, second), ({"runId": str(first)}, first), ({"runId": runs[0]["id"]}, first)]
    for variables, run in cases:
        pages, scores = await _pages(
            client, world.viewer_a, SCORES, "rfmScores", {"brand": brand, **variables}
        )
        assert pages == 2
        assert sorted(UUID(s["profileId"]) for s in scores) == sorted(profiles)
        assert {s["runId"] for s in scores} == {str(run)}
    assert len(cases) == 3

    read = await gql_data(
        client,
        """query($brand: ID!, $id: ID!) {
          rfmRun(brand: $brand, id: $id) { uuid kind scoredCount cutPoints { recency } }
          node(id: $id, brand: $brand) { __typename ... on RfmRun { uuid } } }""",
        world.viewer_a,
        {"brand": brand, "id": runs[1]["id"]},
    )
    assert read["rfmRun"]["uuid"] == str(second)
    assert read["rfmRun"]["scoredCount"] == 3
    assert len(read["rfmRun"]["cutPoints"]["recency"]) == 4
    assert read["node"] == {"__typename": "RfmRun", "uuid": str(second)}

    profile = await gql_data(
        client,
        """query($brand: ID!, $profile: ID!) { profileRfm(brand: $brand, profileId: $profile) {
             purchase { kind runId asOf segment } engagement { kind }
             history { runId kind } } }""",
        world.viewer_a,
        {"brand": brand, "profile": str(profiles[0])},
    )
    rfm = profile["profileRfm"]
    assert (rfm["purchase"]["kind"], rfm["purchase"]["runId"]) == ("PURCHASE", str(second))
    assert rfm["engagement"] is None  # no events: not scored by the engagement run
    assert [h["runId"] for h in rfm["history"]] == [str(second), str(first)]  # newest first


async def test_another_brands_runs_are_not_found(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    _, first, _ = await _scored_brand(app, world)
    theirs = str(world.brand_b.id)
    data = await gql_data(
        client,
        """query($brand: ID!, $id: ID!) {
          rfmRun(brand: $brand, id: $id) { uuid }
          rfmRuns(brand: $brand) { nodes { uuid } totalCount }
          rfmScores(brand: $brand) { nodes { profileId } } }""",
        world.owner_b,
        {"brand": theirs, "id": str(first)},
    )
    assert data["rfmRun"] is None
    assert data["rfmRuns"] == {"nodes": [], "totalCount": 0}
    assert data["rfmScores"] == {"nodes": []}
    named = await gql(
        client,
        "query($brand: ID!, $id: ID!) { rfmScores(brand: $brand, runId: $id) { nodes { r } } }",
        world.owner_b,
        {"brand": theirs, "id": str(first)},
    )
    assert named["data"] is None  # brand A's run is not one of brand B's
    assert named["errors"][0]["extensions"]["code"] == "not-found"
    # Brand A is out of brand B's owner's reach: an error, for reads and writes alike.
    cases = [
        (RUNS, {"after": None}),
        (START, {"input": {}}),
        (REPLACE, {"input": {"purchaseWindowDays": 30}}),
    ]
    for query, variables in cases:
        body = await gql(
            client, query, world.owner_b, {"brand": str(world.brand_a.id), **variables}
        )
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "not-found"
    assert len(cases) == 3


@pytest.mark.parametrize(("query", "input"), [(START, {}), (REPLACE, {"purchaseWindowDays": 30})])
async def test_a_viewer_cannot_start_a_run_or_replace_settings(
    app: Litestar, client: httpx.AsyncClient, query: str, input: dict[str, Any]
) -> None:
    world = await make_world(app)
    body = await gql(
        client, query, world.viewer_a, {"brand": str(world.brand_a.id), "input": input}
    )
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] in {"forbidden", "insufficient-scope"}


@pytest.mark.worker
async def test_a_run_started_over_graphql_is_scored_in_the_background(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    profile = await make_profile(app, world.brand_a.id, "gql@example.test")
    await add_orders(app, world.brand_a.id, profile, (utcnow() - dt.timedelta(days=3), "42.5"))
    await settle(app)
    started = await gql_data(client, START, world.manager_a, {"brand": brand, "input": {}})
    run = started["startRfmRun"]
    assert (run["__typename"], run["status"], run["kind"]) == ("RfmRun", "QUEUED", "PURCHASE")
    await run_jobs(app)
    data = await gql_data(
        client,
        """query($brand: ID!, $id: ID!) {
          rfmRun(brand: $brand, id: $id) { status scoredCount cutPoints { recency } }
          rfmScores(brand: $brand) { nodes { profileId recencyDays monetary r f m segment } } }""",
        world.viewer_a,
        {"brand": brand, "id": run["id"]},
    )
    assert data["rfmRun"] == {
        "status": "SUCCEEDED",
        "scoredCount": 1,
        "cutPoints": {"recency": [3.0] * 4},
    }
    assert data["rfmScores"]["nodes"] == [
        {
            "profileId": str(profile),
            "recencyDays": 3,
            "monetary": "42.5000",
            "r": 1,
            "f": 1,
            "m": 1,
            "segment": "Lost",
        }
    ]
