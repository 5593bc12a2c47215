"""Background work of the auth domain: forgetting dead credentials."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, or_

from backend.auth.models import AccessToken, AuthorizationCode, WebSession
from backend.core.db import utcnow
from backend.core.jobs import TaskContext, task

# Dead tokens stay a day, so that a request made just before expiry still reads clearly in logs.
KEEP_DEAD = dt.timedelta(days=1)


@task("auth.purge_expired", tenant_scoped=False, every=dt.timedelta(hours=1))
async def purge_expired(ctx: TaskContext) -> None:
    """Delete expired sessions and codes, and tokens that can neither be used nor refreshed.

    A rotated refresh token is kept until it expires: presenting it again must still revoke its
    family.
    """
    cutoff = utcnow() - KEEP_DEAD
    await ctx.session.execute(delete(WebSession).where(WebSession.expires_at < cutoff))
    await ctx.session.execute(
        delete(AuthorizationCode).where(AuthorizationCode.expires_at < cutoff)
    )
    await ctx.session.execute(
        delete(AccessToken).where(
            AccessToken.expires_at < cutoff,
            or_(
                AccessToken.refresh_expires_at.is_(None),
                AccessToken.refresh_expires_at < cutoff,
            ),
        )
    )
