"""Job operations: a job whose retries ran out is counted, recorded failed in the outbox and kept
as a dead letter; the CLI lists, re-drives and purges them; the outbox keeps what it handed to the
broker, so a Redis that lost its data is refilled by `levier jobs redrive-outbox`; a broker that
is down leaves the API serving (writes land in the outbox) and `/ready` degraded."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import dramatiq
import pytest
import redis
from click.testing import CliRunner, Result
from litestar import Litestar
from prometheus_client import REGISTRY
from sqlalchemy import select

from backend.app import create_app
from backend.cli import main
from backend.config import Settings
from backend.core.db import utcnow
from backend.core.ids import new_id
from backend.core.jobs import outbox_row, task_payload
from backend.core.outbox import OutboxMessage
from backend.core.tenancy import TenantId
from backend.tenancy import service as tenancy_service
from backend.tenancy.models import Brand, BrandStatus
from backend.tenancy.schemas import BrandCreate
from tests.factories import World, make_world, run_jobs, serving, session_of
from workers.queues import dead_letters, queue_stats

PROVISION = tenancy_service.PROVISION_BRAND_TASK
Env = dict[str, str | None]


def _env(settings: Settings) -> Env:
    env: Env = {name: None for name in os.environ if name.startswith("LEVIER_")}
    env["LEVIER_DATABASE_URL"] = settings.database_url
    if settings.redis_url:
        env["LEVIER_REDIS_URL"] = settings.redis_url
        env["LEVIER_REDIS_NAMESPACE"] = settings.redis_namespace
    return env


async def cli(settings: Settings, *args: str, code: int = 0) -> dict[str, Any]:
    """Run a `levier` command (it runs its own event loop: in a thread of its own)."""

    def invoke() -> Result:
        return CliRunner().invoke(main, list(args), env=_env(settings), catch_exceptions=False)

    result = await asyncio.to_thread(invoke)
    assert result.exit_code == code, (result.stdout, result.stderr)
    text = result.stdout if code == 0 else result.stderr
    payload: dict[str, Any] = json.loads(text.strip().splitlines()[-1])
    return payload


async def until(probe: Callable[[], Awaitable[bool]], what: str, seconds: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await probe():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds} s")
        await asyncio.sleep(0.02)


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _outbox(app: Litestar, row_id: UUID) -> OutboxMessage:
    async with session_of(app) as session:
        row = await session.get(OutboxMessage, row_id)
        assert row is not None
        return row


async def _dead_job(app: Litestar) -> tuple[UUID, UUID]:
    """A provisioning job for a brand that does not exist (yet): it fails with no retry left.
    Returns (brand id, outbox id) once the outbox notes it failed."""
    brand_id = new_id()
    async with session_of(app) as session:
        row = outbox_row(PROVISION, task_payload(PROVISION, TenantId(brand_id), {}))
        row.sent_at = utcnow()
        session.add(row)
        await session.commit()
    broker: dramatiq.Broker = app.state.broker
    broker.enqueue(
        dramatiq.Message(
            queue_name="default",
            actor_name=PROVISION,
            args=(),
            kwargs=row.kwargs,
            options={"max_retries": 0},
            message_id=str(row.id),
        )
    )

    async def failed() -> bool:
        return (await _outbox(app, row.id)).failed_at is not None

    await until(failed, "the job's failure")
    return brand_id, row.id


async def _add_brand(app: Litestar, world: World, brand_id: UUID) -> None:
    """The brand the dead job was for, arriving late: the job now succeeds."""
    async with session_of(app) as session:
        session.add(Brand(id=brand_id, agency_id=world.agency_a.id, name="Late"))
        await session.commit()


async def _status(app: Litestar, brand_id: UUID) -> BrandStatus:
    async with session_of(app) as session:
        brand = await session.get(Brand, brand_id)
        assert brand is not None
        await session.refresh(brand)
        return brand.status


@pytest.mark.worker
async def test_a_job_out_of_retries_is_counted_recorded_failed_and_redriven_from_the_outbox(
    app: Litestar, settings: Settings
) -> None:
    labels = {"actor": PROVISION, "queue": "default"}
    async with app.lifespan():
        world = await make_world(app)
        await run_jobs(app)
        failed_before = sample("levier_jobs_total", {**labels, "outcome": "failed"})
        dead_before = sample("levier_jobs_dead_lettered_total", labels)
        brand_id, row_id = await _dead_job(app)

        async def dead_counted() -> bool:
            return sample("levier_jobs_dead_lettered_total", labels) == dead_before + 1

        await until(dead_counted, "the dead letter's count")
        assert sample("levier_jobs_total", {**labels, "outcome": "failed"}) == failed_before + 1
        row = await _outbox(app, row_id)
        assert row.done_at is not None
        assert row.last_error is not None
        assert row.last_error.startswith("NotFound")
        # The broker kept it too (in memory here, in Redis in production).
        [letter] = [d for d in dead_letters(app.state.broker) if d.message_id == str(row_id)]
        assert (letter.actor, letter.tenant_id) == (PROVISION, str(brand_id))

        listed = await cli(settings, "jobs", "failed", "list", "--since", "10m")
        [entry] = [e for e in listed["failed"] if e["id"] == str(row_id)]
        assert (entry["task"], entry["brandId"]) == (PROVISION, str(brand_id))
        assert entry["error"].startswith("NotFound")
        assert await cli(settings, "jobs", "failed", "list", "--task", "other.task") == {
            "failed": [],
            "count": 0,
        }

        await _add_brand(app, world, brand_id)
        assert await cli(settings, "jobs", "failed", "redrive", "--id", str(row_id)) == {
            "redriven": 1
        }

        # Relayed (by the command itself with Redis, by the app's relay in-process), then run.
        async def provisioned() -> bool:
            return await _status(app, brand_id) is BrandStatus.ACTIVE

        await until(provisioned, "the re-driven job")
        row = await _outbox(app, row_id)
        assert (row.failed_at, row.done_at is not None) == (None, True)
        assert (await cli(settings, "jobs", "failed", "list"))["count"] == 0


async def test_failed_redrive_without_ids_or_all_chooses_nothing(settings: Settings) -> None:
    answer = await cli(settings, "jobs", "failed", "redrive", code=1)
    assert answer["error"] == "nothing-chosen"


@pytest.mark.worker
async def test_dead_letters_are_listed_redriven_and_purged_from_the_cli(
    app: Litestar, settings: Settings, stack: str
) -> None:
    if stack != "postgres":
        assert (await cli(settings, "jobs", "dead", "list", code=1))["error"] == (
            "no-shared-broker"
        )
        return
    async with app.lifespan():
        world = await make_world(app)
        await run_jobs(app)
        brand_id, row_id = await _dead_job(app)
        _, other_row = await _dead_job(app)

        async def both_dead() -> bool:
            listed = await cli(settings, "jobs", "dead", "list", "--queue", "default")
            return listed["count"] == 2

        await until(both_dead, "two dead letters")
        listed = await cli(settings, "jobs", "dead", "list")
        by_id = {entry["id"]: entry for entry in listed["dead"]}
        assert set(by_id) == {str(row_id), str(other_row)}
        assert by_id[str(row_id)]["task"] == PROVISION
        assert by_id[str(row_id)]["brandId"] == str(brand_id)
        assert "NotFound" in by_id[str(row_id)]["error"]
        stats = {q.queue: q for q in queue_stats(app.state.broker)}
        assert stats["default"].dead == 2

        await _add_brand(app, world, brand_id)
        assert await cli(settings, "jobs", "dead", "redrive", "--id", str(row_id)) == {
            "redriven": 1
        }

        async def provisioned() -> bool:
            return await _status(app, brand_id) is BrandStatus.ACTIVE

        await until(provisioned, "the re-driven dead letter")
        assert (await _outbox(app, row_id)).failed_at is None
        listed = await cli(settings, "jobs", "dead", "list")
        assert [entry["id"] for entry in listed["dead"]] == [str(other_row)]
        # Again: already re-driven, nothing goes twice.
        assert await cli(settings, "jobs", "dead", "redrive", "--id", str(row_id)) == {
            "redriven": 0
        }
        assert await cli(settings, "jobs", "dead", "purge", "--all") == {"purged": 1}
        assert (await cli(settings, "jobs", "dead", "list"))["count"] == 0
        assert (await cli(settings, "jobs", "dead", "list", "--queue", "nope", code=1))[
            "error"
        ] == "unknown-queue"
        # Purged from the broker; the outbox still records the failure.
        assert (await _outbox(app, other_row)).failed_at is not None


async def test_jobs_lost_with_redis_are_sent_again_from_the_outbox(
    app: Litestar, settings: Settings, stack: str
) -> None:
    if stack != "postgres":
        pytest.skip("the in-process broker's loss is `levier serve` restarting (test_jobs.py)")
    assert settings.redis_url is not None
    world = await make_world(app)
    await app.state.relay.drain()  # the world's own jobs, handed over
    async with session_of(app) as session:
        lost = await tenancy_service.create_brand(
            session, None, world.agency_a.id, BrandCreate(name="Lost")
        )
        await session.commit()
    await app.state.relay.drain()
    async with session_of(app) as session:
        # Handed over long ago and never finished: outside the window re-driven below.
        earlier = outbox_row(PROVISION, task_payload(PROVISION, TenantId(world.brand_b.id), {}))
        earlier.sent_at = utcnow() - dt.timedelta(hours=3)
        session.add(earlier)
        await session.commit()
    ready = {q.queue: q.ready for q in queue_stats(app.state.broker)}
    assert ready["default"] >= 1
    # Redis loses its data (only this test's namespace: the shared Redis is never flushed).
    client = redis.Redis.from_url(settings.redis_url)
    keys = list(client.scan_iter(match=f"{settings.redis_namespace}:*"))
    assert keys
    client.delete(*keys)
    assert {q.queue: q.ready for q in queue_stats(app.state.broker)}["default"] == 0

    answer = await cli(settings, "jobs", "redrive-outbox", "--since", "1h")
    async with session_of(app) as session:
        unfinished = (
            await session.scalars(
                select(OutboxMessage.id).where(
                    OutboxMessage.sent_at >= utcnow() - dt.timedelta(hours=1),
                    OutboxMessage.done_at.is_(None),
                )
            )
        ).all()
    assert answer == {"redriven": len(unfinished)}
    assert answer["redriven"] >= 1
    assert {q.queue: q.ready for q in queue_stats(app.state.broker)}["default"] == len(unfinished)
    assert (await _outbox(app, earlier.id)).sent_at is not None  # not in the window: untouched
    # A worker comes back: the lost job runs.
    worker_app = create_app(settings.replace(embedded_worker=True))
    async with worker_app.lifespan():
        await run_jobs(worker_app)
        assert await _status(worker_app, lost.id) is BrandStatus.ACTIVE
    await worker_app.state.engine.dispose()


async def test_with_the_broker_down_writes_land_in_the_outbox_and_ready_says_degraded(
    settings: Settings,
) -> None:
    # A closed local port stands for Redis down (the shared one is never touched).
    down = settings.replace(redis_url="redis://127.0.0.1:1/0", relay_interval_seconds=0.05)
    app = create_app(down)
    async with serving(app) as client:
        world = await make_world(app)
        response = await client.post(
            f"/v1/agencies/{world.agency_a.id}/brands",
            json={"name": "Meanwhile"},
            headers=world.owner_a.headers,
        )
        assert response.status_code == 201, response.text
        brand_id = response.json()["id"]

        async def relay_tried() -> bool:
            # The relay hands rows over in order and stops at the first refusal.
            async with session_of(app) as session:
                rows = (await session.scalars(select(OutboxMessage))).all()
            return any(row.attempts >= 1 and row.last_error for row in rows)

        await until(relay_tried, "the relay's attempt")
        async with session_of(app) as session:
            rows = (await session.scalars(select(OutboxMessage))).all()
        assert all(row.sent_at is None for row in rows)
        assert [row.kwargs["tenant_id"] for row in rows].count(brand_id) == 1
        ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded"
