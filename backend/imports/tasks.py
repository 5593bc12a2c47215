"""Background work of the imports domain: one job per import, on its own queue."""

from __future__ import annotations

from uuid import UUID

import structlog

from backend.core.jobs import TaskContext, task
from backend.imports import service

MAX_ATTEMPTS = 3
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
