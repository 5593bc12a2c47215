"""GraphQL: segments created, previewed, listed as a connection, fetched again by `node(id:)`;
an invalid definition or input is an `OperationError` naming its field; another brand's segment
is not found."""

from __future__ import annotations

import httpx
from litestar import Litestar

from tests.factories import make_world
from tests.segments.helpers import make_profile
from tests.test_graphql import gql, gql_data

CREATE = """mutation($brand: ID!, $input: CreateSegmentInput!) {
  createSegment(brand: $brand, input: $input) {
    __typename
    ... on Segment { id uuid key kind definition refreshEveryMinutes }
    ... on OperationError { httpStatus detail fieldErrors { field pointer message } }
  } }"""


async def test_segments_through_graphql(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    ada = await make_profile(app, world.brand_a.id, email="ada@example.com", country="FR")
    await make_profile(app, world.brand_a.id, email="bob@example.com", country="BE")
    french = {"field": "country", "op": "eq", "value": "FR"}
    created = await gql_data(
        client,
        CREATE,
        world.manager_a,
        {"brand": brand, "input": {"key": "fr", "name": "France", "definition": french,
                                   "refreshEveryMinutes": None}},
    )  # fmt: skip
    segment = created["createSegment"]
    assert (segment["__typename"], segment["kind"], segment["definition"]) == (
        "Segment",
        "RULE",
        french,
    )
    assert segment["refreshEveryMinutes"] is None
    assert segment["id"] != segment["uuid"]  # the global id is opaque

    bad = {"and": [french, {"field": "country", "op": "gt", "value": "A"}]}
    refused = await gql_data(
        client, CREATE, world.manager_a,
        {"brand": brand, "input": {"key": "bad", "name": "Bad", "definition": bad}},
    )  # fmt: skip
    assert refused["createSegment"]["httpStatus"] == 422
    assert "/and/1/op" in refused["createSegment"]["detail"]

    preview = await gql_data(
        client,
        """query($brand: ID!, $input: PreviewSegmentInput!) {
          previewSegment(brand: $brand, input: $input) { count sample { id email } } }""",
        world.viewer_a,
        {"brand": brand, "input": {"definition": french}},
    )
    assert preview["previewSegment"] == {
        "count": 1,
        "sample": [{"id": str(ada), "email": "ada@example.com"}],
    }

    listed = await gql_data(
        client,
        """query($brand: ID!, $id: ID!) {
          segments(brand: $brand, first: 1) {
            edges { cursor node { id key memberCount } }
            pageInfo { hasNextPage hasPreviousPage endCursor }
            totalCount }
          segment(brand: $brand, id: $id) { key }
          byUuid: segment(brand: $brand, id: $uuid) { key }
          node(id: $id, brand: $brand) { __typename id ... on Segment { key } }
          segmentSizes(brand: $brand, id: $id) { nodes { size } } }""".replace(
            "$id: ID!)", "$id: ID!, $uuid: ID!)"
        ),
        world.viewer_a,
        {"brand": brand, "id": segment["id"], "uuid": segment["uuid"]},
    )
    connection = listed["segments"]
    assert [e["node"] for e in connection["edges"]] == [
        {"id": segment["id"], "key": "fr", "memberCount": 0}
    ]
    assert connection["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": False,
        "endCursor": connection["edges"][0]["cursor"],
    }
    assert connection["totalCount"] == 1
    assert listed["segment"] == listed["byUuid"] == {"key": "fr"}
    assert listed["node"] == {"__typename": "Segment", "id": segment["id"], "key": "fr"}

    foreign = await gql_data(
        client,
        """query($brand: ID!, $id: ID!) {
          segment(brand: $brand, id: $id) { key }
          node(id: $id, brand: $brand) { id } }""",
        world.owner_b,
        {"brand": str(world.brand_b.id), "id": segment["id"]},
    )
    assert foreign == {"segment": None, "node": None}


async def test_invalid_segment_input_names_the_field(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    refused = await gql_data(
        client,
        CREATE,
        world.manager_a,
        {"brand": str(world.brand_a.id),
         "input": {"key": "Not A Key", "name": "x", "refreshEveryMinutes": 1}},
    )  # fmt: skip
    error = refused["createSegment"]
    assert (error["__typename"], error["httpStatus"]) == ("OperationError", 422)
    assert error["fieldErrors"][0]["field"] in {"key", "refreshEveryMinutes"}
    assert error["fieldErrors"][0]["pointer"] == "/" + error["fieldErrors"][0]["field"]


async def test_a_viewer_cannot_define_a_segment(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    body = await gql(
        client,
        CREATE,
        world.viewer_a,
        {"brand": str(world.brand_a.id), "input": {"key": "fr", "name": "France"}},
    )
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] in {"forbidden", "insufficient-scope"}


MEMBERS = """mutation($brand: ID!, $input: SegmentMembersInput!) {
  %s(brand: $brand, input: $input) {
    __typename
    ... on SegmentUpload { memberCount entered exited unknownKeys }
    ... on OperationError { httpStatus fieldErrors { field } }
  } }"""


async def test_static_segment_members_added_then_replaced(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    await make_profile(app, world.brand_a.id, email="ada@example.com")
    await make_profile(app, world.brand_a.id, email="bob@example.com")
    created = await gql_data(
        client, CREATE, world.manager_a,
        {"brand": brand, "input": {"key": "vip", "name": "VIP", "kind": "STATIC"}},
    )  # fmt: skip
    segment = created["createSegment"]["id"]
    steps = [
        ("addSegmentMembers", ["ada@example.com", "nobody@example.com"], (1, 1, 0)),
        ("addSegmentMembers", ["bob@example.com"], (2, 1, 0)),
        ("replaceSegmentMembers", ["bob@example.com"], (1, 0, 1)),
    ]
    for mutation, emails, (count, entered, exited) in steps:
        answer = await gql_data(
            client, MEMBERS % mutation, world.manager_a,
            {"brand": brand, "input": {"id": segment, "emails": emails}},
        )  # fmt: skip
        upload = answer[mutation]
        assert upload["__typename"] == "SegmentUpload", upload
        assert (upload["memberCount"], upload["entered"], upload["exited"]) == (
            count,
            entered,
            exited,
        )
    assert upload["unknownKeys"] == []

    elsewhere = await gql_data(
        client, MEMBERS % "addSegmentMembers", world.owner_b,
        {"brand": str(world.brand_b.id), "input": {"id": segment, "emails": ["x@example.com"]}},
    )  # fmt: skip
    assert elsewhere["addSegmentMembers"]["httpStatus"] == 404
