"""Dead credentials are forgotten; live ones, and rotated refresh tokens, are kept."""

from __future__ import annotations

import datetime as dt

from litestar import Litestar
from sqlalchemy import select

from backend.auth.models import AccessToken, WebSession
from backend.auth.tasks import purge_expired
from backend.core.jobs import TaskContext
from tests.factories import make_person, session_of


async def test_purge_keeps_what_can_still_be_used_or_must_still_be_detected(app: Litestar) -> None:
    now = dt.datetime.now(dt.UTC)
    long_ago = now - dt.timedelta(days=3)
    async with session_of(app) as session:
        person = await make_person(session, "someone@agency.test")

        def token(name: str, expires: dt.datetime, refresh: dt.datetime | None) -> AccessToken:
            return AccessToken(
                token_hash=name * 64,
                token_prefix=name,
                user_id=person.id,
                expires_at=expires,
                refresh_token_hash=(name * 64).upper() if refresh else None,
                refresh_expires_at=refresh,
            )

        session.add_all(
            [
                token("a", long_ago, None),  # dead: goes
                token("b", long_ago, now + dt.timedelta(days=10)),  # refreshable: stays
                token("c", long_ago, long_ago),  # dead refresh too: goes
                WebSession(token_hash="s" * 64, user_id=person.id, expires_at=long_ago),
                WebSession(token_hash="t" * 64, user_id=person.id, expires_at=now),
            ]
        )
        await session.commit()
        await purge_expired(TaskContext(session, None, app.state.settings, "test"))
        await session.commit()
        prefixes = set(await session.scalars(select(AccessToken.token_prefix)))
        sessions = set(await session.scalars(select(WebSession.token_hash)))
    assert "a" not in prefixes
    assert "c" not in prefixes
    assert "b" in prefixes
    assert sessions == {"t" * 64}
