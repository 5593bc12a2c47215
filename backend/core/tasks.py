"""Platform housekeeping: expired idempotency records and delivered outbox and due rows."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete

from backend.core.db import utcnow
from backend.core.due_work import DueTask
from backend.core.idempotency import IdempotencyRecord
from backend.core.jobs import TaskContext, task
from backend.core.outbox import OutboxMessage

# Delivered rows are kept a week: enough to investigate a job, small enough to stay fast.
KEEP_DELIVERED = dt.timedelta(days=7)


@task("platform.purge_expired", tenant_scoped=False, every=dt.timedelta(hours=1))
async def purge_expired(ctx: TaskContext) -> None:
    now = utcnow()
    await ctx.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < now))
    await ctx.session.execute(
        delete(OutboxMessage).where(OutboxMessage.sent_at < now - KEEP_DELIVERED)
    )
    await ctx.session.execute(delete(DueTask).where(DueTask.enqueued_at < now - KEEP_DELIVERED))
