"""Who may call which brand route: one table, role x route, derived from the app's route table
(a new route under ``/v1/brands/{brand_id}`` is covered the day it is added).

The expected answer follows from what the route declares (its scope and the access it needs,
viewer to read and manager to write unless it says otherwise) and the brand guard's order:
no caller → 401; no role on the brand → 404 (its existence is never confirmed); a token without
the route's scope or a role below the route's → 403; otherwise the guard lets the request
through (2xx for a plain read of the brand; any answer but 401/403 and the brand's 404 else:
the other ids in the path are made up, the bodies empty).

SQLite only: access is decided in the app, before any database specifics. One world for the
module, one request per case.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from litestar import Litestar
from litestar.routes import HTTPRoute

from backend.app import create_app
from backend.auth import service as auth_service
from backend.auth.scopes import ALL_SCOPES
from backend.core.access import Access
from backend.core.api import BRAND_ACCESS_OPT, SCOPE_OPT
from tests.conftest import test_settings as settings_for
from tests.factories import World, make_brand, make_world, serving, session_of

BRAND_PREFIX = "/v1/brands/{brand_id:uuid}"
READS = {"GET"}
UNKNOWN_UUID = "00000000-0000-7000-8000-000000000000"


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # as declared, with the {name:type} parameters
    scope: str | None
    access: Access  # the least role the route needs on the brand

    @property
    def bare(self) -> bool:
        """Only the brand in the path."""
        return self.path.count("{") == 1

    def __str__(self) -> str:
        return f"{self.method} {self.path.removeprefix(BRAND_PREFIX) or '/'}"


def brand_routes(app: Litestar) -> list[Route]:
    routes: list[Route] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith(BRAND_PREFIX):
            continue
        for handler in route.route_handlers:
            declared = handler.opt.get(BRAND_ACCESS_OPT)
            for method in sorted(handler.http_methods - {"HEAD", "OPTIONS"}):
                default = Access.VIEWER if method in READS else Access.MANAGER
                access = declared if isinstance(declared, Access) else default
                routes.append(Route(str(method), route.path, handler.opt.get(SCOPE_OPT), access))
    return sorted(routes, key=str)


# Read once at collection, from an app that never connects.
ROUTES = brand_routes(create_app(settings_for(database_url="sqlite+aiosqlite:///:memory:")))

# Who calls, and the role it holds on brand A (None: no role there).
ROLES: dict[str, Access | None] = {
    "agency-owner": Access.OWNER,
    "agency-admin": Access.ADMIN,
    "agency-member": None,  # a member of brand A's agency without a grant on it
    "brand-manager": Access.MANAGER,
    "brand-viewer": Access.VIEWER,
    "outsider": None,  # the owner of another agency
    "token-lacking-scope": Access.OWNER,  # the agency owner, with every scope but the route's
    "anonymous": None,
}


def expected(role: str, route: Route) -> int | None:
    """The status the guard answers, or None when it lets the request through."""
    if role == "anonymous":
        return 401
    access = ROLES[role]
    if access is None:
        return 404
    if role == "token-lacking-scope" or access < route.access:
        return 403
    return None


@dataclass
class Matrix:
    app: Litestar
    client: httpx.AsyncClient
    world: World
    headers: dict[str, dict[str, str]]
    lacking: dict[str | None, dict[str, str]]  # route scope -> a token without it

    async def token(self, person_id: Any, scopes: str | None = None) -> dict[str, str]:
        async with session_of(self.app) as session:
            token, _ = await auth_service.issue_access_token(
                session, person_id, ttl=dt.timedelta(hours=1), scopes=scopes
            )
            await session.commit()
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def matrix_database(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("matrix") / "levier.db"
    shutil.copy(sqlite_template, path)
    return path


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def matrix(matrix_database: Path) -> AsyncIterator[Matrix]:
    app = create_app(settings_for(database_url=f"sqlite+aiosqlite:///{matrix_database}"))
    try:
        async with serving(app) as client:
            world = await make_world(app)
            headers = {
                "agency-owner": world.owner_a.headers,
                "agency-admin": world.admin_a.headers,
                "agency-member": world.member_a.headers,
                "brand-manager": world.manager_a.headers,
                "brand-viewer": world.viewer_a.headers,
                "outsider": world.owner_b.headers,
                "anonymous": {},
            }
            found = Matrix(app, client, world, headers, {})
            for scope in {route.scope for route in ROUTES}:
                others = " ".join(sorted(ALL_SCOPES - {scope}))
                found.lacking[scope] = await found.token(world.owner_a.id, others)
            yield found
    finally:
        await app.state.engine.dispose()


def fill(path: str, brand_id: object) -> str:
    path = path.replace("{brand_id:uuid}", str(brand_id))
    path = re.sub(r"\{\w+:uuid\}", UNKNOWN_UUID, path)
    path = re.sub(r"\{\w+:int\}", "1", path)
    return re.sub(r"\{\w+:str\}", "missing", path)


def test_every_brand_route_is_in_the_table() -> None:
    assert len(ROUTES) >= 100, len(ROUTES)
    assert len({str(route) for route in ROUTES}) == len(ROUTES)


def test_every_brand_route_declares_a_scope() -> None:
    undeclared = [str(route) for route in ROUTES if route.scope not in ALL_SCOPES]
    assert undeclared == []


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.xdist_group("access-matrix")  # one worker builds the world (make: --dist loadgroup)
@pytest.mark.parametrize("route", ROUTES, ids=str)
@pytest.mark.parametrize("role", list(ROLES))
async def test_access(matrix: Matrix, role: str, route: Route) -> None:
    brand_id = matrix.world.brand_a.id
    status = expected(role, route)
    headers = matrix.lacking[route.scope] if role == "token-lacking-scope" else matrix.headers[role]
    if status is None and route.method == "DELETE" and route.bare:
        # Allowed to delete the brand itself: a brand of its own, so the table's stays.
        brand_id = (await make_brand(matrix.app, matrix.world.agency_a.id, "Doomed")).id
        headers = await matrix.token(matrix.world.owner_a.id)
        if role == "agency-admin":
            headers = await matrix.token(matrix.world.admin_a.id)
    body = None if route.method in READS | {"DELETE"} else {}
    response = await matrix.client.request(
        route.method, fill(route.path, brand_id), json=body, headers=headers
    )
    answer = f"{role} {route}: {response.status_code} {response.text[:300]}"
    if status is not None:
        assert response.status_code == status, answer
        problem = response.json()
        assert problem["status"] == status, answer
        if role == "token-lacking-scope":
            assert problem["type"].endswith(":insufficient-scope"), answer
        if status == 404:
            assert problem.get("detail") == "brand not found", answer
        return
    assert response.status_code not in (401, 403), answer
    if response.status_code == 404:
        assert response.json().get("detail") != "brand not found", answer
    if route.method in READS and route.bare:
        assert 200 <= response.status_code < 300, answer
