"""Running journeys: claim a batch (``FOR UPDATE SKIP LOCKED``), advance it with the executor,
and keep one journey whose step breaks from holding back the others.

The batch runs in a savepoint: when something unexpected fails in it, the batch is rolled back
and each of its journeys is run alone in a savepoint of its own, so only the journey that fails
again is marked ``failed`` (its open step gets outcome ``error`` and the reason) — the others
advance. Expected failures of a step (a template gone, an attribute no longer defined) are its
outcome, not an error: the executor records them and the journey goes on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.core.db import start_as_writer, utcnow
from backend.core.tenancy import TenantId
from backend.scenarios import repository
from backend.scenarios.effects import Effects, LiveEffects
from backend.scenarios.models import Journey
from backend.scenarios.runtime import Advanced, Executor

log = structlog.get_logger("levier.scenarios")

BATCH_SIZE = 500


async def advance(
    session: AsyncSession,
    tenant: TenantId,
    settings: Settings,
    *,
    journey_ids: Sequence[UUID] | None = None,
    until: dt.datetime | None = None,
    effects: Effects | None = None,
    limit: int = BATCH_SIZE,
) -> int:
    """Advance up to ``limit`` journeys due at ``until`` (default now; among ``journey_ids``
    when given) in the session's transaction; how many were claimed. The caller commits."""
    now = until or utcnow()
    await start_as_writer(session, "scenario_journeys")
    journeys = await repository.claim_journeys(session, now, journey_ids=journey_ids, limit=limit)
    if not journeys:
        return 0
    try:
        async with session.begin_nested():
            await _run(
                session, tenant, settings, now, effects or LiveEffects(session, tenant), journeys
            )
        return len(journeys)
    except Exception:
        log.exception("scenario_batch_failed", journeys=len(journeys))
    for journey_id in [j.id for j in journeys]:
        alone = await repository.claim_journeys(session, now, journey_ids=[journey_id], limit=1)
        if not alone:
            continue
        try:
            async with session.begin_nested():
                await _run(
                    session, tenant, settings, now, effects or LiveEffects(session, tenant), alone
                )
        except Exception as exc:
            log.exception("scenario_journey_failed", journey_id=str(journey_id))
            # As it was before the run (the savepoint rolled the run back, not the copy we hold).
            (fresh,) = await repository.claim_journeys(
                session, now, journey_ids=[journey_id], limit=1
            )
            await repository.fail_journey(session, fresh, f"{type(exc).__name__}: {exc}", now)
    return len(journeys)


async def _run(
    session: AsyncSession,
    tenant: TenantId,
    settings: Settings,
    now: dt.datetime,
    effects: Effects,
    journeys: list[Journey],
) -> Advanced:
    versions = {
        v.id: v for v in await repository.versions_by_ids(session, [j.version_id for j in journeys])
    }
    executor = Executor(session, tenant, settings, now=now, effects=effects)
    return await executor.advance(journeys, versions)
