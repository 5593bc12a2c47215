"""Sign-in with email and password: cookie sessions, CSRF, backoff, sign-out, password change."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select

from backend.app import create_app
from backend.auth.backoff import SignInBackoff
from backend.auth.models import User, WebSession
from backend.config import Settings
from tests.auth.oauth_helpers import browser, csrf_of, sign_in
from tests.factories import PASSWORD, make_world, problem, session_of

# Wrong passwords sent at once for one account (the race of the failure count).
PARALLEL_GUESSES = 32
_PER_REQUEST = {"x-request-id", "ratelimit-remaining", "ratelimit-reset", "retry-after"}
_WAIT = re.compile(r"in \d+ seconds")


async def sessions_of(app: Litestar, email: str) -> int:
    async with session_of(app) as session:
        count = await session.scalar(
            select(func.count())
            .select_from(WebSession)
            .join(User, User.id == WebSession.user_id)
            .where(User.email == email)
        )
    return int(count or 0)


async def test_sign_in_sets_a_secure_session_cookie_and_goes_to_next(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    async with browser(app) as agent:
        response = await sign_in(agent, world.manager_a.email, next="/oauth/authorize?x=1")
        assert response.status_code == 303
        assert response.headers["location"] == "/oauth/authorize?x=1"
        cookie = response.headers["set-cookie"].lower()
        assert "levier_session=" in cookie
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert "path=/" in cookie
        account = await agent.get("/auth/account")
    assert account.status_code == 200
    assert world.manager_a.email in account.text
    assert await sessions_of(app, world.manager_a.email) == 1


async def test_next_never_leaves_the_site(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    async with browser(app) as agent:
        for target in ("https://evil.test/", "//evil.test/x", "/\\evil.test"):
            response = await sign_in(agent, world.manager_a.email, next=target)
            assert response.headers["location"] == "/auth/account", target


async def test_wrong_password_is_refused_without_a_session(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    async with browser(app) as agent:
        response = await sign_in(agent, world.manager_a.email, password="not-the-password")
        assert response.status_code == 401
        assert "the email or the password is wrong" in response.text
        assert "levier_session" not in response.headers.get("set-cookie", "")
        unknown = await sign_in(agent, "nobody@nowhere.test")
        assert unknown.status_code == 401
        assert "the email or the password is wrong" in unknown.text
    assert await sessions_of(app, world.manager_a.email) == 0


async def test_login_without_csrf_token_is_refused(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    async with browser(app) as agent:
        await agent.get("/auth/login")  # the CSRF cookie alone is not enough
        response = await agent.post(
            "/auth/login", data={"email": world.manager_a.email, "password": PASSWORD}
        )
    problem(response, 403)
    assert await sessions_of(app, world.manager_a.email) == 0


async def failures_of(app: Litestar, email: str, address: str = "127.0.0.1") -> int:
    """The account's failure count from ``address``, as the backoff's storage holds it."""
    backoff: SignInBackoff = app.state.sign_in_backoff
    return await backoff.storage.get(backoff.attempt_of(email, address).failures)


async def test_repeated_failures_lock_the_account_for_a_while(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    limit = app.state.settings.login_max_failures
    async with browser(app) as agent:
        for _ in range(limit - 1):
            assert (
                await sign_in(agent, world.manager_a.email, password="wrong-one!")
            ).status_code == 401
        last = await sign_in(agent, world.manager_a.email, password="wrong-one!")
        assert last.status_code == 401
        locked = await sign_in(agent, world.manager_a.email)  # the right password, too late
        assert locked.status_code == 429
        assert int(locked.headers["retry-after"]) > 0
        assert "try again" in locked.text
    assert await sessions_of(app, world.manager_a.email) == 0
    # The refused attempt counts too: the next wait will be longer.
    assert await failures_of(app, world.manager_a.email) == limit + 1


async def test_a_success_resets_the_failure_count(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    async with browser(app) as agent:
        await sign_in(agent, world.manager_a.email, password="wrong-one!")
        assert await failures_of(app, world.manager_a.email) == 1
        assert (await sign_in(agent, world.manager_a.email)).status_code == 303
    assert await failures_of(app, world.manager_a.email) == 0


async def test_parallel_wrong_passwords_are_all_counted_and_lock_the_account(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    limit = app.state.settings.login_max_failures
    async with browser(app) as agent:
        csrf = csrf_of(await agent.get("/auth/login"))
        answers = await asyncio.gather(
            *(
                sign_in(agent, world.manager_a.email, password="wrong-one!", csrf=csrf)
                for _ in range(PARALLEL_GUESSES)
            )
        )
        # Only `limit` passwords were checked; the others waited their turn, and have none.
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [401] * limit + [429] * (PARALLEL_GUESSES - limit)
        assert await failures_of(app, world.manager_a.email) == PARALLEL_GUESSES
        assert (await sign_in(agent, world.manager_a.email, csrf=csrf)).status_code == 429
    assert await sessions_of(app, world.manager_a.email) == 0


def _comparable(response: httpx.Response, email: str) -> tuple[int, list[tuple[str, str]], str]:
    """The answer with what differs from one request to the next whatever the account written
    out of it: the typed email (echoed in the form), the request id, the address's request
    budget, and the remaining wait (a function of time)."""
    headers = [
        (name, "N" if name in _PER_REQUEST else value)
        for name, value in response.headers.multi_items()
    ]
    body = _WAIT.sub("in N seconds", response.text.replace(email, "EMAIL"))
    return response.status_code, headers, body


async def test_an_unknown_email_is_answered_exactly_as_a_known_one(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    known = world.manager_a.email
    unknown = "nobody1@agency-a.test"  # as long as the known one: same Content-Length
    assert len(unknown) == len(known)
    limit = app.state.settings.login_max_failures
    async with browser(app) as agent:
        csrf = csrf_of(await agent.get("/auth/login"))
        steps = ["wrong-one!"] * limit + [PASSWORD, "wrong-one!"]
        answers = []
        for password in steps:  # interleaved: both waits are the same age when read
            answer = await sign_in(agent, known, password=password, csrf=csrf)
            other = await sign_in(agent, unknown, password=password, csrf=csrf)
            answers.append((_comparable(answer, known), _comparable(other, unknown)))
    assert [a[0][0] for a in answers] == [401] * limit + [429, 429]
    for of_known, of_unknown in answers:
        assert of_known == of_unknown
    assert await failures_of(app, unknown) == await failures_of(app, known) == limit + 2


async def test_the_owner_signs_in_from_another_address_while_one_is_locked_out(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    limit = app.state.settings.login_max_failures
    async with browser(app, "203.0.113.7") as attacker, browser(app, "198.51.100.20") as owner:
        for _ in range(limit):
            await sign_in(attacker, world.manager_a.email, password="wrong-one!")
        assert (await sign_in(attacker, world.manager_a.email)).status_code == 429
        assert (await sign_in(owner, world.manager_a.email)).status_code == 303
        assert (await owner.get("/auth/account")).status_code == 200
    assert await failures_of(app, world.manager_a.email, "203.0.113.7") == limit + 1


@pytest.mark.parametrize("budget", ["4/hour", "3/minute;4/hour"])
async def test_one_address_spraying_many_accounts_is_stopped(
    settings: Settings, budget: str
) -> None:
    app = create_app(settings.replace(login_failures_per_ip=budget))
    try:
        world = await make_world(app)
        async with browser(app, "203.0.113.7") as sprayer, browser(app, "198.51.100.20") as other:
            # Successes are not failures: they never spend the address's budget.
            for _ in range(5):
                assert (await sign_in(sprayer, world.viewer_a.email)).status_code == 303
            for number in range(3):
                guess = await sign_in(sprayer, f"someone{number}@agency-a.test", password="guess")
                assert guess.status_code == 401
            fourth = await sign_in(sprayer, world.owner_a.email, password="guess")
            assert fourth.status_code == (429 if budget.startswith("3/") else 401)
            refused = await sign_in(sprayer, world.manager_a.email)  # even the right password
            assert refused.status_code == 429
            assert int(refused.headers["retry-after"]) > 0
            # Nobody else is held back, and no account was locked by it.
            assert (await sign_in(other, world.manager_a.email)).status_code == 303
            assert (await sign_in(other, world.owner_a.email)).status_code == 303
    finally:
        await app.state.engine.dispose()
        await app.state.sign_in_backoff.aclose()


async def test_sign_in_refuses_to_check_a_password_it_cannot_count(
    settings: Settings,
) -> None:
    # Nothing listens on port 1 of the loopback: the counters cannot be reached.
    app = create_app(settings.replace(redis_url="redis://127.0.0.1:1/0", rate_limit_enabled=False))
    try:
        world = await make_world(app)
        async with browser(app) as agent:
            response = await sign_in(agent, world.manager_a.email)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert await sessions_of(app, world.manager_a.email) == 0
    finally:
        await app.state.engine.dispose()
        await app.state.sign_in_backoff.aclose()


async def test_sign_out_ends_the_session(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    async with browser(app) as agent:
        await sign_in(agent, world.manager_a.email)
        account = await agent.get("/auth/account")
        out = await agent.post("/auth/logout", data={"_csrf_token": csrf_of(account)})
        assert out.status_code == 303
        assert (await agent.get("/auth/account")).status_code == 303
    assert await sessions_of(app, world.manager_a.email) == 0


async def test_sign_out_without_csrf_is_refused(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    async with browser(app) as agent:
        await sign_in(agent, world.manager_a.email)
        problem(await agent.post("/auth/logout"), 403)
        assert (await agent.get("/auth/account")).status_code == 200


async def test_password_change_revokes_other_sessions_and_tokens(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    new_password = "a-much-better-passphrase"
    async with browser(app) as other, browser(app) as agent:
        await sign_in(other, world.manager_a.email)
        await sign_in(agent, world.manager_a.email)
        page = await agent.get("/auth/password")
        changed = await agent.post(
            "/auth/password",
            data={
                "current_password": PASSWORD,
                "new_password": new_password,
                "_csrf_token": csrf_of(page),
            },
        )
        assert changed.status_code == 200
        assert (await agent.get("/auth/account")).status_code == 200
        assert (await other.get("/auth/account")).status_code == 303
    problem(await client.get("/v1/brands", headers=world.manager_a.headers), 401)
    async with browser(app) as agent:
        assert (await sign_in(agent, world.manager_a.email)).status_code == 401
        assert (
            await sign_in(agent, world.manager_a.email, password=new_password)
        ).status_code == 303


async def test_password_change_needs_the_current_password(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    async with browser(app) as agent:
        await sign_in(agent, world.manager_a.email)
        page = await agent.get("/auth/password")
        refused = await agent.post(
            "/auth/password",
            data={
                "current_password": "not-it-at-all",
                "new_password": "a-much-better-passphrase",
                "_csrf_token": csrf_of(page),
            },
        )
        assert refused.status_code == 422
        short = await agent.post(
            "/auth/password",
            data={
                "current_password": PASSWORD,
                "new_password": "short",
                "_csrf_token": csrf_of(page),
            },
        )
        assert short.status_code == 422
    assert (await client.get("/v1/brands", headers=world.manager_a.headers)).status_code == 200
