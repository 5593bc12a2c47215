"""Background tasks: declared by domains, enqueued through the transactional outbox.

A domain declares a task in its ``tasks.py`` with :func:`task`; a service enqueues it with
:func:`enqueue`, which only writes an outbox row in the caller's transaction. The relay
(:mod:`backend.core.outbox`) hands committed rows to dramatiq, so a rolled-back transaction sends
nothing and a broker outage loses nothing. ``workers/`` turns the registry into dramatiq actors.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.core.outbox import OutboxMessage
from backend.core.tenancy import TenantId, session_tenant
from backend.core.tracing import current_headers

OUTBOX_WRITTEN = "levier.outbox_written"


@dataclass(frozen=True)
class TaskContext:
    """What a task receives: a session scoped to the message's brand (or none), and settings."""

    session: AsyncSession
    tenant: TenantId | None
    settings: Settings
    message_id: str


TaskFunction = Callable[..., Awaitable[None]]


@dataclass(frozen=True)
class TaskSpec:
    name: str  # `domain.verb`
    fn: TaskFunction
    queue: str
    tenant_scoped: bool
    max_retries: int
    time_limit_ms: int


@dataclass(frozen=True)
class PeriodicSpec:
    task_name: str
    every: dt.timedelta


TASKS: dict[str, TaskSpec] = {}
PERIODIC: dict[str, PeriodicSpec] = {}


def task(
    name: str,
    *,
    queue: str = "default",
    tenant_scoped: bool = True,
    max_retries: int = 10,
    time_limit_ms: int = 10 * 60 * 1000,
    every: dt.timedelta | None = None,
) -> Callable[[TaskFunction], TaskFunction]:
    """Declare a task. Its function is ``async def fn(ctx: TaskContext, **kwargs) -> None``
    and must be safe to run twice (delivery is at least once)."""

    def register(fn: TaskFunction) -> TaskFunction:
        if name in TASKS and TASKS[name].fn is not fn:
            raise ValueError(f"task {name!r} is declared twice")
        TASKS[name] = TaskSpec(name, fn, queue, tenant_scoped, max_retries, time_limit_ms)
        if every is not None:
            if tenant_scoped:
                raise ValueError("periodic tasks run for the platform; fan out per brand inside")
            PERIODIC[name] = PeriodicSpec(name, every)
        return fn

    return register


def _spec(task_name: str) -> TaskSpec:
    spec = TASKS.get(task_name)
    if spec is None:
        raise KeyError(f"unknown task {task_name!r}; is its tasks module loaded?")
    return spec


def task_payload(task_name: str, tenant: TenantId | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The message arguments of a task, its brand included (validated against the registry)."""
    if _spec(task_name).tenant_scoped and tenant is None:
        raise ValueError(f"task {task_name!r} needs a brand")
    return {**kwargs, "tenant_id": str(tenant) if tenant is not None else None}


def outbox_row(task_name: str, payload: dict[str, Any]) -> OutboxMessage:
    """The outbox row of a task, carrying the current trace context and request id."""
    return OutboxMessage(
        task_name=task_name,
        queue_name=_spec(task_name).queue,
        kwargs=payload,
        headers=current_headers(),
    )


async def enqueue(
    session: AsyncSession, task_name: str, *, tenant: TenantId | None = None, **kwargs: Any
) -> OutboxMessage:
    """Enqueue a task in the session's transaction: sent only once this transaction commits.

    ``tenant`` defaults to the session's brand. Arguments must be JSON values (ids, not objects).
    """
    brand = tenant if tenant is not None else session_tenant(session)
    row = outbox_row(task_name, task_payload(task_name, brand, kwargs))
    session.add(row)
    session.info[OUTBOX_WRITTEN] = True
    return row


def take_outbox_flag(session: AsyncSession) -> bool:
    """True once per commit that wrote outbox rows: the caller then wakes the relay."""
    return bool(session.info.pop(OUTBOX_WRITTEN, False))


def actor_of(caller: object) -> str:
    """The audit name of whoever calls through HTTP: ``user:<id>``, ``client:<id>`` or
    ``anonymous``."""
    actor = getattr(caller, "actor", None)
    return actor if isinstance(actor, str) else "anonymous"
