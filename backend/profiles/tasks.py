"""Background work of the profiles domain."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import structlog

from backend.core.jobs import TaskContext, task
from backend.profiles.exports import service as exports

log = structlog.get_logger("levier.profiles")


@task(exports.EXPORT_TASK, queue="exports", time_limit_ms=60 * 60 * 1000)
async def export_profiles(ctx: TaskContext, export_id: str) -> None:
    """Write an export's file, committing after each chunk; a failure is recorded on the export
    (the client requests a new one) rather than retried from scratch behind its back."""
    try:
        await exports.run_export(
            ctx.session,
            UUID(export_id),
            checkpoint=ctx.session.commit,
            ttl=dt.timedelta(hours=ctx.settings.export_ttl_hours),
        )
    except Exception as exc:
        log.exception("export_failed", export_id=export_id)
        await ctx.session.rollback()
        reason = f"the export stopped: {exc!r}"[:500]
        await exports.mark_failed(ctx.session, UUID(export_id), reason)


@task(exports.EXPIRE_TASK, queue="exports")
async def expire_export(ctx: TaskContext, export_id: str) -> None:
    """Purge an export's file once its time to live passed (scheduled when it was written)."""
    await exports.expire_export(ctx.session, UUID(export_id))
