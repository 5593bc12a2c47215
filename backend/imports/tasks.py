"""Background work of the imports domain: one job per import, on its own queue."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import structlog

from backend.core.jobs import TaskContext, enqueue, task
from backend.core.tenancy import TenantId
from backend.imports import retention, service
from backend.tenancy import service as tenancy_service

MAX_ATTEMPTS = 3
PURGE_TASK, PURGE_BRAND_TASK = "imports.purge_expired", "imports.purge_brand"
PURGE_EVERY = dt.timedelta(hours=1)
log = structlog.get_logger("levier.imports")


@task(service.RUN_TASK, queue="imports", max_retries=MAX_ATTEMPTS - 1, time_limit_ms=6 * 3600_000)
async def run_import(ctx: TaskContext, import_id: str) -> None:
    """Import the file batch by batch, committing each batch with its checkpoint; an attempt
    that fails resumes after the last committed batch on retry."""
    assert ctx.tenant is not None
    session, job_id = ctx.session, UUID(import_id)
    if not await service.start(session, job_id):
        return
    await session.commit()
    try:
        async for _ in service.run_batches(
            session, ctx.tenant, job_id, batch_size=ctx.settings.import_batch_rows
        ):
            await session.commit()
    except Exception as exc:
        await session.rollback()
        job = await service.get_import(session, job_id)
        final = job.attempts >= MAX_ATTEMPTS
        log.exception("import_failed", import_id=import_id, final=final)
        await service.record_failure(session, job_id, exc, final=final)
        await session.commit()
        if not final:
            raise


@task(PURGE_TASK, tenant_scoped=False, every=PURGE_EVERY)
async def purge_expired(ctx: TaskContext) -> None:
    """Fan the purge of import files past their retention out to one task per brand."""
    for brand_id in await tenancy_service.all_brand_ids(ctx.session):
        await enqueue(ctx.session, PURGE_BRAND_TASK, tenant=TenantId(brand_id))


@task(PURGE_BRAND_TASK)
async def purge_brand(ctx: TaskContext) -> None:
    """Purge the brand's import files and rejected rows past ``import_retention_days``."""
    retention_days = dt.timedelta(days=ctx.settings.import_retention_days)
    purged = await retention.purge_expired(ctx.session, retention_days)
    if purged:
        log.info("import_files_purged", count=purged)
