"""OAuth clients of an agency: created, granted brands and scopes, secrets rotated, disabled.

Agency owners and admins manage them (over REST, GraphQL or the CLI as an operator). A client
reaches only brands of its own agency; its secret is shown once and stored hashed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth import repository
from backend.auth.models import OAuthClient
from backend.auth.schemas import ClientCreate, ClientUpdate
from backend.auth.scopes import (
    ALL_SCOPES,
    BRAND_SCOPES,
    UnknownScopeError,
    format_scopes,
    parse_scopes,
)
from backend.core.access import Access
from backend.core.caller import CallerLike
from backend.core.db import utcnow
from backend.core.errors import InvalidInput, NotFound
from backend.core.pagination import PageRequest
from backend.core.security import hash_secret, new_secret

CLIENT_SECRET_PREFIX = "lvr_cs_"  # noqa: S105  (a label, not a secret)


@dataclass(frozen=True)
class ClientView:
    client: OAuthClient
    brand_ids: list[UUID]


def _check_redirect_uri(uri: str) -> str:
    """Absolute, no fragment, HTTPS, or plain HTTP to the loopback interface (RFC 8252 §7.3)."""
    parts = urlsplit(uri)
    loopback = False
    if parts.hostname:
        try:
            loopback = ipaddress.ip_address(parts.hostname).is_loopback
        except ValueError:
            loopback = parts.hostname == "localhost"
    if parts.fragment or not parts.hostname or parts.scheme not in ("https", "http"):
        raise InvalidInput(
            f"redirect URI {uri!r} must be an absolute URL without a fragment",
            errors=[{"field": "redirectUris"}],
        )
    if parts.scheme == "http" and not loopback:
        raise InvalidInput(
            f"redirect URI {uri!r} must use https (http only for localhost)",
            errors=[{"field": "redirectUris"}],
        )
    return uri


def _scopes(requested: Sequence[str] | None, *, public: bool) -> str:
    if requested is None:
        return format_scopes(ALL_SCOPES if public else BRAND_SCOPES)
    try:
        scopes = parse_scopes(requested)
    except UnknownScopeError as exc:
        raise InvalidInput(str(exc), errors=[{"field": "scopes"}]) from exc
    if not public and not scopes <= set(BRAND_SCOPES):
        # A client acting for itself holds no person's rights over the agency.
        raise InvalidInput(
            "a confidential client may hold brand scopes only, not "
            + format_scopes(scopes - set(BRAND_SCOPES)),
            errors=[{"field": "scopes"}],
        )
    return format_scopes(scopes)


async def _check_brands(session: AsyncSession, agency_id: UUID, brand_ids: Sequence[UUID]) -> None:
    found = await repository.brands_of_agency_among(session, agency_id, brand_ids)
    if missing := set(brand_ids) - found:
        # Brands of other agencies are "not found" too: their existence is not confirmed.
        raise InvalidInput(
            "brand(s) not found in this agency: " + ", ".join(sorted(map(str, missing))),
            errors=[{"field": "brandIds"}],
        )


async def _brand_ids(session: AsyncSession, client_id: UUID) -> list[UUID]:
    return (await repository.brand_ids_of_clients(session, [client_id]))[client_id]


def _issue_secret(client: OAuthClient) -> str:
    secret = new_secret(CLIENT_SECRET_PREFIX)
    client.secret_hash = hash_secret(secret)
    client.secret_prefix = secret[: len(CLIENT_SECRET_PREFIX) + 4]
    return secret


def _authorise(caller: CallerLike | None, agency_id: UUID, scope: str) -> None:
    if caller is not None:
        caller.require_agency(agency_id, Access.ADMIN, scope)


async def create_client(
    session: AsyncSession, caller: CallerLike | None, agency_id: UUID, data: ClientCreate
) -> tuple[ClientView, str | None]:
    """A new client and its secret (None for a public client), shown this once."""
    _authorise(caller, agency_id, "agencies:write")
    if not await repository.agency_exists(session, agency_id):
        raise NotFound("agency not found")
    redirect_uris = [_check_redirect_uri(uri) for uri in data.redirect_uris]
    if data.public and not redirect_uris:
        raise InvalidInput(
            "a public client signs users in: give it at least one redirect URI",
            errors=[{"field": "redirectUris"}],
        )
    await _check_brands(session, agency_id, data.brand_ids)
    client = OAuthClient(
        agency_id=agency_id,
        name=data.name,
        public=data.public,
        first_party=data.first_party,
        redirect_uris=redirect_uris,
        scopes=_scopes(data.scopes, public=data.public),
    )
    secret = None if data.public else _issue_secret(client)
    session.add(client)
    await session.flush()
    await repository.set_client_brands(session, client.id, data.brand_ids)
    await session.flush()
    return ClientView(client, sorted(set(data.brand_ids))), secret


async def client_id_by_name(session: AsyncSession, agency_id: UUID, name: str) -> UUID | None:
    """The agency's oldest client of this name, if any."""
    return await repository.client_id_by_name(session, agency_id, name)


async def find_client(session: AsyncSession, client_id: UUID) -> OAuthClient:
    """A client by id, whatever its agency (its caller checks the agency next)."""
    client = await repository.get_client(session, client_id)
    if client is None:
        raise NotFound("client not found")
    return client


async def _get(session: AsyncSession, agency_id: UUID, client_id: UUID) -> OAuthClient:
    client = await repository.get_client(session, client_id)
    if client is None or client.agency_id != agency_id:
        raise NotFound("client not found")
    return client


async def get_client(
    session: AsyncSession, caller: CallerLike | None, agency_id: UUID, client_id: UUID
) -> ClientView:
    _authorise(caller, agency_id, "agencies:read")
    client = await _get(session, agency_id, client_id)
    return ClientView(client, await _brand_ids(session, client.id))


async def list_clients(
    session: AsyncSession, caller: CallerLike | None, agency_id: UUID, page: PageRequest
) -> tuple[list[ClientView], str | None]:
    _authorise(caller, agency_id, "agencies:read")
    clients, cursor = await repository.list_clients(session, agency_id, page)
    brands = await repository.brand_ids_of_clients(session, [c.id for c in clients])
    return [ClientView(c, brands[c.id]) for c in clients], cursor


async def update_client(
    session: AsyncSession,
    caller: CallerLike | None,
    agency_id: UUID,
    client_id: UUID,
    data: ClientUpdate,
) -> ClientView:
    """Change a client. Fewer brands or scopes bind its existing tokens at once (they are
    checked at every request); disabling it stops every token it holds."""
    _authorise(caller, agency_id, "agencies:write")
    client = await _get(session, agency_id, client_id)
    if isinstance(data.name, str):
        client.name = data.name
    if isinstance(data.redirect_uris, list):
        uris = [_check_redirect_uri(uri) for uri in data.redirect_uris]
        if client.public and not uris:
            raise InvalidInput(
                "a public client needs a redirect URI", errors=[{"field": "redirectUris"}]
            )
        client.redirect_uris = uris
    if isinstance(data.scopes, list):
        client.scopes = _scopes(data.scopes, public=client.public)
    if isinstance(data.first_party, bool):
        client.first_party = data.first_party
    if isinstance(data.disabled, bool):
        client.disabled_at = (client.disabled_at or utcnow()) if data.disabled else None
    if isinstance(data.brand_ids, list):
        await _check_brands(session, agency_id, data.brand_ids)
        await repository.set_client_brands(session, client.id, data.brand_ids)
    await session.flush()
    return ClientView(client, await _brand_ids(session, client.id))


async def rotate_secret(
    session: AsyncSession, caller: CallerLike | None, agency_id: UUID, client_id: UUID
) -> tuple[ClientView, str]:
    """A new secret for a confidential client; the old one stops working at once."""
    _authorise(caller, agency_id, "agencies:write")
    client = await _get(session, agency_id, client_id)
    if client.public:
        raise InvalidInput("a public client has no secret")
    secret = _issue_secret(client)
    await session.flush()
    return ClientView(client, await _brand_ids(session, client.id)), secret


async def delete_client(
    session: AsyncSession, caller: CallerLike | None, agency_id: UUID, client_id: UUID
) -> None:
    """Delete a client; its tokens, codes and consents go with it."""
    _authorise(caller, agency_id, "agencies:write")
    await session.delete(await _get(session, agency_id, client_id))
    await session.flush()
