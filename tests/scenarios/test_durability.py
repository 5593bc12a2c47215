"""Durability on the production stack (PostgreSQL + Redis, real `levier worker` processes): a
worker killed (SIGKILL) while it advances journeys, and the scheduler replaced while journeys
wait. No step is skipped, none runs twice: each journey sends each of its messages once."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import time
from collections import Counter
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select

from backend.config import Settings
from backend.core.db import utcnow
from backend.core.tenancy import TenantId
from backend.messaging.models import Message
from backend.messaging.providers.models import CapturedMessage
from backend.scenarios import entries
from backend.scenarios.models import Journey, JourneyState, JourneyStep, ScenarioVersion
from tests.factories import make_world, session_of
from tests.messaging.test_worker_kill import worker
from tests.scenarios.helpers import EXIT, entry, open_the_gate, person, scenario, template
from workers.scheduler import Scheduler

JOURNEYS = 120
CHUNK = 4  # journeys per advance task: the kill lands between and inside tasks


async def _count(app: Litestar, brand: UUID, query: object) -> int:
    async with session_of(app, brand) as session:
        return int(await session.scalar(query) or 0)  # type: ignore[call-overload]


async def _wait_for(
    app: Litestar, brand: UUID, query: object, target: int, log: Path, seconds: float = 90
) -> int:
    deadline = time.monotonic() + seconds
    while (found := await _count(app, brand, query)) < target:
        assert time.monotonic() < deadline, (found, log.read_text()[-3000:])  # noqa: ASYNC240
        await asyncio.sleep(0.05)
    return found


async def test_a_killed_worker_and_a_replaced_scheduler_skip_and_repeat_nothing(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stack: str, tmp_path: Path
) -> None:
    if stack != "postgres":
        pytest.skip("`levier worker` needs Redis")
    world = await make_world(app)
    brand = world.brand_a.id
    tenant = TenantId(brand)
    await open_the_gate(client, world)
    first = await template(client, world, "first")
    second = await template(client, world, "second")
    scenario_id = await scenario(
        client,
        world,
        [
            entry("first"),
            {"kind": "send", "id": "first", "templateId": first, "next": "pause"},
            {"kind": "wait", "id": "pause", "duration": {"seconds": 3}, "next": "second"},
            {"kind": "send", "id": "second", "templateId": second, "next": "done"},
            EXIT,
        ],
    )
    people = [await person(app, world, email=f"p{n}@example.com") for n in range(JOURNEYS)]
    async with session_of(app, brand) as session:
        version_id = await session.scalar(
            select(ScenarioVersion.id).where(ScenarioVersion.scenario_id == UUID(scenario_id))
        )
    assert version_id is not None
    log = tmp_path / "workers.log"
    sent = select(func.count()).select_from(Message).where(Message.status == "sent")
    waiting = (
        select(func.count())
        .select_from(Journey)
        .where(Journey.node_id == "pause", Journey.state == JourneyState.WAITING)
    )
    with worker(settings, log) as doomed:
        async with session_of(app, brand) as session:
            for start in range(0, JOURNEYS, CHUNK):
                candidates = [
                    entries.Candidate(UUID(scenario_id), version_id, p, f"api:{p}", {})
                    for p in people[start : start + CHUNK]
                ]
                await entries.admit(session, tenant, candidates)
            await session.commit()  # the app's relay hands the advance tasks to Redis
        await _wait_for(app, brand, sent, JOURNEYS // 5, log)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
    at_kill = await _count(app, brand, waiting)
    assert at_kill < JOURNEYS, "every journey was parked before the kill: nothing was interrupted"

    # A scheduler ticks while the journeys wait (nothing is due yet), then goes away.
    early = Scheduler(app.state.session_factory, app.state.relay)
    await early.tick()
    del early
    with worker(settings, log):
        await _wait_for(app, brand, waiting, JOURNEYS, log)
        async with session_of(app, brand) as session:
            last_due = await session.scalar(select(func.max(Journey.due_at)))
        assert last_due is not None
        # The waits are time itself: sleep until the last one fell due.
        await asyncio.sleep(max(0.0, (last_due - utcnow()).total_seconds() + 1))
        # Another scheduler, started after the waits fell due, claims their wake-ups.
        await Scheduler(app.state.session_factory, app.state.relay).tick()
        done = (
            select(func.count()).select_from(Journey).where(Journey.state == JourneyState.COMPLETED)
        )
        await _wait_for(app, brand, done, JOURNEYS, log)
        await _wait_for(app, brand, sent, 2 * JOURNEYS, log)
        # A third scheduler (a replica) ticking again runs nothing twice.
        await Scheduler(app.state.session_factory, app.state.relay).tick(
            utcnow() + dt.timedelta(minutes=5)
        )
        await asyncio.sleep(1)
    async with session_of(app, brand) as session:
        messages = (await session.execute(select(Message.source_key, Message.status))).all()
        captured = (await session.scalars(select(CapturedMessage.message_id))).all()
        walked = (
            await session.execute(
                select(JourneyStep.journey_id, JourneyStep.node_id, JourneyStep.outcome).order_by(
                    JourneyStep.journey_id, JourneyStep.seq
                )
            )
        ).all()
    assert len(messages) == 2 * JOURNEYS
    assert {str(status) for _, status in messages} == {"sent"}
    assert len(captured) == len(set(captured)) == 2 * JOURNEYS  # each sent once
    per_journey = Counter(key.split(":")[0] for key, _ in messages)
    assert set(per_journey.values()) == {2}
    paths: dict[UUID, list[tuple[str, str | None]]] = {}
    for journey_id, node_id, outcome in walked:
        paths.setdefault(journey_id, []).append((node_id, outcome))
    assert len(paths) == JOURNEYS
    expected = [
        ("start", "entered"),
        ("first", "sent"),
        ("pause", "passed"),
        ("second", "sent"),
        ("done", "completed"),
    ]
    assert all(path == expected for path in paths.values()), next(
        p for p in paths.values() if p != expected
    )
