"""Single events sent at the same moment by many clients, stored together.

A brand's clients send single events concurrently; one transaction per event would make the
commit and the handful of round trips around it the cost of every event. A request hands its
event to the :class:`SingleEventBatcher` and waits. For each (brand, caller, source) one flush runs
at a time: it takes every event waiting and ingests them in one transaction (ingestion already
handles an event id repeated within a batch), then answers each request with its own outcome,
after the commit. There is no timer: a lone event is flushed at once, and the events that arrive
while a flush runs make the next one, so the batch grows with the load and latency stays that of
one flush.

If a shared transaction fails, each of its events is retried in a transaction of its own, so one
event never sinks the others. The audit log records the batch's writes under the caller, with the
request id of the batch's first event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.core.db import unit_of_work
from backend.core.tenancy import TenantId
from backend.events import service
from backend.events.schemas import MAX_BATCH, EventIn
from backend.events.service import EventOutcome

log = structlog.get_logger("levier.events")

Ingest = Callable[[AsyncSession, TenantId, Sequence[EventIn], str], Awaitable[list[EventOutcome]]]


async def _ingest(
    session: AsyncSession, tenant: TenantId, events: Sequence[EventIn], source: str
) -> list[EventOutcome]:
    return await service.ingest(session, tenant, events, source=source)


@dataclass(frozen=True)
class _Lane:
    tenant: TenantId
    actor: str
    source: str


@dataclass
class _Waiting:
    event: EventIn
    request_id: str | None
    answer: asyncio.Future[EventOutcome]


@dataclass
class _Queue:
    waiting: list[_Waiting] = field(default_factory=list)
    flusher: asyncio.Task[None] | None = None


class SingleEventBatcher:
    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        relay_wake: Callable[[], None],
        *,
        max_batch: int = MAX_BATCH,
        ingest: Ingest = _ingest,
    ) -> None:
        self._factory = factory
        self._relay_wake = relay_wake
        self._max_batch = max_batch
        self._ingest = ingest
        self._queues: dict[_Lane, _Queue] = {}

    async def submit(
        self,
        tenant: TenantId,
        event: EventIn,
        *,
        actor: str,
        source: str,
        request_id: str | None = None,
    ) -> EventOutcome:
        """Ingest ``event`` with whatever else is waiting for the same brand and caller; its
        outcome once the transaction that stored it has committed."""
        lane = _Lane(tenant, actor, source)
        queue = self._queues.setdefault(lane, _Queue())
        answer: asyncio.Future[EventOutcome] = asyncio.get_running_loop().create_future()
        queue.waiting.append(_Waiting(event, request_id, answer))
        if queue.flusher is None:
            queue.flusher = asyncio.create_task(self._drain(lane, queue), name="events-batcher")
        # A client that goes away does not cancel the flush its event is part of.
        return await asyncio.shield(answer)

    async def _drain(self, lane: _Lane, queue: _Queue) -> None:
        try:
            while queue.waiting:
                batch = queue.waiting[: self._max_batch]
                del queue.waiting[: self._max_batch]
                await self._flush(lane, batch)
        finally:
            queue.flusher = None
            if not queue.waiting and self._queues.get(lane) is queue:
                del self._queues[lane]

    async def _flush(self, lane: _Lane, batch: list[_Waiting]) -> None:
        try:
            async with unit_of_work(
                self._factory,
                self._relay_wake,
                lane.tenant,
                actor=lane.actor,
                request_id=batch[0].request_id,
            ) as session:
                outcomes = await self._ingest(
                    session, lane.tenant, [w.event for w in batch], lane.source
                )
        except Exception as exc:
            if len(batch) > 1:
                log.warning("event_batch_failed", size=len(batch), error=repr(exc))
                for waiting in batch:
                    await self._flush(lane, [waiting])
            elif not batch[0].answer.done():
                batch[0].answer.set_exception(exc)
            return
        for waiting, outcome in zip(batch, outcomes, strict=True):
            outcome.index = 0
            if not waiting.answer.done():
                waiting.answer.set_result(outcome)
