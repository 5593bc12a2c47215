"""The transactional outbox and its relay to the broker.

Rows are written in the business transaction; the relay claims committed, unsent rows with
``FOR UPDATE SKIP LOCKED`` (so several relays never send the same row at once), hands them to the
broker and marks them sent. If the broker is down the rows stay and are retried: no job is lost.
A crash between sending and marking can send a row twice, which is why every task is idempotent;
the dramatiq message id is the outbox id, so duplicates are recognisable.

A task marks its row done in its own transaction (or when it failed for good). The in-process
broker keeps its messages in memory: when ``levier serve`` starts again after a crash, rows sent
but never done are sent again (:func:`resend_unfinished`), so a killed job resumes.

Rows stay ``LEVIER_OUTBOX_RETENTION_HOURS`` after their job finished; a row whose job never
finished stays until it does. So after a loss of Redis's data the lost jobs are still here, and
``levier jobs redrive-outbox --since …`` sends them again. A job that failed for good is marked
(``failed_at``, its error in ``last_error``): ``levier jobs failed list|redrive``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy import ColumnElement, Index, String, Text, delete, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, IdMixin, start_as_writer, utcnow
from backend.core.metrics import OUTBOX_RELAYED, OUTBOX_SEND_ERRORS
from backend.core.tracing import untraced

log = structlog.get_logger("levier.outbox")


class OutboxMessage(IdMixin, Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_sent_at_id", "sent_at", "id"),
        # What the broker holds and no job finished yet: the backlog gauge and the re-drive
        # after a loss of Redis read only these.
        Index(
            "ix_outbox_messages_unfinished",
            "sent_at",
            postgresql_where=text("sent_at IS NOT NULL AND done_at IS NULL"),
            sqlite_where=text("sent_at IS NOT NULL AND done_at IS NULL"),
        ),
        Index(
            "ix_outbox_messages_failed_at",
            "failed_at",
            postgresql_where=text("failed_at IS NOT NULL"),
            sqlite_where=text("failed_at IS NOT NULL"),
        ),
    )

    task_name: Mapped[str] = mapped_column(String(100))
    queue_name: Mapped[str] = mapped_column(String(100))
    kwargs: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]
    # Failed attempts to hand the row to the broker.
    attempts: Mapped[int] = mapped_column(default=0)
    # The last error: of handing the row to the broker, or of its task when it failed for good.
    last_error: Mapped[str | None] = mapped_column(Text)
    # When its task committed (or failed for good): what the in-process broker resends after a
    # crash is what was sent and never done.
    done_at: Mapped[dt.datetime | None]
    # When its task failed for good (retries exhausted); cleared when it succeeds after all.
    failed_at: Mapped[dt.datetime | None]
    # What travels with the job: the W3C trace context and the request id of the work that
    # enqueued it (backend.core.tracing).
    headers: Mapped[dict[str, Any] | None]


def _outbox_id(message_id: str) -> UUID | None:
    try:
        return UUID(message_id)
    except ValueError:  # a task run outside the outbox (a test, a command)
        return None


async def mark_done(session: AsyncSession, message_id: str) -> None:
    """Mark the outbox row of a message done, in the session's transaction (a job re-driven
    after it had failed for good is no longer failed)."""
    outbox_id = _outbox_id(message_id)
    if outbox_id is not None:
        await session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == outbox_id,
                or_(OutboxMessage.done_at.is_(None), OutboxMessage.failed_at.is_not(None)),
            )
            .values(done_at=utcnow(), failed_at=None)
            .execution_options(synchronize_session=False)
        )


async def mark_failed(session: AsyncSession, message_id: str, error: str) -> None:
    """Mark the outbox row of a message failed for good (and done), with the task's error."""
    outbox_id = _outbox_id(message_id)
    if outbox_id is not None:
        now = utcnow()
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == outbox_id, OutboxMessage.done_at.is_(None))
            .values(done_at=now, failed_at=now, last_error=error[:2000])
            .execution_options(synchronize_session=False)
        )


async def resend_unfinished(
    session: AsyncSession, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> int:
    """Queue again every row handed to the broker (since ``since``, before ``until``) whose job
    never finished; return how many. The in-process broker's messages die with the process
    (``levier serve`` calls this when it starts); Redis's die with a Redis that lost its data
    (``levier jobs redrive-outbox``). Tasks are idempotent: one still queued runs twice, once
    in effect."""
    conditions: list[ColumnElement[bool]] = [
        OutboxMessage.sent_at.is_not(None),
        OutboxMessage.done_at.is_(None),
    ]
    if since is not None:
        conditions.append(OutboxMessage.sent_at >= since)
    if until is not None:
        conditions.append(OutboxMessage.sent_at < until)
    result = await session.execute(
        update(OutboxMessage)
        .where(*conditions)
        .values(sent_at=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _failed(
    since: dt.datetime | None, task_name: str | None, ids: Sequence[UUID] | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [OutboxMessage.failed_at.is_not(None)]
    if since is not None:
        conditions.append(OutboxMessage.failed_at >= since)
    if task_name is not None:
        conditions.append(OutboxMessage.task_name == task_name)
    if ids:
        conditions.append(OutboxMessage.id.in_(ids))
    return conditions


async def failed_jobs(
    session: AsyncSession,
    *,
    since: dt.datetime | None = None,
    task_name: str | None = None,
    limit: int = 100,
) -> list[OutboxMessage]:
    """Jobs that failed for good and are still kept, the latest first."""
    rows = await session.scalars(
        select(OutboxMessage)
        .where(*_failed(since, task_name, None))
        .order_by(OutboxMessage.failed_at.desc(), OutboxMessage.id.desc())
        .limit(limit)
    )
    return list(rows)


async def errors_of(session: AsyncSession, message_ids: Sequence[str]) -> dict[str, str]:
    """The recorded errors of the jobs of these messages (those sent through the outbox)."""
    ids = [outbox_id for outbox_id in map(_outbox_id, message_ids) if outbox_id is not None]
    if not ids:
        return {}
    rows = await session.execute(
        select(OutboxMessage.id, OutboxMessage.last_error).where(
            OutboxMessage.id.in_(ids), OutboxMessage.last_error.is_not(None)
        )
    )
    return {str(row_id): str(error) for row_id, error in rows}


async def redrive_failed(
    session: AsyncSession,
    *,
    ids: Sequence[UUID] | None = None,
    since: dt.datetime | None = None,
    task_name: str | None = None,
) -> int:
    """Queue again jobs that failed for good (those named, or all matching); return how many.
    The relay hands them to the broker as new messages, with a fresh count of retries."""
    result = await session.execute(
        update(OutboxMessage)
        .where(*_failed(since, task_name, ids))
        .values(sent_at=None, done_at=None, failed_at=None, attempts=0)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def purge_finished(session: AsyncSession, before: dt.datetime) -> int:
    """Forget rows whose job finished (or failed for good) before ``before``. Rows whose job
    never finished are kept: they are what a re-drive sends again."""
    result = await session.execute(
        delete(OutboxMessage).where(OutboxMessage.sent_at < before, OutboxMessage.done_at < before)
    )
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class OutboxBacklog:
    pending: int  # committed, not handed to the broker
    oldest_pending_age_seconds: float
    unfinished: int  # handed to the broker, job not finished
    failed: int  # job failed for good, still kept


async def backlog(session: AsyncSession, now: dt.datetime) -> OutboxBacklog:
    """How far the outbox is behind, in a few indexed reads."""
    pending = await session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
    )
    oldest = await session.scalar(
        select(OutboxMessage.created_at)
        .where(OutboxMessage.sent_at.is_(None))
        .order_by(OutboxMessage.id)
        .limit(1)
    )
    unfinished = await session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.sent_at.is_not(None), OutboxMessage.done_at.is_(None))
    )
    failed = await session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.failed_at.is_not(None))
    )
    return OutboxBacklog(
        pending=int(pending or 0),
        oldest_pending_age_seconds=max((now - oldest).total_seconds(), 0.0) if oldest else 0.0,
        unfinished=int(unfinished or 0),
        failed=int(failed or 0),
    )


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
                OUTBOX_SEND_ERRORS.inc()
                OUTBOX_RELAYED.inc(sent)
                return sent
            row.sent_at = now
        OUTBOX_RELAYED.inc(len(rows))
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
        with untraced():  # polling; each row's hand-over is traced by the sender
            await self._run(stop)

    async def _run(self, stop: asyncio.Event) -> None:
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
