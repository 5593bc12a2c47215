"""Background work of RFM: scoring a run, emitting its segment changes in chunks, and the
periodic check that queues each brand's scheduled runs."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from backend.core.db import utcnow
from backend.core.jobs import TaskContext, enqueue, task
from backend.core.tenancy import TenantId
from backend.rfm import service

SCHEDULE_TASK = "rfm.schedule"
SCHEDULE_BRAND_TASK = "rfm.schedule_brand"
SCHEDULE_EVERY = dt.timedelta(hours=1)


def _tenant(ctx: TaskContext) -> TenantId:
    if ctx.tenant is None:
        raise ValueError("this task needs a brand")
    return ctx.tenant


@task(service.RUN_TASK, queue="rfm", time_limit_ms=60 * 60 * 1000)
async def run(ctx: TaskContext, run_id: str) -> None:
    """Score a queued run; a run already finished is left alone (safe to deliver twice)."""
    await service.execute_run(ctx.session, _tenant(ctx), UUID(run_id))


@task(service.EMIT_TASK, queue="rfm")
async def emit_changes(ctx: TaskContext, run_id: str, after: str | None = None) -> None:
    """Emit one chunk of a run's `rfm.segment_changed` events, then queue the next chunk."""
    tenant = _tenant(ctx)
    cursor = await service.emit_changes(
        ctx.session, tenant, UUID(run_id), UUID(after) if after else None
    )
    if cursor is not None:
        await enqueue(
            ctx.session, service.EMIT_TASK, tenant=tenant, run_id=run_id, after=str(cursor)
        )


@task(SCHEDULE_TASK, tenant_scoped=False, every=SCHEDULE_EVERY)
async def schedule_all(ctx: TaskContext) -> None:
    """Fan the schedule check out to one task per active brand."""
    for brand_id in await service.active_brand_ids(ctx.session):
        await enqueue(ctx.session, SCHEDULE_BRAND_TASK, tenant=TenantId(brand_id))


@task(SCHEDULE_BRAND_TASK)
async def schedule_brand(ctx: TaskContext) -> None:
    """Queue the brand's scheduled runs of the current period (once per period)."""
    await service.schedule_due_runs(ctx.session, _tenant(ctx), utcnow())
