"""Benchmark: jobs sent through the transactional outbox vs enqueued straight to the broker.

The outbox costs an INSERT in the business transaction plus the relay's claim-and-mark; the
baseline is what the same broker does when handed the messages directly (no durability across a
broker outage, no rollback safety). Prints both rates and their ratio.

    python -m bench.outbox_relay [--jobs 5000] [--smoke]
    LEVIER_BENCH_DATABASE_URL=postgresql+asyncpg://… LEVIER_BENCH_REDIS_URL=redis://… \
        python -m bench.outbox_relay
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from uuid import uuid4

import dramatiq

from backend.config import Settings
from backend.core import schema
from backend.core.db import create_engine
from backend.core.jobs import enqueue
from backend.core.outbox import OutboxRelay
from backend.core.tenancy import make_session_factory
from workers.broker import sender
from workers.run import build_job_system

TASK = "platform.purge_expired"


async def outbox_rate(settings: Settings, broker: dramatiq.Broker, jobs: int) -> float:
    engine = create_engine(settings.database_url)
    factory = make_session_factory(engine)
    relay = OutboxRelay(factory, sender(broker))
    started = time.perf_counter()
    async with factory() as session:
        for _ in range(jobs):
            await enqueue(session, TASK)
        await session.commit()
    sent = await relay.drain()
    elapsed = time.perf_counter() - started
    await engine.dispose()
    assert sent == jobs, (sent, jobs)
    return jobs / elapsed


def direct_rate(broker: dramatiq.Broker, jobs: int) -> float:
    started = time.perf_counter()
    for _ in range(jobs):
        broker.enqueue(
            dramatiq.Message(
                queue_name="default",
                actor_name=TASK,
                args=(),
                kwargs={"tenant_id": None},
                options={},
            )
        )
    return jobs / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a few seconds at a tiny size: that it runs and prints its figures (CI)",
    )
    args = parser.parse_args()
    if args.smoke:
        args.jobs = 50
    folder = tempfile.mkdtemp(prefix="levier-bench-")
    settings = Settings(
        database_url=os.environ.get(
            "LEVIER_BENCH_DATABASE_URL", f"sqlite+aiosqlite:///{folder}/bench.db"
        ),
        migration_database_url=os.environ.get("LEVIER_BENCH_MIGRATION_DATABASE_URL"),
        redis_url=os.environ.get("LEVIER_BENCH_REDIS_URL"),
        redis_namespace=f"levier-bench-{uuid4().hex[:8]}",
    )
    schema.upgrade(settings)
    broker, _ = build_job_system(settings)
    direct = direct_rate(broker, args.jobs)
    broker.flush_all()
    through_outbox = asyncio.run(outbox_rate(settings, broker, args.jobs))
    broker.flush_all()
    database = settings.database_url.split("+")[0]
    broker_name = "redis" if settings.redis_url else "in-process"
    print(f"database={database} broker={broker_name} jobs={args.jobs}")
    print(f"direct enqueue        {direct:10.0f} jobs/s (baseline)")
    print(f"outbox + relay        {through_outbox:10.0f} jobs/s")
    print(f"ratio outbox/direct   {through_outbox / direct:10.2f}")


if __name__ == "__main__":
    main()
