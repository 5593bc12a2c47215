"""The scheduler: stores periodic occurrences and moves due work to the outbox.

Safe with any number of replicas: occurrences are unique by key, and due rows are claimed with
``FOR UPDATE SKIP LOCKED``. Work that fell due while no scheduler ran is claimed on the next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.core.db import utcnow
from backend.core.due_work import claim_due, schedule_periodic
from backend.core.outbox import OutboxRelay
from backend.core.tracing import untraced
from workers.health import Stamp

log = structlog.get_logger("levier.scheduler")


class Scheduler:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        relay: OutboxRelay,
        *,
        interval_seconds: float = 5.0,
    ) -> None:
        self._factory = session_factory
        self._relay = relay
        self._interval = interval_seconds
        # Touched after every round, done or failed: the scheduler's liveness probe reads it.
        self.rounds = Stamp()

    async def tick(self, now: dt.datetime | None = None) -> int:
        """One round: store periodic occurrences and claim due work; return how many claimed."""
        now = now or utcnow()
        async with self._factory() as session, session.begin():
            await schedule_periodic(session, now)
            claimed = await claim_due(session, now)
        if claimed:
            self._relay.wake()
        return claimed

    async def run(self, stop: asyncio.Event) -> None:
        with untraced():  # a tick every few seconds: not a trace each
            await self._run(stop)

    async def _run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                claimed = await self.tick()
                if claimed:
                    log.info("due_work_claimed", count=claimed)
            except Exception:
                log.exception("scheduler_tick_failed")
            self.rounds.touch()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._interval)
