"""Sign-in with email and password: cookie sessions, CSRF, backoff, sign-out, password change."""

from __future__ import annotations

import httpx
from litestar import Litestar
from sqlalchemy import func, select

from backend.auth.models import User, WebSession
from tests.auth.oauth_helpers import browser, csrf_of, sign_in
from tests.factories import PASSWORD, make_world, problem, session_of


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
    async with session_of(app) as session:
        user = await session.scalar(select(User).where(User.email == world.manager_a.email))
        assert user is not None
        assert user.failed_logins == limit
        assert user.locked_until is not None


async def test_a_success_resets_the_failure_count(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    async with browser(app) as agent:
        await sign_in(agent, world.manager_a.email, password="wrong-one!")
        assert (await sign_in(agent, world.manager_a.email)).status_code == 303
    async with session_of(app) as session:
        user = await session.scalar(select(User).where(User.email == world.manager_a.email))
        assert user is not None
        assert user.failed_logins == 0


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
