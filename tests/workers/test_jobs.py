"""Jobs: the outbox sends only committed work, loses nothing when the broker is down, and tasks
are safe to run twice; due and periodic work is claimed once, whatever the replicas."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select

from backend.app import create_app
from backend.config import Settings
from backend.core.db import utcnow
from backend.core.due_work import DueTask, claim_due, schedule
from backend.core.idempotency import IdempotencyRecord
from backend.core.jobs import TaskContext, outbox_row, task_payload
from backend.core.outbox import OutboxMessage, OutboxRelay
from backend.core.tasks import purge_expired
from backend.core.tenancy import TenantId
from backend.imports import service as imports_service
from backend.imports.models import ImportJob, ImportStatus
from backend.profiles import service as profiles_service
from backend.profiles.models import Profile, ProfileIdentity
from backend.profiles.schemas import ProfileCreate
from backend.tenancy import service as tenancy_service
from backend.tenancy.models import Brand, BrandSettings, BrandStatus
from backend.tenancy.schemas import BrandCreate
from tests.factories import (
    first_scheduler_tick_done,
    make_world,
    pending_outbox,
    run_jobs,
    serving,
    session_of,
)
from tests.imports.helpers import upload
from workers.broker import build_broker, sender
from workers.scheduler import Scheduler


async def _brand_status(app: Litestar, brand_id: object) -> BrandStatus:
    async with session_of(app) as session:
        brand = await session.get(Brand, brand_id)
        assert brand is not None
        return brand.status


async def _settings_rows(app: Litestar, brand_id: object) -> int:
    async with session_of(app, brand_id) as session:  # type: ignore[arg-type]
        return int(await session.scalar(select(func.count()).select_from(BrandSettings)) or 0)


async def _create_brand(app: Litestar, agency_id: object, name: str = "Queued") -> Brand:
    async with session_of(app) as session:
        brand = await tenancy_service.create_brand(
            session,
            None,
            agency_id,
            BrandCreate(name=name),  # type: ignore[arg-type]
        )
        await session.commit()
    return brand


@pytest.mark.worker
async def test_job_enqueued_in_a_transaction_runs_after_commit(app: Litestar) -> None:
    async with app.lifespan():
        world = await make_world(app)
        # The scheduler's first tick queues the periodic tasks: let it pass, so that what is
        # pending at the end can only be this test's own work.
        await first_scheduler_tick_done(app)
        brand = await _create_brand(app, world.agency_a.id)
        assert await _brand_status(app, brand.id) is BrandStatus.PROVISIONING
        await run_jobs(app)
        assert await _brand_status(app, brand.id) is BrandStatus.ACTIVE
        assert await _settings_rows(app, brand.id) == 1
        assert await pending_outbox(app) == 0


async def test_rolled_back_transaction_enqueues_nothing(app: Litestar) -> None:
    world = await make_world(app)
    before = await pending_outbox(app)
    async with session_of(app) as session:
        await tenancy_service.create_brand(
            session, None, world.agency_a.id, BrandCreate(name="Never")
        )
        await session.rollback()
    assert await pending_outbox(app) == before
    async with session_of(app) as session:
        names = (await session.scalars(select(Brand.name))).all()
    assert "Never" not in names


PURGE = "platform.purge_expired"


async def test_two_relays_draining_at_once_send_each_message_once(app: Litestar) -> None:
    # Each worker thread relays what its task enqueued, beside the app's own relay: on SQLite
    # (no SKIP LOCKED) both once read the same unsent rows and sent them twice.
    async with session_of(app) as session:
        session.add_all(
            [outbox_row(PURGE, task_payload(PURGE, None, {}))
             for _ in range(40)]
        )  # fmt: skip
        await session.commit()
    sent: list[object] = []

    def record(row: OutboxMessage) -> None:
        sent.append(row.id)

    relays = [OutboxRelay(app.state.session_factory, record, batch_size=5) for _ in range(2)]
    await asyncio.gather(*(relay.drain() for relay in relays))
    assert len(sent) == len(set(sent)) == 40
    assert await pending_outbox(app) == 0


async def test_job_is_kept_while_the_broker_is_down_and_sent_once_it_is_back(
    settings: Settings,
) -> None:
    # The app's own relay only runs when drained here, so it cannot race the one that fails.
    app = create_app(settings.replace(embedded_worker=True, relay_interval_seconds=3600))
    async with app.lifespan():
        world = await make_world(app)
        # The app's scheduler claims the periodic tasks on its first tick, then wakes the app's
        # relay: once that tick is over and drained, nothing but the failing relay sends.
        await first_scheduler_tick_done(app)
        await run_jobs(app)  # the world's own jobs
        brand = await _create_brand(app, world.agency_a.id, "Patient")
        unreachable = build_broker(settings.replace(redis_url="redis://127.0.0.1:1/0"))
        down = OutboxRelay(app.state.session_factory, sender(unreachable))
        assert await down.drain() == 0
        async with session_of(app) as session:
            row = await session.scalar(select(OutboxMessage).where(OutboxMessage.sent_at.is_(None)))
        assert row is not None
        assert row.attempts == 1
        assert row.last_error
        assert await _brand_status(app, brand.id) is BrandStatus.PROVISIONING
        await run_jobs(app)  # the broker of the app is reachable: the same row goes out
        assert await _brand_status(app, brand.id) is BrandStatus.ACTIVE


@pytest.mark.worker
async def test_a_message_delivered_twice_changes_nothing_the_second_time(app: Litestar) -> None:
    async with app.lifespan():
        world = await make_world(app)
        brand = await _create_brand(app, world.agency_a.id, "Twice")
        async with session_of(app) as session:
            row = await session.scalar(
                select(OutboxMessage).where(
                    OutboxMessage.kwargs["tenant_id"].as_string() == str(brand.id)
                )
            )
        assert row is not None
        send = sender(app.state.broker)
        send(row)
        await run_jobs(app)
        async with session_of(app) as session:
            first = await session.get(Brand, brand.id)
        assert first is not None
        assert first.provisioned_at is not None
        send(row)  # at-least-once delivery: the same message again
        await run_jobs(app)
        async with session_of(app) as session:
            second = await session.get(Brand, brand.id)
        assert second is not None
        assert second.provisioned_at == first.provisioned_at
        assert await _settings_rows(app, brand.id) == 1


async def test_due_task_is_claimed_once_when_due(app: Litestar) -> None:
    world = await make_world(app)
    now = utcnow()
    tenant = TenantId(world.brand_a.id)
    async with session_of(app) as session:
        assert await schedule(
            session, "tenancy.provision_brand", now + dt.timedelta(minutes=5), tenant=tenant
        )
        await session.commit()
    scheduler = Scheduler(app.state.session_factory, app.state.relay)

    async def provisions() -> list[str]:
        async with session_of(app) as session:
            rows = await session.scalars(
                select(OutboxMessage).where(OutboxMessage.task_name == "tenancy.provision_brand")
            )
            # Sorted: rows come back in no particular order (emptied tables reuse their pages).
            return sorted(row.kwargs["tenant_id"] for row in rows)

    before = await provisions()
    await scheduler.tick(now)
    assert await provisions() == before  # not due yet
    await scheduler.tick(now + dt.timedelta(minutes=6))
    assert await provisions() == sorted([*before, str(tenant)])
    await scheduler.tick(now + dt.timedelta(minutes=7))
    assert await provisions() == sorted([*before, str(tenant)])  # never twice


async def test_schedule_with_a_dedupe_key_stores_one_occurrence(app: Litestar) -> None:
    async with session_of(app) as session:
        due = utcnow()
        assert await schedule(session, "platform.purge_expired", due, dedupe_key="k1")
        assert not await schedule(session, "platform.purge_expired", due, dedupe_key="k1")
        await session.commit()
        count = await session.scalar(select(func.count()).select_from(DueTask))
    assert count == 1


async def test_periodic_task_is_stored_once_per_period_across_scheduler_replicas(
    app: Litestar,
) -> None:
    now = utcnow()
    replicas = [Scheduler(app.state.session_factory, app.state.relay) for _ in range(3)]
    await asyncio.gather(*(replica.tick(now) for replica in replicas))
    async with session_of(app) as session:
        occurrences = (
            await session.scalars(
                select(DueTask).where(DueTask.task_name == "platform.purge_expired")
            )
        ).all()
        sent = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.task_name == "platform.purge_expired")
        )
    assert len(occurrences) == 1
    assert occurrences[0].enqueued_at is not None
    assert sent == 1


async def test_concurrent_claims_skip_each_others_rows(app: Litestar, stack: str) -> None:
    if stack != "postgres":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite serialises writers")
    now = utcnow()
    async with session_of(app) as session:
        for n in range(10):
            await schedule(session, "platform.purge_expired", now, dedupe_key=f"c{n}")
        await session.commit()
    async with session_of(app) as first, session_of(app) as second:
        claimed_first = await claim_due(first, now, limit=5)  # holds its row locks
        claimed_second = await claim_due(second, now, limit=10)
        await first.commit()
        await second.commit()
    assert (claimed_first, claimed_second) == (5, 5)
    async with session_of(app) as session:
        sent = await session.scalar(select(func.count()).select_from(OutboxMessage))
    assert sent == 10


async def test_purge_removes_expired_records_and_keeps_fresh_ones(
    app: Litestar, settings: Settings
) -> None:
    now = utcnow()
    old = now - dt.timedelta(days=30)
    async with session_of(app) as session:
        session.add_all(
            [
                IdempotencyRecord(
                    scope_hash="a",
                    key="old",
                    request_hash="x",
                    expires_at=now - dt.timedelta(hours=1),
                ),
                IdempotencyRecord(
                    scope_hash="a",
                    key="new",
                    request_hash="x",
                    expires_at=now + dt.timedelta(hours=1),
                ),
                OutboxMessage(task_name="done", queue_name="q", kwargs={}, sent_at=old,
                              done_at=old),
                # Handed to the broker and never finished: kept for a re-drive, however old.
                OutboxMessage(task_name="lost", queue_name="q", kwargs={}, sent_at=old),
                OutboxMessage(task_name="fresh", queue_name="q", kwargs={}, sent_at=now,
                              done_at=now),
                OutboxMessage(task_name="pending", queue_name="q", kwargs={}),
            ]
        )  # fmt: skip
        await session.commit()
        await purge_expired(TaskContext(session, None, settings, "test"))
        await session.commit()
        keys = (await session.scalars(select(IdempotencyRecord.key))).all()
        outbox = (await session.scalars(select(OutboxMessage.task_name))).all()
    assert keys == ["new"]
    assert sorted(outbox) == ["fresh", "lost", "pending"]


# A worker killed mid-job -----------------------------------------------------------------------

LEVIER = Path(sys.executable).parent / "levier"
BATCH = 20
ROWS = 3 * BATCH
# Short enough to keep the test quick; the default (30 s) is what production waits.
HEARTBEAT_TIMEOUT_SECONDS = 1.5


def _people_file() -> str:
    return "email,firstName\n" + "".join(f"k{n}@example.com,K{n}\n" for n in range(ROWS))


@contextlib.contextmanager
def _worker(settings: Settings, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real `levier worker` process on the test's database and Redis namespace."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEVIER_")}
    assert settings.redis_url is not None
    env |= {
        "LEVIER_DATABASE_URL": settings.database_url,
        "LEVIER_REDIS_URL": settings.redis_url,
        "LEVIER_REDIS_NAMESPACE": settings.redis_namespace,
        "LEVIER_IMPORT_BATCH_ROWS": str(BATCH),
        "LEVIER_WORKER_POLL_MS": "100",
        "LEVIER_WORKER_HEARTBEAT_TIMEOUT_SECONDS": str(HEARTBEAT_TIMEOUT_SECONDS),
    }
    with log.open("ab") as sink:
        process = subprocess.Popen(  # noqa: S603  (our own console script)
            [str(LEVIER), "worker", "--threads", "2"], env=env, stdout=sink, stderr=sink
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()


async def _job(app: Litestar, tenant: TenantId, import_id: UUID) -> ImportJob:
    async with session_of(app, tenant) as session:
        job = await session.scalar(select(ImportJob).where(ImportJob.id == import_id))
        assert job is not None
        return job


async def _until(
    probe: Callable[[], Awaitable[bool]], what: str, log: Path, deadline_seconds: float = 300
) -> None:
    """Wait for ``probe``; a generous cap only keeps a broken run from hanging the suite."""
    deadline = time.monotonic() + deadline_seconds
    while not await probe():
        if time.monotonic() > deadline:
            output = await asyncio.to_thread(log.read_text)
            pytest.fail(f"{what} never happened; worker log:\n{output}")
        await asyncio.sleep(0.05)


async def test_a_job_of_a_killed_worker_resumes_on_another_and_runs_once(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stack: str, tmp_path: Path
) -> None:
    if stack != "postgres":
        pytest.skip("`levier worker` needs Redis; the in-process broker dies with its process")
    world = await make_world(app)
    tenant = TenantId(world.brand_a.id)
    log = tmp_path / "workers.log"
    # The test holds, uncommitted, the email of the second batch's first row: the worker commits
    # its first batch, then waits on that key, mid-job, until the test lets go.
    holder = session_of(app, tenant)
    await profiles_service.create_profile(
        holder, tenant, ProfileCreate(email=f"k{BATCH}@example.com")
    )
    await holder.flush()
    response = await upload(client, world, _people_file())
    assert response.status_code == 202, response.text
    import_id = UUID(response.json()["id"])
    try:
        with _worker(settings, log) as first:

            async def first_batch_committed() -> bool:
                return (await _job(app, tenant, import_id)).rows_done == BATCH

            await _until(first_batch_committed, "the first checkpoint", log)
            first.send_signal(signal.SIGKILL)
            first.wait()
    finally:
        await holder.rollback()
        await holder.close()
    job = await _job(app, tenant, import_id)
    assert (job.status, job.attempts, job.rows_done) == (ImportStatus.RUNNING, 1, BATCH)
    with _worker(settings, log):

        async def finished() -> bool:
            # The task's last commit marks its outbox row done (the import commits before it).
            async with session_of(app) as session:
                undone = await session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.task_name == imports_service.RUN_TASK)
                    .where(OutboxMessage.done_at.is_(None))
                )
            return undone == 0

        await _until(finished, "the task's end", log)
    job = await _job(app, tenant, import_id)
    # Delivered again once, resumed after its checkpoint: every row written exactly once.
    assert (job.status, job.attempts) == (ImportStatus.SUCCEEDED, 2)
    assert (job.rows_done, job.created_count, job.rejected_count) == (ROWS, ROWS, 0)
    async with session_of(app, tenant) as session:
        profiles = await session.scalar(select(func.count()).select_from(Profile))
        emails = (
            await session.scalars(
                select(ProfileIdentity.value).where(ProfileIdentity.kind == "email")
            )
        ).all()
    assert profiles == ROWS
    assert sorted(emails) == sorted(f"k{n}@example.com" for n in range(ROWS))


async def test_serve_started_again_after_a_crash_resumes_the_jobs_it_had_not_finished(
    settings: Settings, stack: str
) -> None:
    if stack != "embedded":
        pytest.skip("Redis keeps a killed process's messages; the in-process broker loses them")
    # The process that crashes: its relay hands the import to its in-process broker, a first
    # attempt commits a batch, then the process dies with the message in its memory.
    crashed = create_app(settings.replace(embedded_worker=False))
    async with serving(crashed) as client:
        world = await make_world(crashed)
        tenant = TenantId(world.brand_a.id)
        response = await upload(client, world, _people_file())
        assert response.status_code == 202, response.text
        import_id = UUID(response.json()["id"])
        await crashed.state.relay.drain()
        assert await pending_outbox(crashed) == 0  # sent, to a broker that dies with the process
        async with session_of(crashed, tenant) as session:
            assert await imports_service.start(session, import_id)
            await session.commit()
            batches = imports_service.run_batches(session, tenant, import_id, batch_size=BATCH)
            await anext(batches)
            await session.commit()
            await batches.aclose()
    await crashed.state.engine.dispose()
    # `levier serve` again, on the same database: the unfinished job goes out and resumes.
    restarted = create_app(settings.replace(embedded_worker=True))
    async with restarted.lifespan():
        await run_jobs(restarted)
        job = await _job(restarted, tenant, import_id)
        assert (job.status, job.attempts) == (ImportStatus.SUCCEEDED, 2)
        assert (job.rows_done, job.created_count) == (ROWS, ROWS)
        async with session_of(restarted, tenant) as session:
            profiles = await session.scalar(select(func.count()).select_from(Profile))
            undone = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.done_at.is_(None))
            )
        assert profiles == ROWS
        assert undone == 0  # every task that ran marked its row done
    await restarted.state.engine.dispose()
