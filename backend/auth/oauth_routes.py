"""Browser sign-in pages and the OAuth 2 endpoints.

- ``/auth/login``, ``/auth/logout``, ``/auth/password``, ``/auth/account``: HTML forms, a session
  cookie (HttpOnly, SameSite=Lax, Secure over HTTPS), and CSRF protection on every form post;
- ``/oauth/authorize`` (sign-in, then consent for third-party clients), ``/oauth/token``,
  ``/oauth/revoke``, ``/oauth/introspect``: the authorization server (:mod:`backend.auth.oauth`);
- ``/.well-known/oauth-authorization-server``: its RFC 8414 metadata.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.middleware.csrf import CSRFMiddleware
from litestar.params import Body, QueryParameter
from litestar.response import Redirect, Template
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth import sessions
from backend.auth.backoff import SignInBackoff, SignInLocked, SignInUnavailable
from backend.auth.oauth import AuthorizationServer, AuthorizedUser, LevierOAuth2Request
from backend.auth.scopes import SCOPES
from backend.auth.service import load_caller, user_scope_ceiling
from backend.config import Settings
from backend.core.dependencies import DbSession
from backend.core.edge import BODY_OPT, BodyRule
from backend.core.errors import InvalidInput
from backend.core.idempotency import KEY_IGNORED
from backend.core.ratelimit import client_host
from backend.core.security import MIN_PASSWORD_LENGTH

SESSION_COOKIE = "levier_session"
CSRF_COOKIE = "levier_csrf"
ACCOUNT_PAGE = "/auth/account"
# Pages are plain HTML with inline styles: nothing else may load, nothing may frame them.
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
_PAGE_HEADERS = {"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store"}


def _settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _server(request: Request[Any, Any, Any]) -> AuthorizationServer:
    server: AuthorizationServer = request.app.state.oauth_server
    return server


def _secure_cookies(settings: Settings) -> bool:
    return settings.is_production or settings.public_url.startswith("https://")


class CSRFProtection:
    """Litestar's CSRF middleware (double-submit cookie, HMAC-signed with the secret key),
    configured from the application's settings on first use."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.inner: CSRFMiddleware | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.inner is None:
            settings: Settings = scope["litestar_app"].state.settings
            config = CSRFConfig(
                secret=settings.secret_key,
                cookie_name=CSRF_COOKIE,
                cookie_secure=_secure_cookies(settings),
                cookie_httponly=True,  # the token reaches the form from the server, not from JS
                cookie_samesite="lax",
                cookie_path="/",
            )
            self.inner = CSRFMiddleware(self.app, config)
        await self.inner(scope, receive, send)


def _page(
    name: str, status_code: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> Template:
    return Template(
        template_name=name,
        context=context,
        status_code=status_code,
        headers={**_PAGE_HEADERS, **(headers or {})},
    )


def _safe_next(value: str | None) -> str:
    """Only a path on this site: never an open redirect to somewhere else."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return ACCOUNT_PAGE
    parts = urlsplit(value)
    return ACCOUNT_PAGE if parts.scheme or parts.netloc else value


def _session_cookie(settings: Settings, value: str, *, expire: bool = False) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=value,
        path="/",
        httponly=True,
        secure=_secure_cookies(settings),
        samesite="lax",  # sent on the top-level navigation back from a SPA to /oauth/authorize
        max_age=0 if expire else settings.web_session_hours * 3600,
    )


class LoginForm(msgspec.Struct):
    email: str = ""
    password: str = ""
    next: str = ACCOUNT_PAGE


class PasswordForm(msgspec.Struct):
    current_password: str = ""
    new_password: str = ""


class ConsentForm(msgspec.Struct):
    decision: str = "deny"


FormBody = Body(media_type=RequestEncodingType.URL_ENCODED)


class SignInController(Controller):
    """Browser pages: every form post needs the CSRF token its page was served with."""

    path = "/auth"
    tags = ["sign-in"]
    include_in_schema = False
    middleware = [CSRFProtection]
    opt = {KEY_IGNORED: True}  # a password in, a session cookie out: nothing for the store

    @get("/login")
    async def login_page(
        self, next: Annotated[str | None, QueryParameter(description="Where to go after.")] = None
    ) -> Template:
        """The sign-in form."""
        return _page("login.html", next=_safe_next(next), email="", error=None)

    @post("/login")
    async def login(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        data: Annotated[LoginForm, FormBody],
    ) -> Template | Redirect:
        """Check email and password, open a session, go to ``next`` (a path on this site)."""
        settings = _settings(request)
        target = _safe_next(data.next)
        backoff: SignInBackoff = request.app.state.sign_in_backoff
        try:
            user = await sessions.authenticate(
                db_session, backoff, data.email, data.password, client=client_host(request.scope)
            )
        except (SignInLocked, SignInUnavailable) as exc:
            return _page(
                "login.html",
                exc.status,
                exc.headers,
                next=target,
                email=data.email,
                error=exc.detail,
            )
        except sessions.WrongCredentials as exc:
            return _page("login.html", 401, next=target, email=data.email, error=exc.detail)
        token = await sessions.open_web_session(db_session, settings, user.id)
        return Redirect(target, status_code=303, cookies=[_session_cookie(settings, token)])

    @post("/logout")
    async def logout(self, request: Request[Any, Any, Any], db_session: DbSession) -> Redirect:
        """End the browser session."""
        await sessions.close_web_session(db_session, request.cookies.get(SESSION_COOKIE))
        return Redirect(
            "/auth/login",
            status_code=303,
            cookies=[_session_cookie(_settings(request), "", expire=True)],
        )

    @get("/account")
    async def account(self, request: Request[Any, Any, Any], db_session: DbSession) -> Any:
        """Who is signed in."""
        user = await sessions.user_of_web_session(db_session, request.cookies.get(SESSION_COOKIE))
        if user is None:
            return Redirect(f"/auth/login?next={quote(ACCOUNT_PAGE)}", status_code=303)
        return _page(
            "message.html",
            title="Signed in",
            message=f"Signed in as {user.email}.",
            email=user.email,
        )

    @get("/password")
    async def password_page(self, request: Request[Any, Any, Any], db_session: DbSession) -> Any:
        """The password change form (signed-in users)."""
        user = await sessions.user_of_web_session(db_session, request.cookies.get(SESSION_COOKIE))
        if user is None:
            return Redirect("/auth/login?next=/auth/password", status_code=303)
        return _page("password.html", error=None, min_length=MIN_PASSWORD_LENGTH)

    @post("/password")
    async def change_password(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        data: Annotated[PasswordForm, FormBody],
    ) -> Any:
        """Change the password; every other session and every token of the user end."""
        cookie = request.cookies.get(SESSION_COOKIE)
        user = await sessions.user_of_web_session(db_session, cookie)
        if user is None:
            return Redirect("/auth/login?next=/auth/password", status_code=303)
        try:
            await sessions.change_password(
                db_session,
                _settings(request),
                user,
                current_password=data.current_password,
                new_password=data.new_password,
                keep_session=cookie,
            )
        except InvalidInput as exc:
            return _page("password.html", 422, error=exc.detail, min_length=MIN_PASSWORD_LENGTH)
        return _page(
            "message.html",
            title="Password changed",
            message="Your password is changed; other sessions and tokens were signed out.",
            email=user.email,
        )


def _oauth_request(
    request: Request[Any, Any, Any], form: list[tuple[str, str]] | None = None
) -> LevierOAuth2Request:
    # The issuer's URL, not the Host header: the canonical address clients were given.
    uri = _settings(request).public_url.rstrip("/") + request.url.path
    if request.url.query:
        uri += "?" + request.url.query
    return LevierOAuth2Request(
        request.method,
        uri,
        request.headers,
        query=list(request.query_params.multi_items()),
        form=form or [],
    )


def _as_response(result: tuple[int, Any, list[tuple[str, str]]]) -> Response[Any]:
    status, body, headers = result
    header_map = dict(headers)
    if status in (301, 302, 303, 307, 308) and "Location" in header_map:
        return Redirect(header_map.pop("Location"), status_code=302, headers=header_map)
    header_map.setdefault("Cache-Control", "no-store")
    return Response(
        content=body if body != "" else None,
        status_code=status,
        media_type="application/json",
        headers=header_map,
    )


async def _form(request: Request[Any, Any, Any]) -> list[tuple[str, str]]:
    form = await request.form()
    return [(k, v) for k, v in form.multi_items() if isinstance(v, str)]


class OAuthController(Controller):
    tags = ["oauth"]
    include_in_schema = False
    # Codes, tokens and secrets: single use is OAuth's own. Its posts are forms (RFC 6749).
    opt = {KEY_IGNORED: True, BODY_OPT: BodyRule.FORM}

    async def _signed_in(
        self, request: Request[Any, Any, Any], db_session: AsyncSession
    ) -> AuthorizedUser | None:
        user = await sessions.user_of_web_session(db_session, request.cookies.get(SESSION_COOKIE))
        if user is None:
            return None
        ceiling = user_scope_ceiling(await load_caller(db_session, user))
        return AuthorizedUser(user.id, user.email, ceiling)

    async def _authorize(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, decision: str | None
    ) -> Any:
        user = await self._signed_in(request, db_session)
        if user is None:
            target = request.url.path + ("?" + request.url.query if request.url.query else "")
            return Redirect(f"/auth/login?next={quote(target, safe='')}", status_code=303)
        server = _server(request)
        oauth_request = _oauth_request(request)
        outcome = await db_session.run_sync(
            lambda session: server.authorize(session, oauth_request, user, decision)
        )
        if outcome.error is not None:
            return _page(
                "message.html",
                400,
                title="This sign-in link is not valid",
                message=outcome.error.description or outcome.error.error,
                error=True,
                email=None,
            )
        if outcome.consent is not None:
            return _page(
                "consent.html",
                client_name=outcome.consent.client_name,
                email=user.email,
                scopes=[(s, SCOPES[s]) for s in sorted(outcome.consent.scopes)],
                action=request.url.path + "?" + request.url.query,
            )
        assert outcome.response is not None
        return _as_response(outcome.response)

    @get("/oauth/authorize", middleware=[CSRFProtection])
    async def authorize(self, request: Request[Any, Any, Any], db_session: DbSession) -> Any:
        """Authorization endpoint: sign in if needed, ask consent for third-party clients, then
        redirect to the client with a code (or an error)."""
        return await self._authorize(request, db_session, None)

    @post("/oauth/authorize", middleware=[CSRFProtection], status_code=302)
    async def consent(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        data: Annotated[ConsentForm, FormBody],
    ) -> Any:
        """The consent form's answer: allow (remembered) or deny."""
        return await self._authorize(request, db_session, data.decision)

    @post("/oauth/token", status_code=200)
    async def token(self, request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
        """Token endpoint: authorization_code, refresh_token and client_credentials grants."""
        server = _server(request)
        oauth_request = _oauth_request(request, await _form(request))
        result = await db_session.run_sync(
            lambda s: server.run(s, lambda: server.create_token_response(oauth_request))
        )
        return _as_response(result)

    @post("/oauth/revoke", status_code=200)
    async def revoke(self, request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
        """RFC 7009: the token (and, for a refresh token, its whole family) stops working now."""
        return await self._endpoint(request, db_session, "revocation")

    @post("/oauth/introspect", status_code=200)
    async def introspect(
        self, request: Request[Any, Any, Any], db_session: DbSession
    ) -> Response[Any]:
        """RFC 7662: whether a token is active, and what it carries."""
        return await self._endpoint(request, db_session, "introspection")

    async def _endpoint(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, name: str
    ) -> Response[Any]:
        server = _server(request)
        oauth_request = _oauth_request(request, await _form(request))
        result = await db_session.run_sync(
            lambda s: server.run(s, lambda: server.create_endpoint_response(name, oauth_request))
        )
        return _as_response(result)

    @get("/.well-known/oauth-authorization-server")
    async def metadata(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        """RFC 8414 authorization server metadata."""
        return _server(request).metadata()
