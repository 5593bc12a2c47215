"""GraphQL of events: sending (one, or a batch with an outcome per event as REST), the brand's
events and a profile's timeline as connections, carts, event types (a `Node`) and settings;
bad input is an `OperationError` naming the field; a NUL is refused as REST refuses it; other
brands see nothing; a viewer cannot write; a profile's latest events load through one query per
page of profiles."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from litestar import Litestar

from tests.events.helpers import event, send_batch
from tests.factories import World, make_world, statements_of
from tests.profiles.helpers import create_profile, headers_with_scopes
from tests.test_graphql import gql, gql_data, post_graphql

ERROR = "... on OperationError { httpStatus detail fieldErrors { field pointer message } }"
SEND = f"""mutation($brand: ID!, $input: SendEventInput!) {{
  sendEvent(brand: $brand, input: $input) {{
    __typename
    ... on EventOutcome {{ index eventId outcome id profileId }}
    {ERROR} }} }}"""
SEND_MANY = f"""mutation($brand: ID!, $input: SendEventsInput!) {{
  sendEvents(brand: $brand, input: $input) {{
    __typename
    ... on EventBatch {{ accepted duplicates rejected
      results {{ index eventId outcome profileId reason errors }} }}
    {ERROR} }} }}"""
CREATE_TYPE = f"""mutation($brand: ID!, $input: CreateEventTypeInput!) {{
  createEventType(brand: $brand, input: $input) {{
    __typename
    ... on EventType {{ id uuid name description propertiesSchema }}
    {ERROR} }} }}"""
UPDATE_SETTINGS = f"""mutation($brand: ID!, $input: UpdateEventSettingsInput!) {{
  updateEventSettings(brand: $brand, input: $input) {{
    __typename
    ... on EventSettings {{ createUnknownProfiles requireDeclaredTypes maxFutureSkewSeconds }}
    {ERROR} }} }}"""
EVENTS = """query($brand: ID!, $first: Int, $after: String, $name: String) {
  events(brand: $brand, first: $first, after: $after, name: $name) {
    edges { cursor node { eventId name profileId properties receivedAt } }
    pageInfo { hasNextPage hasPreviousPage endCursor } } }"""


def brand(world: World) -> str:
    return str(world.brand_a.id)


async def test_events_are_sent_one_at_a_time_and_in_batches(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profile = await create_profile(client, world, email="a@example.com")
    one = {"eventId": "e1", "name": "page_viewed", "profileId": profile["id"]}
    first = await gql_data(client, SEND, world.manager_a, {"brand": brand(world), "input": one})
    again = await gql_data(client, SEND, world.manager_a, {"brand": brand(world), "input": one})
    assert first["sendEvent"]["outcome"] == "ACCEPTED"
    assert first["sendEvent"]["profileId"] == profile["id"]
    assert again["sendEvent"]["outcome"] == "DUPLICATE"
    assert again["sendEvent"]["id"] == first["sendEvent"]["id"]

    batch = [
        {"eventId": "b1", "name": "signed_up", "email": "new@example.com"},
        {"eventId": "b2", "name": "not a name", "profileId": profile["id"]},
        {"eventId": "e1", "name": "page_viewed", "profileId": profile["id"]},
        {"eventId": "b3", "name": "page_viewed", "email": "not-an-email"},
    ]
    data = await gql_data(
        client, SEND_MANY, world.manager_a, {"brand": brand(world), "input": {"events": batch}}
    )
    answer = data["sendEvents"]
    assert (answer["accepted"], answer["duplicates"], answer["rejected"]) == (1, 1, 2)
    expected = [("b1", "ACCEPTED"), ("b2", "REJECTED"), ("e1", "DUPLICATE"), ("b3", "REJECTED")]
    assert [(r["eventId"], r["outcome"]) for r in answer["results"]] == expected
    assert [r["index"] for r in answer["results"]] == [0, 1, 2, 3]
    assert answer["results"][1]["errors"][0]["field"] == "name"
    assert answer["results"][3]["errors"][0]["field"] == "email"

    # The same events read back through REST.
    response = await client.get(
        f"/v1/brands/{world.brand_a.id}/events", headers=world.viewer_a.headers
    )
    assert sorted(e["eventId"] for e in response.json()["items"]) == ["b1", "e1"]


@pytest.mark.parametrize(
    ("mutation", "field", "given", "status", "field_at_fault"),
    [
        (SEND, "sendEvent", {"eventId": "x", "name": "bad name!"}, 422, "name"),
        (SEND, "sendEvent", {"eventId": "x", "name": "ok"}, 422, "profileId"),
        (SEND, "sendEvent", {"eventId": "x", "name": "ok", "email": "nope"}, 422, "email"),
        (
            SEND,
            "sendEvent",
            {"eventId": "x", "name": "ok", "email": "a@example.com",
             "occurredAt": "2999-01-01T00:00:00Z"},
            422,
            "occurredAt",
        ),
        (CREATE_TYPE, "createEventType", {"name": "9starts_with_a_digit"}, 422, "name"),
        (
            CREATE_TYPE,
            "createEventType",
            {"name": "ok", "propertiesSchema": {"type": "nonsense"}},
            422,
            "propertiesSchema",
        ),
        (UPDATE_SETTINGS, "updateEventSettings", {"maxFutureSkewSeconds": -1}, 422,
         "maxFutureSkewSeconds"),
    ],
)  # fmt: skip
async def test_bad_input_is_an_operation_error_naming_the_field(
    app: Litestar,
    client: httpx.AsyncClient,
    mutation: str,
    field: str,
    given: dict[str, Any],
    status: int,
    field_at_fault: str,
) -> None:
    world = await make_world(app)
    data = await gql_data(
        client, mutation, world.manager_a, {"brand": brand(world), "input": given}
    )
    error = data[field]
    assert (error["__typename"], error["httpStatus"]) == ("OperationError", status)
    assert field_at_fault in [e["field"] for e in error["fieldErrors"]], error


async def test_a_batch_past_the_limit_is_refused_whole(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    events = [{"eventId": f"e{i}", "name": "x", "email": "a@example.com"} for i in range(1001)]
    data = await gql_data(
        client, SEND_MANY, world.manager_a, {"brand": brand(world), "input": {"events": events}}
    )
    assert data["sendEvents"]["httpStatus"] == 413
    assert data["sendEvents"]["fieldErrors"][0]["field"] == "events"


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        # A NUL in the variables: refused at the edge, naming the field, as REST refuses it.
        (SEND, {"input": {"eventId": "n", "name": "x", "email": "a@example.com",
                          "properties": {"note": "a\u0000b"}}}),
        (SEND_MANY, {"input": {"events": [{"eventId": "n", "name": "x",
                                           "email": "a@example.com",
                                           "properties": {"note": "a\u0000b"}}]}}),
        # A NUL written in the document's own string literal.
        ('mutation($brand: ID!) { sendEvent(brand: $brand, input: {eventId: "n", name: "x", '
         'email: "a@example.com", properties: {note: "a\\u0000b"}}) { __typename } }', {}),
    ],
)  # fmt: skip
async def test_a_nul_in_an_event_is_refused_like_rest(
    app: Litestar, client: httpx.AsyncClient, query: str, variables: dict[str, Any]
) -> None:
    world = await make_world(app)
    rest = await client.post(
        f"/v1/brands/{world.brand_a.id}/events",
        json={"eventId": "n", "name": "x", "email": "a@example.com",
              "properties": {"note": "a\u0000b"}},
        headers=world.manager_a.headers,
    )  # fmt: skip
    assert rest.status_code == 422
    assert rest.json()["errors"][0]["field"] == "properties.note"
    response = await post_graphql(
        client, query, world.manager_a, {"brand": brand(world), **variables}
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "invalid-input"
    field = body["errors"][0]["extensions"]["errors"][0]["field"]
    assert field.endswith("properties.note") or field == "query"
    listed = await client.get(
        f"/v1/brands/{world.brand_a.id}/events", headers=world.viewer_a.headers
    )
    assert listed.json()["items"] == []


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
    variables: dict[str, Any] = {"brand": brand(world), "first": 2, "name": "page_viewed"}
    first = (await gql_data(client, EVENTS, world.viewer_a, variables))["events"]
    assert [e["node"]["eventId"] for e in first["edges"]] == ["e3", "e2"]
    assert first["edges"][0]["node"]["properties"] == {"day": 3}
    assert first["edges"][0]["node"]["profileId"] == profile["id"]
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["hasPreviousPage"] is False
    assert first["pageInfo"]["endCursor"] == first["edges"][-1]["cursor"]
    variables["after"] = first["pageInfo"]["endCursor"]
    second = (await gql_data(client, EVENTS, world.viewer_a, variables))["events"]
    assert [e["node"]["eventId"] for e in second["edges"]] == ["e1"]
    assert second["pageInfo"]["hasNextPage"] is False
    assert second["pageInfo"]["hasPreviousPage"] is True


async def test_a_profiles_timeline_and_carts(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    profile = await create_profile(client, world, email="a@example.com")
    items = [{"product": "SKU-1", "quantity": 2, "price": "9.50"}]
    await send_batch(
        client,
        world,
        [
            event("v1", profileId=profile["id"], occurredAt="2026-11-01T10:00:00Z"),
            event("v2", profileId=profile["id"], occurredAt="2026-11-02T10:00:00Z"),
        ]
        + [
            event(
                f"c{n}",
                "cart_updated",
                profileId=profile["id"],
                occurredAt=f"2026-11-0{n}T11:00:00Z",
                properties={"cartId": f"K{n}", "items": items, "total": "19.00",
                            "currency": "EUR"},
            )
            for n in (1, 2, 3)
        ],
    )  # fmt: skip
    query = """query($brand: ID!, $profile: ID!, $after: String) {
      profileEvents(brand: $brand, profileId: $profile, first: 1, name: "page_viewed") {
        nodes { eventId } pageInfo { hasNextPage endCursor } }
      profileCarts(brand: $brand, profileId: $profile, first: 2, after: $after) {
        nodes { cartId status total currency items } pageInfo { hasNextPage endCursor }
        totalCount } }"""
    variables = {"brand": brand(world), "profile": profile["id"]}
    data = await gql_data(client, query, world.viewer_a, variables)
    assert data["profileEvents"]["nodes"] == [{"eventId": "v2"}]
    assert data["profileEvents"]["pageInfo"]["hasNextPage"] is True
    carts = data["profileCarts"]
    assert [c["cartId"] for c in carts["nodes"]] == ["K3", "K2"]
    assert carts["nodes"][0] == {
        "cartId": "K3",
        "status": "OPEN",
        "total": "19.0000",
        "currency": "EUR",
        "items": items,
    }
    assert (carts["pageInfo"]["hasNextPage"], carts["totalCount"]) == (True, 3)
    rest = await data_of_next_carts(client, world, variables, carts["pageInfo"]["endCursor"])
    assert rest == ["K1"]

    foreign = await gql(client, query, world.owner_b, {**variables, "brand": str(world.brand_b.id)})
    assert foreign["data"] is None
    assert foreign["errors"][0]["extensions"]["code"] == "not-found"


async def data_of_next_carts(
    client: httpx.AsyncClient, world: World, variables: dict[str, Any], after: str
) -> list[str]:
    data = await gql_data(
        client,
        """query($brand: ID!, $profile: ID!, $after: String) {
          profileCarts(brand: $brand, profileId: $profile, first: 2, after: $after) {
            nodes { cartId } pageInfo { hasNextPage } } }""",
        world.viewer_a,
        {**variables, "after": after},
    )
    assert data["profileCarts"]["pageInfo"]["hasNextPage"] is False
    return [c["cartId"] for c in data["profileCarts"]["nodes"]]


async def test_event_types_and_settings(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    schema = {"type": "object", "required": ["plan"]}
    created = []
    for name in ("signed_up", "page_viewed", "order_completed"):
        data = await gql_data(
            client,
            CREATE_TYPE,
            world.manager_a,
            {"brand": brand(world), "input": {"name": name, "propertiesSchema": schema}},
        )
        created.append(data["createEventType"])
    assert [c["__typename"] for c in created] == ["EventType"] * 3
    again = await gql_data(
        client,
        CREATE_TYPE,
        world.manager_a,
        {"brand": brand(world), "input": {"name": "signed_up"}},
    )
    assert again["createEventType"]["httpStatus"] == 409

    listed = await gql_data(
        client,
        """query($brand: ID!, $id: ID!) {
          eventTypes(brand: $brand, first: 2) {
            nodes { name } pageInfo { hasNextPage endCursor } totalCount }
          eventType(brand: $brand, name: "signed_up") { id propertiesSchema }
          missing: eventType(brand: $brand, name: "nothing") { id }
          node(id: $id, brand: $brand) { __typename ... on EventType { name } }
          eventSettings(brand: $brand) { createUnknownProfiles maxFutureSkewSeconds } }""",
        world.viewer_a,
        {"brand": brand(world), "id": created[0]["id"]},
    )
    assert [t["name"] for t in listed["eventTypes"]["nodes"]] == ["signed_up", "page_viewed"]
    assert (
        listed["eventTypes"]["pageInfo"]["hasNextPage"],
        listed["eventTypes"]["totalCount"],
    ) == (
        True,
        3,
    )
    assert listed["eventType"] == {"id": created[0]["id"], "propertiesSchema": schema}
    assert listed["missing"] is None
    assert listed["node"] == {"__typename": "EventType", "name": "signed_up"}
    assert listed["eventSettings"] == {"createUnknownProfiles": True, "maxFutureSkewSeconds": 600}

    changed = await gql_data(
        client,
        """mutation($brand: ID!) {
          updateEventType(brand: $brand, input: {name: "signed_up", description: "Joined"}) {
            ... on EventType { name description propertiesSchema } }
          deleteEventType(brand: $brand, input: {name: "page_viewed"}) { ... on Deleted { id } }
          updateEventSettings(brand: $brand, input: {requireDeclaredTypes: true}) {
            ... on EventSettings { requireDeclaredTypes createUnknownProfiles } } }""",
        world.manager_a,
        {"brand": brand(world)},
    )
    assert changed["updateEventType"] == {
        "name": "signed_up",
        "description": "Joined",
        "propertiesSchema": schema,
    }
    assert changed["deleteEventType"] == {"id": created[1]["id"]}
    assert changed["updateEventSettings"] == {
        "requireDeclaredTypes": True,
        "createUnknownProfiles": True,
    }
    # Enforced on ingestion: an undeclared type is now rejected.
    refused = await gql_data(
        client,
        SEND,
        world.manager_a,
        {"brand": brand(world), "input": {"eventId": "u", "name": "page_viewed",
                                          "email": "a@example.com"}},
    )  # fmt: skip
    assert refused["sendEvent"]["fieldErrors"][0]["field"] == "name"

    foreign = await gql_data(
        client,
        """query($brand: ID!, $id: ID!) {
          eventType(brand: $brand, name: "signed_up") { id }
          node(id: $id, brand: $brand) { id }
          eventTypes(brand: $brand) { totalCount } }""",
        world.owner_b,
        {"brand": str(world.brand_b.id), "id": created[0]["id"]},
    )
    assert foreign == {"eventType": None, "node": None, "eventTypes": {"totalCount": 0}}


@pytest.mark.parametrize(
    "mutation",
    [
        'sendEvent(brand: $brand, input: {eventId: "v", name: "x", email: "a@example.com"})'
        " { __typename }",
        'createEventType(brand: $brand, input: {name: "x"}) { __typename }',
        "updateEventSettings(brand: $brand, input: {requireDeclaredTypes: true}) { __typename }",
    ],
)
async def test_a_viewer_cannot_write(
    app: Litestar, client: httpx.AsyncClient, mutation: str
) -> None:
    world = await make_world(app)
    body = await gql(
        client, f"mutation($brand: ID!) {{ {mutation} }}", world.viewer_a, {"brand": brand(world)}
    )
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] in {"forbidden", "insufficient-scope"}


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
            {"brand": brand(world)},
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
    query = "query($brand: ID!) { events(brand: $brand) { nodes { eventId } } }"
    other = await gql(client, query, world.owner_b, {"brand": brand(world)})
    assert other["data"] is None
    assert other["errors"][0]["extensions"]["code"] == "not-found"
    own = await gql_data(client, query, world.owner_b, {"brand": str(world.brand_b.id)})
    assert own["events"]["nodes"] == []
    profiles_only = await headers_with_scopes(app, world.viewer_a, "profiles:read")
    answer = await gql(
        client,
        "query($brand: ID!) { profiles(brand: $brand) { nodes { events { eventId } } } }",
        variables={"brand": brand(world)},
        headers=profiles_only,
    )
    assert answer.get("errors"), answer
    assert "events:read" in answer["errors"][0]["message"]
