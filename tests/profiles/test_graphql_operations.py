"""GraphQL mutation of erasure: the same service as REST, with brand isolation and scopes
answered as OperationError results (linked rows and exports:
tests/profiles/test_linked_graphql.py)."""

from __future__ import annotations

from typing import Any

import httpx
from litestar import Litestar

from tests.factories import Person, make_world
from tests.profiles.helpers import brand_url, create_profile
from tests.test_graphql import gql_data

ERROR = "... on OperationError { httpStatus detail }"
ERASE = (
    """mutation($brand: ID!, $id: ID!) {
    eraseProfile(brand: $brand, id: $id, reason: "asked by phone") {
    __typename ... on Erasure { profileId suppressedKeys } """
    + ERROR
    + " } }"
)


async def run(
    client: httpx.AsyncClient,
    query: str,
    person: Person | dict[str, str],
    variables: dict[str, Any],
) -> dict[str, Any]:
    headers = person if isinstance(person, dict) else None
    caller = None if isinstance(person, dict) else person
    data = await gql_data(client, query, caller, variables, headers)
    (result,) = data.values()
    assert isinstance(result, dict)
    return result


async def test_erase_profile_mutation_erases_the_person(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await create_profile(client, world, email="ada@example.com")
    variables = {"brand": str(world.brand_a.id), "id": ada["id"]}
    assert (await run(client, ERASE, world.viewer_a, variables))["httpStatus"] == 403
    assert (await run(client, ERASE, world.owner_b, variables))["httpStatus"] == 404
    erased = await run(client, ERASE, world.manager_a, variables)
    assert erased == {"__typename": "Erasure", "profileId": ada["id"], "suppressedKeys": 1}
    gone = await client.get(
        brand_url(world, f"/profiles/{ada['id']}"), headers=world.viewer_a.headers
    )
    assert gone.status_code == 404
    again = await client.post(
        brand_url(world, "/profiles"),
        json={"email": "ada@example.com"},
        headers=world.manager_a.headers,
    )
    assert again.status_code == 409
