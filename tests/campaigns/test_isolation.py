"""Brand isolation on every campaign route: another brand's campaign and occurrence ids are
not found on a brand the caller holds (REST, each route walked from the app's route table, and
GraphQL), and its lists show none of them. (A brand out of the caller's reach answers 404 on
every route: tests/core/test_tenancy_isolation.py and tests/test_access_matrix.py.)"""

from __future__ import annotations

import re

import httpx
from litestar import Litestar
from litestar.routes import HTTPRoute

from tests.campaigns.helpers import create, ready_brand
from tests.test_graphql import gql

BODIES = {"PATCH": {"name": "x"}, "POST": {"profileIds": []}}


def campaign_routes(app: Litestar) -> list[tuple[str, str]]:
    routes = []
    for route in app.routes:
        if isinstance(route, HTTPRoute) and "/campaigns/{campaign_id" in route.path:
            for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                routes.append((method, route.path))
    return routes


async def test_another_brands_campaign_is_not_found_on_every_route(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    brand = await ready_brand(app, client, members=2)
    campaign = await create(client, brand)
    tested = await client.post(
        brand.url(f"/campaigns/{campaign['id']}/test-sends"),
        json={"profileIds": [str(brand.profiles[0])]},
        headers=brand.headers,
    )
    assert tested.status_code == 202, tested.text
    ids = {"campaign_id": campaign["id"], "occurrence_id": tested.json()["id"]}
    routes = campaign_routes(app)
    assert len(routes) >= 12, routes  # the walk found them

    def fill(path: str, brand_id: object) -> str:
        path = path.replace("{brand_id:uuid}", str(brand_id))
        return re.sub(r"\{(\w+):uuid\}", lambda m: ids[m.group(1)], path)

    other = brand.world.brand_b.id
    owner_b = brand.world.owner_b.headers
    for method, path in routes:
        body = BODIES.get(method)
        # Brand B's owner, on brand B, naming brand A's campaign: not found.
        answer = await client.request(method, fill(path, other), json=body, headers=owner_b)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["detail"] != "brand not found", (method, path)
        if method == "GET":  # the same ids answer on their own brand
            mine = await client.get(fill(path, brand.id), headers=brand.headers)
            assert mine.status_code == 200, (path, mine.text)
    listed = await client.get(f"/v1/brands/{other}/campaigns", headers=owner_b)
    assert (listed.status_code, listed.json()["items"]) == (200, [])

    variables = {"brand": str(other), **{k: v for k, v in ids.items()}}
    answer = await gql(
        client,
        """query($brand: ID!, $campaign_id: ID!, $occurrence_id: ID!) {
          campaign(brand: $brand, id: $campaign_id) { uuid }
          campaignOccurrence(brand: $brand, campaignId: $campaign_id, id: $occurrence_id) { id }
          campaigns(brand: $brand) { totalCount } }""",
        brand.world.owner_b,
        variables,
    )
    assert answer["data"] == {
        "campaign": None,
        "campaignOccurrence": None,
        "campaigns": {"totalCount": 0},
    }
    for field in ("campaignProgress", "campaignOccurrences"):
        refused = await gql(
            client,
            f"query($brand: ID!, $id: ID!) {{ {field}(brand: $brand, id: $id) {{ __typename }} }}",
            brand.world.owner_b,
            {"brand": str(other), "id": campaign["id"]},
        )
        assert refused["errors"][0]["extensions"]["status"] == 404, refused
    mutation = await gql(
        client,
        """mutation($brand: ID!, $id: ID!) { pauseCampaign(brand: $brand, input: {id: $id}) {
          __typename ... on OperationError { httpStatus } } }""",
        brand.world.owner_b,
        {"brand": str(other), "id": campaign["id"]},
    )
    assert mutation["data"]["pauseCampaign"] == {"__typename": "OperationError", "httpStatus": 404}
