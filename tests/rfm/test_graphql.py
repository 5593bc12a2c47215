"""GraphQL: settings, starting a run (expected failures as OperationError), runs, scores and a
profile's scores, read through the same services as REST; another brand answers an error."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from litestar import Litestar

from backend.core.db import utcnow
from tests.factories import make_world, run_jobs
from tests.rfm.helpers import add_orders, make_profile, settle
from tests.test_graphql import gql, gql_data

START = """mutation($brand: ID!, $asOf: DateTime) {
  startRfmRun(brand: $brand, kind: PURCHASE, asOf: $asOf) {
    __typename
    ... on RfmRun { id status kind }
    ... on OperationError { httpStatus detail type }
  } }"""
SETTINGS = """mutation($brand: ID!, $input: RfmSettingsInput!) {
  updateRfmSettings(brand: $brand, input: $input) {
    __typename
    ... on RfmSettings { purchaseWindowDays schedule purchaseThresholds { recency } }
    ... on OperationError { httpStatus detail }
  } }"""


async def test_settings_mutation_replaces_and_refuses_bad_thresholds(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    good = {
        "purchaseWindowDays": 180,
        "schedule": "WEEKLY",
        "purchaseThresholds": {
            "recency": [7, 30, 90, 180],
            "frequency": [1, 2, 3, 4],
            "monetary": [1, 2, 3, 4],
        },
    }
    data = await gql_data(client, SETTINGS, world.manager_a, {"brand": brand, "input": good})
    assert data["updateRfmSettings"] == {
        "__typename": "RfmSettings",
        "purchaseWindowDays": 180,
        "schedule": "WEEKLY",
        "purchaseThresholds": {"recency": [7.0, 30.0, 90.0, 180.0]},
    }
    bad = {**good, "purchaseThresholds": {**good["purchaseThresholds"], "recency": [3, 2, 1, 0]}}
    data = await gql_data(client, SETTINGS, world.manager_a, {"brand": brand, "input": bad})
    assert data["updateRfmSettings"]["__typename"] == "OperationError"
    assert data["updateRfmSettings"]["httpStatus"] == 422
    read = await gql_data(
        client,
        "query($brand: ID!) { rfmSettings(brand: $brand) { purchaseWindowDays } }",
        world.viewer_a,
        {"brand": brand},
    )
    assert read["rfmSettings"]["purchaseWindowDays"] == 180  # the refused change stored nothing


async def test_a_future_as_of_is_an_operation_error(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    future = (utcnow() + dt.timedelta(days=1)).isoformat()
    data = await gql_data(
        client, START, world.manager_a, {"brand": str(world.brand_a.id), "asOf": future}
    )
    assert data["startRfmRun"]["__typename"] == "OperationError"
    assert data["startRfmRun"]["httpStatus"] == 422


@pytest.mark.worker
async def test_start_a_run_then_read_runs_scores_and_a_profile(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    profile = await make_profile(app, world.brand_a.id, "gql@example.test")
    await add_orders(app, world.brand_a.id, profile, (utcnow() - dt.timedelta(days=3), "42.5"))
    await settle(app)
    started = await gql_data(client, START, world.manager_a, {"brand": brand})
    run = started["startRfmRun"]
    assert (run["__typename"], run["status"], run["kind"]) == ("RfmRun", "QUEUED", "PURCHASE")
    await run_jobs(app)
    query = """query($brand: ID!, $id: ID!, $profile: ID!) {
      rfmRun(brand: $brand, id: $id) { status scoredCount cutPoints { recency } }
      rfmRuns(brand: $brand) { items { id scheduledFor } nextCursor }
      rfmScores(brand: $brand) { items { profileId recencyDays monetary r f m segment } }
      profileRfm(brand: $brand, profileId: $profile) {
        purchase { kind score { segment runId } } engagement { kind } history { score { runId } } }
    }"""
    data = await gql_data(
        client, query, world.viewer_a, {"brand": brand, "id": run["id"], "profile": str(profile)}
    )
    assert data["rfmRun"] == {
        "status": "SUCCEEDED",
        "scoredCount": 1,
        "cutPoints": {"recency": [3.0] * 4},
    }
    on_demand = [r["id"] for r in data["rfmRuns"]["items"] if r["scheduledFor"] is None]
    assert on_demand == [run["id"]]
    assert data["rfmScores"]["items"] == [
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
    assert data["profileRfm"]["purchase"] == {
        "kind": "PURCHASE",
        "score": {"segment": "Lost", "runId": run["id"]},
    }
    assert data["profileRfm"]["engagement"] is None
    assert data["profileRfm"]["history"][0]["score"]["runId"] == run["id"]  # newest first


async def test_another_brand_is_out_of_reach(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    theirs = str(world.brand_b.id)
    body = await gql(
        client,
        "query($brand: ID!) { rfmRuns(brand: $brand) { nextCursor } }",
        world.owner_a,
        {"brand": theirs},
    )
    assert body["errors"]
    data = await gql_data(client, START, world.owner_a, {"brand": theirs})
    assert data["startRfmRun"]["__typename"] == "OperationError"
    assert data["startRfmRun"]["httpStatus"] == 404
