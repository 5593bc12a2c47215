"""Resolved bearer tokens are kept a few seconds per process, and forgotten as soon as this
process commits a change to tokens, people, clients, roles, grants or brands."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select, update

from backend.auth.caller import Caller
from backend.auth.caller_cache import CallerCache
from backend.auth.models import AccessToken
from backend.core.db import utcnow
from backend.core.security import hash_secret
from tests.factories import make_world, session_of, statements_of


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_entries_last_the_ttl_and_never_past_the_token() -> None:
    clock = Clock()
    cache = CallerCache(5, max_entries=2, clock=clock)
    caller = Caller(user_id=None)
    cache.put("long", caller, utcnow() + dt.timedelta(hours=1))
    cache.put("short", caller, utcnow() + dt.timedelta(seconds=2))
    clock.now += 3
    assert (cache.get("long"), cache.get("short")) == (caller, None)
    clock.now += 3
    assert cache.get("long") is None
    for key in ("a", "b", "c"):  # the oldest entries go first past the size bound
        cache.put(key, caller, utcnow() + dt.timedelta(hours=1))
    assert [cache.get(key) for key in ("a", "b", "c")] == [None, caller, caller]


def test_a_zero_ttl_keeps_nothing() -> None:
    cache = CallerCache(0)
    cache.put("key", Caller(user_id=None), utcnow() + dt.timedelta(hours=1))
    assert cache.get("key") is None


async def test_a_token_is_resolved_once_within_the_ttl(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    with statements_of(app) as statements:
        for _ in range(3):
            response = await client.get(
                f"/v1/brands/{world.brand_a.id}", headers=world.viewer_a.headers
            )
            assert response.status_code == 200, response.text
    assert len([s for s in statements if "FROM access_tokens" in s]) == 1


async def test_concurrent_requests_of_a_cold_token_resolve_it_once(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    app.state.caller_cache.clear()
    url = f"/v1/brands/{world.brand_a.id}"
    with statements_of(app) as statements:
        responses = await asyncio.gather(
            *(client.get(url, headers=world.viewer_a.headers) for _ in range(8))
        )
    assert [r.status_code for r in responses] == [200] * 8
    assert len([s for s in statements if "FROM access_tokens" in s]) == 1


@pytest.mark.parametrize("how", ["orm", "statement"])
async def test_a_revocation_committed_here_bites_at_once(
    app: Litestar, client: httpx.AsyncClient, how: str
) -> None:
    world = await make_world(app)
    url = f"/v1/brands/{world.brand_a.id}"
    assert (await client.get(url, headers=world.viewer_a.headers)).status_code == 200
    token_hash = hash_secret(world.viewer_a.token)
    async with session_of(app) as session:
        if how == "orm":
            token = await session.scalar(
                select(AccessToken).where(AccessToken.token_hash == token_hash)
            )
            assert token is not None
            token.revoked_at = utcnow()
        else:
            await session.execute(
                update(AccessToken)
                .where(AccessToken.token_hash == token_hash)
                .values(revoked_at=utcnow())
            )
        await session.commit()
    assert (await client.get(url, headers=world.viewer_a.headers)).status_code == 401
    # Others' tokens resolve again, unharmed.
    assert (await client.get(url, headers=world.manager_a.headers)).status_code == 200
