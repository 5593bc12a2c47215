"""Background work of triggers: publishing occurrences to their consumers, the periodic scan of
scheduled triggers (fanned out per brand), and abandoned-cart checks falling due."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from backend.core.db import utcnow
from backend.core.jobs import TaskContext, enqueue, task
from backend.core.tenancy import TenantId
from backend.triggers import scan, service
from backend.triggers.consumers import registered_consumers

SCAN_TASK = "triggers.scan"
SCAN_BRAND_TASK = "triggers.scan_brand"
SCAN_EVERY = dt.timedelta(minutes=5)


def _tenant(ctx: TaskContext) -> TenantId:
    if ctx.tenant is None:
        raise ValueError("this task needs a brand")
    return ctx.tenant


@task(service.PUBLISH_TASK)
async def publish(ctx: TaskContext, occurrence_ids: list[str]) -> None:
    """Hand new occurrences to every registered consumer (at least once)."""
    consumers = registered_consumers()
    if not consumers:
        return
    ids = [UUID(i) for i in occurrence_ids]
    occurrences = await service.occurrences_by_ids(ctx.session, ids)
    if not occurrences:
        return  # erased meanwhile
    for consumer in consumers:
        await consumer.on_occurrences(ctx.session, _tenant(ctx), occurrences)


@task(SCAN_TASK, tenant_scoped=False, every=SCAN_EVERY)
async def scan_all(ctx: TaskContext) -> None:
    """Fan the scan of scheduled triggers out to one task per active brand."""
    for brand_id in await scan.active_brand_ids(ctx.session):
        await enqueue(ctx.session, SCAN_BRAND_TASK, tenant=TenantId(brand_id))


@task(SCAN_BRAND_TASK)
async def scan_brand(ctx: TaskContext) -> None:
    """Raise the brand's scheduled triggers that fell due since their last scan."""
    await scan.scan_brand(ctx.session, _tenant(ctx), utcnow())


@task(service.ABANDONED_CART_TASK)
async def check_abandoned_cart(
    ctx: TaskContext, definition_id: str, cart_id: str, cart_updated_at: str
) -> None:
    """The delay after a cart update ran out: raise the trigger unless the cart moved on."""
    await service.check_abandoned_cart(
        ctx.session,
        _tenant(ctx),
        definition_id=UUID(definition_id),
        cart_id=cart_id,
        cart_updated_at=dt.datetime.fromisoformat(cart_updated_at),
    )
