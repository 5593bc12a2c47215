"""Platform housekeeping: expired idempotency records and delivered outbox and due rows."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete

from backend.core.db import utcnow
from backend.core.due_work import DueTask
from backend.core.idempotency import IdempotencyRecord
from backend.core.jobs import TaskContext, task
from backend.core.outbox import purge_finished


@task("platform.purge_expired", tenant_scoped=False, every=dt.timedelta(hours=1))
async def purge_expired(ctx: TaskContext) -> None:
    now = utcnow()
    # Finished outbox rows and claimed due rows are kept for the retention window: enough to
    # investigate a job, or send it again after a loss of the broker's data.
    keep = dt.timedelta(hours=ctx.settings.outbox_retention_hours)
    await ctx.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < now))
    await purge_finished(ctx.session, now - keep)
    await ctx.session.execute(delete(DueTask).where(DueTask.enqueued_at < now - keep))
