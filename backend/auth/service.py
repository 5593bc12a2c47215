"""Users and bearer tokens: create, authenticate, and resolve a token into a :class:`Caller`."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth import repository
from backend.auth.caller import AGENCY_ROLE_ACCESS, BRAND_ROLE_ACCESS, Caller
from backend.auth.models import AccessToken, OAuthClient, User
from backend.auth.scopes import (
    ALL_SCOPES,
    UnknownScopeError,
    ceiling_for_role,
    format_scopes,
    parse_scopes,
)
from backend.core.access import Access
from backend.core.db import utcnow
from backend.core.errors import Conflict, InvalidInput, NotFound
from backend.core.security import (
    MIN_PASSWORD_LENGTH,
    hash_password,
    hash_secret,
    new_secret,
)
from backend.tenancy import repository as tenancy_repository

ACCESS_TOKEN_PREFIX = "lvr_at_"  # noqa: S105  (a label, not a secret)
# Deliberately loose: the mailbox is proven by sign-in flows, not by a regex.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z")


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.match(email) or len(email) > 320:
        raise InvalidInput("email is not a valid address", errors=[{"field": "email"}])
    return email


async def find_user_by_email(session: AsyncSession, email: str) -> User | None:
    return await repository.user_by_email(session, normalise_email(email))


async def get_user(session: AsyncSession, user_id: UUID) -> User:
    user = await repository.get_user(session, user_id)
    if user is None:
        raise NotFound("user not found")
    return user


async def create_user(
    session: AsyncSession, *, email: str, password: str, name: str | None = None
) -> User:
    email = normalise_email(email)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"password must have at least {MIN_PASSWORD_LENGTH} characters",
            errors=[{"field": "password"}],
        )
    if await find_user_by_email(session, email) is not None:
        raise Conflict("a user with this email already exists")
    user = User(email=email, name=name, password_hash=hash_password(password))
    session.add(user)
    await session.flush()
    return user


def user_scope_ceiling(caller: Caller) -> frozenset[str]:
    """The most a token of this user may carry: what their highest role anywhere allows."""
    accesses = [*caller.agency_access.values(), *caller.brand_access.values()]
    return ceiling_for_role(max(accesses) if accesses else None)


def requested_scopes(requested: str | None) -> frozenset[str]:
    """Scopes named in a request (every scope when none are), refusing unknown ones (422)."""
    if requested is None:
        return ALL_SCOPES
    try:
        return parse_scopes(requested)
    except UnknownScopeError as exc:
        raise InvalidInput(str(exc), errors=[{"field": "scopes"}]) from exc


async def issue_access_token(
    session: AsyncSession, user_id: UUID, *, ttl: dt.timedelta, scopes: str | None = None
) -> tuple[str, AccessToken]:
    """A new personal bearer token for the user. It carries the requested scopes (all when none
    are named) as far as the user's role allows at each request. The clear token is returned
    once, never stored."""
    granted = requested_scopes(scopes)
    token = new_secret(ACCESS_TOKEN_PREFIX)
    row = AccessToken(
        token_hash=hash_secret(token),
        token_prefix=token[: len(ACCESS_TOKEN_PREFIX) + 4],
        user_id=user_id,
        scopes=format_scopes(granted),
        expires_at=utcnow() + ttl,
    )
    session.add(row)
    await session.flush()
    return token, row


async def resolve_token(session: AsyncSession, token: str) -> Caller | None:
    """The caller a bearer token stands for, or None if unknown, expired, revoked or disabled."""
    resolved = await resolve_token_until(session, token)
    return None if resolved is None else resolved[0]


async def resolve_token_until(
    session: AsyncSession, token: str
) -> tuple[Caller, dt.datetime] | None:
    """:func:`resolve_token`, with the instant the token expires (how long it may be kept)."""
    row = await repository.token_with_owner(session, hash_secret(token))
    if row is None:
        return None
    access_token, user, client = row
    if access_token.revoked_at is not None or access_token.expires_at <= utcnow():
        return None
    if client is not None and client.disabled_at is not None:
        return None
    scopes = _known_scopes(access_token.scopes)
    if user is None:
        if client is None:
            return None
        return await load_client_caller(session, client, scopes), access_token.expires_at
    if user.disabled:
        return None
    caller = await load_caller(session, user, requested=scopes)
    if client is not None:
        # A user's token obtained through a client reaches the user's brands that the
        # client was also granted, nothing more.
        caller = _through_client(caller, client, await client_brand_ids(session, client.id))
    return caller, access_token.expires_at


def _known_scopes(text: str) -> frozenset[str]:
    # Scopes withdrawn from the catalogue since the token was issued simply stop counting.
    return frozenset(text.split()) & ALL_SCOPES


async def client_brand_ids(session: AsyncSession, client_id: UUID) -> list[UUID]:
    """Brands granted to the client that still belong to its agency."""
    return await repository.granted_brand_ids(session, client_id)


async def load_client_caller(
    session: AsyncSession, client: OAuthClient, scopes: frozenset[str]
) -> Caller:
    """A client acting for itself: its agency's granted brands, as a brand manager would."""
    brand_ids = await client_brand_ids(session, client.id)
    return Caller(
        user_id=None,
        client_id=client.id,
        scopes=scopes,
        brand_access=dict.fromkeys(brand_ids, Access.MANAGER),
        brand_agency=dict.fromkeys(brand_ids, client.agency_id),
    )


def _through_client(caller: Caller, client: OAuthClient, brand_ids: list[UUID]) -> Caller:
    granted = set(brand_ids)
    return replace(
        caller,
        client_id=client.id,
        agency_access={a: v for a, v in caller.agency_access.items() if a == client.agency_id},
        brand_access={b: v for b, v in caller.brand_access.items() if b in granted},
        brand_agency={b: a for b, a in caller.brand_agency.items() if b in granted},
    )


async def load_caller(
    session: AsyncSession, user: User, *, requested: frozenset[str] = ALL_SCOPES
) -> Caller:
    """What a user reaches: agency roles, and brands through agency roles or brand grants; the
    ``requested`` scopes as far as the user's highest role allows them now (a demotion takes
    effect on the next request)."""
    agency_roles = await tenancy_repository.agency_roles_of_user(session, user.id)
    agency_access = {agency_id: AGENCY_ROLE_ACCESS[role] for agency_id, role in agency_roles}
    brand_access: dict[UUID, Access] = {}
    brand_agency: dict[UUID, UUID] = {}
    admin_agencies = [a for a, access in agency_access.items() if access >= Access.ADMIN]
    for brand_id, agency_id in await tenancy_repository.brands_of_agencies(session, admin_agencies):
        brand_access[brand_id] = agency_access[agency_id]
        brand_agency[brand_id] = agency_id
    grants = await tenancy_repository.brand_grants_of_user(session, user.id)
    for brand_id, agency_id, role in grants:
        granted = BRAND_ROLE_ACCESS[role]
        brand_access[brand_id] = max(brand_access.get(brand_id, granted), granted)
        brand_agency[brand_id] = agency_id
    caller = Caller(
        user_id=user.id,
        email=user.email,
        agency_access=agency_access,
        brand_access=brand_access,
        brand_agency=brand_agency,
    )
    return replace(caller, scopes=requested & user_scope_ceiling(caller))
