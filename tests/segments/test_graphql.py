"""GraphQL: segments created, previewed, listed and read; an invalid definition is an
`OperationError` naming its node; another brand's segment is not found."""

from __future__ import annotations

import httpx
from litestar import Litestar

from tests.factories import make_world
from tests.segments.helpers import make_profile
from tests.test_graphql import gql_data

CREATE = """mutation($brand: ID!, $input: SegmentInput!) {
  createSegment(brand: $brand, input: $input) {
    __typename
    ... on Segment { id key kind definition refreshEveryMinutes }
    ... on OperationError { httpStatus detail }
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

    bad = {"and": [french, {"field": "country", "op": "gt", "value": "A"}]}
    refused = await gql_data(
        client, CREATE, world.manager_a,
        {"brand": brand, "input": {"key": "bad", "name": "Bad", "definition": bad}},
    )  # fmt: skip
    assert refused["createSegment"]["httpStatus"] == 422
    assert "/and/1/op" in refused["createSegment"]["detail"]

    preview = await gql_data(
        client,
        """query($brand: ID!, $definition: JSON!) {
          segmentPreview(brand: $brand, definition: $definition) {
            ... on SegmentPreview { count sampleProfileIds } } }""",
        world.viewer_a,
        {"brand": brand, "definition": french},
    )
    assert preview["segmentPreview"] == {"count": 1, "sampleProfileIds": [str(ada)]}

    listed = await gql_data(
        client,
        """query($brand: ID!, $id: ID!) {
          segments(brand: $brand) { items { key memberCount } }
          segment(brand: $brand, id: $id) { key }
          segmentSizes(brand: $brand, id: $id) { items { size } } }""",
        world.viewer_a,
        {"brand": brand, "id": segment["id"]},
    )
    assert listed["segments"]["items"] == [{"key": "fr", "memberCount": 0}]
    assert listed["segment"] == {"key": "fr"}

    foreign = await gql_data(
        client,
        """query($brand: ID!, $id: ID!) { segment(brand: $brand, id: $id) { key } }""",
        world.owner_b,
        {"brand": str(world.brand_b.id), "id": segment["id"]},
    )
    assert foreign["segment"] is None
