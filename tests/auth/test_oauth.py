"""The OAuth 2 flows, driven by authlib's own client against the running app."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import httpx
import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from litestar import Litestar
from sqlalchemy import func, select, update

from backend.auth.models import AccessToken
from tests.auth.oauth_helpers import (
    AUTHORIZE_URL,
    BASE,
    INTROSPECT_URL,
    REVOKE_URL,
    SPA_REDIRECT,
    TOKEN_URL,
    authorization_code,
    browser,
    csrf_of,
    make_client,
    oauth_client,
    sign_in,
)
from tests.factories import World, make_world, problem, session_of

# Token requests sent at once with one code or one refresh token (the race of single use).
PARALLEL = 8


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def partner_token(app: Litestar, world: World, **client: object) -> dict[str, str]:
    client_id, secret = await make_client(app, world.agency_a.id, **client)  # type: ignore[arg-type]
    async with oauth_client(app, client_id=client_id, client_secret=secret) as oauth:
        token: dict[str, str] = await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
    return token


async def spa_token(app: Litestar, world: World, scope: str = "brands:read profiles:read") -> dict:
    client_id, _ = await make_client(
        app, world.agency_a.id, public=True, first_party=True, brands=[world.brand_a.id]
    )
    async with browser(app) as agent:
        assert (await sign_in(agent, world.manager_a.email)).status_code == 303
        oauth, location, verifier = await authorization_code(app, agent, client_id, scope=scope)
        async with oauth:
            token: dict = await oauth.fetch_token(
                TOKEN_URL, authorization_response=location, code_verifier=verifier
            )
    return token


# -- discovery ------------------------------------------------------------------------------------


async def test_metadata_is_valid_rfc_8414_and_names_every_endpoint(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    metadata = AuthorizationServerMetadata(response.json())
    metadata.validate()
    assert metadata["issuer"] == BASE
    assert metadata["token_endpoint"] == TOKEN_URL
    assert metadata["authorization_endpoint"] == AUTHORIZE_URL
    assert metadata["revocation_endpoint"] == REVOKE_URL
    assert metadata["introspection_endpoint"] == INTROSPECT_URL
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert set(metadata["grant_types_supported"]) == {
        "authorization_code",
        "client_credentials",
        "refresh_token",
    }
    assert "profiles:write" in metadata["scopes_supported"]


# -- client credentials ---------------------------------------------------------------------------


async def test_client_credentials_token_reaches_granted_brand_only(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    token = await partner_token(app, world, brands=[world.brand_a.id])
    assert token["token_type"].lower() == "bearer"
    assert "refresh_token" not in token
    assert "profiles:write" in token["scope"].split()
    headers = bearer(token["access_token"])
    assert (await client.get(f"/v1/brands/{world.brand_a.id}", headers=headers)).status_code == 200
    problem(await client.get(f"/v1/brands/{world.brand_b.id}", headers=headers), 404)
    listed = (await client.get("/v1/brands", headers=headers)).json()["items"]
    assert [b["id"] for b in listed] == [str(world.brand_a.id)]


async def test_client_credentials_with_a_wrong_secret_is_refused(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    client_id, _ = await make_client(app, world.agency_a.id, brands=[world.brand_a.id])
    async with oauth_client(app, client_id=client_id, client_secret="lvr_cs_wrong") as oauth:
        with pytest.raises(OAuthError) as refused:
            await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
    assert refused.value.error == "invalid_client"


async def test_token_without_the_route_scope_answers_403_and_another_brand_404(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    token = await partner_token(app, world, brands=[world.brand_a.id], scopes=["profiles:read"])
    headers = bearer(token["access_token"])
    body = problem(await client.get(f"/v1/brands/{world.brand_a.id}", headers=headers), 403)
    assert body["type"] == "urn:levier:problem:insufficient-scope"
    assert "brands:read" in body["detail"]
    # The brand guard speaks first: another brand is not found, whatever the scope.
    problem(await client.get(f"/v1/brands/{world.brand_b.id}", headers=headers), 404)


async def test_a_client_token_cannot_act_as_a_person(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    token = await partner_token(app, world, brands=[world.brand_a.id])
    response = await client.post(
        "/v1/agencies", json={"name": "Mine"}, headers=bearer(token["access_token"])
    )
    problem(response, 403)


async def test_expired_token_answers_401(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    token = await partner_token(app, world, brands=[world.brand_a.id])
    async with session_of(app) as session:
        await session.execute(
            update(AccessToken).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
        await session.commit()
    response = await client.get("/v1/brands", headers=bearer(token["access_token"]))
    assert problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


# -- authorization code + PKCE -------------------------------------------------------------------


async def test_code_flow_signs_in_then_returns_a_code_and_the_token_works(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    client_id, secret = await make_client(
        app, world.agency_a.id, public=True, first_party=True, brands=[world.brand_a.id]
    )
    assert secret is None
    async with browser(app) as agent:
        oauth = oauth_client(
            app,
            client_id=client_id,
            redirect_uri=SPA_REDIRECT,
            scope="brands:read profiles:write",
            code_challenge_method="S256",
            token_endpoint_auth_method="none",
        )
        verifier = "a" * 64
        url, state = oauth.create_authorization_url(AUTHORIZE_URL, code_verifier=verifier)
        first = await agent.get(url)
        assert first.status_code == 303
        login_url = first.headers["location"]
        assert login_url.startswith("/auth/login?next=")
        login_page = await agent.get(login_url)
        next_path = query_of(login_url)["next"]
        signed_in = await agent.post(
            "/auth/login",
            data={
                "email": world.manager_a.email,
                "password": "correct-horse-battery",
                "next": next_path,
                "_csrf_token": csrf_of(login_page),
            },
        )
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == next_path
        cookie = signed_in.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie.replace("Lax", "lax")
        back = await agent.get(signed_in.headers["location"])
        assert back.status_code == 302
        location = back.headers["location"]
        assert location.startswith(SPA_REDIRECT + "?")
        assert query_of(location)["state"] == state
        async with oauth:
            token = await oauth.fetch_token(
                TOKEN_URL, authorization_response=location, code_verifier=verifier
            )
    assert set(token["scope"].split()) == {"brands:read", "profiles:write"}
    assert token["refresh_token"].startswith("lvr_rt_")
    headers = bearer(token["access_token"])
    assert (await client.get(f"/v1/brands/{world.brand_a.id}", headers=headers)).status_code == 200
    viewer = await client.post(
        "/graphql",
        json={"query": "{ viewer { email clientId brands { nodes { uuid } } } }"},
        headers=headers,
    )
    data = viewer.json()["data"]["viewer"]
    assert data["email"] == world.manager_a.email
    assert data["clientId"] == client_id
    assert [b["uuid"] for b in data["brands"]["nodes"]] == [str(world.brand_a.id)]


async def test_user_token_carries_only_what_the_role_allows(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    client_id, _ = await make_client(
        app, world.agency_a.id, public=True, first_party=True, brands=[world.brand_a.id]
    )
    async with browser(app) as agent:
        await sign_in(agent, world.viewer_a.email)
        oauth, location, verifier = await authorization_code(
            app, agent, client_id, scope="brands:read profiles:read profiles:write"
        )
        async with oauth:
            token = await oauth.fetch_token(
                TOKEN_URL, authorization_response=location, code_verifier=verifier
            )
    # A viewer's role reads; the write scope they asked for is not granted.
    assert set(token["scope"].split()) == {"brands:read", "profiles:read"}


async def test_a_client_reaches_only_brands_granted_to_it_even_for_an_owner(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    client_id, _ = await make_client(app, world.agency_a.id, public=True, first_party=True)
    async with browser(app) as agent:
        await sign_in(agent, world.owner_a.email)
        oauth, location, verifier = await authorization_code(app, agent, client_id)
        async with oauth:
            token = await oauth.fetch_token(
                TOKEN_URL, authorization_response=location, code_verifier=verifier
            )
    response = await client.get(
        f"/v1/brands/{world.brand_a.id}", headers=bearer(token["access_token"])
    )
    problem(response, 404)


async def test_third_party_client_asks_consent_once(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    client_id, _ = await make_client(app, world.agency_a.id, public=True, brands=[world.brand_a.id])
    async with browser(app) as agent:
        await sign_in(agent, world.manager_a.email)
        oauth = oauth_client(
            app,
            client_id=client_id,
            redirect_uri=SPA_REDIRECT,
            scope="profiles:read",
            code_challenge_method="S256",
        )
        url, _ = oauth.create_authorization_url(AUTHORIZE_URL, code_verifier="b" * 50)
        page = await agent.get(url)
        assert page.status_code == 200
        assert "profiles:read" in page.text
        assert "Allow" in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
        without_csrf = await agent.post(url, data={"decision": "approve"})
        assert without_csrf.status_code == 403
        approved = await agent.post(url, data={"decision": "approve", "_csrf_token": csrf_of(page)})
        assert approved.status_code == 302
        assert "code" in query_of(approved.headers["location"])
        again = await agent.get(url)
        assert again.status_code == 302, "consent is remembered"
        await oauth.aclose()


async def test_denied_consent_redirects_with_access_denied(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    client_id, _ = await make_client(app, world.agency_a.id, public=True, brands=[world.brand_a.id])
    async with browser(app) as agent:
        await sign_in(agent, world.manager_a.email)
        oauth = oauth_client(
            app, client_id=client_id, redirect_uri=SPA_REDIRECT, code_challenge_method="S256"
        )
        url, state = oauth.create_authorization_url(AUTHORIZE_URL, code_verifier="c" * 50)
        page = await agent.get(url)
        denied = await agent.post(url, data={"decision": "deny", "_csrf_token": csrf_of(page)})
        await oauth.aclose()
    assert denied.status_code == 302
    answer = query_of(denied.headers["location"])
    assert answer["error"] == "access_denied"
    assert answer["state"] == state


async def test_wrong_redirect_uri_is_refused_without_redirecting(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    client_id, _ = await make_client(app, world.agency_a.id, public=True, first_party=True)
    async with browser(app) as agent:
        await sign_in(agent, world.manager_a.email)
        oauth = oauth_client(
            app,
            client_id=client_id,
            redirect_uri=SPA_REDIRECT + "/evil",
            code_challenge_method="S256",
        )
        url, _ = oauth.create_authorization_url(AUTHORIZE_URL, code_verifier="d" * 50)
        response = await agent.get(url)
        await oauth.aclose()
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "redirect" in response.text.lower()


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({}, "invalid_request"),  # no PKCE at all
        ({"code_challenge": "e" * 43, "code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "e" * 43}, "invalid_request"),  # method defaults to plain: refused
    ],
    ids=["missing", "plain", "method-omitted"],
)
async def test_pkce_must_be_s256(
    app: Litestar, client: httpx.AsyncClient, extra: dict[str, str], error: str
) -> None:
    world = await make_world(app)
    client_id, _ = await make_client(app, world.agency_a.id, public=True, first_party=True)
    async with browser(app) as agent:
        await sign_in(agent, world.manager_a.email)
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": SPA_REDIRECT,
            "state": "s1",
            **extra,
        }
        response = await agent.get("/oauth/authorize", params=params)
    assert response.status_code == 302
    answer = query_of(response.headers["location"])
    assert answer["error"] == error
    assert "code" not in answer


async def test_code_is_single_use_and_a_replay_revokes_its_tokens(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    client_id, _ = await make_client(
        app, world.agency_a.id, public=True, first_party=True, brands=[world.brand_a.id]
    )
    async with browser(app) as agent:
        await sign_in(agent, world.manager_a.email)
        oauth, location, verifier = await authorization_code(app, agent, client_id)
        async with oauth:
            token = await oauth.fetch_token(
                TOKEN_URL, authorization_response=location, code_verifier=verifier
            )
            with pytest.raises(OAuthError) as replay:
                await oauth.fetch_token(
                    TOKEN_URL, authorization_response=location, code_verifier=verifier
                )
    assert replay.value.error == "invalid_grant"
    problem(await client.get("/v1/brands", headers=bearer(token["access_token"])), 401)


async def live_tokens_of(app: Litestar, client_id: str) -> int:
    async with session_of(app) as session:
        count = await session.scalar(
            select(func.count())
            .select_from(AccessToken)
            .where(AccessToken.client_id == UUID(client_id), AccessToken.revoked_at.is_(None))
        )
    return int(count or 0)


async def redeem_in_parallel(client: httpx.AsyncClient, form: dict[str, str]) -> dict[str, Any]:
    """Send one grant PARALLEL times at once: exactly one answer is a token, the others
    ``invalid_grant``; the token answer is returned."""
    answers = await asyncio.gather(
        *(client.post("/oauth/token", data=form) for _ in range(PARALLEL))
    )
    granted = [a.json() for a in answers if a.status_code == 200]
    refused = [a.json()["error"] for a in answers if a.status_code == 400]
    assert len(granted) == 1, [a.text for a in answers]
    assert refused == ["invalid_grant"] * (PARALLEL - 1)
    token: dict[str, Any] = granted[0]
    return token


async def test_parallel_exchanges_of_one_code_grant_once_and_the_replays_revoke_it(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    client_id, _ = await make_client(
        app, world.agency_a.id, public=True, first_party=True, brands=[world.brand_a.id]
    )
    async with browser(app) as agent:
        await sign_in(agent, world.manager_a.email)
        oauth, location, verifier = await authorization_code(app, agent, client_id)
        await oauth.aclose()
    form = {
        "grant_type": "authorization_code",
        "code": query_of(location)["code"],
        "redirect_uri": SPA_REDIRECT,
        "client_id": client_id,
        "code_verifier": verifier,
    }
    granted = await redeem_in_parallel(client, form)
    # The others were replays of a used code: what it bought is revoked, as after a late replay.
    assert await live_tokens_of(app, client_id) == 0
    problem(await client.get("/v1/brands", headers=bearer(granted["access_token"])), 401)
    refresh = {"grant_type": "refresh_token", "client_id": client_id}
    again = await client.post(
        "/oauth/token", data={**refresh, "refresh_token": granted["refresh_token"]}
    )
    assert again.status_code == 400


async def test_code_with_a_wrong_verifier_is_refused(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    client_id, _ = await make_client(app, world.agency_a.id, public=True, first_party=True)
    async with browser(app) as agent:
        await sign_in(agent, world.manager_a.email)
        oauth, location, _verifier = await authorization_code(app, agent, client_id)
        async with oauth:
            with pytest.raises(OAuthError) as refused:
                await oauth.fetch_token(
                    TOKEN_URL, authorization_response=location, code_verifier="f" * 60
                )
    assert refused.value.error == "invalid_grant"


# -- refresh, revocation, introspection --------------------------------------------------------


async def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_family(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    first = await spa_token(app, world)
    client_id = (await introspect_as_owner(app, world, first["access_token"]))["client_id"]
    async with oauth_client(app, client_id=client_id, token_endpoint_auth_method="none") as oauth:
        second = await oauth.refresh_token(TOKEN_URL, refresh_token=first["refresh_token"])
        assert second["refresh_token"] != first["refresh_token"]
        assert second["access_token"] != first["access_token"]
        assert (await client.get("/v1/brands", headers=bearer(second["access_token"]))).is_success
        # The rotated-out access token stops at once too.
        problem(await client.get("/v1/brands", headers=bearer(first["access_token"])), 401)
        with pytest.raises(OAuthError) as reuse:
            await oauth.refresh_token(TOKEN_URL, refresh_token=first["refresh_token"])
        assert reuse.value.error == "invalid_grant"
        # Someone replayed an old refresh token: the whole family is gone.
        problem(await client.get("/v1/brands", headers=bearer(second["access_token"])), 401)
        with pytest.raises(OAuthError):
            await oauth.refresh_token(TOKEN_URL, refresh_token=second["refresh_token"])


async def test_parallel_uses_of_one_refresh_token_rotate_once_and_revoke_the_family(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    first = await spa_token(app, world)
    client_id = (await introspect_as_owner(app, world, first["access_token"]))["client_id"]
    form = {
        "grant_type": "refresh_token",
        "refresh_token": first["refresh_token"],
        "client_id": client_id,
    }
    granted = await redeem_in_parallel(client, form)
    # A refresh token presented more than once was copied: nothing the race bought stays live.
    assert await live_tokens_of(app, client_id) == 0
    for token in (first, granted):
        problem(await client.get("/v1/brands", headers=bearer(token["access_token"])), 401)
    again = await client.post(
        "/oauth/token", data={**form, "refresh_token": granted["refresh_token"]}
    )
    assert again.status_code == 400


async def test_revoked_access_token_answers_401_at_once(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    client_id, secret = await make_client(app, world.agency_a.id, brands=[world.brand_a.id])
    async with oauth_client(app, client_id=client_id, client_secret=secret) as oauth:
        token = await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
        headers = bearer(token["access_token"])
        assert (await client.get("/v1/brands", headers=headers)).status_code == 200
        revoked = await oauth.revoke_token(REVOKE_URL, token=token["access_token"])
        assert revoked.status_code == 200
    problem(await client.get("/v1/brands", headers=headers), 401)


async def test_revoking_a_refresh_token_ends_the_grant(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    token = await spa_token(app, world)
    client_id = (await introspect_as_owner(app, world, token["access_token"]))["client_id"]
    async with oauth_client(app, client_id=client_id, token_endpoint_auth_method="none") as oauth:
        await oauth.revoke_token(
            REVOKE_URL, token=token["refresh_token"], token_type_hint="refresh_token"
        )
        problem(await client.get("/v1/brands", headers=bearer(token["access_token"])), 401)
        with pytest.raises(OAuthError):
            await oauth.refresh_token(TOKEN_URL, refresh_token=token["refresh_token"])


async def introspect_as_owner(app: Litestar, world: World, token: str) -> dict:
    client_id, secret = await make_client(app, world.agency_a.id)
    async with oauth_client(app, client_id=client_id, client_secret=secret) as oauth:
        response = await oauth.introspect_token(INTROSPECT_URL, token=token)
    assert response.status_code == 200
    body: dict = response.json()
    return body


async def test_introspection_describes_an_active_token_then_an_inactive_one(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    token = await spa_token(app, world)
    active = await introspect_as_owner(app, world, token["access_token"])
    assert active["active"] is True
    assert active["username"] == world.manager_a.email
    assert active["sub"] == str(world.manager_a.id)
    assert set(active["scope"].split()) == {"brands:read", "profiles:read"}
    assert active["exp"] > active["iat"]
    async with oauth_client(
        app, client_id=active["client_id"], token_endpoint_auth_method="none"
    ) as oauth:
        await oauth.revoke_token(REVOKE_URL, token=token["access_token"])
    assert await introspect_as_owner(app, world, token["access_token"]) == {"active": False}


async def test_another_agency_cannot_introspect_a_token(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    token = await partner_token(app, world, brands=[world.brand_a.id])
    client_id, secret = await make_client(app, world.agency_b.id)
    async with oauth_client(app, client_id=client_id, client_secret=secret) as oauth:
        response = await oauth.introspect_token(INTROSPECT_URL, token=token["access_token"])
    assert response.status_code == 200
    assert response.json() == {"active": False}
