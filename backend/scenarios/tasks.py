"""Background work of scenarios: advancing journeys (those just entered or released, and those
whose wait fell due), and the periodic sweep that catches anything whose task was lost."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import structlog

from backend.core.db import utcnow
from backend.core.jobs import TaskContext, enqueue, task
from backend.core.tenancy import TenantId
from backend.scenarios import engine, service
from backend.scenarios.entries import ADVANCE_TASK
from backend.scenarios.runtime import WAKE_TASK
from backend.tenancy import service as tenancy_service

log = structlog.get_logger("levier.scenarios")

SWEEP_TASK = "scenarios.sweep"
SWEEP_BRAND_TASK = "scenarios.sweep_brand"
SWEEP_EVERY = dt.timedelta(minutes=1)


def _tenant(ctx: TaskContext) -> TenantId:
    if ctx.tenant is None:
        raise ValueError("this task needs a brand")
    return ctx.tenant


@task(ADVANCE_TASK, queue="scenarios")
async def advance(ctx: TaskContext, journey_ids: list[str]) -> None:
    """Advance these journeys as far as each goes now (those another worker holds, or that
    moved on already, are left alone: safe to run twice)."""
    await engine.advance(
        ctx.session, _tenant(ctx), ctx.settings, journey_ids=[UUID(i) for i in journey_ids]
    )


@task(WAKE_TASK, queue="scenarios")
async def wake(ctx: TaskContext) -> None:
    """Advance the brand's journeys due now, a batch at a time (a full batch queues the next)."""
    if await engine.advance(ctx.session, _tenant(ctx), ctx.settings) >= engine.BATCH_SIZE:
        await enqueue(ctx.session, WAKE_TASK, tenant=_tenant(ctx))


@task(SWEEP_TASK, tenant_scoped=False, every=SWEEP_EVERY)
async def sweep(ctx: TaskContext) -> None:
    """Fan out to every brand: due journeys whose wake-up was lost run, finished versions
    retire."""
    for brand_id in await tenancy_service.all_brand_ids(ctx.session):
        await enqueue(ctx.session, SWEEP_BRAND_TASK, tenant=TenantId(brand_id))


@task(SWEEP_BRAND_TASK, queue="scenarios")
async def sweep_brand(ctx: TaskContext) -> None:
    await service.retire_finished(ctx.session)
    claimed = await engine.advance(ctx.session, _tenant(ctx), ctx.settings, until=utcnow())
    if claimed >= engine.BATCH_SIZE:
        await enqueue(ctx.session, WAKE_TASK, tenant=_tenant(ctx))
