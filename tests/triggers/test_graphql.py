"""GraphQL of triggers: definitions created, read, changed and deleted; definitions and
occurrences listed as connections; a bad input is an `OperationError` naming its field; another
brand's trigger is not found; a viewer cannot define one."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest
from litestar import Litestar

from tests.factories import World, make_world
from tests.test_graphql import gql, gql_data
from tests.triggers.helpers import make_profile
from tests.triggers.test_occurrences import raise_one

TRIGGER_FIELDS = """__typename
    ... on Trigger { id uuid key label kind enabled dateField offsetDays localTime yearly
                     eventName propertyEquals delayMinutes }
    ... on OperationError { httpStatus detail fieldErrors { field pointer message } }"""
CREATE = f"""mutation($brand: ID!, $input: CreateTriggerInput!) {{
  createTrigger(brand: $brand, input: $input) {{ {TRIGGER_FIELDS} }} }}"""
UPDATE = f"""mutation($brand: ID!, $input: UpdateTriggerInput!) {{
  updateTrigger(brand: $brand, input: $input) {{ {TRIGGER_FIELDS} }} }}"""
DELETE = """mutation($brand: ID!, $input: TriggerIdInput!) {
  deleteTrigger(brand: $brand, input: $input) {
    __typename ... on Deleted { id } ... on OperationError { httpStatus } } }"""
READ = """query($brand: ID!, $id: ID!) {
  trigger(brand: $brand, id: $id) { key label enabled }
  node(id: $id, brand: $brand) { __typename id ... on Trigger { key } } }"""
LIST = """query($brand: ID!, $after: String) {
  triggers(brand: $brand, first: 1, after: $after) {
    nodes { key } totalCount pageInfo { hasNextPage hasPreviousPage endCursor } } }"""

BIRTHDAY = {
    "key": "birthday",
    "label": "Birthday",
    "kind": "DATE_ATTRIBUTE",
    "dateField": "birth_date",
    "yearly": True,
    "localTime": "08:30:00",
}
VIEWED = {
    "key": "viewed_shoes",
    "label": "Viewed shoes",
    "kind": "EVENT",
    "eventName": "product_viewed",
    "propertyEquals": {"category": "shoes"},
}


async def _create(client: httpx.AsyncClient, world: World, input: dict[str, Any]) -> dict[str, Any]:
    data = await gql_data(
        client, CREATE, world.manager_a, {"brand": str(world.brand_a.id), "input": input}
    )
    created: dict[str, Any] = data["createTrigger"]
    assert created["__typename"] == "Trigger", created
    return created


async def test_a_trigger_is_created_read_changed_and_deleted(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    created = await _create(client, world, BIRTHDAY)
    assert {k: created[k] for k in ("key", "kind", "dateField", "offsetDays", "localTime")} == {
        "key": "birthday",
        "kind": "DATE_ATTRIBUTE",
        "dateField": "birth_date",
        "offsetDays": 0,
        "localTime": "08:30:00",
    }
    assert (created["yearly"], created["enabled"], created["eventName"]) == (True, True, None)
    assert created["id"] != created["uuid"]  # the global id is opaque

    # REST shows the same trigger under its uuid.
    rest = await client.get(
        f"/v1/brands/{brand}/triggers/{created['uuid']}", headers=world.viewer_a.headers
    )
    assert rest.status_code == 200
    assert (rest.json()["key"], rest.json()["localTime"]) == ("birthday", "08:30:00")

    for id in (created["uuid"], created["id"]):  # either form names it (`node` the global id)
        read = await gql_data(client, READ, world.viewer_a, {"brand": brand, "id": id})
        assert read["trigger"] == {"key": "birthday", "label": "Birthday", "enabled": True}
    assert read["node"] == {"__typename": "Trigger", "id": created["id"], "key": "birthday"}

    changed = await gql_data(
        client,
        UPDATE,
        world.manager_a,
        {"brand": brand, "input": {"id": created["id"], "enabled": False, "offsetDays": -2}},
    )
    assert changed["updateTrigger"]["enabled"] is False
    assert changed["updateTrigger"]["offsetDays"] == -2
    assert changed["updateTrigger"]["label"] == "Birthday"  # absent: kept

    deleted = await gql_data(
        client, DELETE, world.manager_a, {"brand": brand, "input": {"id": created["id"]}}
    )
    assert deleted["deleteTrigger"] == {"__typename": "Deleted", "id": created["id"]}
    gone = await gql_data(client, READ, world.viewer_a, {"brand": brand, "id": created["id"]})
    assert gone == {"trigger": None, "node": None}
    again = await gql_data(
        client, DELETE, world.manager_a, {"brand": brand, "input": {"id": created["id"]}}
    )
    assert again["deleteTrigger"] == {"__typename": "OperationError", "httpStatus": 404}


async def test_triggers_are_listed_a_page_at_a_time(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    await _create(client, world, BIRTHDAY)
    event = await _create(client, world, VIEWED)
    assert event["propertyEquals"] == {"category": "shoes"}

    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        data = await gql_data(client, LIST, world.viewer_a, {"brand": brand, "after": after})
        page = data["triggers"]
        pages += 1
        assert page["totalCount"] == 2
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        seen += [node["key"] for node in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert (pages, seen) == (2, ["birthday", "viewed_shoes"])


@pytest.mark.parametrize(
    ("input", "field", "status"),
    [
        ({**BIRTHDAY, "key": "Not A Key"}, "key", 422),
        ({"key": "ev", "label": "Ev", "kind": "EVENT"}, "eventName", 422),
        ({**BIRTHDAY, "delayMinutes": 5}, "delayMinutes", 422),
        ({**BIRTHDAY, "dateField": "no_such_attribute"}, "dateField", 422),
        ({"key": "idle", "label": "Idle", "kind": "INACTIVITY", "inactivityDays": 0},
         "inactivityDays", 422),
        ({**BIRTHDAY, "label": ""}, "label", 422),
    ],
)  # fmt: skip
async def test_a_bad_trigger_input_names_its_field(
    app: Litestar, client: httpx.AsyncClient, input: dict[str, Any], field: str, status: int
) -> None:
    world = await make_world(app)
    data = await gql_data(
        client, CREATE, world.manager_a, {"brand": str(world.brand_a.id), "input": input}
    )
    error = data["createTrigger"]
    assert (error["__typename"], error["httpStatus"]) == ("OperationError", status)
    assert field in [item["field"] for item in error["fieldErrors"]], error


async def test_a_bad_change_names_its_field_and_a_taken_key_conflicts(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    created = await _create(client, world, BIRTHDAY)
    changed = await gql_data(
        client,
        UPDATE,
        world.manager_a,
        {"brand": brand, "input": {"id": created["id"], "offsetDays": 99999}},
    )
    error = changed["updateTrigger"]
    assert (error["__typename"], error["httpStatus"]) == ("OperationError", 422)
    assert [item["field"] for item in error["fieldErrors"]] == ["offsetDays"]
    twice = await gql_data(client, CREATE, world.manager_a, {"brand": brand, "input": BIRTHDAY})
    assert twice["createTrigger"]["httpStatus"] == 409
    assert [item["field"] for item in twice["createTrigger"]["fieldErrors"]] == ["key"]


async def test_another_brands_trigger_is_not_found(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = await _create(client, world, BIRTHDAY)
    theirs = str(world.brand_b.id)
    read = await gql_data(client, READ, world.owner_b, {"brand": theirs, "id": created["id"]})
    assert read == {"trigger": None, "node": None}
    listed = await gql_data(client, LIST, world.owner_b, {"brand": theirs})
    assert listed["triggers"]["nodes"] == []
    assert listed["triggers"]["totalCount"] == 0
    cases = [
        (UPDATE, "updateTrigger", {"id": created["id"], "label": "Mine"}),
        (DELETE, "deleteTrigger", {"id": created["id"]}),
    ]
    for mutation, name, input in cases:
        data = await gql_data(client, mutation, world.owner_b, {"brand": theirs, "input": input})
        assert data[name]["__typename"] == "OperationError"
        assert data[name]["httpStatus"] == 404
    assert len(cases) == 2
    # Brand A itself is out of brand B's owner's reach: an error, no data.
    body = await gql(client, LIST, world.owner_b, {"brand": str(world.brand_a.id)})
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "not-found"
    still = await gql_data(
        client, READ, world.viewer_a, {"brand": str(world.brand_a.id), "id": created["id"]}
    )
    assert still["trigger"]["label"] == "Birthday"


@pytest.mark.parametrize(
    ("mutation", "input"),
    [(CREATE, BIRTHDAY), (DELETE, {"id": "00000000-0000-0000-0000-000000000000"})],
)
async def test_a_viewer_cannot_change_triggers(
    app: Litestar, client: httpx.AsyncClient, mutation: str, input: dict[str, Any]
) -> None:
    world = await make_world(app)
    body = await gql(
        client, mutation, world.viewer_a, {"brand": str(world.brand_a.id), "input": input}
    )
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] in {"forbidden", "insufficient-scope"}


OCCURRENCES = """query($brand: ID!, $type: String, $profile: ID, $after: String) {
  triggerOccurrences(brand: $brand, type: $type, profileId: $profile, first: 2, after: $after) {
    edges { cursor node { id uuid type dedupeKey profileId payload } }
    pageInfo { hasNextPage endCursor } } }"""
PROFILE_OCCURRENCES = """query($brand: ID!, $profile: ID!, $type: String) {
  profileTriggerOccurrences(brand: $brand, profileId: $profile, type: $type) {
    nodes { type dedupeKey profileId } pageInfo { hasNextPage } } }"""


async def _occurrences(
    client: httpx.AsyncClient, world: World, brand: UUID, **variables: Any
) -> list[dict[str, Any]]:
    """Every occurrence the filter finds, page after page."""
    nodes: list[dict[str, Any]] = []
    after: str | None = None
    for _ in range(10):
        data = await gql_data(
            client,
            OCCURRENCES,
            world.viewer_a if brand == world.brand_a.id else world.owner_b,
            {"brand": str(brand), "after": after, **variables},
        )
        page = data["triggerOccurrences"]
        nodes += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]
    raise AssertionError("more pages than occurrences")


async def test_occurrences_are_listed_a_page_at_a_time_within_the_brand(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    ada = await make_profile(app, brand, email="ada@example.test")
    bob = await make_profile(app, brand, email="bob@example.test")
    for profile, type, key in [
        (ada, "birthday", "a1"),
        (ada, "birthday", "a2"),
        (bob, "birthday", "b1"),
        (ada, "welcome", "w"),
    ]:
        assert await raise_one(app, brand, profile, type, key, "2027-01-01T09:00:00")

    everything = await _occurrences(client, world, brand)
    assert len(everything) == 4
    assert everything[0]["id"] != everything[0]["uuid"]
    cases = [
        ({"type": "birthday"}, [("a1", ada), ("a2", ada), ("b1", bob)]),
        ({"profile": str(ada)}, [("a1", ada), ("a2", ada), ("w", ada)]),
        ({"type": "welcome", "profile": str(bob)}, []),
    ]
    for variables, expected in cases:
        found = await _occurrences(client, world, brand, **variables)
        assert sorted((o["dedupeKey"], UUID(o["profileId"])) for o in found) == expected
    assert len(cases) == 3

    node = await gql_data(
        client,
        "query($brand: ID!, $id: ID!) { node(id: $id, brand: $brand) "
        "{ __typename ... on TriggerOccurrence { dedupeKey payload } } }",
        world.viewer_a,
        {"brand": str(brand), "id": everything[0]["id"]},
    )
    assert node["node"]["__typename"] == "TriggerOccurrence"
    assert node["node"]["payload"] == {"key": node["node"]["dedupeKey"]}

    mine = await gql_data(
        client,
        PROFILE_OCCURRENCES,
        world.viewer_a,
        {"brand": str(brand), "profile": str(bob)},
    )
    assert mine["profileTriggerOccurrences"] == {
        "nodes": [{"type": "birthday", "dedupeKey": "b1", "profileId": str(bob)}],
        "pageInfo": {"hasNextPage": False},
    }

    assert await _occurrences(client, world, world.brand_b.id) == []
    theirs = await gql(
        client,
        PROFILE_OCCURRENCES,
        world.owner_b,
        {"brand": str(world.brand_b.id), "profile": str(ada)},
    )
    assert theirs["data"] is None
    assert theirs["errors"][0]["extensions"]["code"] == "not-found"


async def test_a_bad_occurrence_window_is_an_error_naming_the_field(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    body = await gql(
        client,
        """query($brand: ID!) { triggerOccurrences(brand: $brand,
             occurredFrom: "2027-01-02T00:00:00+00:00", occurredUntil: "2027-01-01T00:00:00+00:00")
             { nodes { id } } }""",
        world.viewer_a,
        {"brand": str(world.brand_a.id)},
    )
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["status"] == 422
