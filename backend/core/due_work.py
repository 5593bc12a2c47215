"""Due work: tasks that must run at a time (waits, schedules, periodic jobs).

Rows wait in ``due_tasks`` until ``due_at``; the scheduler claims them with
``FOR UPDATE SKIP LOCKED`` and turns each into an outbox row in the same transaction, so any
number of scheduler replicas is safe and work that fell due during downtime runs when one is back.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Index, String, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, IdMixin, insert_ignoring_conflict, utcnow
from backend.core.ids import new_id
from backend.core.jobs import OUTBOX_WRITTEN, PERIODIC, outbox_row, task_payload
from backend.core.tenancy import TenantId


class DueTask(IdMixin, Base):
    __tablename__ = "due_tasks"
    __table_args__ = (Index("ix_due_tasks_enqueued_at_due_at", "enqueued_at", "due_at"),)

    task_name: Mapped[str] = mapped_column(String(100))
    kwargs: Mapped[dict[str, Any]]
    due_at: Mapped[dt.datetime]
    # Makes scheduling idempotent: the same logical occurrence is stored once.
    dedupe_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    enqueued_at: Mapped[dt.datetime | None]


async def schedule(
    session: AsyncSession,
    task_name: str,
    due_at: dt.datetime,
    *,
    tenant: TenantId | None = None,
    dedupe_key: str | None = None,
    **kwargs: Any,
) -> bool:
    """Store a task to run at ``due_at``; False when ``dedupe_key`` was already scheduled."""
    payload = task_payload(task_name, tenant, kwargs)
    values = {
        "id": new_id(),
        "task_name": task_name,
        "kwargs": payload,
        "due_at": due_at,
        "dedupe_key": dedupe_key,
        "created_at": utcnow(),
    }
    return await insert_ignoring_conflict(session, DueTask, values, ["dedupe_key"])


async def schedule_periodic(session: AsyncSession, now: dt.datetime) -> int:
    """Store the current occurrence of every periodic task (once, whatever the replicas)."""
    created = 0
    for spec in PERIODIC.values():
        period = spec.every.total_seconds()
        slot = dt.datetime.fromtimestamp(now.timestamp() // period * period, dt.UTC)
        key = f"periodic:{spec.task_name}:{slot.isoformat()}"
        created += await schedule(session, spec.task_name, slot, dedupe_key=key)
    return created


async def claim_due(session: AsyncSession, now: dt.datetime, limit: int = 500) -> int:
    """Move due tasks to the outbox in the session's transaction; return how many."""
    rows = (
        await session.scalars(
            select(DueTask)
            .where(DueTask.enqueued_at.is_(None), DueTask.due_at <= now)
            .order_by(DueTask.due_at, DueTask.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for row in rows:
        row.enqueued_at = now
        # The payload already carries its brand (stamped by `schedule`): copy it as it is.
        session.add(outbox_row(row.task_name, row.kwargs))
    if rows:
        session.info[OUTBOX_WRITTEN] = True
    return len(rows)


async def cancel_scheduled(session: AsyncSession, dedupe_keys: list[str]) -> int:
    """Drop scheduled tasks not yet handed to the outbox (by their keys); return how many."""
    if not dedupe_keys:
        return 0
    result = await session.execute(
        delete(DueTask).where(DueTask.dedupe_key.in_(dedupe_keys), DueTask.enqueued_at.is_(None))
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def due_backlog(session: AsyncSession, now: dt.datetime) -> tuple[int, float]:
    """(How many due rows no scheduler claimed yet, how long the oldest has been due)."""
    overdue = (DueTask.enqueued_at.is_(None), DueTask.due_at <= now)
    count = await session.scalar(select(func.count()).select_from(DueTask).where(*overdue))
    oldest = await session.scalar(select(func.min(DueTask.due_at)).where(*overdue))
    lag = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    return int(count or 0), lag
