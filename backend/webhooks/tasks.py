"""Background work of the webhooks domain: sending an endpoint's deliveries, in order."""

from __future__ import annotations

from uuid import UUID

from backend.core.db import utcnow
from backend.core.jobs import TaskContext, task
from backend.webhooks import sending, service

# Deliveries sent by one run before it hands over to a fresh message (keeps runs short).
MAX_PER_RUN = 100


@task(service.SEND_TASK, queue="webhooks", time_limit_ms=30 * 60 * 1000)
async def send(ctx: TaskContext, endpoint_id: str) -> None:
    """Send the endpoint's pending deliveries, earliest first, until one must wait.

    The claim is committed before the request goes out and the outcome after it comes back, so
    no transaction stays open across a partner's response time."""
    assert ctx.tenant is not None
    endpoint = UUID(endpoint_id)
    for _ in range(MAX_PER_RUN):
        claim = await service.claim_next(ctx.session, ctx.tenant, ctx.settings, endpoint, utcnow())
        await ctx.session.commit()
        if claim is None:
            return
        outcome = await sending.post(
            ctx.settings, claim.url, claim.secret, claim.message_id, claim.body
        )
        carry_on = await service.record_outcome(
            ctx.session, ctx.tenant, ctx.settings, endpoint, claim, outcome, utcnow()
        )
        await ctx.session.commit()
        if not carry_on:
            return
    await service.enqueue_send(ctx.session, ctx.tenant, endpoint)
