"""The backlog gauges: queue depths and the oldest message per queue, the outbox backlog, and
how far due work lags behind its time. Sampled on an interval by the scheduler (and by the
embedded ``levier serve``), since they describe shared state rather than one process's work: with
several scheduler replicas, each reports the same values (take the max, not the sum)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt

import dramatiq
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.core import metrics
from backend.core.db import utcnow
from backend.core.due_work import due_backlog
from backend.core.outbox import backlog
from backend.core.tracing import untraced
from workers.queues import queue_stats

log = structlog.get_logger("levier.monitoring")


class BacklogSampler:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        broker: dramatiq.Broker,
        *,
        interval_seconds: float = 15.0,
    ) -> None:
        self._factory = session_factory
        self._broker = broker
        self._interval = interval_seconds

    async def sample_once(self, now: dt.datetime | None = None) -> None:
        """Read the backlog and set the gauges; a part that cannot be read (the broker is down)
        leaves its gauges as they were and does not stop the other."""
        now = now or utcnow()
        with untraced():
            try:
                async with self._factory() as session, session.begin():
                    outbox = await backlog(session, now)
                    overdue, lag = await due_backlog(session, now)
            except Exception as exc:
                log.warning("backlog_sample_failed", part="database", error=repr(exc))
            else:
                metrics.OUTBOX_PENDING.set(outbox.pending)
                metrics.OUTBOX_OLDEST_PENDING_AGE.set(outbox.oldest_pending_age_seconds)
                metrics.OUTBOX_UNFINISHED.set(outbox.unfinished)
                metrics.OUTBOX_FAILED.set(outbox.failed)
                metrics.DUE_WORK_OVERDUE.set(overdue)
                metrics.DUE_WORK_LAG.set(lag)
            try:
                stats = await asyncio.to_thread(queue_stats, self._broker)
            except Exception as exc:
                log.warning("backlog_sample_failed", part="broker", error=repr(exc))
                return
        for queue in stats:
            for state, value in (
                ("ready", queue.ready),
                ("delayed", queue.delayed),
                ("in_flight", queue.in_flight),
                ("dead", queue.dead),
            ):
                metrics.QUEUE_MESSAGES.labels(queue.queue, state).set(value)
            metrics.QUEUE_OLDEST_AGE.labels(queue.queue).set(queue.oldest_ready_age_seconds)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.sample_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._interval)
