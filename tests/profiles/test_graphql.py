"""GraphQL of profiles: the profile and profiles queries (a connection; consents, last orders
through dataloaders: a constant number of SQL statements per page), `node(id:)`, every
mutation and query of the `profiles` REST tag with one `input:` and its `OperationError`
naming the field, brand isolation, pagination and access."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import httpx
import pytest
from litestar import Litestar

from backend.core.tenancy import TenantId
from backend.profiles import consents, orders, service
from backend.profiles.models import Channel, ConsentState
from backend.profiles.schemas import ConsentChangeIn, OrderIn, OrderLineIn, ProfileCreate
from tests.factories import Person, World, make_world, session_of, statements_of
from tests.profiles.helpers import (
    UNKNOWN_ID,
    create_profile,
    define_attribute,
    define_topic,
    record_consent,
)
from tests.test_graphql import gql, gql_data

PROFILE_FIELDS = "id uuid email phone firstName attributes externalIds { source id }"
ERROR = "... on OperationError { httpStatus detail fieldErrors { field pointer message } }"
RESULT = "__typename " + ERROR + " ... on Profile { " + PROFILE_FIELDS + " }"


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
        "nodes { id email consents { channel state } contactability { channel contactable }"
        " lastOrder { orderId amount lines { product } } }"
    )
    return f'{{ profiles(brand: "{world.brand_a.id}", first: {first}) {{ {fields} }} }}'


async def mutate(
    client: httpx.AsyncClient, person: Person, name: str, input_type: str, input: dict[str, Any],
    selection: str, brand: str,
) -> dict[str, Any]:  # fmt: skip
    """Run mutation ``name`` with one ``input`` and answer its result."""
    document = (
        f"mutation($brand: ID!, $input: {input_type}!) {{ {name}(brand: $brand, input: $input) "
        f"{{ __typename {ERROR} {selection} }} }}"
    )
    data = await gql_data(client, document, person, {"brand": brand, "input": input})
    result: dict[str, Any] = data[name]
    return result


async def test_profile_query_returns_fields_consents_and_contactability(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = await create_profile(
        client, world, email="a@example.com", externalIds=[{"source": "erp", "id": "7"}]
    )
    await record_consent(client, world, created["id"], channel="email", state="granted")
    query = """query($brand: ID!, $id: ID!) { profile(brand: $brand, id: $id) {
        id uuid email externalIds { source id } consents { channel topic state source }
        contactability { channel contactable reasons } } }"""
    data = await gql_data(
        client, query, world.viewer_a, {"brand": str(world.brand_a.id), "id": created["id"]}
    )
    profile = data["profile"]
    assert profile["uuid"] == created["id"]
    assert profile["id"] != created["id"]  # the global id is opaque
    assert profile["email"] == "a@example.com"
    assert profile["externalIds"] == [{"source": "erp", "id": "7"}]
    assert profile["consents"] == [
        {"channel": "EMAIL", "topic": None, "state": "GRANTED", "source": "test"}
    ]
    email = next(c for c in profile["contactability"] if c["channel"] == "EMAIL")
    assert email == {"channel": "EMAIL", "contactable": True, "reasons": []}

    # The global id finds it again, by `profile(id:)` and by `node(id:)`.
    again = await gql_data(
        client,
        """query($brand: ID!, $id: ID!) { profile(brand: $brand, id: $id) { uuid }
        node(id: $id, brand: $brand) { __typename id ... on Profile { email } } }""",
        world.viewer_a,
        {"brand": str(world.brand_a.id), "id": profile["id"]},
    )
    assert again["profile"] == {"uuid": created["id"]}
    assert again["node"] == {"__typename": "Profile", "id": profile["id"], "email": "a@example.com"}


async def test_profile_query_resolves_a_merged_id_to_the_survivor(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    older = await create_profile(client, world, email="a@example.com")
    newer = await create_profile(client, world, email="b@example.com")
    merged = await mutate(
        client, world.manager_a, "mergeProfiles", "MergeProfilesInput",
        {"id": newer["id"], "otherId": older["id"], "reason": "duplicate"},
        "... on Profile { uuid }", brand,
    )  # fmt: skip
    assert merged == {"__typename": "Profile", "uuid": older["id"]}
    query = """query($brand: ID!, $id: ID!) { profile(brand: $brand, id: $id) { uuid }
        profileMerges(brand: $brand, profileId: $id) { nodes { survivorId mergedId reason } } }"""
    data = await gql_data(client, query, world.viewer_a, {"brand": brand, "id": newer["id"]})
    assert data["profile"] == {"uuid": older["id"]}
    assert data["profileMerges"]["nodes"] == [
        {"survivorId": older["id"], "mergedId": newer["id"], "reason": "duplicate"}
    ]


async def test_profiles_query_filters_by_email_and_pages(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await seed_profiles(app, world, 3)
    query = """query($brand: ID!, $email: String, $first: Int, $after: String) {
        profiles(brand: $brand, email: $email, first: $first, after: $after) {
        nodes { email } pageInfo { hasNextPage endCursor } } }"""
    brand = str(world.brand_a.id)
    data = await gql_data(
        client, query, world.viewer_a, {"brand": brand, "email": "P1@example.com"}
    )
    assert data["profiles"]["nodes"] == [{"email": "p1@example.com"}]
    assert data["profiles"]["pageInfo"]["hasNextPage"] is False
    pages, after = [], None
    while True:
        variables = {"brand": brand, "first": 2, "after": after}
        page = (await gql_data(client, query, world.viewer_a, variables))["profiles"]
        pages.append([n["email"] for n in page["nodes"]])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == [["p0@example.com", "p1@example.com"], ["p2@example.com"]]


async def test_a_page_of_50_profiles_with_consents_costs_a_constant_number_of_queries(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await seed_profiles(app, world, 50)
    small, small_data = await count_statements(app, client, page_query(world, 2), world)
    large, data = await count_statements(app, client, page_query(world, 50), world)
    items = data["profiles"]["nodes"]
    assert len(items) == 50
    assert all(item["consents"] == [{"channel": "EMAIL", "state": "GRANTED"}] for item in items)
    assert all(item["lastOrder"]["amount"] == "2.0000" for item in items)
    assert all(item["lastOrder"]["lines"] == [{"product": "bread"}] for item in items)
    assert len(small_data["profiles"]["nodes"]) == 2
    # The page, its identity keys, their consents, their last orders and those orders' lines.
    assert small == large == 5


async def test_profiles_of_a_brand_out_of_reach_answer_an_error(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    body = await gql(client, page_query(world, 5), world.owner_b)
    assert body["data"] is None
    assert body["errors"][0]["message"] == "brand not found"


async def test_another_brands_objects_are_not_found(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profile = await create_profile(client, world, email="a@example.com")
    topic = await define_topic(client, world, "newsletter")
    attribute = await define_attribute(client, world, key="tier", type="text")
    query = """query($brand: ID!, $p: ID!, $t: ID!, $a: ID!) {
        profile(brand: $brand, id: $p) { uuid } consentTopic(brand: $brand, id: $t) { key }
        profileAttribute(brand: $brand, id: $a) { key } node(id: $p, brand: $brand) { id } }"""
    ids = {"p": profile["id"], "t": topic["id"], "a": attribute["id"]}
    other = await gql_data(client, query, world.owner_b, {"brand": str(world.brand_b.id), **ids})
    assert other == {
        "profile": None,
        "consentTopic": None,
        "profileAttribute": None,
        "node": None,
    }
    refused = await mutate(
        client, world.owner_b, "deleteConsentTopic", "ConsentTopicIdInput", {"id": topic["id"]},
        "", str(world.brand_b.id),
    )  # fmt: skip
    assert (refused["__typename"], refused["httpStatus"]) == ("OperationError", 404)
    mine = await gql_data(client, query, world.viewer_a, {"brand": str(world.brand_a.id), **ids})
    assert mine["consentTopic"] == {"key": "newsletter"}
    assert mine["profileAttribute"] == {"key": "tier"}


async def test_create_profile_mutation_creates_and_names_bad_fields(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    created = await mutate(
        client, world.manager_a, "createProfile", "CreateProfileInput",
        {"email": "Ada@Example.com", "externalIds": [{"source": "erp", "id": "1"}],
         "consents": [{"state": "GRANTED", "source": "form", "channel": "EMAIL"}]},
        "... on Profile { email externalIds { source id } consents { channel state } }", brand,
    )  # fmt: skip
    assert created == {
        "__typename": "Profile",
        "email": "ada@example.com",
        "externalIds": [{"source": "erp", "id": "1"}],
        "consents": [{"channel": "EMAIL", "state": "GRANTED"}],
    }
    again = {"email": "ada@example.com", "firstName": "Ada"}
    conflict = await mutate(
        client, world.manager_a, "createProfile", "CreateProfileInput", again, "", brand
    )
    assert (conflict["__typename"], conflict["httpStatus"]) == ("OperationError", 409)
    upserted = await mutate(
        client, world.manager_a, "createProfile", "CreateProfileInput",
        {**again, "mode": "UPSERT"}, "... on Profile { firstName }", brand,
    )  # fmt: skip
    assert upserted == {"__typename": "Profile", "firstName": "Ada"}

    bad_inputs = [
        ({"email": "nope"}, "email"),
        ({"firstName": "x" * 201}, "firstName"),
        ({"consents": [{"state": "GRANTED", "source": ""}]}, "source"),
    ]
    for input, field in bad_inputs:
        refused = await mutate(
            client, world.manager_a, "createProfile", "CreateProfileInput", input, "", brand
        )
        assert (refused["__typename"], refused["httpStatus"]) == ("OperationError", 422)
        assert field in [e["field"] for e in refused["fieldErrors"]], refused
    assert len(bad_inputs) == 3


async def test_update_and_delete_profile_mutations(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    created = await create_profile(client, world, email="a@example.com", firstName="Ada")
    updated = await mutate(
        client, world.manager_a, "updateProfile", "UpdateProfileInput",
        {"id": created["id"], "phone": "+32470123456", "firstName": None},
        "... on Profile { email phone firstName }", brand,
    )  # fmt: skip
    # Absent fields are kept, null clears one.
    assert updated == {
        "__typename": "Profile",
        "email": "a@example.com",
        "phone": "+32470123456",
        "firstName": None,
    }
    deleted = await mutate(
        client, world.manager_a, "deleteProfile", "ProfileIdInput", {"id": created["id"]},
        "... on Deleted { id }", brand,
    )  # fmt: skip
    assert deleted == {"__typename": "Deleted", "id": created["id"]}
    gone = await mutate(
        client, world.manager_a, "deleteProfile", "ProfileIdInput", {"id": created["id"]},
        "", brand,
    )  # fmt: skip
    assert (gone["__typename"], gone["httpStatus"]) == ("OperationError", 404)


async def test_consents_through_graphql(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    created = await create_profile(client, world, email="a@example.com", phone="+32470123456")
    await define_topic(client, world, "offers")
    changes = [
        {"channel": "SMS", "state": "DENIED", "source": "call-centre", "proof": {"agent": "42"}},
        {"channel": "EMAIL", "topic": "offers", "state": "GRANTED", "source": "form"},
    ]
    for change in changes:
        recorded = await mutate(
            client, world.manager_a, "recordProfileConsent", "RecordProfileConsentInput",
            {"profileId": created["id"], **change},
            "... on Consent { channel topic state source proof }", brand,
        )  # fmt: skip
        assert recorded == {
            "__typename": "Consent",
            "topic": None,
            "proof": None,
            **change,
        }
    refused = await mutate(
        client, world.manager_a, "recordProfileConsent", "RecordProfileConsentInput",
        {"profileId": created["id"], "state": "GRANTED", "source": "form", "topic": "nope"},
        "", brand,
    )  # fmt: skip
    assert refused["httpStatus"] == 422
    assert {e["field"] for e in refused["fieldErrors"]} == {"channel", "topic"}
    data = await gql_data(
        client,
        """query($brand: ID!, $id: ID!) {
        profileConsents(brand: $brand, profileId: $id) {
            items { channel topic state } contactability { channel contactable reasons } }
        profileConsentHistory(brand: $brand, profileId: $id, first: 1) {
            nodes { source } pageInfo { hasNextPage } } }""",
        world.viewer_a,
        {"brand": brand, "id": created["id"]},
    )
    assert sorted(i["channel"] for i in data["profileConsents"]["items"]) == ["EMAIL", "SMS"]
    sms = next(c for c in data["profileConsents"]["contactability"] if c["channel"] == "SMS")
    assert sms == {"channel": "SMS", "contactable": False, "reasons": ["consent-denied"]}
    history = data["profileConsentHistory"]
    assert history == {"nodes": [{"source": "call-centre"}], "pageInfo": {"hasNextPage": True}}


async def test_orders_through_graphql(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    created = await create_profile(client, world, email="a@example.com")
    order = {
        "orderId": "W-1",
        "occurredAt": "2026-01-02T10:00:00+00:00",
        "amount": "49.90",
        "currency": "EUR",
        "lines": [{"product": "bread", "quantity": "2", "price": "1.5"}],
    }
    recorded = await mutate(
        client, world.manager_a, "createProfileOrder", "CreateProfileOrderInput",
        {"profileId": created["id"], **order},
        "... on Order { orderId profileId amount lines { product quantity } }", brand,
    )  # fmt: skip
    assert recorded == {
        "__typename": "Order",
        "orderId": "W-1",
        "profileId": created["id"],
        "amount": "49.90",
        "lines": [{"product": "bread", "quantity": "2"}],
    }
    for input, field in (({**order, "currency": "euro"}, "currency"), (order, "orderId")):
        refused = await mutate(
            client, world.manager_a, "createProfileOrder", "CreateProfileOrderInput",
            {"profileId": created["id"], **input}, "", brand,
        )  # fmt: skip
        assert refused["__typename"] == "OperationError"
        assert [e["field"] for e in refused["fieldErrors"]] == [field]
    listed = await gql_data(
        client,
        """query($brand: ID!, $id: ID!) { profileOrders(brand: $brand, profileId: $id) {
        nodes { orderId } } }""",
        world.viewer_a,
        {"brand": brand, "id": created["id"]},
    )
    assert listed["profileOrders"]["nodes"] == [{"orderId": "W-1"}]


@pytest.mark.parametrize(
    ("kind", "create", "update", "fields"),
    [
        (
            "ConsentTopic",
            {"key": "newsletter", "label": "Newsletter"},
            {"label": "Weekly news"},
            "key label",
        ),
        (
            "ProfileAttribute",
            {"key": "tier", "label": "Tier", "type": "ENUM", "options": ["gold", "silver"]},
            {"label": "Loyalty tier", "default": "gold"},
            "key label type options default",
        ),
    ],
)
async def test_topics_and_attributes_are_created_listed_updated_and_deleted(
    app: Litestar,
    client: httpx.AsyncClient,
    kind: str,
    create: dict[str, Any],
    update: dict[str, Any],
    fields: str,
) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    plural = kind[0].lower() + kind[1:] + "s"
    single = kind[0].lower() + kind[1:]
    created = await mutate(
        client, world.manager_a, f"create{kind}", f"Create{kind}Input", create,
        f"... on {kind} {{ id uuid {fields} }}", brand,
    )  # fmt: skip
    assert created["__typename"] == kind
    assert {k: created[k] for k in create} == create
    duplicate = await mutate(
        client, world.manager_a, f"create{kind}", f"Create{kind}Input", create, "", brand
    )
    assert (duplicate["httpStatus"], duplicate["fieldErrors"][0]["field"]) == (409, "key")
    bad = await mutate(
        client, world.manager_a, f"create{kind}", f"Create{kind}Input",
        {**create, "key": "Not A Key"}, "", brand,
    )  # fmt: skip
    assert (bad["httpStatus"], bad["fieldErrors"][0]["field"]) == (422, "key")
    second = await mutate(
        client, world.manager_a, f"create{kind}", f"Create{kind}Input",
        {**create, "key": "second"}, f"... on {kind} {{ id }}", brand,
    )  # fmt: skip

    listed = await gql_data(
        client,
        f"""query($brand: ID!, $id: ID!) {{
        {plural}(brand: $brand, first: 1) {{ nodes {{ key }} pageInfo {{ hasNextPage endCursor }} }}
        {single}(brand: $brand, id: $id) {{ key }}
        node(id: $id, brand: $brand) {{ __typename }} }}""",
        world.viewer_a,
        {"brand": brand, "id": created["id"]},
    )
    assert listed[plural]["nodes"] == [{"key": create["key"]}]
    assert listed[plural]["pageInfo"]["hasNextPage"] is True
    assert listed[single] == {"key": create["key"]}
    assert listed["node"] == {"__typename": kind}
    rest = await gql_data(
        client,
        f"""query($brand: ID!, $after: String) {{
        {plural}(brand: $brand, after: $after) {{
            nodes {{ key }} pageInfo {{ hasNextPage }} }} }}""",
        world.viewer_a,
        {"brand": brand, "after": listed[plural]["pageInfo"]["endCursor"]},
    )
    assert rest[plural] == {"nodes": [{"key": "second"}], "pageInfo": {"hasNextPage": False}}

    updated = await mutate(
        client, world.manager_a, f"update{kind}", f"Update{kind}Input",
        {"id": created["uuid"], **update}, f"... on {kind} {{ {fields} }}", brand,
    )  # fmt: skip
    assert {k: updated[k] for k in update} == update
    for target in (created["id"], second["id"]):
        deleted = await mutate(
            client, world.manager_a, f"delete{kind}", f"{kind}IdInput", {"id": target},
            "... on Deleted { id }", brand,
        )  # fmt: skip
        assert deleted == {"__typename": "Deleted", "id": target}
    gone = await gql_data(
        client,
        f"query($brand: ID!) {{ {plural}(brand: $brand) {{ nodes {{ key }} }} }}",
        world.viewer_a,
        {"brand": brand},
    )
    assert gone[plural]["nodes"] == []


@pytest.mark.parametrize(
    ("name", "input_type", "input"),
    [
        ("createProfile", "CreateProfileInput", {"email": "a@example.com"}),
        ("createConsentTopic", "CreateConsentTopicInput", {"key": "news", "label": "News"}),
        ("deleteProfile", "ProfileIdInput", {"id": UNKNOWN_ID}),
        ("eraseProfile", "EraseProfileInput", {"id": UNKNOWN_ID}),
    ],
)
async def test_a_viewer_cannot_mutate(
    app: Litestar, client: httpx.AsyncClient, name: str, input_type: str, input: dict[str, Any]
) -> None:
    world = await make_world(app)
    document = (
        f"mutation($brand: ID!, $input: {input_type}!) "
        f"{{ {name}(brand: $brand, input: $input) {{ __typename }} }}"
    )
    body = await gql(
        client, document, world.viewer_a, {"brand": str(world.brand_a.id), "input": input}
    )
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["status"] == 403


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
    result = await mutate(
        client, world.manager_a, "updateProfile", "UpdateProfileInput",
        {"id": kept["id"], "email": "gone@example.com"}, "", str(world.brand_a.id),
    )  # fmt: skip
    assert (result["__typename"], result["httpStatus"]) == ("OperationError", 409)
    assert "erased person" in result["detail"]


async def test_gdpr_export_and_erasure_through_graphql(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    ada = await create_profile(client, world, email="ada@example.com")
    await record_consent(client, world, ada["id"], channel="email", state="granted")
    query = """query($brand: ID!, $id: ID!) { exportPersonData(brand: $brand, profileId: $id) }"""
    exported = await gql_data(client, query, world.viewer_a, {"brand": brand, "id": ada["id"]})
    rest = await client.get(
        f"/v1/brands/{brand}/profiles/{ada['id']}/gdpr-export", headers=world.viewer_a.headers
    )
    document = exported["exportPersonData"]
    assert document["profile"] == rest.json()["profile"]
    assert document["identities"] == [{"kind": "email", "value": "ada@example.com"}]
    assert [c["state"] for c in document["consents"]] == ["granted"]
    elsewhere = await gql(
        client,
        "mutation($brand: ID!, $input: EraseProfileInput!) { eraseProfile(brand: $brand, "
        "input: $input) { __typename } }",
        world.owner_b,
        {"brand": brand, "input": {"id": ada["id"]}},
    )
    assert elsewhere["errors"][0]["extensions"]["status"] == 404
    erased = await mutate(
        client, world.manager_a, "eraseProfile", "EraseProfileInput",
        {"id": ada["id"], "reason": "asked by phone"},
        "... on Erasure { profileId suppressedKeys }", brand,
    )  # fmt: skip
    assert erased == {"__typename": "Erasure", "profileId": ada["id"], "suppressedKeys": 1}
    after = await gql(client, query, world.viewer_a, {"brand": brand, "id": ada["id"]})
    assert after["errors"][0]["extensions"]["status"] == 404
    gone = await client.get(
        f"/v1/brands/{brand}/profiles/{ada['id']}", headers=world.viewer_a.headers
    )
    assert gone.status_code == 404
    again = await client.post(
        f"/v1/brands/{brand}/profiles",
        json={"email": "ada@example.com"},
        headers=world.manager_a.headers,
    )
    assert again.status_code == 409
