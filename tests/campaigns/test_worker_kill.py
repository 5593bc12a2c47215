"""A real `levier worker` killed (SIGKILL) in the middle of a campaign's fan-out, then another
one started: every member of the segment receives exactly one message (the capture provider
commits with the ledger, so "received" is exactly what the ledger says was sent; the ledger's
key per occurrence, profile and channel lets no chunk be released twice)."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import time
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select

from backend.campaigns.models import CampaignRecipient, RecipientState
from backend.config import Settings
from backend.core.db import utcnow
from backend.messaging.models import Message
from backend.messaging.providers.models import CapturedMessage
from tests.campaigns.helpers import create, progress, ready_brand, schedule
from tests.factories import session_of
from tests.messaging.test_worker_kill import worker
from workers.scheduler import Scheduler

MEMBERS = 300


async def test_a_killed_worker_leaves_no_member_without_or_with_two_messages(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stack: str, tmp_path: Path
) -> None:
    if stack != "postgres":
        pytest.skip("`levier worker` needs Redis")
    brand = await ready_brand(app, client, members=MEMBERS)
    log = tmp_path / "workers.log"

    async def count(what: object) -> int:
        async with session_of(app, brand.id) as session:
            return int(await session.scalar(what) or 0)  # type: ignore[call-overload]

    captured = select(func.count()).select_from(CapturedMessage)
    recorded = select(func.count()).select_from(Message)
    with worker(settings, log) as first:
        campaign = await create(client, brand)
        await schedule(client, brand, campaign["id"])  # the app's relay hands it to Redis
        deadline = time.monotonic() + 90
        # Killed once the release has begun: while chunks are released and sent.
        while await count(recorded) == 0:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait()
    at_kill = await count(captured)
    assert at_kill < MEMBERS, "the fan-out ended before the kill: nothing was interrupted"
    # The sweep of claims whose worker died is periodic work: a scheduler ticks meanwhile.
    scheduler = Scheduler(app.state.session_factory, app.state.relay)
    with worker(settings, log):
        deadline = time.monotonic() + 90
        step = 0
        while await count(captured) < MEMBERS:
            assert time.monotonic() < deadline, (at_kill, log.read_text()[-3000:])
            step += 1
            await scheduler.tick(utcnow() + dt.timedelta(seconds=15 * step))
            await asyncio.sleep(0.2)
        state = await progress(client, brand, campaign["id"])
    async with session_of(app, brand.id) as session:
        rows = (await session.execute(select(CapturedMessage.recipient))).scalars().all()
        statuses = (await session.scalars(select(Message.status))).all()
        states = (await session.scalars(select(CampaignRecipient.state))).all()
    assert sorted(rows) == sorted(f"p{n}@example.com" for n in range(MEMBERS))  # once each
    assert len(statuses) == MEMBERS
    assert {str(s) for s in statuses} == {"sent"}
    assert set(states) == {RecipientState.RELEASED}
    assert (state["targeted"], state["released"], state["sent"]) == (MEMBERS, MEMBERS, MEMBERS)
