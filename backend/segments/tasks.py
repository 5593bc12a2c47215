"""Background work of segments: evaluations (asked for, scheduled, after imports), incremental
evaluations of one profile, publishing transitions in chunks, and the periodic refresh scan
(fanned out per brand)."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import structlog

from backend.core.db import utcnow
from backend.core.errors import InvalidInput, NotFound
from backend.core.jobs import TaskContext, enqueue, task
from backend.core.tenancy import TenantId
from backend.segments import membership, repository, service
from backend.segments.models import EvaluationCause

log = structlog.get_logger("levier.segments")

REFRESH_TASK = "segments.refresh"
REFRESH_BRAND_TASK = "segments.refresh_brand"
REFRESH_EVERY = dt.timedelta(minutes=5)


def _tenant(ctx: TaskContext) -> TenantId:
    if ctx.tenant is None:
        raise ValueError("this task needs a brand")
    return ctx.tenant


@task(service.EVALUATE_TASK, queue="segments")
async def evaluate(ctx: TaskContext, segment_id: str, evaluation_id: str, cause: str) -> None:
    """Evaluate a segment over every profile (a second run of one evaluation does nothing)."""
    try:
        await membership.evaluate(
            ctx.session,
            _tenant(ctx),
            UUID(segment_id),
            evaluation_id=UUID(evaluation_id),
            cause=EvaluationCause(cause),
        )
    except NotFound:
        return  # deleted meanwhile
    except InvalidInput as exc:  # an attribute or table it names is gone: nothing to retry
        log.warning("segment_definition_invalid", segment_id=segment_id, detail=exc.detail)


@task(membership.REFRESH_PROFILE_TASK, queue="segments")
async def refresh_profile(ctx: TaskContext, profile_id: str) -> None:
    """Re-evaluate one profile's membership of the brand's rule segments."""
    await membership.refresh_profiles(ctx.session, _tenant(ctx), [UUID(profile_id)])


@task(membership.PUBLISH_TASK)
async def publish(ctx: TaskContext, evaluation_id: str, after: str | None = None) -> None:
    """Publish a chunk of an evaluation's transitions, then queue the next chunk."""
    tenant = _tenant(ctx)
    cursor = await membership.publish(
        ctx.session, tenant, UUID(evaluation_id), UUID(after) if after else None
    )
    if cursor is not None:
        await enqueue(
            ctx.session,
            membership.PUBLISH_TASK,
            tenant=tenant,
            evaluation_id=evaluation_id,
            after=str(cursor),
        )


@task(REFRESH_TASK, tenant_scoped=False, every=REFRESH_EVERY)
async def refresh_all(ctx: TaskContext) -> None:
    """Fan the scheduled refresh of segments out to one task per active brand."""
    for brand_id in await repository.active_brand_ids(ctx.session):
        await enqueue(ctx.session, REFRESH_BRAND_TASK, tenant=TenantId(brand_id))


@task(REFRESH_BRAND_TASK)
async def refresh_brand(ctx: TaskContext) -> None:
    """Queue the evaluation of the brand's segments whose refresh fell due."""
    await membership.refresh_due(ctx.session, _tenant(ctx), utcnow())
