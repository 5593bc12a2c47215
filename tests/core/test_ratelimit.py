"""Rate limits per caller (or client IP) and per brand: 429 problem+json, Retry-After, fail open."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import pytest
import redis
from litestar import Litestar
from structlog.testing import capture_logs

from backend.app import create_app
from backend.config import Settings, SettingsError, load_settings
from backend.core.ratelimit import RateLimiter, brand_of
from tests.auth.oauth_helpers import TOKEN_URL, make_client, oauth_client
from tests.factories import Person, World, make_person, make_world, problem, serving, session_of

HIGH = "1000/minute"


@dataclass(frozen=True)
class Limited:
    app: Litestar
    world: World
    http: httpx.AsyncClient

    async def get(self, path: str, person: Person | None = None) -> httpx.Response:
        return await self.http.get(path, headers=person.headers if person else None)


@contextlib.asynccontextmanager
async def limited(settings: Settings, **overrides: Any) -> AsyncIterator[Limited]:
    """An app with these limits, its lifespan open, and the usual world of people and brands."""
    app = create_app(settings.replace(**overrides))
    async with serving(app) as client:
        yield Limited(app, await make_world(app), client)


def assert_retry_after(response: httpx.Response, kind: str) -> None:
    body = problem(response, 429)
    assert body["type"] == "urn:levier:problem:rate-limited"
    assert kind in body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["ratelimit-remaining"] == "0"


async def test_fourth_request_of_a_caller_is_problem_429(settings: Settings) -> None:
    async with limited(settings, rate_limit_per_caller="3/minute") as t:
        for remaining in ("2", "1", "0"):
            response = await t.get("/v1/agencies", t.world.owner_a)
            assert response.status_code == 200, response.text
            assert response.headers["ratelimit-limit"] == "3"
            assert response.headers["ratelimit-remaining"] == remaining
            assert 1 <= int(response.headers["ratelimit-reset"]) <= 60
        refused = await t.get("/v1/agencies", t.world.owner_a)
        assert_retry_after(refused, "caller")
        # Other routes too: the budget is the caller's, not the route's.
        assert_retry_after(await t.get("/v1/brands", t.world.owner_a), "caller")
        other = await t.get("/v1/agencies", t.world.owner_b)
        assert other.status_code == 200, other.text
        assert other.headers["ratelimit-remaining"] == "2"


async def test_callers_on_one_brand_share_its_budget(settings: Settings) -> None:
    async with limited(settings, rate_limit_per_caller=HIGH, rate_limit_per_brand="3/minute") as t:
        brand_a, brand_b = t.world.brand_a.id, t.world.brand_b.id
        assert (await t.get(f"/v1/brands/{brand_a}", t.world.owner_a)).status_code == 200
        assert (await t.get(f"/v1/brands/{brand_a}/", t.world.manager_a)).status_code == 200
        # GraphQL names the brand in the Levier-Brand header: the same budget.
        graphql = await t.http.post(
            "/graphql",
            json={"query": "{ brand { name } }"},
            headers={**t.world.viewer_a.headers, "Levier-Brand": str(brand_a)},
        )
        assert graphql.status_code == 200, graphql.text
        assert graphql.json()["data"]["brand"]["name"] == "Brand A"
        assert graphql.headers["ratelimit-remaining"] == "0"
        assert_retry_after(await t.get(f"/v1/brands/{brand_a}", t.world.admin_a), "brand")
        # Another brand has its own budget; the callers still have theirs for brand-less calls.
        assert (await t.get(f"/v1/brands/{brand_b}", t.world.owner_b)).status_code == 200
        assert (await t.get("/v1/agencies", t.world.admin_a)).status_code == 200


async def test_outsiders_do_not_spend_a_brand_budget(settings: Settings) -> None:
    async with limited(settings, rate_limit_per_caller=HIGH, rate_limit_per_brand="2/minute") as t:
        path = f"/v1/brands/{t.world.brand_a.id}"
        for _ in range(3):
            problem(await t.get(path, t.world.owner_b), 404)  # another agency's caller
            problem(await t.get(path), 401)  # anonymous
        for _ in range(2):
            assert (await t.get(path, t.world.owner_a)).status_code == 200
        assert_retry_after(await t.get(path, t.world.owner_a), "brand")


async def test_a_caller_over_its_limit_does_not_spend_the_brand_budget(settings: Settings) -> None:
    async with limited(
        settings, rate_limit_per_caller="1/minute", rate_limit_per_brand="2/minute"
    ) as t:
        path = f"/v1/brands/{t.world.brand_a.id}"
        assert (await t.get(path, t.world.manager_a)).status_code == 200
        for _ in range(3):
            assert_retry_after(await t.get(path, t.world.manager_a), "caller")
        response = await t.get(path, t.world.owner_a)
        assert response.status_code == 200, response.text
        assert response.headers["ratelimit-remaining"] == "0"


async def test_anonymous_requests_are_limited_by_client_ip(settings: Settings) -> None:
    async with limited(settings, rate_limit_per_caller="2/minute") as t:
        for _ in range(2):
            problem(await t.get("/v1/agencies"), 401)
        assert_retry_after(await t.get("/v1/agencies"), "caller")
        # A signed-in caller from the same address has a budget of its own...
        assert (await t.get("/v1/agencies", t.world.owner_a)).status_code == 200
        # ...and so has another address.
        transport = httpx.ASGITransport(app=t.app, client=("203.0.113.7", 4321))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
            problem(await other.get("/v1/agencies"), 401)


async def test_health_schema_and_recipient_links_are_never_limited(settings: Settings) -> None:
    async with limited(settings, rate_limit_per_caller="1/minute") as t:
        # Recipient links with a bad token answer 404, never 429 (mailbox proxies share addresses).
        paths = {"/health": 200, "/ready": 200, "/schema/openapi.json": 200, "/t/o/bad": 404}
        for path, status in paths.items():
            for _ in range(3):
                response = await t.get(path, t.world.owner_a)
                assert response.status_code == status, (path, response.text)
                assert "ratelimit-limit" not in response.headers
        assert (await t.get("/v1/agencies", t.world.owner_a)).status_code == 200


async def test_disabled_limits_never_refuse(settings: Settings) -> None:
    async with limited(
        settings,
        rate_limit_enabled=False,
        rate_limit_per_caller="1/minute",
        rate_limit_per_brand="1/minute",
    ) as t:
        assert t.app.state.rate_limiter is None
        for _ in range(3):
            response = await t.get(f"/v1/brands/{t.world.brand_a.id}", t.world.owner_a)
            assert response.status_code == 200, response.text
            assert "ratelimit-limit" not in response.headers


async def test_the_tightest_of_several_limits_is_announced(settings: Settings) -> None:
    async with limited(settings, rate_limit_per_caller="5/minute;2/hour") as t:
        first = await t.get("/v1/agencies", t.world.owner_a)
        assert first.headers["ratelimit-limit"] == "2"
        assert first.headers["ratelimit-remaining"] == "1"
        assert (await t.get("/v1/agencies", t.world.owner_a)).status_code == 200
        refused = await t.get("/v1/agencies", t.world.owner_a)
        body = problem(refused, 429)
        assert "2 per 1 hour" in body["detail"]
        assert 60 < int(refused.headers["retry-after"]) <= 3600


@pytest.mark.parametrize("stack", ["postgres"])
async def test_api_replicas_share_budgets_in_redis(settings: Settings) -> None:
    limits = {"rate_limit_per_caller": "3/minute"}
    async with limited(settings, **limits) as one:
        two = create_app(settings.replace(**limits))
        async with serving(two) as client_two:
            for client in (one.http, client_two, one.http):
                response = await client.get("/v1/agencies", headers=one.world.owner_a.headers)
                assert response.status_code == 200, response.text
            assert_retry_after(
                await client_two.get("/v1/agencies", headers=one.world.owner_a.headers), "caller"
            )
    assert settings.redis_url is not None
    # Under the deployment's namespace, so deployments (and test runs) sharing a Redis never mix.
    prefix = f"{settings.redis_namespace}:ratelimit:"
    keys = [k.decode() for k in redis.Redis.from_url(settings.redis_url).scan_iter(f"{prefix}*")]
    assert any(str(one.world.owner_a.id) in key for key in keys), keys


@pytest.mark.parametrize("stack", ["embedded"])
async def test_unreachable_redis_lets_requests_through(settings: Settings) -> None:
    # No Redis listens on port 1: the broker is unusable too, but these requests enqueue nothing.
    app = create_app(
        settings.replace(
            redis_url="redis://127.0.0.1:1/0",
            embedded_worker=False,
            rate_limit_per_caller="1/minute",
        )
    )
    limiter: RateLimiter = app.state.rate_limiter
    assert limiter is not None
    async with serving(app) as client:
        async with session_of(app) as session:
            person = await make_person(session, "someone@example.test")
            await session.commit()
        with capture_logs() as logs:
            for _ in range(3):
                response = await client.get("/v1/agencies", headers=person.headers)
                assert response.status_code == 200, response.text
                assert "ratelimit-limit" not in response.headers
            problem(await client.get("/v1/agencies"), 401)
    warnings = [e for e in logs if e["event"] == "rate_limit_storage_unavailable"]
    assert warnings
    assert warnings[0]["log_level"] == "warning"


def test_invalid_limits_are_refused_at_startup() -> None:
    names = (
        "LEVIER_RATE_LIMIT_PER_CALLER",
        "LEVIER_RATE_LIMIT_PER_BRAND",
        "LEVIER_LOGIN_FAILURES_PER_IP",
    )
    for name in names:
        for value in ("lots", "", "0/minute", "10/minute junk"):
            with pytest.raises(SettingsError, match=name):
                load_settings({name: value})
    settings = load_settings(
        {
            "LEVIER_RATE_LIMIT_PER_CALLER": "20/second;1000/hour",
            "LEVIER_RATE_LIMIT_PER_BRAND": "100 per minute",
            "LEVIER_RATE_LIMIT_ENABLED": "false",
        }
    )
    assert settings.rate_limit_per_caller == "20/second;1000/hour"
    assert settings.rate_limit_enabled is False
    with pytest.raises(SettingsError):
        Settings(rate_limit_per_brand="often").validate()


def test_the_brand_of_a_request() -> None:
    brand = UUID("01a20d85-e2eb-78a6-aa55-b28d88104b43")

    def scope(path: str, *headers: tuple[bytes, bytes]) -> Any:
        return {"path": path, "headers": list(headers)}

    assert brand_of(scope(f"/v1/brands/{brand}")) == brand
    assert brand_of(scope(f"/v1/brands/{str(brand).upper()}/settings")) == brand
    assert brand_of(scope("/v1/brands/not-a-uuid")) is None
    assert brand_of(scope("/v1/brands")) is None
    assert brand_of(scope("/graphql", (b"levier-brand", str(brand).encode()))) == brand
    assert brand_of(scope("/graphql", (b"levier-brand", b"junk"))) is None
    other = UUID("01a20d85-e2eb-78a6-aa55-b28d88104b44")
    # The path names the brand the route works on; a stray header does not override it.
    assert brand_of(scope(f"/v1/brands/{brand}", (b"levier-brand", str(other).encode()))) == brand


async def test_an_oauth_client_has_a_budget_of_its_own(settings: Settings) -> None:
    async with limited(settings, rate_limit_per_caller="2/minute") as t:
        tokens = []
        for _ in range(2):
            client_id, secret = await make_client(t.app, t.world.agency_a.id)
            async with oauth_client(t.app, client_id=client_id, client_secret=secret) as oauth:
                tokens.append(await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials"))
        first, second = ({"Authorization": f"Bearer {tk['access_token']}"} for tk in tokens)
        for _ in range(2):
            assert (await t.http.get("/v1/brands", headers=first)).status_code == 200
        assert_retry_after(await t.http.get("/v1/brands", headers=first), "caller")
        assert (await t.http.get("/v1/brands", headers=second)).status_code == 200
