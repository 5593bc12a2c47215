"""Users and bearer tokens: create, authenticate, and resolve a token into a :class:`Caller`."""

from __future__ import annotations

import datetime as dt
import re
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.caller import AGENCY_ROLE_ACCESS, BRAND_ROLE_ACCESS, Access, Caller
from backend.auth.models import AccessToken, User
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
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.match(email) or len(email) > 320:
        raise InvalidInput("email is not a valid address", errors=[{"field": "email"}])
    return email


async def find_user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == normalise_email(email)))


async def get_user(session: AsyncSession, user_id: UUID) -> User:
    user = await session.get(User, user_id)
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


async def issue_access_token(
    session: AsyncSession, user_id: UUID, *, ttl: dt.timedelta, scopes: str = ""
) -> tuple[str, AccessToken]:
    """A new bearer token for the user; the clear token is returned once, never stored."""
    token = new_secret(ACCESS_TOKEN_PREFIX)
    row = AccessToken(
        token_hash=hash_secret(token),
        token_prefix=token[: len(ACCESS_TOKEN_PREFIX) + 4],
        user_id=user_id,
        scopes=scopes,
        expires_at=utcnow() + ttl,
    )
    session.add(row)
    await session.flush()
    return token, row


async def resolve_token(session: AsyncSession, token: str) -> Caller | None:
    """The caller a bearer token stands for, or None if unknown, expired, revoked or disabled."""
    row = (
        await session.execute(
            select(AccessToken, User)
            .join(User, User.id == AccessToken.user_id)
            .where(AccessToken.token_hash == hash_secret(token))
        )
    ).one_or_none()
    if row is None:
        return None
    access_token, user = row
    if access_token.revoked_at is not None or access_token.expires_at <= utcnow() or user.disabled:
        return None
    return await load_caller(session, user)


async def load_caller(session: AsyncSession, user: User) -> Caller:
    """What a user reaches: agency roles, and brands through agency roles or brand grants."""
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
    return Caller(
        user_id=user.id,
        email=user.email,
        agency_access=agency_access,
        brand_access=brand_access,
        brand_agency=brand_agency,
    )
