"""Background work of campaigns (thin: the fan-out does the work): an occurrence's start, its
audience snapshot, the release of its recipients chunk by chunk, the winner's decision,
settling, and withdrawing a cancelled occurrence's waiting messages. Every task is safe to run
twice (keys and locks make a repetition a no-op)."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from backend.campaigns import fanout
from backend.core.jobs import TaskContext, enqueue, task
from backend.core.tenancy import TenantId


def _tenant(ctx: TaskContext) -> TenantId:
    if ctx.tenant is None:
        raise ValueError("this task needs a brand")
    return ctx.tenant


@task(fanout.START_TASK, queue="campaigns")
async def start(ctx: TaskContext, campaign_id: str, planned_at: str) -> None:
    """Start the occurrence planned at ``planned_at`` (once per campaign and moment)."""
    await fanout.start(
        ctx.session, _tenant(ctx), UUID(campaign_id), dt.datetime.fromisoformat(planned_at)
    )


@task(fanout.SNAPSHOT_TASK, queue="campaigns")
async def snapshot(ctx: TaskContext, occurrence_id: str) -> None:
    """Write the next pages of an occurrence's audience."""
    await fanout.snapshot(ctx.session, _tenant(ctx), UUID(occurrence_id))


@task(fanout.RELEASE_TASK, queue="campaigns")
async def release(ctx: TaskContext, occurrence_id: str) -> None:
    """Release the next chunk of due recipients as messages."""
    await fanout.release(ctx.session, _tenant(ctx), UUID(occurrence_id))


@task(fanout.DECIDE_TASK, queue="campaigns")
async def decide(ctx: TaskContext, occurrence_id: str) -> None:
    """Pick a winner test's winner and give it to the rest of the audience."""
    await fanout.decide(ctx.session, _tenant(ctx), UUID(occurrence_id))


@task(fanout.SETTLE_TASK, queue="campaigns")
async def settle(ctx: TaskContext, occurrence_id: str) -> None:
    """Mark an occurrence sent once nothing of it is waiting or on its way."""
    await fanout.settle(ctx.session, _tenant(ctx), UUID(occurrence_id))


@task(fanout.WITHDRAW_TASK, queue="campaigns")
async def withdraw(ctx: TaskContext, occurrence_id: str) -> None:
    """Withdraw a cancelled occurrence's waiting messages, a chunk at a time."""
    tenant = _tenant(ctx)
    if await fanout.withdraw(ctx.session, tenant, UUID(occurrence_id)):
        await enqueue(ctx.session, fanout.WITHDRAW_TASK, tenant=tenant, occurrence_id=occurrence_id)
