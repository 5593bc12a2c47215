"""Who may call which billing route, derived from the app's routes (a new billing route is covered
the day it is added): agency routes answer 404 to another agency's people, 403 below the role
(owners and admins read, owners change); brand routes 404 out of reach (their matrix is
tests/test_access_matrix.py). One agency's billing never shows another's, in REST or GraphQL."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
from litestar import Litestar
from litestar.routes import HTTPRoute

from backend.auth.guards import AGENCY_ACCESS_OPT
from backend.config import Settings
from backend.core.access import Access
from backend.core.api import BRAND_ACCESS_OPT
from tests.billing.helpers import agency_url, brand_url, subscribe, sync_plans
from tests.billing.stripe_server import FakeStripe
from tests.factories import World, make_world
from tests.test_graphql import gql

AGENCY_PREFIX = "/v1/agencies/{agency_id:uuid}/billing"
BRAND_PREFIX = "/v1/brands/{brand_id:uuid}/billing"
UNKNOWN = "00000000-0000-7000-8000-000000000000"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    access: Access


def billing_routes(app: Litestar, prefix: str, opt: str) -> list[Route]:
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith(prefix):
            continue
        for handler in route.route_handlers:
            for method in sorted(handler.http_methods - {"HEAD", "OPTIONS"}):
                declared = handler.opt.get(opt)
                default = Access.VIEWER if method == "GET" else Access.MANAGER
                found.append(
                    Route(method, route.path, declared if isinstance(declared, Access) else default)
                )
    return found


def _people(world: World) -> dict[str, tuple[dict[str, str], Access | None]]:
    """Who calls, and their role on agency A and brand A (None: out of reach)."""
    return {
        "agency-owner": (world.owner_a.headers, Access.OWNER),
        "agency-admin": (world.admin_a.headers, Access.ADMIN),
        "brand-manager": (world.manager_a.headers, Access.MANAGER),
        "brand-viewer": (world.viewer_a.headers, Access.VIEWER),
        "other-agency-owner": (world.owner_b.headers, None),
        "anonymous": ({}, None),
    }


def _fill(path: str, world: World) -> str:
    path = path.replace("{agency_id:uuid}", str(world.agency_a.id))
    path = path.replace("{brand_id:uuid}", str(world.brand_a.id))
    return re.sub(r"\{\w+:uuid\}", UNKNOWN, path)


async def test_every_billing_route_answers_by_reach_then_role(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stripe: FakeStripe
) -> None:
    world = await make_world(app)
    await sync_plans(app, settings)
    routes = [
        *billing_routes(app, AGENCY_PREFIX, AGENCY_ACCESS_OPT),
        *billing_routes(app, BRAND_PREFIX, BRAND_ACCESS_OPT),
    ]
    assert len(routes) == 12, routes
    wrong = []
    for route in routes:
        for role, (headers, access) in _people(world).items():
            on_agency = route.path.startswith(AGENCY_PREFIX)
            if on_agency and access in (Access.MANAGER, Access.VIEWER):
                access = Access.VIEWER  # a member of the agency, without agency powers
            if role == "anonymous":
                expected: int | None = 401
            elif access is None:
                expected = 404
            elif access < route.access:
                expected = 403
            else:
                expected = None
            body = {} if route.method != "GET" else None
            response = await client.request(
                route.method, _fill(route.path, world), json=body, headers=headers
            )
            status = response.status_code
            if expected is not None and status != expected:
                wrong.append(f"{role} {route.method} {route.path}: {status} (not {expected})")
            if expected is None and status in (401, 403, 404):
                wrong.append(f"{role} {route.method} {route.path}: {status} {response.text[:120]}")
            if expected is None and route.method == "GET" and not 200 <= status < 300:
                wrong.append(f"{role} {route.method} {route.path}: {status} {response.text[:120]}")
    assert wrong == []


async def test_one_agencys_billing_never_shows_anothers(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stripe: FakeStripe
) -> None:
    world = await make_world(app)
    await sync_plans(app, settings)
    await subscribe(client, app, settings, stripe, world)
    mine = (await client.get(agency_url(world.agency_a.id), headers=world.owner_a.headers)).json()
    assert mine["coveredBrandIds"] == [str(world.brand_a.id)]
    theirs = (await client.get(agency_url(world.agency_b.id), headers=world.owner_b.headers)).json()
    assert theirs["status"] == "none"
    assert theirs["coveredBrandIds"] == [str(world.brand_b.id)]
    assert [b["brandId"] for b in theirs["brands"]] == [str(world.brand_b.id)]
    usage = await client.get(agency_url(world.agency_b.id, "/usage"), headers=world.owner_b.headers)
    assert [b["brandId"] for b in usage.json()["brands"]] == [str(world.brand_b.id)]
    for path in (agency_url(world.agency_a.id), brand_url(world.brand_a.id)):
        response = await client.get(path, headers=world.owner_b.headers)
        assert response.status_code == 404, path
    queries = [
        ("query($x: ID!) { agencyBilling(agency: $x) { status } }", world.agency_a.id),
        ("query($x: ID!) { billingUsage(agency: $x) { brands { brandId } } }", world.agency_a.id),
        ("query($x: ID!) { invoices(agency: $x) { nodes { id } } }", world.agency_a.id),
        ("query($x: ID!) { brandBilling(brand: $x) { status } }", world.brand_a.id),
        ("query($x: ID!) { brandInvoices(brand: $x) { nodes { id } } }", world.brand_a.id),
        ("query($x: ID!) { brandBillingUsage(brand: $x) { periodStart } }", world.brand_a.id),
        (
            "mutation($x: ID!) { createBrandPortalSession(brand: $x, input: "
            '{returnUrl: "https://b.test/r"}) { ... on PortalSession { url } } }',
            world.brand_a.id,
        ),
        (
            "mutation($x: ID!) { createPortalSession(agency: $x, input: "
            '{returnUrl: "https://b.test/r"}) { ... on PortalSession { url } } }',
            world.agency_a.id,
        ),
    ]
    for query, target in queries:
        answer = await gql(client, query, world.owner_b, {"x": str(target)})
        assert answer["errors"][0]["extensions"]["status"] == 404, (query, answer)
    assert stripe.portal_sessions == {}
