"""GraphQL of agencies, brands, members, brand roles, brand settings, the audit log and OAuth
clients: each field and mutation by role (owner, brand manager, brand viewer, another agency's
owner), isolation across agencies, bad input as an `OperationError` naming its field, and
connections paged with `first`/`after`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from litestar import Litestar

from backend.core.relay import global_id
from tests.factories import Person, World, make_brand, make_world
from tests.test_graphql import gql, gql_data

RESULT = "__typename ... on OperationError { httpStatus fieldErrors { field pointer message } }"
ROLES = ("outsider", "viewer", "manager", "owner")  # denied roles first: a success may destroy


def person(world: World, role: str) -> Person:
    return {
        "owner": world.owner_a,
        "manager": world.manager_a,
        "viewer": world.viewer_a,
        "outsider": world.owner_b,
    }[role]


@dataclass(frozen=True)
class Case:
    """A field on agency A or brand A, and the roles it serves (the others: 404 for the other
    agency's owner, who must not learn it exists; 403 for the rest)."""

    name: str
    document: str
    variables: Callable[[World], dict[str, Any]]
    allowed: frozenset[str]
    check: Callable[[World, dict[str, Any]], None] = field(default=lambda world, data: None)


def agency_a(world: World) -> dict[str, Any]:
    return {"agency": str(world.agency_a.id)}


def brand_a(world: World) -> dict[str, Any]:
    return {"brand": str(world.brand_a.id)}


def names(connection: dict[str, Any]) -> list[str]:
    return [node["name"] for node in connection["nodes"]]


OWNER = frozenset({"owner"})
EVERYONE = frozenset({"owner", "manager", "viewer"})

CASES = [
    Case(
        "agency",
        "query($agency: ID!) { agency(agency: $agency) { id uuid name } }",
        agency_a,
        EVERYONE,
        lambda w, d: _same(d["agency"]["uuid"], str(w.agency_a.id)),
    ),
    Case(
        "agencyBrands",
        "query($agency: ID!) { agencyBrands(agency: $agency) { nodes { name } } }",
        agency_a,
        EVERYONE,
        lambda w, d: _same(names(d["agencyBrands"]), ["Brand A"]),
    ),
    Case(
        "agencyMembers",
        "query($agency: ID!) { agencyMembers(agency: $agency) "
        "{ totalCount nodes { email role } } }",
        agency_a,
        OWNER,
        lambda w, d: _same(
            (d["agencyMembers"]["totalCount"], _roles(d["agencyMembers"])[w.owner_a.email]),
            (5, "OWNER"),  # owner, admin, manager, viewer, member
        ),
    ),
    Case(
        "brandSettings",
        "query($brand: ID!) { brandSettings(brand: $brand) { brandId senderName } }",
        brand_a,
        EVERYONE,
        lambda w, d: _same(
            d["brandSettings"], {"brandId": str(w.brand_a.id), "senderName": "Brand A"}
        ),
    ),
    Case(
        "brandMembers",
        "query($brand: ID!) { brandMembers(brand: $brand) { totalCount nodes { email role } } }",
        brand_a,
        OWNER,
        lambda w, d: _same(
            (d["brandMembers"]["totalCount"], _roles(d["brandMembers"])),
            (2, {w.manager_a.email: "MANAGER", w.viewer_a.email: "VIEWER"}),
        ),
    ),
    Case(
        "auditEvents",
        'query($agency: ID!) { auditEvents(agency: $agency, objectType: "brands") '
        "{ nodes { action objectType brandId } } }",
        agency_a,
        OWNER,
        lambda w, d: _same(
            {(e["objectType"], e["brandId"]) for e in d["auditEvents"]["nodes"]},
            {("brands", str(w.brand_a.id))},
        ),
    ),
    Case(
        "clients",
        "query($agency: ID!) { clients(agency: $agency) { totalCount nodes { name } } }",
        agency_a,
        OWNER,
        lambda w, d: _same(d["clients"], {"totalCount": 0, "nodes": []}),
    ),
    Case(
        "updateAgency",
        f"""mutation($agency: ID!) {{ updateAgency(agency: $agency, input: {{name: "Renamed"}})
            {{ {RESULT} ... on Agency {{ name }} }} }}""",
        agency_a,
        OWNER,
        lambda w, d: _same(d["updateAgency"], {"__typename": "Agency", "name": "Renamed"}),
    ),
    Case(
        "createBrand",
        f"""mutation($agency: ID!) {{ createBrand(agency: $agency, input: {{name: "New"}})
            {{ {RESULT} ... on Brand {{ name status agencyId }} }} }}""",
        agency_a,
        OWNER,
        lambda w, d: _same(
            d["createBrand"],
            {
                "__typename": "Brand",
                "name": "New",
                "status": "PROVISIONING",
                "agencyId": str(w.agency_a.id),
            },
        ),
    ),
    Case(
        "updateBrand",
        f"""mutation($brand: ID!) {{ updateBrand(brand: $brand, input: {{locale: "fr-BE"}})
            {{ {RESULT} ... on Brand {{ locale }} }} }}""",
        brand_a,
        OWNER,
        lambda w, d: _same(d["updateBrand"], {"__typename": "Brand", "locale": "fr-BE"}),
    ),
    Case(
        "updateBrandSettings",
        f"""mutation($brand: ID!) {{
            updateBrandSettings(brand: $brand, input: {{maxMessagesPerWeek: 5}})
            {{ {RESULT} ... on BrandSettings {{ maxMessagesPerWeek }} }} }}""",
        brand_a,
        frozenset({"owner", "manager"}),
        lambda w, d: _same(d["updateBrandSettings"]["maxMessagesPerWeek"], 5),
    ),
    Case(
        "grantBrandRole",
        f"""mutation($brand: ID!, $email: String!) {{
            grantBrandRole(brand: $brand, input: {{email: $email, role: VIEWER}})
            {{ {RESULT} ... on BrandGrant {{ email role }} }} }}""",
        lambda w: {**brand_a(w), "email": w.member_a.email},
        OWNER,
        lambda w, d: _same(d["grantBrandRole"]["role"], "VIEWER"),
    ),
    Case(
        "addAgencyMember",
        f"""mutation($agency: ID!, $email: String!) {{
            addAgencyMember(agency: $agency, input: {{email: $email, role: ADMIN}})
            {{ {RESULT} ... on AgencyMember {{ email role }} }} }}""",
        lambda w: {**agency_a(w), "email": w.owner_b.email},
        OWNER,
        lambda w, d: _same(d["addAgencyMember"]["role"], "ADMIN"),
    ),
    Case(
        "createClient",
        f"""mutation($agency: ID!) {{ createClient(agency: $agency, input: {{name: "ERP"}})
            {{ {RESULT} ... on ClientWithSecret {{ client {{ name public }} }} }} }}""",
        agency_a,
        OWNER,
        lambda w, d: _same(d["createClient"]["client"], {"name": "ERP", "public": False}),
    ),
    Case(
        "deleteBrand",
        f"""mutation($brand: ID!) {{ deleteBrand(brand: $brand)
            {{ {RESULT} ... on Deleted {{ id }} }} }}""",
        brand_a,
        OWNER,
        lambda w, d: _same(d["deleteBrand"], {"__typename": "Deleted", "id": str(w.brand_a.id)}),
    ),
]


def _roles(connection: dict[str, Any]) -> dict[str, str]:
    return {m["email"]: m["role"] for m in connection["nodes"]}


def _same(actual: object, expected: object) -> None:
    assert actual == expected


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_each_field_serves_its_roles_only(
    app: Litestar, client: httpx.AsyncClient, case: Case
) -> None:
    world = await make_world(app)
    variables = case.variables(world)
    seen = []
    for role in ROLES:
        body = await gql(client, case.document, person(world, role), variables)
        if role in case.allowed:
            assert "errors" not in body, (role, body)
            assert body["data"][case.name].get("__typename") != "OperationError", (role, body)
            case.check(world, body["data"])
        else:
            # Out of reach or short of role or scope: a GraphQL error with the problem's status.
            (error,) = body["errors"]
            expected = 404 if role == "outsider" else 403
            assert error["extensions"]["status"] == expected, (role, body)
            assert (body["data"] or {}).get(case.name) is None
        seen.append(role)
    assert seen == list(ROLES)


# Isolation across agencies --------------------------------------------------------------------


async def test_another_agencys_objects_are_not_found(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = await gql_data(
        client,
        """mutation($agency: ID!) { createClient(agency: $agency, input: {name: "B's ERP"})
           { ... on ClientWithSecret { client { id uuid } } } }""",
        world.owner_b,
        {"agency": str(world.agency_b.id)},
    )
    client_b = created["createClient"]["client"]
    # Asked through the caller's own agency, B's client is simply not there.
    found = await gql_data(
        client,
        "query($agency: ID!, $id: ID!) { client(agency: $agency, id: $id) { name } }",
        world.owner_a,
        {"agency": str(world.agency_a.id), "id": client_b["uuid"]},
    )
    assert found == {"client": None}
    # node(id:) answers null for B's agency, brand and client, and finds A's own.
    ids = [
        global_id("Agency", world.agency_b.id),
        global_id("Brand", world.brand_b.id),
        client_b["id"],
    ]
    for node_id in ids:
        data = await gql_data(
            client, "query($id: ID!) { node(id: $id) { id } }", world.owner_a, {"id": node_id}
        )
        assert data == {"node": None}, node_id
    own = await gql_data(
        client,
        "query($id: ID!) { node(id: $id) { ... on Agency { name } } }",
        world.owner_a,
        {"id": global_id("Agency", world.agency_a.id)},
    )
    assert own == {"node": {"name": "Agency A"}}
    # Nothing of agency B leaks into A's lists.
    data = await gql_data(
        client,
        """query($agency: ID!) { agencyBrands(agency: $agency) { nodes { name } }
             auditEvents(agency: $agency) { nodes { agencyId brandId } } }""",
        world.owner_a,
        {"agency": str(world.agency_a.id)},
    )
    assert names(data["agencyBrands"]) == ["Brand A"]
    events = data["auditEvents"]["nodes"]
    assert events
    assert all(str(world.brand_b.id) != e["brandId"] for e in events)
    assert all(str(world.agency_b.id) != e["agencyId"] for e in events)


# Bad input ------------------------------------------------------------------------------------

BAD_INPUTS = [
    (
        "createBrand",
        'createBrand(agency: $agency, input: {name: "X", locale: "french"})',
        "locale",
    ),
    (
        "createBrand",
        'createBrand(agency: $agency, input: {name: "X", timeZone: "Mars/Base"})',
        "timeZone",
    ),
    ("updateAgency", 'updateAgency(agency: $agency, input: {name: ""})', "name"),
    (
        "updateBrandSettings",
        'updateBrandSettings(brand: $brand, input: {quietHoursStart: "25:00"})',
        "quietHoursStart",
    ),
    (
        "addAgencyMember",
        'addAgencyMember(agency: $agency, input: {email: "nobody@nowhere.test", role: ADMIN})',
        "email",
    ),
    (
        "createClient",
        'createClient(agency: $agency, input: {name: "SPA", public: true, '
        'redirectUris: ["http://app.example.com/cb"]})',
        "redirectUris",
    ),
]


@pytest.mark.parametrize(
    ("mutation", "call", "field_name"), BAD_INPUTS, ids=[f for _, _, f in BAD_INPUTS]
)
async def test_bad_input_is_an_operation_error_naming_the_field(
    app: Litestar, client: httpx.AsyncClient, mutation: str, call: str, field_name: str
) -> None:
    world = await make_world(app)
    arguments = "$agency: ID!" if "$agency" in call else "$brand: ID!"
    variables = agency_a(world) if "$agency" in call else brand_a(world)
    data = await gql_data(
        client, f"mutation({arguments}) {{ {call} {{ {RESULT} }} }}", world.owner_a, variables
    )
    error = data[mutation]
    assert (error["__typename"], error["httpStatus"]) == ("OperationError", 422)
    assert [e["field"] for e in error["fieldErrors"]] == [field_name]


# Members and brand roles ----------------------------------------------------------------------

MEMBER = f"... on AgencyMember {{ email role }} {RESULT}"


async def test_member_and_brand_role_writes(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    agency, brand = str(world.agency_a.id), str(world.brand_a.id)
    owner = world.owner_a
    changed = await gql_data(
        client,
        f"""mutation($agency: ID!, $user: ID!) {{
          changeAgencyMemberRole(agency: $agency, input: {{userId: $user, role: ADMIN}})
          {{ {MEMBER} }} }}""",
        owner,
        {"agency": agency, "user": str(world.member_a.id)},
    )
    assert changed["changeAgencyMemberRole"]["role"] == "ADMIN"
    last_owner = await gql_data(
        client,
        f"""mutation($agency: ID!, $user: ID!) {{
          changeAgencyMemberRole(agency: $agency, input: {{userId: $user, role: MEMBER}})
          {{ {MEMBER} }} }}""",
        owner,
        {"agency": agency, "user": str(owner.id)},
    )
    assert last_owner["changeAgencyMemberRole"]["httpStatus"] == 409

    revoked = await gql_data(
        client,
        f"""mutation($brand: ID!, $user: ID!) {{
          revokeBrandRole(brand: $brand, input: {{userId: $user}})
          {{ {RESULT} ... on Deleted {{ id }} }} }}""",
        owner,
        {"brand": brand, "user": str(world.viewer_a.id)},
    )
    assert revoked["revokeBrandRole"] == {"__typename": "Deleted", "id": str(world.viewer_a.id)}
    gone = await gql(
        client,
        "query($brand: ID!) { brandSettings(brand: $brand) { senderName } }",
        world.viewer_a,
        {"brand": brand},
    )
    assert gone["errors"][0]["extensions"]["status"] == 404

    removed = await gql_data(
        client,
        f"""mutation($agency: ID!, $user: ID!) {{
          removeAgencyMember(agency: $agency, input: {{userId: $user}})
          {{ {RESULT} ... on Deleted {{ id }} }} }}""",
        owner,
        {"agency": agency, "user": str(world.manager_a.id)},
    )
    assert removed["removeAgencyMember"]["id"] == str(world.manager_a.id)
    members = await gql_data(
        client,
        "query($agency: ID!) { agencyMembers(agency: $agency) { nodes { email } } }",
        owner,
        {"agency": agency},
    )
    emails = {m["email"] for m in members["agencyMembers"]["nodes"]}
    assert world.manager_a.email not in emails
    assert world.member_a.email in emails


# OAuth clients --------------------------------------------------------------------------------


async def test_client_lifecycle(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    agency = str(world.agency_a.id)
    admin = world.admin_a
    created = await gql_data(
        client,
        """mutation($agency: ID!, $brand: ID!) {
          createClient(agency: $agency, input: {name: "ERP", brandIds: [$brand]}) {
            ... on ClientWithSecret {
              clientId clientSecret client { id uuid brandIds secretPrefix } }
          } }""",
        admin,
        {"agency": agency, "brand": str(world.brand_a.id)},
    )
    shown = created["createClient"]
    assert shown["clientId"] == shown["client"]["uuid"]
    assert shown["clientSecret"].startswith(shown["client"]["secretPrefix"])
    assert shown["client"]["brandIds"] == [str(world.brand_a.id)]
    client_id = shown["client"]["id"]  # the global id is accepted wherever an id is

    updated = await gql_data(
        client,
        """mutation($agency: ID!, $id: ID!) {
          updateClient(agency: $agency, input: {id: $id, name: "ERP 2", disabled: true}) {
            ... on OAuthClient { name disabled } } }""",
        admin,
        {"agency": agency, "id": client_id},
    )
    assert updated["updateClient"] == {"name": "ERP 2", "disabled": True}
    rotated = await gql_data(
        client,
        """mutation($agency: ID!, $id: ID!) {
          rotateClientSecret(agency: $agency, input: {id: $id}) {
            ... on ClientWithSecret { clientSecret } } }""",
        admin,
        {"agency": agency, "id": client_id},
    )
    assert rotated["rotateClientSecret"]["clientSecret"] not in (None, shown["clientSecret"])
    fetched = await gql_data(
        client,
        "query($agency: ID!, $id: ID!) { client(agency: $agency, id: $id) { name } }",
        admin,
        {"agency": agency, "id": client_id},
    )
    assert fetched == {"client": {"name": "ERP 2"}}
    deleted = await gql_data(
        client,
        """mutation($agency: ID!, $id: ID!) {
          deleteClient(agency: $agency, input: {id: $id}) { ... on Deleted { id } } }""",
        admin,
        {"agency": agency, "id": client_id},
    )
    assert deleted["deleteClient"] == {"id": shown["client"]["uuid"]}
    again = await gql_data(
        client,
        "query($agency: ID!, $id: ID!) { client(agency: $agency, id: $id) { name } }",
        admin,
        {"agency": agency, "id": client_id},
    )
    assert again == {"client": None}


# Pagination -----------------------------------------------------------------------------------

PAGES = {
    "agencyBrands": "query($agency: ID!, $after: String) { agencyBrands(agency: $agency, "
    "first: 2, after: $after) { nodes { name } pageInfo { hasNextPage endCursor } } }",
    "agencies": "query($after: String) { agencies(first: 2, after: $after) "
    "{ nodes { name } pageInfo { hasNextPage endCursor } } }",
    "brands": "query($after: String) { brands(first: 2, after: $after) "
    "{ nodes { name } pageInfo { hasNextPage endCursor } } }",
    "auditEvents": "query($agency: ID!, $after: String) { auditEvents(agency: $agency, "
    'first: 2, after: $after, objectType: "brands", action: CREATED) '
    "{ nodes { name: objectId } pageInfo { hasNextPage endCursor } } }",
}


@pytest.mark.parametrize("name", PAGES)
async def test_lists_are_paged_connections(
    app: Litestar, client: httpx.AsyncClient, name: str
) -> None:
    world = await make_world(app)
    expected = ["Brand A"]
    for extra in ("Brand A2", "Brand A3"):
        brand = await make_brand(app, world.agency_a.id, extra, provision=False)
        expected.append(extra if name != "auditEvents" else str(brand.id))
    if name == "auditEvents":
        expected[0] = str(world.brand_a.id)
    if name == "agencies":
        for extra in ("Agency 2", "Agency 3"):
            await gql_data(
                client,
                f'mutation {{ createAgency(input: {{name: "{extra}"}}) {{ __typename }} }}',
                world.owner_a,
            )
        expected = ["Agency A", "Agency 2", "Agency 3"]
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        variables: dict[str, Any] = {"after": after}
        if "$agency" in PAGES[name]:
            variables["agency"] = str(world.agency_a.id)
        data = (await gql_data(client, PAGES[name], world.owner_a, variables))[name]
        seen += [n["name"] for n in data["nodes"]]
        pages += 1
        if not data["pageInfo"]["hasNextPage"]:
            break
        assert data["pageInfo"]["endCursor"]
        after = data["pageInfo"]["endCursor"]
    assert pages == 2
    assert seen == expected
