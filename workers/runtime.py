"""How a task runs: a session scoped to the brand named in the message, committed on success.

Each worker event loop gets its own engine (async drivers are bound to the loop that opened them).
Follow-up tasks a task enqueues are relayed as soon as it commits.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import structlog
from dramatiq.middleware import CurrentMessage
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.core import tracing
from backend.core.db import engine_for
from backend.core.jobs import TaskContext, TaskSpec, take_outbox_flag
from backend.core.outbox import OutboxRelay, SendToBroker, mark_done, mark_failed
from backend.core.read_cache import config_cache_info
from backend.core.tenancy import TenantId, make_session_factory, open_session

log = structlog.get_logger("levier.tasks")


class TaskRuntime:
    def __init__(self, settings: Settings, role: str = tracing.WORKER) -> None:
        self.settings = settings
        self.role = role
        self.send: SendToBroker | None = None
        self._engine: AsyncEngine | None = None
        self._factory: async_sessionmaker[AsyncSession] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def session_factory(self) -> async_sessionmaker[AsyncSession]:
        """The session factory of the running event loop's engine (made on first use)."""
        loop = asyncio.get_running_loop()
        if self._factory is None or self._loop is not loop:
            self._engine = engine_for(self.settings, "jobs", self.role)
            self._factory = make_session_factory(
                self._engine,
                secret_key=self.settings.secret_key,
                info=config_cache_info(self.settings.config_cache_seconds),
            )
            self._loop = loop
        return self._factory

    async def run(self, spec: TaskSpec, kwargs: dict[str, Any]) -> None:
        raw_tenant = kwargs.pop("tenant_id", None)
        tenant = TenantId(UUID(raw_tenant)) if raw_tenant else None
        if spec.tenant_scoped and tenant is None:
            raise ValueError(f"task {spec.name} received no brand")
        message = CurrentMessage.get_current_message()
        message_id = message.message_id if message is not None else ""
        structlog.contextvars.bind_contextvars(
            task=spec.name, message_id=message_id, brand_id=raw_tenant
        )
        factory = self.session_factory()
        try:
            try:
                async with open_session(factory, tenant, actor=f"task:{spec.name}") as session:
                    context = TaskContext(session, tenant, self.settings, message_id)
                    await spec.fn(context, **kwargs)
                    await mark_done(session, message_id)
                    await session.commit()
            except Exception as exc:
                # dramatiq's count of the retries before this attempt (and its limit, the
                # message's own when it has one): the last one fails for good.
                retries = message.options.get("retries", 0) if message is not None else 0
                limit = message.options.get("max_retries", spec.max_retries) if message else 0
                if message is not None and retries >= limit:
                    async with factory() as done, done.begin():
                        await mark_failed(done, message_id, f"{type(exc).__name__}: {exc}")
                raise
            if take_outbox_flag(session) and self.send is not None:
                await OutboxRelay(factory, self.send).drain()
            log.info("task_done")
        finally:
            structlog.contextvars.unbind_contextvars("task", "message_id", "brand_id")

    async def dispose(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
            self._factory = None
