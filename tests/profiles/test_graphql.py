"""GraphQL: profile and profiles queries (consents through a dataloader: a constant number of
SQL statements per page), and the createProfile, updateProfile, mergeProfiles and setConsent
mutations with their OperationError results."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import httpx
from litestar import Litestar

from backend.core.tenancy import TenantId
from backend.profiles import consents, orders, service
from backend.profiles.models import Channel, ConsentState
from backend.profiles.schemas import ConsentChangeIn, OrderIn, OrderLineIn, ProfileCreate
from tests.factories import World, make_world, session_of, statements_of
from tests.profiles.helpers import create_profile, record_consent
from tests.test_graphql import gql, gql_data

PROFILE_FIELDS = "id email phone attributes externalIds { source id }"
RESULT = (
    """
    __typename
    ... on OperationError { type httpStatus detail }
    ... on Profile { """
    + PROFILE_FIELDS
    + " }"
)


async def seed_profiles(app: Litestar, world: World, count: int) -> None:
    """``count`` profiles of brand A with one consent and two orders each, through the
    services."""
    tenant = TenantId(world.brand_a.id)
    async with session_of(app, tenant) as session:
        for i in range(count):
            profile, _ = await service.create_profile(
                session, tenant, ProfileCreate(email=f"p{i}@example.com")
            )
            await consents.record_change(
                session,
                profile.id,
                ConsentChangeIn(state=ConsentState.GRANTED, source="seed", channel=Channel.EMAIL),
            )
            for day in (1, 2):
                await orders.create_order(
                    session,
                    profile.id,
                    OrderIn(
                        order_id=f"o-{i}-{day}",
                        occurred_at=dt.datetime(2026, 1, day, tzinfo=dt.UTC),
                        amount=Decimal(day),
                        currency="EUR",
                        lines=[
                            OrderLineIn(product="bread", quantity=Decimal(1), price=Decimal(day))
                        ],
                    ),
                )
        await session.commit()


async def count_statements(
    app: Litestar, client: httpx.AsyncClient, query: str, world: World
) -> tuple[int, dict[str, Any]]:
    with statements_of(app) as statements:
        data = await gql_data(client, query, world.viewer_a)
    # Only the profile domain's tables: the background outbox relay polls meanwhile.
    domain = [s for s in statements if re.search(r"\bFROM (profiles|profile_|consent_|order)", s)]
    return len(domain), data


def page_query(world: World, first: int) -> str:
    fields = (
        "items { id email consents { channel state } contactability { channel contactable }"
        " lastOrder { orderId amount lines { product } } }"
    )
    return f'{{ profiles(brand: "{world.brand_a.id}", first: {first}) {{ {fields} nextCursor }} }}'


async def test_profile_query_returns_fields_consents_and_contactability(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = await create_profile(
        client, world, email="a@example.com", externalIds=[{"source": "erp", "id": "7"}]
    )
    await record_consent(client, world, created["id"], channel="email", state="granted")
    query = """query($brand: ID!, $id: ID!) { profile(brand: $brand, id: $id) {
        id email externalIds { source id } consents { channel topic state source }
        contactability { channel contactable reasons } } }"""
    data = await gql_data(
        client, query, world.viewer_a, {"brand": str(world.brand_a.id), "id": created["id"]}
    )
    profile = data["profile"]
    assert profile["email"] == "a@example.com"
    assert profile["externalIds"] == [{"source": "erp", "id": "7"}]
    assert profile["consents"] == [
        {"channel": "EMAIL", "topic": None, "state": "GRANTED", "source": "test"}
    ]
    email = next(c for c in profile["contactability"] if c["channel"] == "EMAIL")
    assert email == {"channel": "EMAIL", "contactable": True, "reasons": []}


async def test_profile_query_resolves_a_merged_id_to_the_survivor(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    older = await create_profile(client, world, email="a@example.com")
    newer = await create_profile(client, world, email="b@example.com")
    merge = (
        """mutation($brand: ID!, $id: ID!, $other: ID!) {
        mergeProfiles(brand: $brand, id: $id, otherId: $other) { """
        + RESULT
        + " } }"
    )
    variables = {"brand": str(world.brand_a.id), "id": newer["id"], "other": older["id"]}
    merged = (await gql_data(client, merge, world.manager_a, variables))["mergeProfiles"]
    assert merged["id"] == older["id"]
    query = "query($brand: ID!, $id: ID!) { profile(brand: $brand, id: $id) { id } }"
    data = await gql_data(
        client, query, world.viewer_a, {"brand": str(world.brand_a.id), "id": newer["id"]}
    )
    assert data["profile"] == {"id": older["id"]}


async def test_profiles_query_filters_by_email_and_pages(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await seed_profiles(app, world, 3)
    query = """query($brand: ID!, $email: String) { profiles(brand: $brand, email: $email) {
        items { email } nextCursor } }"""
    data = await gql_data(
        client, query, world.viewer_a, {"brand": str(world.brand_a.id), "email": "P1@example.com"}
    )
    assert data["profiles"] == {"items": [{"email": "p1@example.com"}], "nextCursor": None}
    first_page = (await gql_data(client, page_query(world, 2), world.viewer_a))["profiles"]
    assert len(first_page["items"]) == 2
    assert first_page["nextCursor"]


async def test_a_page_of_50_profiles_with_consents_costs_a_constant_number_of_queries(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await seed_profiles(app, world, 50)
    small, small_data = await count_statements(app, client, page_query(world, 2), world)
    large, data = await count_statements(app, client, page_query(world, 50), world)
    items = data["profiles"]["items"]
    assert len(items) == 50
    assert all(item["consents"] == [{"channel": "EMAIL", "state": "GRANTED"}] for item in items)
    assert all(item["lastOrder"]["amount"] == "2.0000" for item in items)
    assert all(item["lastOrder"]["lines"] == [{"product": "bread"}] for item in items)
    assert len(small_data["profiles"]["items"]) == 2
    # The page, its identity keys, their consents, their last orders and those orders' lines.
    assert small == large == 5


async def test_profiles_of_a_brand_out_of_reach_answer_an_error(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    body = await gql(client, page_query(world, 5), world.owner_b)
    assert body["data"] is None
    assert body["errors"][0]["message"] == "brand not found"


async def test_create_profile_mutation_creates_and_refuses_bad_input(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    mutation = (
        """mutation($brand: ID!, $input: ProfileInput!) {
        createProfile(brand: $brand, input: $input) { """
        + RESULT
        + " } }"
    )
    brand = str(world.brand_a.id)
    created = (
        await gql_data(
            client,
            mutation,
            world.manager_a,
            {
                "brand": brand,
                "input": {
                    "email": "Ada@Example.com",
                    "externalIds": [{"source": "erp", "id": "1"}],
                },
            },
        )
    )["createProfile"]
    assert created["__typename"] == "Profile"
    assert created["email"] == "ada@example.com"
    assert created["externalIds"] == [{"source": "erp", "id": "1"}]
    refused = (
        await gql_data(
            client, mutation, world.manager_a, {"brand": brand, "input": {"email": "nope"}}
        )
    )["createProfile"]
    assert (refused["__typename"], refused["httpStatus"]) == ("OperationError", 422)


async def test_update_profile_mutation_changes_fields(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = await create_profile(client, world, email="a@example.com")
    mutation = (
        """mutation($brand: ID!, $id: ID!, $input: ProfilePatch!) {
        updateProfile(brand: $brand, id: $id, input: $input) { """
        + RESULT
        + " } }"
    )
    variables = {
        "brand": str(world.brand_a.id),
        "id": created["id"],
        "input": {"phone": "+32470123456"},
    }
    updated = (await gql_data(client, mutation, world.manager_a, variables))["updateProfile"]
    assert updated["phone"] == "+32470123456"


async def test_set_consent_mutation_appends_a_change(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = await create_profile(client, world, email="a@example.com")
    mutation = """mutation($brand: ID!, $id: ID!, $input: ConsentInput!) {
        setConsent(brand: $brand, profileId: $id, input: $input) {
            __typename ... on Consent { channel state source proof }
            ... on OperationError { httpStatus } } }"""
    variables = {
        "brand": str(world.brand_a.id),
        "id": created["id"],
        "input": {
            "channel": "SMS",
            "state": "DENIED",
            "source": "call-centre",
            "proof": {"agent": "42"},
        },
    }
    consent = (await gql_data(client, mutation, world.manager_a, variables))["setConsent"]
    assert consent == {
        "__typename": "Consent",
        "channel": "SMS",
        "state": "DENIED",
        "source": "call-centre",
        "proof": {"agent": "42"},
    }


async def test_viewer_mutation_answers_an_operation_error_403(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    mutation = (
        """mutation($brand: ID!) {
        createProfile(brand: $brand, input: {email: "a@example.com"}) { """
        + RESULT
        + " } }"
    )
    result = (await gql_data(client, mutation, world.viewer_a, {"brand": str(world.brand_a.id)}))[
        "createProfile"
    ]
    assert (result["__typename"], result["httpStatus"]) == ("OperationError", 403)


async def test_mutation_on_another_brand_answers_an_operation_error_404(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    mutation = (
        """mutation($brand: ID!) {
        createProfile(brand: $brand, input: {email: "a@example.com"}) { """
        + RESULT
        + " } }"
    )
    result = (await gql_data(client, mutation, world.owner_b, {"brand": str(world.brand_a.id)}))[
        "createProfile"
    ]
    assert (result["__typename"], result["httpStatus"]) == ("OperationError", 404)


async def test_update_profile_mutation_refuses_an_erased_identifier(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    gone = await create_profile(client, world, email="gone@example.com")
    erased = await client.post(
        f"/v1/brands/{world.brand_a.id}/profiles/{gone['id']}/erase",
        headers=world.manager_a.headers,
    )
    assert erased.status_code == 200, erased.text
    kept = await create_profile(client, world, email="kept@example.com")
    mutation = (
        """mutation($brand: ID!, $id: ID!, $input: ProfilePatch!) {
        updateProfile(brand: $brand, id: $id, input: $input) { """
        + RESULT
        + " } }"
    )
    variables = {
        "brand": str(world.brand_a.id),
        "id": kept["id"],
        "input": {"email": "gone@example.com"},
    }
    result = (await gql_data(client, mutation, world.manager_a, variables))["updateProfile"]
    assert (result["__typename"], result["httpStatus"]) == ("OperationError", 409)
    assert "erased person" in result["detail"]
