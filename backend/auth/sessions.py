"""Sign-in with email and password: browser sessions, backoff after wrong passwords
(:mod:`backend.auth.backoff`), sign-out and password change. The cookie holds a random session id;
the table holds only its hash."""

from __future__ import annotations

import asyncio
import datetime as dt
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth import repository
from backend.auth.backoff import SignInBackoff
from backend.auth.models import User, WebSession
from backend.auth.service import find_user_by_email
from backend.config import Settings
from backend.core.db import utcnow
from backend.core.errors import InvalidInput, Unauthenticated
from backend.core.security import (
    MIN_PASSWORD_LENGTH,
    dummy_password_hash,
    hash_password,
    hash_secret,
    new_secret,
    password_needs_rehash,
    verify_password,
)

SESSION_PREFIX = "lvr_ws_"


class WrongCredentials(Unauthenticated):
    """Never says which of the two was wrong."""

    def __init__(self) -> None:
        super().__init__("the email or the password is wrong")


async def _check_password(password_hash: str, password: str) -> bool:
    # argon2 takes tens of milliseconds of CPU on purpose: keep it off the event loop.
    return await asyncio.to_thread(verify_password, password_hash, password)


async def authenticate(
    session: AsyncSession,
    backoff: SignInBackoff,
    email: str,
    password: str,
    *,
    client: str,
) -> User:
    """The user with this email and password, signing in from the ``client`` address.

    Every attempt is counted first (:mod:`backend.auth.backoff`): too many failures answer
    :class:`SignInLocked` without checking the password. Wrong email and wrong password answer
    alike, are counted alike, and take as long.
    """
    attempt = await backoff.begin(email, client)
    try:
        user = await find_user_by_email(session, email)
    except InvalidInput:
        user = None
    if user is None or user.disabled:
        await _check_password(dummy_password_hash(), password)
        raise WrongCredentials()
    if not await _check_password(user.password_hash, password):
        raise WrongCredentials()
    await backoff.succeeded(attempt)
    if password_needs_rehash(user.password_hash):
        user.password_hash = await asyncio.to_thread(hash_password, password)
    return user


async def open_web_session(session: AsyncSession, settings: Settings, user_id: UUID) -> str:
    """A new browser session for the user; the clear id (for the cookie) is returned once."""
    token = new_secret(SESSION_PREFIX)
    session.add(
        WebSession(
            token_hash=hash_secret(token),
            user_id=user_id,
            expires_at=utcnow() + dt.timedelta(hours=settings.web_session_hours),
        )
    )
    await session.flush()
    return token


async def user_of_web_session(session: AsyncSession, token: str | None) -> User | None:
    """The signed-in user of a session cookie, or None if absent, unknown or expired."""
    if not token:
        return None
    row = await repository.web_session_with_user(session, hash_secret(token))
    if row is None:
        return None
    web_session, user = row
    if web_session.expires_at <= utcnow() or user.disabled:
        return None
    return user


async def close_web_session(session: AsyncSession, token: str | None) -> None:
    if token:
        await repository.delete_web_session(session, hash_secret(token))


async def change_password(
    session: AsyncSession,
    settings: Settings,
    user: User,
    *,
    current_password: str,
    new_password: str,
    keep_session: str | None,
) -> None:
    """Set a new password after checking the current one; every other browser session and
    every token of the user stops working at once."""
    if not await _check_password(user.password_hash, current_password):
        raise InvalidInput("the current password is wrong", errors=[{"field": "current_password"}])
    if len(new_password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"the new password must have at least {MIN_PASSWORD_LENGTH} characters",
            errors=[{"field": "new_password"}],
        )
    user.password_hash = await asyncio.to_thread(hash_password, new_password)
    user.password_changed_at = utcnow()
    keep = hash_secret(keep_session) if keep_session else None
    await repository.delete_web_sessions_of_user(session, user.id, keep_hash=keep)
    await repository.revoke_user_tokens(session, user.id)
