"""Background work of messaging: delivering one message (thin: the service does the work, this
task only commits between its steps so no transaction stays open across the provider call), the
sweep of messages whose worker died mid-send, and the ledger's partitions and retention."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import structlog

from backend.core.db import dialect_of, utcnow
from backend.core.jobs import TaskContext, enqueue, task
from backend.core.tenancy import TenantId
from backend.messaging import delivery, repository, service
from backend.messaging.tracking import service as tracking
from backend.tenancy import service as tenancy_service

log = structlog.get_logger("levier.messaging")

DELIVER_BATCH_TASK = service.DELIVER_BATCH_TASK
SWEEP_TASK = "messaging.sweep"
SWEEP_BRAND_TASK = "messaging.sweep_brand"
PARTITIONS_TASK = "messaging.maintain_partitions"
MONTHS_AHEAD = 3


def _tenant(ctx: TaskContext) -> TenantId:
    if ctx.tenant is None:
        raise ValueError("this task needs a brand")
    return ctx.tenant


@task(service.DELIVER_TASK, queue="messages")
async def deliver(ctx: TaskContext, message_id: str) -> None:
    """Deliver one message: a batch of one (safe to run twice: the claim is one UPDATE … WHERE
    the message is waiting)."""
    await _deliver(ctx, [UUID(message_id)], 1)


@task(DELIVER_BATCH_TASK, queue="messages")
async def deliver_batch(ctx: TaskContext, limit: int = delivery.BATCH_SIZE) -> None:
    """Deliver up to ``limit`` due messages of the brand (claimed in one statement, gated,
    rendered, handed over and recorded set-based); a full batch queues the next one."""
    if await _deliver(ctx, None, limit) >= limit:
        await enqueue(ctx.session, DELIVER_BATCH_TASK, tenant=_tenant(ctx), limit=limit)


async def _deliver(ctx: TaskContext, message_ids: list[UUID] | None, limit: int) -> int:
    """Claim, gate, render — commit — hand to the providers — record the outcomes (the task
    commits). How many messages were claimed."""
    tenant = _tenant(ctx)
    claimed, prepared = await delivery.prepare_batch(
        ctx.session, tenant, ctx.settings, message_ids=message_ids, limit=limit
    )
    await ctx.session.commit()  # the claims (and refusals, deferrals, failures) are durable now
    if prepared:
        # A provider that is down defers its own messages; the worker moves on to others.
        handed = await delivery.hand_over(prepared)
        await delivery.record_outcomes(ctx.session, tenant, handed)
    return claimed


@task(SWEEP_TASK, tenant_scoped=False, every=dt.timedelta(seconds=15))
async def sweep(ctx: TaskContext) -> None:
    """Fan out to each brand the requeue of messages whose worker died mid-send."""
    for brand_id in await tenancy_service.all_brand_ids(ctx.session):
        await enqueue(ctx.session, SWEEP_BRAND_TASK, tenant=TenantId(brand_id))


@task(SWEEP_BRAND_TASK, queue="messages")
async def sweep_brand(ctx: TaskContext) -> None:
    count = await delivery.requeue_stale(ctx.session, _tenant(ctx), ctx.settings, utcnow())
    if count:
        log.warning("messages_requeued_after_lease", count=count)


@task(PARTITIONS_TASK, tenant_scoped=False, every=dt.timedelta(hours=6))
async def maintain_partitions(ctx: TaskContext) -> None:
    """Create the ledger's coming months ahead and drop (PostgreSQL) or delete (SQLite) the
    months past the retention (``LEVIER_MESSAGE_RETENTION_MONTHS``)."""
    keep = ctx.settings.message_retention_months
    now = utcnow()
    cutoff_month = dt.datetime(now.year, now.month, 1, tzinfo=dt.UTC)
    for _ in range(keep):
        cutoff_month = (cutoff_month - dt.timedelta(days=1)).replace(day=1)
    if dialect_of(ctx.session) == "postgresql":
        created = await repository.ensure_partitions(ctx.session, MONTHS_AHEAD)
        dropped = await repository.drop_partitions(ctx.session, keep)
        log.info("message_partitions", created=created, dropped=dropped)
    for brand_id in await tenancy_service.all_brand_ids(ctx.session):
        await enqueue(
            ctx.session,
            RETENTION_BRAND_TASK,
            tenant=TenantId(brand_id),
            before=cutoff_month.isoformat(),
        )


RETENTION_BRAND_TASK = "messaging.retention_brand"


@task(RETENTION_BRAND_TASK)
async def retention_brand(ctx: TaskContext, before: str) -> None:
    """Forget a brand's dedupe keys and sightings (and, on SQLite, its messages) older than the
    retention."""
    cutoff = dt.datetime.fromisoformat(before)
    await tracking.forget_before(ctx.session, repository.id_floor(cutoff))
    if dialect_of(ctx.session) == "postgresql":
        await repository.delete_keys_before(ctx.session, cutoff)
    else:
        await repository.delete_before(ctx.session, repository.id_floor(cutoff), cutoff)
