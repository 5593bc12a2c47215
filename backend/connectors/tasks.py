"""Background work of the connectors domain: processing stored partner deliveries."""

from __future__ import annotations

from uuid import UUID

import structlog

from backend.connectors import service
from backend.connectors.mapping import MappingFailed
from backend.core.errors import LevierError
from backend.core.jobs import TaskContext, task

log = structlog.get_logger("levier.connectors")


@task(service.PROCESS_TASK, queue="connectors")
async def process(ctx: TaskContext, delivery_id: str) -> None:
    """Process a delivery; one that does not fit its mapping is kept as failed with the reason
    (nothing of it written), to be replayed after the mapping is fixed."""
    assert ctx.tenant is not None
    try:
        await service.process(ctx.session, ctx.tenant, UUID(delivery_id))
    except (MappingFailed, LevierError) as exc:
        await ctx.session.rollback()
        log.info("inbound_delivery_failed", delivery_id=delivery_id, error=str(exc))
        await service.mark_failed(ctx.session, UUID(delivery_id), service.failure_reason(exc))
