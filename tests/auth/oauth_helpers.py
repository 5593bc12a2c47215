"""A browser and OAuth clients (authlib's httpx client) against the running ASGI app."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from litestar import Litestar

from backend.auth import clients as client_service
from backend.auth.schemas import ClientCreate
from tests.factories import PASSWORD, session_of

# The app's issuer (LEVIER_PUBLIC_URL's default): loopback, so authlib accepts plain HTTP.
BASE = "http://127.0.0.1:8000"
AUTHORIZE_URL = f"{BASE}/oauth/authorize"
TOKEN_URL = f"{BASE}/oauth/token"
REVOKE_URL = f"{BASE}/oauth/revoke"
INTROSPECT_URL = f"{BASE}/oauth/introspect"
SPA_REDIRECT = "https://spa.example.test/callback"
_CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


def csrf_of(page: httpx.Response) -> str:
    match = _CSRF.search(page.text)
    assert match, page.text
    return match.group(1)


@asynccontextmanager
async def browser(app: Litestar, address: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    """A cookie-keeping user agent, at the client ``address`` the app sees, that does not follow
    redirects (the test does)."""
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as agent:
        yield agent


def oauth_client(app: Litestar, **kwargs: Any) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(transport=httpx.ASGITransport(app=app), **kwargs)


async def sign_in(
    agent: httpx.AsyncClient,
    email: str,
    password: str = PASSWORD,
    next: str = "/auth/account",
    csrf: str | None = None,
) -> httpx.Response:
    """Post the sign-in form (with ``csrf``, the token of a page already read, or a fresh one)."""
    if csrf is None:
        page = await agent.get("/auth/login", params={"next": next})
        assert page.status_code == 200
        csrf = csrf_of(page)
    return await agent.post(
        "/auth/login",
        data={"email": email, "password": password, "next": next, "_csrf_token": csrf},
    )


async def make_client(
    app: Litestar,
    agency_id: UUID,
    *,
    brands: list[UUID] | None = None,
    scopes: list[str] | None = None,
    public: bool = False,
    redirect_uris: list[str] | None = None,
    first_party: bool = False,
) -> tuple[str, str | None]:
    async with session_of(app) as session:
        view, secret = await client_service.create_client(
            session,
            None,
            agency_id,
            ClientCreate(
                name="Test client",
                brand_ids=brands or [],
                scopes=scopes,
                public=public,
                redirect_uris=redirect_uris or ([SPA_REDIRECT] if public else []),
                first_party=first_party,
            ),
        )
        await session.commit()
    return str(view.client.id), secret


async def authorization_code(
    app: Litestar,
    agent: httpx.AsyncClient,
    client_id: str,
    *,
    scope: str = "brands:read profiles:read",
) -> tuple[AsyncOAuth2Client, str, str]:
    """Run the browser part of code + PKCE for a signed-in agent on a first-party client:
    the OAuth client, the redirect it got (with the code) and the PKCE verifier."""
    oauth = oauth_client(
        app,
        client_id=client_id,
        redirect_uri=SPA_REDIRECT,
        scope=scope,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )
    verifier = "v" * 20 + client_id.replace("-", "") + "x" * 10
    url, _state = oauth.create_authorization_url(AUTHORIZE_URL, code_verifier=verifier)
    response = await agent.get(url)
    assert response.status_code == 302, response.text
    return oauth, response.headers["location"], verifier
