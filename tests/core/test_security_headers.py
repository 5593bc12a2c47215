"""Every response carries security headers, errors and unmatched routes included."""

from __future__ import annotations

import httpx
from litestar import Litestar

from backend.app import create_app
from backend.config import Environment, Settings
from tests.factories import make_world, serving

BASELINE = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}


def _has_baseline(response: httpx.Response) -> None:
    for name, value in BASELINE.items():
        assert response.headers.get(name) == value, (name, dict(response.headers))


async def test_api_answers_carry_security_headers_and_a_locked_down_policy(
    client: httpx.AsyncClient,
) -> None:
    for response in (
        await client.get("/health"),
        await client.get("/v1/nope"),  # unmatched route
        await client.delete("/health"),  # method not allowed
        await client.get("/v1/brands"),  # 401 problem
    ):
        _has_baseline(response)
        assert response.headers["content-security-policy"] == (
            "default-src 'none'; frame-ancestors 'none'"
        )


async def test_authenticated_answers_are_not_cached(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.get("/v1/brands", headers=world.owner_a.headers)
    assert response.status_code == 200
    _has_baseline(response)
    assert response.headers["cache-control"] == "no-store"
    assert "cache-control" not in (await client.get("/health")).headers


async def test_html_pages_keep_their_scripts(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    _has_baseline(response)
    assert "content-security-policy" not in response.headers


async def test_hsts_is_sent_in_production_only(
    client: httpx.AsyncClient, settings: Settings, stack: str
) -> None:
    assert "strict-transport-security" not in (await client.get("/health")).headers
    if stack != "postgres":
        return  # production needs PostgreSQL
    production = settings.replace(
        env=Environment.PRODUCTION, secret_key="s" * 40, public_url="https://levier.example.test"
    )
    async with serving(create_app(production)) as prod_client:
        response = await prod_client.get("/health")
    assert response.headers["strict-transport-security"].startswith("max-age=")
