"""Queries of the auth domain: users, OAuth clients and their brands, browser sessions, tokens.

(The OAuth server's own flows — codes, consents, token rotation — keep their queries beside them
in :mod:`backend.auth.oauth`.)
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.models import AccessToken, OAuthClient, OAuthClientBrand, User, WebSession
from backend.core.db import utcnow
from backend.core.pagination import PageRequest, count_rows, paginate
from backend.tenancy.models import Agency, Brand

# Users --------------------------------------------------------------------------------------


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    """The user of an already normalised email."""
    return await session.scalar(select(User).where(User.email == email))


async def get_user(session: AsyncSession, user_id: UUID) -> User | None:
    return await session.get(User, user_id)


# OAuth clients ------------------------------------------------------------------------------


async def agency_exists(session: AsyncSession, agency_id: UUID) -> bool:
    return await session.get(Agency, agency_id) is not None


async def brands_of_agency_among(
    session: AsyncSession, agency_id: UUID, brand_ids: Sequence[UUID]
) -> set[UUID]:
    """Those of ``brand_ids`` that belong to the agency."""
    if not brand_ids:
        return set()
    rows = await session.scalars(
        select(Brand.id).where(Brand.agency_id == agency_id, Brand.id.in_(set(brand_ids)))
    )
    return set(rows)


async def get_client(session: AsyncSession, client_id: UUID) -> OAuthClient | None:
    return await session.get(OAuthClient, client_id)


async def client_id_by_name(session: AsyncSession, agency_id: UUID, name: str) -> UUID | None:
    return await session.scalar(
        select(OAuthClient.id)
        .where(OAuthClient.agency_id == agency_id, OAuthClient.name == name)
        .order_by(OAuthClient.id)
        .limit(1)
    )


async def list_clients(
    session: AsyncSession, agency_id: UUID, page: PageRequest
) -> tuple[list[OAuthClient], str | None]:
    query = select(OAuthClient).where(OAuthClient.agency_id == agency_id)
    return await paginate(session, query, OAuthClient.id, page)


async def count_clients(session: AsyncSession, agency_id: UUID) -> int:
    return await count_rows(
        session, select(OAuthClient.id).where(OAuthClient.agency_id == agency_id)
    )


async def set_client_brands(
    session: AsyncSession, client_id: UUID, brand_ids: Sequence[UUID]
) -> None:
    await session.execute(delete(OAuthClientBrand).where(OAuthClientBrand.client_id == client_id))
    session.add_all(OAuthClientBrand(client_id=client_id, brand_id=b) for b in set(brand_ids))


async def brand_ids_of_clients(
    session: AsyncSession, client_ids: Sequence[UUID]
) -> dict[UUID, list[UUID]]:
    """The brands granted to each client (in id order), every client named being a key."""
    brands: dict[UUID, list[UUID]] = {c: [] for c in client_ids}
    if brands:
        rows = await session.execute(
            select(OAuthClientBrand.client_id, OAuthClientBrand.brand_id)
            .where(OAuthClientBrand.client_id.in_(brands))
            .order_by(OAuthClientBrand.brand_id)
        )
        for client_id, brand_id in rows:
            brands[client_id].append(brand_id)
    return brands


async def granted_brand_ids(session: AsyncSession, client_id: UUID) -> list[UUID]:
    """Brands granted to the client that still belong to its agency."""
    rows = await session.scalars(
        select(OAuthClientBrand.brand_id)
        .join(Brand, Brand.id == OAuthClientBrand.brand_id)
        .join(OAuthClient, OAuthClient.id == OAuthClientBrand.client_id)
        .where(OAuthClientBrand.client_id == client_id, Brand.agency_id == OAuthClient.agency_id)
    )
    return list(rows)


# Tokens -------------------------------------------------------------------------------------


async def token_with_owner(
    session: AsyncSession, token_hash: str
) -> tuple[AccessToken, User | None, OAuthClient | None] | None:
    """A token by its hash, with its user and its client (either may be absent)."""
    row = (
        await session.execute(
            select(AccessToken, User, OAuthClient)
            .outerjoin(User, User.id == AccessToken.user_id)
            .outerjoin(OAuthClient, OAuthClient.id == AccessToken.client_id)
            .where(AccessToken.token_hash == token_hash)
        )
    ).one_or_none()
    if row is None:
        return None
    token, user, client = row
    return token, user, client


async def revoke_user_tokens(session: AsyncSession, user_id: UUID) -> None:
    await session.execute(
        update(AccessToken)
        .where(AccessToken.user_id == user_id, AccessToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


# Browser sessions ---------------------------------------------------------------------------


async def web_session_with_user(
    session: AsyncSession, token_hash: str
) -> tuple[WebSession, User] | None:
    row = (
        await session.execute(
            select(WebSession, User)
            .join(User, User.id == WebSession.user_id)
            .where(WebSession.token_hash == token_hash)
        )
    ).one_or_none()
    if row is None:
        return None
    web_session, user = row
    return web_session, user


async def delete_web_session(session: AsyncSession, token_hash: str) -> None:
    await session.execute(delete(WebSession).where(WebSession.token_hash == token_hash))


async def delete_web_sessions_of_user(
    session: AsyncSession, user_id: UUID, *, keep_hash: str | None = None
) -> None:
    """Every browser session of the user, but the one whose hash is ``keep_hash``."""
    others = delete(WebSession).where(WebSession.user_id == user_id)
    if keep_hash is not None:
        others = others.where(WebSession.token_hash != keep_hash)
    await session.execute(others)
