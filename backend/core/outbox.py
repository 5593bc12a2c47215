"""The transactional outbox and its relay to the broker.

Rows are written in the business transaction; the relay claims committed, unsent rows with
``FOR UPDATE SKIP LOCKED`` (so several relays never send the same row at once), hands them to the
broker and marks them sent. If the broker is down the rows stay and are retried: no job is lost.
A crash between sending and marking can send a row twice, which is why every task is idempotent;
the dramatiq message id is the outbox id, so duplicates are recognisable.

A task marks its row done in its own transaction (or when it failed for good). The in-process
broker keeps its messages in memory: when ``levier serve`` starts again after a crash, rows sent
but never done are sent again (:func:`resend_unfinished`), so a killed job resumes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy import Index, String, Text, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, IdMixin, start_as_writer, utcnow

log = structlog.get_logger("levier.outbox")


class OutboxMessage(IdMixin, Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_sent_at_id", "sent_at", "id"),)

    task_name: Mapped[str] = mapped_column(String(100))
    queue_name: Mapped[str] = mapped_column(String(100))
    kwargs: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # When its task committed (or failed for good): what the in-process broker resends after a
    # crash is what was sent and never done.
    done_at: Mapped[dt.datetime | None]


def _outbox_id(message_id: str) -> UUID | None:
    try:
        return UUID(message_id)
    except ValueError:  # a task run outside the outbox (a test, a command)
        return None


async def mark_done(session: AsyncSession, message_id: str) -> None:
    """Mark the outbox row of a message done, in the session's transaction."""
    outbox_id = _outbox_id(message_id)
    if outbox_id is not None:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == outbox_id, OutboxMessage.done_at.is_(None))
            .values(done_at=utcnow())
            .execution_options(synchronize_session=False)
        )


async def resend_unfinished(session: AsyncSession) -> int:
    """Queue again every row sent but never done; return how many. Only for the in-process
    broker, when the process starts: its messages died with the process before it."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.sent_at.is_not(None), OutboxMessage.done_at.is_(None))
        .values(sent_at=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# Sends one message to the broker; synchronous because broker clients are.
SendToBroker = Callable[[OutboxMessage], None]


class OutboxRelay:
    """Moves committed outbox rows to the broker, on demand (``wake``) and on an interval."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        send: SendToBroker,
        *,
        interval_seconds: float = 1.0,
        batch_size: int = 500,
    ) -> None:
        self._session_factory = session_factory
        self._send = send
        self._interval = interval_seconds
        self._batch_size = batch_size
        self._wake = asyncio.Event()
        # One round at a time per relay; across relays, SKIP LOCKED (PostgreSQL) or one writer
        # at a time (SQLite) keeps two rounds from claiming the same rows.
        self._round = asyncio.Lock()

    def wake(self) -> None:
        self._wake.set()

    async def relay_once(self) -> int:
        """Send one batch of pending rows; return how many were sent."""
        async with self._round, self._session_factory() as session, session.begin():
            # SQLite has no SKIP LOCKED: a relay of another thread or process waits for this
            # round's sent_at, then skips the rows.
            await start_as_writer(session, OutboxMessage.__tablename__)
            rows = (
                await session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.sent_at.is_(None))
                    .order_by(OutboxMessage.id)
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            sent = await asyncio.to_thread(self._send_batch, list(rows))
        return sent

    def _send_batch(self, rows: list[OutboxMessage]) -> int:
        now = utcnow()
        for sent, row in enumerate(rows):
            try:
                self._send(row)
            except Exception as exc:
                # The broker is unreachable: keep this and later rows for the next round.
                row.attempts += 1
                row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                log.warning("outbox_send_failed", task=row.task_name, error=row.last_error)
                return sent
            row.sent_at = now
        return len(rows)

    async def drain(self) -> int:
        """Relay until nothing is pending (or the broker refuses); return how many were sent."""
        total = 0
        while sent := await self.relay_once():
            total += sent
            if sent < self._batch_size:
                break
        return total

    async def run(self, stop: asyncio.Event) -> None:
        """Relay on every wake-up and at least every interval, until ``stop`` is set."""
        while not stop.is_set():
            # Cleared before draining: a commit that lands during the drain wakes the next round.
            self._wake.clear()
            try:
                await self.drain()
            except Exception:
                log.exception("outbox_relay_failed")
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait(
                {waiter, stopper}, timeout=self._interval, return_when=asyncio.FIRST_COMPLETED
            )
            waiter.cancel()
            stopper.cancel()
