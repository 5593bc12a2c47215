"""Small factories: users, agencies and brands made through the real services, and job draining."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import uvicorn
from dramatiq.brokers.redis import RedisBroker
from litestar import Litestar
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth import service as auth_service
from backend.auth.models import User
from backend.core.db import utcnow
from backend.core.due_work import DueTask
from backend.core.outbox import OutboxMessage
from backend.core.security import hash_password
from backend.core.tenancy import TenantId, open_session
from backend.tenancy import service as tenancy_service
from backend.tenancy.models import Agency, AgencyRole, Brand, BrandRole
from backend.tenancy.schemas import AgencyCreate, BrandCreate

PASSWORD = "correct-horse-battery"
PASSWORD_HASH = hash_password(PASSWORD)


@dataclass(frozen=True)
class Person:
    user: User
    token: str

    @property
    def id(self) -> UUID:
        return self.user.id

    @property
    def email(self) -> str:
        return self.user.email

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class World:
    """Two agencies, each with a provisioned brand, and people at every role on agency A."""

    agency_a: Agency
    brand_a: Brand
    owner_a: Person
    admin_a: Person
    manager_a: Person  # brand manager on brand A
    viewer_a: Person  # brand viewer on brand A
    member_a: Person  # agency member without any brand role
    agency_b: Agency
    brand_b: Brand
    owner_b: Person


def session_of(app: Litestar, tenant: UUID | None = None) -> AsyncSession:
    return open_session(app.state.session_factory, TenantId(tenant) if tenant else None)


async def make_person(session: AsyncSession, email: str) -> Person:
    # One argon2 hash for every test user: hashing is deliberately slow.
    user = User(email=email, password_hash=PASSWORD_HASH)
    session.add(user)
    await session.flush()
    token, _ = await auth_service.issue_access_token(session, user.id, ttl=dt.timedelta(hours=1))
    return Person(user, token)


async def make_agency(session: AsyncSession, name: str, owner: Person) -> Agency:
    return await tenancy_service.create_agency(session, AgencyCreate(name=name), owner.id)


async def make_brand(app: Litestar, agency_id: UUID, name: str, *, provision: bool = True) -> Brand:
    """A brand; provisioned in place (without the job) unless told otherwise."""
    async with session_of(app) as session:
        brand = await tenancy_service.create_brand(
            session, None, agency_id, BrandCreate(name=name, time_zone="Europe/Brussels")
        )
        await session.commit()
    if provision:
        async with session_of(app, brand.id) as session:
            brand = await tenancy_service.provision_brand(session, TenantId(brand.id))
            await session.commit()
    return brand


async def make_world(app: Litestar) -> World:
    async with session_of(app) as session:
        owner_a = await make_person(session, "owner@agency-a.test")
        admin_a = await make_person(session, "admin@agency-a.test")
        manager_a = await make_person(session, "manager@agency-a.test")
        viewer_a = await make_person(session, "viewer@agency-a.test")
        member_a = await make_person(session, "member@agency-a.test")
        owner_b = await make_person(session, "owner@agency-b.test")
        agency_a = await make_agency(session, "Agency A", owner_a)
        agency_b = await make_agency(session, "Agency B", owner_b)
        await tenancy_service.add_member(session, None, agency_a.id, admin_a.user, AgencyRole.ADMIN)
        for person in (manager_a, viewer_a, member_a):
            await tenancy_service.add_member(
                session, None, agency_a.id, person.user, AgencyRole.MEMBER
            )
        await session.commit()
    brand_a = await make_brand(app, agency_a.id, "Brand A")
    brand_b = await make_brand(app, agency_b.id, "Brand B")
    async with session_of(app, brand_a.id) as session:
        tenant = TenantId(brand_a.id)
        await tenancy_service.grant_brand_role(session, tenant, manager_a.user, BrandRole.MANAGER)
        await tenancy_service.grant_brand_role(session, tenant, viewer_a.user, BrandRole.VIEWER)
        await session.commit()
    return World(
        agency_a,
        brand_a,
        owner_a,
        admin_a,
        manager_a,
        viewer_a,
        member_a,
        agency_b,
        brand_b,
        owner_b,
    )


@contextlib.contextmanager
def statements_of(app: Litestar) -> Iterator[list[str]]:
    """The SQL statements the app's engine sends while the block runs (the background relay's
    polls included: filter on the tables of interest)."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(str(args[2]))

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def first_scheduler_tick_done(app: Litestar) -> None:
    """Wait (without a time bound: a condition) until the app scheduler's first tick has queued
    the periodic tasks and claimed every due task: after it, only a test's own scheduler rounds
    claim due work (tests set a one-hour interval)."""
    while True:
        async with session_of(app) as session:
            total = await session.scalar(select(func.count()).select_from(DueTask))
            waiting = await session.scalar(
                select(func.count())
                .select_from(DueTask)
                .where(DueTask.enqueued_at.is_(None), DueTask.due_at <= utcnow())
            )
        if total and not waiting:
            return
        await asyncio.sleep(0.05)


async def pending_outbox(app: Litestar) -> int:
    async with session_of(app) as session:
        count = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
        )
    return int(count or 0)


async def run_jobs(app: Litestar, rounds: int = 5) -> None:
    """Relay the outbox and wait until the app's worker has processed every message."""
    broker = app.state.broker
    worker = app.state.worker
    assert worker is not None, "mark the test with @pytest.mark.worker"
    for _ in range(rounds):
        await app.state.relay.drain()
        for queue in broker.get_declared_queues():
            await asyncio.to_thread(broker.join, queue, timeout=20_000)
        await asyncio.to_thread(worker.join)
        # The app's own relay wakes on every commit: a message the last job queued may already
        # have left the outbox for the broker. Done only when neither holds one.
        if await pending_outbox(app) == 0 and await asyncio.to_thread(_queued, broker) == 0:
            return
    raise AssertionError("jobs kept producing work")


def _queued(broker: Any) -> int:
    """Messages the broker holds, waiting or being processed."""
    if isinstance(broker, RedisBroker):
        return sum(broker.do_qsize(queue) for queue in broker.get_declared_queues())
    return sum(queue.unfinished_tasks for queue in broker.queues.values())


def problem(response: Any, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 answer with ``status`` and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:levier:problem:")
    assert "title" in body
    return body


@contextlib.asynccontextmanager
async def serving(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the test's own event loop, the app's lifespan held open meanwhile.

    The lifespan runs in a task of its own: it holds an anyio cancel scope, which must be left
    in the task that entered it. (Litestar's test client would run the app on another loop,
    while the app's connection pools are bound to one.)
    """
    started, stop = asyncio.Event(), asyncio.Event()

    async def serve_lifespan() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    lifespan = asyncio.create_task(serve_lifespan())
    await asyncio.wait(
        {lifespan, asyncio.ensure_future(started.wait())}, return_when="FIRST_COMPLETED"
    )
    if lifespan.done():
        lifespan.result()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
    finally:
        stop.set()
        await lifespan


@contextlib.asynccontextmanager
async def served(app: Litestar) -> AsyncIterator[str]:
    """The app on a real port of 127.0.0.1, on the test's own event loop (its lifespan held by
    the ``client`` fixture): ``http://127.0.0.1:<port>``, for real websocket clients. The socket
    listens before the server starts: a first connection waits in its backlog."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
