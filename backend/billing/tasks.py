"""Background work of billing (queue ``billing`` for what calls Stripe): metering each brand's
sends, reporting usage to Stripe, applying Stripe's events, telling usage warnings and releasing
held sends. Each task is thin (the services work) and safe to run twice."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import structlog

from backend.billing import events, metering, repository, standing
from backend.billing.service import HOLD_REASONS
from backend.core.db import utcnow
from backend.core.jobs import TaskContext, enqueue, task
from backend.core.tenancy import TenantId
from backend.messaging import service as messaging_service
from backend.tenancy import service as tenancy_service

log = structlog.get_logger("levier.billing")

METER_TASK = "billing.meter"
METER_BRAND_TASK = "billing.meter_brand"
PROFILES_TASK = "billing.report_profiles"
RESUME_BRAND_TASK = "billing.resume_brand"
QUEUE = "billing"
# Stripe events still waiting this long after they were received: their job is queued again.
STUCK_AFTER = dt.timedelta(minutes=2)


def _tenant(ctx: TaskContext) -> TenantId:
    if ctx.tenant is None:
        raise ValueError("this task needs a brand")
    return ctx.tenant


@task(METER_TASK, tenant_scoped=False, every=dt.timedelta(minutes=5))
async def meter(ctx: TaskContext) -> None:
    """Fan out the metering of each brand, send what waits, and queue again the Stripe events
    whose job was lost. Nothing to do before plans were synced from Stripe."""
    if not await repository.has_plans(ctx.session):
        return
    for brand_id in await tenancy_service.all_brand_ids(ctx.session):
        await enqueue(ctx.session, METER_BRAND_TASK, tenant=TenantId(brand_id))
    if await repository.count_pending(ctx.session):
        await enqueue(ctx.session, metering.SEND_TASK)
    for key in await events.stuck_keys(ctx.session, STUCK_AFTER):
        await enqueue(ctx.session, events.APPLY_TASK, ordering_key=key)


@task(METER_BRAND_TASK, queue=QUEUE)
async def meter_brand(ctx: TaskContext) -> None:
    """Count the brand's sends since its meter's cursor (one transaction), then queue their
    report to Stripe."""
    counted = await metering.meter_brand(ctx.session, _tenant(ctx), ctx.settings)
    if counted.pending:
        await enqueue(ctx.session, metering.SEND_TASK)


@task(metering.SEND_TASK, tenant_scoped=False, queue=QUEUE)
async def send_reports(ctx: TaskContext) -> None:
    """Claim pending reports — commit — send them to Stripe — record what it took. A crash
    anywhere sends the same batches again later (same identifiers: billed once)."""
    claimed = await metering.claim_reports(ctx.session, ctx.settings)
    await ctx.session.commit()
    if not claimed:
        return
    outcomes = await metering.send_reports(ctx.settings, claimed)
    reported = await metering.record_sent(ctx.session, outcomes)
    log.info("usage_reported", claimed=len(claimed), reported=reported)
    if len(claimed) >= metering.SEND_BATCH:
        await enqueue(ctx.session, metering.SEND_TASK)


@task(PROFILES_TASK, tenant_scoped=False, every=dt.timedelta(days=1))
async def report_profiles(ctx: TaskContext) -> None:
    """The day just ended: each metered account's profiles stored, reported once."""
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    day = today - dt.timedelta(days=1)
    if await metering.report_profiles(ctx.session, day):
        await enqueue(ctx.session, metering.SEND_TASK)


@task(events.APPLY_TASK, tenant_scoped=False, queue=QUEUE)
async def apply_events(ctx: TaskContext, ordering_key: str) -> None:
    """Apply the waiting Stripe events of one subscription (or customer), in order."""
    await events.apply_waiting(ctx.session, ctx.settings, ordering_key)


@task(metering.TELL_WARNING_TASK)
async def tell_warning(ctx: TaskContext, warning_id: str) -> None:
    await metering.tell_warning(ctx.session, _tenant(ctx), UUID(warning_id))


@task(events.RESUME_TASK, tenant_scoped=False)
async def resume_sends(ctx: TaskContext, account_id: str) -> None:
    """An account's hold lifted (paid, resubscribed, upgraded): each brand it bills sends its
    held messages now."""
    account = await repository.get_account(ctx.session, UUID(account_id))
    if account is None:
        return
    governing = (
        await standing.of_brand(ctx.session, account.brand_id)
        if account.brand_id is not None
        else await standing.of_agency(ctx.session, account.agency_id)
    )
    for brand_id in governing.covered:
        await enqueue(ctx.session, RESUME_BRAND_TASK, tenant=TenantId(brand_id))


@task(RESUME_BRAND_TASK)
async def resume_brand(ctx: TaskContext) -> None:
    released = await messaging_service.release_held(ctx.session, _tenant(ctx), HOLD_REASONS)
    if released:
        log.info("held_sends_released", count=released)
