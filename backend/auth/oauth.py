"""The OAuth 2 authorization server, built on authlib's grants and endpoints.

- authorization code with PKCE (S256 only, required of every client), exact redirect URIs,
  single-use codes that expire in ``authorization_code_ttl_seconds``; a replayed code revokes the
  tokens it was exchanged for, and so does a second exchange sent at the same time (of N parallel
  exchanges one gets a token, which the N-1 replays then revoke);
- client credentials for confidential clients;
- refresh tokens rotated at every use; a refresh token presented twice (even at the same time)
  revokes its whole family;
- single use is one statement: the code and the refresh token are claimed by an
  ``UPDATE … WHERE <unused> RETURNING`` before any token is made, so concurrent requests wait on
  the row and exactly one of them wins;
- revocation (RFC 7009) and introspection (RFC 7662).

authlib calls its hooks synchronously, so every call into it runs inside
``AsyncSession.run_sync``: the hooks use the request's own session, in its transaction, through
the sync facade (:data:`_db`). Nothing here commits: the route's unit of work does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from authlib.oauth2 import AuthorizationServer as _AuthorizationServer
from authlib.oauth2 import OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.auth.models import AccessToken, AuthorizationCode, OAuthClient, OAuthConsent, User
from backend.auth.scopes import ALL_SCOPES, UnknownScopeError, format_scopes, parse_scopes
from backend.auth.service import ACCESS_TOKEN_PREFIX
from backend.config import Settings
from backend.core.db import utcnow
from backend.core.ids import new_id
from backend.core.security import hash_secret, new_secret, secrets_match

REFRESH_TOKEN_PREFIX = "lvr_rt_"  # noqa: S105  (labels, not secrets)
CODE_PREFIX = "lvr_ac_"
CONFIDENTIAL_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
ALL_AUTH_METHODS = [*CONFIDENTIAL_AUTH_METHODS, "none"]
GRANT_TYPES = ["authorization_code", "client_credentials", "refresh_token"]

# The request's session while authlib runs (inside AsyncSession.run_sync, on its greenlet).
_db: ContextVar[Session] = ContextVar("levier_oauth_db")
T = TypeVar("T")


def _session() -> Session:
    return _db.get()


# -- what authlib sees ---------------------------------------------------------------------------


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._datalist: dict[str, list[str]] = {}
        for key, value in items:
            self._datalist.setdefault(key, []).append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class LevierOAuth2Request(OAuth2Request):  # type: ignore[misc]
    """An HTTP request, already read (query and form), in the shape authlib expects."""

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Mapping[str, str],
        query: Iterable[tuple[str, str]],
        form: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(method, uri, headers=headers)
        self._args = _Payload(query)
        self._form = _Payload(form)
        self.payload = _Payload([*self._args_items(), *self._form_items()])

    def _args_items(self) -> list[tuple[str, str]]:
        return [(k, v) for k, values in self._args.datalist.items() for v in values]

    def _form_items(self) -> list[tuple[str, str]]:
        return [(k, v) for k, values in self._form.datalist.items() for v in values]

    @property
    def args(self) -> dict[str, str]:
        return self._args.data

    @property
    def form(self) -> dict[str, str]:
        return self._form.data


@dataclass(frozen=True)
class Client(ClientMixin):  # type: ignore[misc]
    row: OAuthClient

    @property
    def id(self) -> UUID:
        return self.row.id

    def get_client_id(self) -> str:
        return str(self.row.id)

    def get_default_redirect_uri(self) -> str | None:
        # Exact match only: a client must always name its redirect URI when it has several.
        uris = self.row.redirect_uris
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = _known(self.row.scopes)
        if not scope:
            return format_scopes(allowed)
        return format_scopes(parse_scopes(scope) & allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.row.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        stored = self.row.secret_hash
        return stored is not None and secrets_match(hash_secret(client_secret), stored)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.row.public:
            return method == "none"
        return method in CONFIDENTIAL_AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and bool(self.row.redirect_uris)

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type == "client_credentials":
            return not self.row.public
        if grant_type in ("authorization_code", "refresh_token"):
            return bool(self.row.redirect_uris)
        return False


@dataclass(frozen=True)
class AuthorizedUser:
    """The signed-in user who approves an authorization, with the most their token may carry."""

    id: UUID
    email: str
    scope_ceiling: frozenset[str]

    def get_user_id(self) -> str:
        return str(self.id)


@dataclass(frozen=True)
class Code(AuthorizationCodeMixin):  # type: ignore[misc]
    row: AuthorizationCode

    @property
    def code_challenge(self) -> str:
        return self.row.code_challenge

    @property
    def code_challenge_method(self) -> str:
        return self.row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scopes


@dataclass(frozen=True)
class Token(TokenMixin):  # type: ignore[misc]
    row: AccessToken
    # Which of the row's two secrets was presented.
    is_refresh: bool = False

    def check_client(self, client: Client) -> bool:
        return self.row.client_id == client.id

    def get_scope(self) -> str:
        return self.row.scopes

    def get_expires_in(self) -> int:
        return int((self.row.expires_at - self.row.created_at).total_seconds())

    def is_expired(self) -> bool:
        return self.row.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None

    def get_user(self) -> User | None:
        return _session().get(User, self.row.user_id) if self.row.user_id else None

    def get_client(self) -> Client | None:
        row = _session().get(OAuthClient, self.row.client_id) if self.row.client_id else None
        return Client(row) if row else None


def _known(scopes: str) -> frozenset[str]:
    return frozenset(scopes.split()) & ALL_SCOPES


def revoke_family(session: Session, family_id: UUID | None) -> None:
    """Every token of the family dies at once (reuse of a refresh token or of a code)."""
    if family_id is None:
        return
    session.execute(
        update(AccessToken)
        .where(AccessToken.family_id == family_id, AccessToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def claim_code(session: Session, code_id: UUID) -> bool:
    """Mark the code used; False when another exchange already did (one statement: exactly one
    of any number of concurrent exchanges gets True)."""
    claimed = session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.id == code_id, AuthorizationCode.used_at.is_(None))
        .values(used_at=utcnow())
        .returning(AuthorizationCode.id)
        .execution_options(synchronize_session=False)
    ).first()
    return claimed is not None


def claim_refresh_token(session: Session, token_id: UUID) -> bool:
    """Rotate the refresh token out; False when it was already rotated or revoked (one statement,
    as :func:`claim_code`)."""
    now = utcnow()
    claimed = session.execute(
        update(AccessToken)
        .where(
            AccessToken.id == token_id,
            AccessToken.rotated_at.is_(None),
            AccessToken.revoked_at.is_(None),
        )
        .values(rotated_at=now, revoked_at=now)
        .returning(AccessToken.id)
        .execution_options(synchronize_session=False)
    ).first()
    return claimed is not None


def _token_row(value: str, *, refresh: bool) -> AccessToken | None:
    column = AccessToken.refresh_token_hash if refresh else AccessToken.token_hash
    return _session().scalar(select(AccessToken).where(column == hash_secret(value)))


def has_consent(session: Session, user_id: UUID, client_id: UUID, scopes: frozenset[str]) -> bool:
    granted = session.scalar(
        select(OAuthConsent.scopes).where(
            OAuthConsent.user_id == user_id, OAuthConsent.client_id == client_id
        )
    )
    return granted is not None and scopes <= set(granted.split())


def record_consent(
    session: Session, user_id: UUID, client_id: UUID, scopes: frozenset[str]
) -> None:
    """Remember what the user allowed the client (added to what they allowed before)."""
    row = session.scalar(
        select(OAuthConsent).where(
            OAuthConsent.user_id == user_id, OAuthConsent.client_id == client_id
        )
    )
    if row is None:
        session.add(
            OAuthConsent(user_id=user_id, client_id=client_id, scopes=format_scopes(scopes))
        )
    else:
        row.scopes = format_scopes(scopes | set(row.scopes.split()))


@dataclass(frozen=True)
class ConsentRequest:
    client_name: str
    scopes: frozenset[str]


@dataclass(frozen=True)
class Authorization:
    """One of: a response for the client (a redirect with a code or an error), a consent to
    ask for, or an error to show because no redirect URI can be trusted."""

    response: tuple[int, Any, list[tuple[str, str]]] | None = None
    consent: ConsentRequest | None = None
    error: OAuth2Error | None = None


# -- grants ---------------------------------------------------------------------------------------


class S256CodeChallenge(CodeChallenge):  # type: ignore[misc]
    """PKCE for every authorization request, S256 only (plain would leak the verifier)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError(
                "PKCE is required: send 'code_challenge' with 'code_challenge_method=S256'"
            )
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be 'S256'")
        super().validate_code_challenge(grant, redirect_uri)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH_METHODS

    def generate_authorization_code(self) -> str:
        return new_secret(CODE_PREFIX)

    def save_authorization_code(self, code: str, request: LevierOAuth2Request) -> None:
        user: AuthorizedUser = request.user
        settings: Settings = self.server.settings
        requested = _known(request.scope or "")
        _session().add(
            AuthorizationCode(
                code_hash=hash_secret(code),
                client_id=request.client.id,
                user_id=user.id,
                redirect_uri=request.payload.redirect_uri or request.client.row.redirect_uris[0],
                scopes=format_scopes(requested & user.scope_ceiling),
                code_challenge=request.payload.data["code_challenge"],
                code_challenge_method=request.payload.data["code_challenge_method"],
                expires_at=utcnow() + dt.timedelta(seconds=settings.authorization_code_ttl_seconds),
                family_id=new_id(),
            )
        )
        _session().flush()

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        session = _session()
        row = session.scalar(
            select(AuthorizationCode).where(AuthorizationCode.code_hash == hash_secret(code))
        )
        if row is None or row.client_id != client.id:
            return None
        if row.used_at is not None:
            # RFC 6749 §4.1.2: a code used twice is stolen; what it bought is revoked.
            revoke_family(session, row.family_id)
            return None
        if row.expires_at <= utcnow():
            return None
        return Code(row)

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        # Claimed once the request is valid (PKCE included) and before a token exists: a stolen
        # code without its verifier cannot burn it.
        code: Code = self.request.authorization_code
        session = _session()
        if not claim_code(session, code.row.id):
            # Exchanged by another request meanwhile: a replay, revoked as a late one would be.
            revoke_family(session, code.row.family_id)
            raise InvalidGrantError("Invalid 'code' in request.")
        response: tuple[int, dict[str, Any], list[tuple[str, str]]]
        response = super().create_token_response()
        return response

    def delete_authorization_code(self, authorization_code: Code) -> None:
        """Already claimed by :meth:`create_token_response`."""

    def authenticate_user(self, authorization_code: Code) -> User | None:
        user = _session().get(User, authorization_code.row.user_id)
        return user if user is not None and not user.disabled else None


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        session = _session()
        row = _token_row(refresh_token, refresh=True)
        if row is None:
            return None
        if row.rotated_at is not None or row.revoked_at is not None:
            # Presented after rotation or revocation: a copy is in someone else's hands.
            revoke_family(session, row.family_id)
            return None
        if row.refresh_expires_at is None or row.refresh_expires_at <= utcnow():
            return None
        return Token(row, is_refresh=True)

    def authenticate_user(self, refresh_token: Token) -> User | None:
        user = refresh_token.get_user()
        return user if user is not None and not user.disabled else None

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        token: Token = self.request.refresh_token
        session = _session()
        if not claim_refresh_token(session, token.row.id):
            # Rotated by a concurrent request: the token was presented twice, so it was copied.
            revoke_family(session, token.row.family_id)
            raise InvalidGrantError("Invalid 'refresh_token' in request.")
        response: tuple[int, dict[str, Any], list[tuple[str, str]]]
        response = super().create_token_response()
        return response

    def revoke_old_credential(self, refresh_token: Token) -> None:
        """Already rotated out by :meth:`create_token_response`."""


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS


# -- endpoints ------------------------------------------------------------------------------------


class _TokenLookup:
    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        if token_type_hint != "refresh_token":  # noqa: S105  (a hint name)
            row = _token_row(token_string, refresh=False)
            if row is not None:
                return Token(row)
        row = _token_row(token_string, refresh=True)
        return Token(row, is_refresh=True) if row is not None else None


class RevocationEndpoint(_TokenLookup, _RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ALL_AUTH_METHODS

    def revoke_token(self, token: Token, request: LevierOAuth2Request) -> None:
        if token.is_refresh:
            # Revoking a refresh token ends the grant: every token of its family goes.
            revoke_family(_session(), token.row.family_id)
        if token.row.revoked_at is None:
            token.row.revoked_at = utcnow()


class IntrospectionEndpoint(_TokenLookup, _IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS

    def check_permission(self, token: Token, client: Client, request: Any) -> bool:
        # A confidential client may introspect the tokens of its own agency's clients.
        owner = token.get_client()
        return owner is not None and owner.row.agency_id == client.row.agency_id

    def introspect_token(self, token: Token) -> dict[str, Any]:
        row = token.row
        user = token.get_user()
        expires_at = row.refresh_expires_at if token.is_refresh else row.expires_at
        return {
            "active": True,
            "scope": row.scopes,
            "client_id": str(row.client_id) if row.client_id else None,
            "username": user.email if user else None,
            "sub": str(row.user_id or row.client_id),
            "token_type": "refresh_token" if token.is_refresh else "Bearer",
            "exp": int(expires_at.timestamp()) if expires_at else None,
            "iat": int(row.created_at.timestamp()),
            "iss": self.server.settings.public_url,
        }

    def create_introspection_payload(self, token: Token | None) -> dict[str, Any]:
        # Expired, rotated or revoked tokens are simply inactive, whatever their kind.
        if token is None:
            return {"active": False}
        row = token.row
        expires_at = row.refresh_expires_at if token.is_refresh else row.expires_at
        dead = row.revoked_at is not None or expires_at is None or expires_at <= utcnow()
        return {"active": False} if dead else self.introspect_token(token)


# -- the server -----------------------------------------------------------------------------------


class AuthorizationServer(_AuthorizationServer):  # type: ignore[misc]
    def __init__(self, settings: Settings) -> None:
        super().__init__(scopes_supported=sorted(ALL_SCOPES))
        self.settings = settings
        self.register_token_generator("default", self._generate_token)
        self.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
        self.register_grant(RefreshTokenGrant)
        self.register_grant(ClientCredentialsGrant)
        self.register_endpoint(RevocationEndpoint)
        self.register_endpoint(IntrospectionEndpoint)

    def authorize(
        self,
        session: Session,
        request: LevierOAuth2Request,
        user: AuthorizedUser,
        decision: str | None,
    ) -> Authorization:
        """The authorization endpoint's answer for a signed-in user. ``decision`` is None on
        the first visit, else the consent form's answer (``approve`` or anything else)."""

        def decide() -> Authorization:
            try:
                grant = self.get_consent_grant(request, end_user=user)
            except OAuth2Error as error:
                if error.redirect_uri:
                    return Authorization(response=self.handle_error_response(request, error))
                return Authorization(error=error)
            client: Client = grant.client
            scopes = frozenset((request.scope or "").split()) & user.scope_ceiling
            first_visit = decision is None
            asks_consent = first_visit and not client.row.first_party
            if asks_consent and not has_consent(session, user.id, client.id, scopes):
                return Authorization(consent=ConsentRequest(client.row.name, scopes))
            approved = first_visit or decision == "approve"
            if decision == "approve":
                record_consent(session, user.id, client.id, scopes)
            return Authorization(
                response=self.create_authorization_response(
                    request, grant_user=user if approved else None, grant=grant
                )
            )

        return self.run(session, decide)

    def run(self, session: Session, call: Callable[[], T]) -> T:
        """Run ``call`` (which calls into authlib) with ``session`` available to the hooks."""
        reset = _db.set(session)
        try:
            return call()
        finally:
            _db.reset(reset)

    def query_client(self, client_id: str) -> Client | None:
        try:
            key = UUID(client_id)
        except (TypeError, ValueError):
            return None
        row = _session().get(OAuthClient, key)
        return Client(row) if row is not None and row.disabled_at is None else None

    def validate_requested_scope(self, scope: str | None) -> None:
        try:
            parse_scopes(scope)
        except UnknownScopeError as exc:
            raise InvalidScopeError(str(exc)) from exc

    def _generate_token(
        self,
        grant_type: str,
        client: Client,
        user: User | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        ttl = expires_in or self.settings.access_token_ttl_minutes * 60
        allowed = _known(client.get_allowed_scope(None))
        if grant_type == "client_credentials":
            # No scope asked: everything the client may hold.
            granted = _known(client.get_allowed_scope(scope))
        else:
            # Already cut to the user's consent and role; the client may have lost some since.
            granted = _known(scope or "") & allowed
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": new_secret(ACCESS_TOKEN_PREFIX),
            "expires_in": ttl,
            "scope": format_scopes(granted),
        }
        if include_refresh_token and user is not None:
            token["refresh_token"] = new_secret(REFRESH_TOKEN_PREFIX)
        return token

    def save_token(self, token: dict[str, Any], request: LevierOAuth2Request) -> None:
        now = utcnow()
        family_id: UUID
        if request.authorization_code is not None:
            family_id = request.authorization_code.row.family_id
        elif request.refresh_token is not None:
            family_id = request.refresh_token.row.family_id or new_id()
        else:
            family_id = new_id()
        refresh = token.get("refresh_token")
        user: User | None = request.user
        _session().add(
            AccessToken(
                token_hash=hash_secret(token["access_token"]),
                token_prefix=token["access_token"][: len(ACCESS_TOKEN_PREFIX) + 4],
                user_id=user.id if user is not None else None,
                client_id=request.client.id,
                scopes=token["scope"],
                created_at=now,
                expires_at=now + dt.timedelta(seconds=token["expires_in"]),
                refresh_token_hash=hash_secret(refresh) if refresh else None,
                refresh_expires_at=(
                    now + dt.timedelta(days=self.settings.refresh_token_ttl_days)
                    if refresh
                    else None
                ),
                family_id=family_id,
            )
        )
        _session().flush()

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """authlib's signals: nothing listens; the audit log records the writes."""

    def create_oauth2_request(self, request: LevierOAuth2Request) -> LevierOAuth2Request:
        return request

    def handle_response(
        self, status: int, body: Any, headers: Iterable[tuple[str, str]]
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        return status, body, list(headers)

    def metadata(self) -> dict[str, Any]:
        """RFC 8414 authorization server metadata."""
        base = self.settings.public_url.rstrip("/")
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "introspection_endpoint": f"{base}/oauth/introspect",
            "scopes_supported": sorted(ALL_SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": GRANT_TYPES,
            "token_endpoint_auth_methods_supported": ALL_AUTH_METHODS,
            "revocation_endpoint_auth_methods_supported": ALL_AUTH_METHODS,
            "introspection_endpoint_auth_methods_supported": CONFIDENTIAL_AUTH_METHODS,
            "code_challenge_methods_supported": ["S256"],
            "service_documentation": f"{base}/schema",
        }
