"""The ledger's retention forgets, per brand, what it keeps beside the messages: dedupe keys and
what tracking saw of them."""

from __future__ import annotations

import datetime as dt

from litestar import Litestar
from sqlalchemy import select

from backend.config import Settings
from backend.core.jobs import TaskContext
from backend.core.tenancy import TenantId
from backend.messaging import repository, tasks
from backend.messaging.tracking import repository as tracking_repository
from backend.messaging.tracking.models import MessageSighting
from tests.factories import make_world, session_of


async def test_retention_forgets_the_sightings_of_messages_older_than_it(app: Litestar) -> None:
    world = await make_world(app)
    settings: Settings = app.state.settings
    now = dt.datetime(2026, 12, 3, tzinfo=dt.UTC)
    old = repository.id_floor(now - dt.timedelta(days=400))
    recent = repository.id_floor(now - dt.timedelta(days=3))
    for brand in (world.brand_a.id, world.brand_b.id):
        async with session_of(app, brand) as session:
            for message_id in (old, recent):
                await tracking_repository.sight(session, message_id, "open", now)
            await session.commit()
    cutoff = now - dt.timedelta(days=365)
    async with session_of(app, world.brand_a.id) as session:
        ctx = TaskContext(session, TenantId(world.brand_a.id), settings, "retention")
        await tasks.retention_brand(ctx, before=cutoff.isoformat())
        await session.commit()
    for brand, kept in ((world.brand_a.id, [recent]), (world.brand_b.id, [old, recent])):
        async with session_of(app, brand) as session:
            rows = (await session.scalars(select(MessageSighting.message_id))).all()
        assert sorted(rows) == sorted(kept)
