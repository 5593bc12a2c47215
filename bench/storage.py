"""Benchmark: what a brand's data costs in storage, per row, on PostgreSQL, and what a queued job
costs in Redis — the measured inputs of docs/scaling.md's capacity plan.

1. **Profiles, their keys, events, orders, consents**, generated in SQL for one brand with the
   shapes the profile import bench loads (13 columns: the ten standard fields and three brand
   attributes; an email and a phone identity key each), events with an id, a name and two
   properties, orders, one consent change per profile, one segment membership and one RFM score
   per profile.
2. **Messages through the send pipeline**: ``bench.messaging``'s brand, template and profiles,
   then the functions of the ``messaging.deliver_batch`` task (discard provider), so the ledger's
   rows are the ones the code writes (message, timeline, dedupe key, the profile's
   ``message_sent`` event), updates included. The rows each message adds to each table are
   counted (before/after); then one ``opened`` sighting per message is written in SQL, to
   measure that table's row too.
3. **Sizes**: after ``VACUUM ANALYZE`` (space of dead row versions is kept, as on a live table),
   table (heap, TOAST, maps) and index bytes per row of each table, partitions summed.
4. **Redis**: N jobs shaped as the outbox relay sends them (a ``messaging.deliver_batch`` and a
   ``segments.evaluate``-like payload) enqueued through dramatiq's Redis broker under a scratch
   namespace; ``MEMORY USAGE`` of the queue's keys per job; the keys deleted afterwards.

    DB=127.0.0.1:5432/levier_bench_scaling
    LEVIER_BENCH_DATABASE_URL=postgresql+asyncpg://levier_test_app@$DB \
    LEVIER_BENCH_MIGRATION_DATABASE_URL=postgresql+asyncpg://levier_test@$DB \
    LEVIER_BENCH_REDIS_URL=redis://127.0.0.1:6379/8 \
    python -m bench.storage [--profiles N] [--messages M] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from backend.auth.models import User
from backend.config import Settings
from backend.core import schema
from backend.core.db import create_engine
from backend.core.tenancy import TenantId, make_session_factory, open_session
from backend.profiles import attributes
from backend.profiles.models import AttributeType
from backend.profiles.schemas import AttributeCreate
from backend.tenancy import service as tenancy_service
from backend.tenancy.schemas import AgencyCreate, BrandCreate
from bench.messaging import pipeline
from bench.messaging import setup as messaging_setup
from workers.run import load_tasks

EVENTS_PER_PROFILE = 5
ORDERS_PER_PROFILE = 3

# The people: $1 profiles. Rows: $1 the brand; events and orders: $2 profiles, $3 per profile.
GENERATE = [
    """CREATE TEMPORARY TABLE bench_people AS
       SELECT n, gen_random_uuid() AS id,
              (ARRAY['Marie', 'Jan', 'Sofie', 'Luc', 'Emma', 'Noah'])[1 + n % 6] AS first_name,
              (ARRAY['Peeters', 'Janssens', 'Maes', 'Dubois', 'Lambert'])[1 + n % 5] AS last_name
       FROM generate_series(0, $1::int - 1) AS n""",
    """INSERT INTO profiles (tenant_id, id, email, phone, first_name, last_name, birth_date,
           locale, time_zone, country, preferred_store, channel_appetency, attributes, bounced,
           suppressed)
       SELECT $1::uuid, id, lower(first_name || '.' || last_name || n) || '@example.com',
           '+3247' || lpad(n::text, 7, '0'), first_name, last_name,
           date '1950-01-01' + (n::bigint * 7919 % 20000)::int,
           (ARRAY['fr-BE', 'nl-BE', 'en-GB'])[1 + n % 3], 'Europe/Brussels', 'BE',
           'store-' || (n % 200), (ARRAY['email', 'sms', 'push'])[1 + n % 3],
           jsonb_build_object('tier', (ARRAY['gold', 'silver', 'bronze'])[1 + n % 3],
               'points', n % 5000, 'joined_on', to_char(current_date - (n % 3650), 'YYYY-MM-DD')),
           '[]'::jsonb, '[]'::jsonb
       FROM bench_people""",
    """INSERT INTO profile_identities (tenant_id, kind, value, profile_id)
       SELECT $1::uuid, 'email', lower(first_name || '.' || last_name || n) || '@example.com', id
       FROM bench_people
       UNION ALL
       SELECT $1::uuid, 'phone', '+3247' || lpad(n::text, 7, '0'), id FROM bench_people""",
    """INSERT INTO events (tenant_id, id, event_id, name, profile_id, occurred_at, source,
           properties)
       SELECT $1::uuid, gen_random_uuid(), gen_random_uuid()::text,
           (ARRAY['page_viewed', 'product_viewed', 'cart_updated', 'signed_in', 'searched'])
               [1 + i % 5],
           b.id, now() - (i % 43200) * interval '1 minute', 'api',
           jsonb_build_object('page', '/products/' || (i % 5000), 'campaign', 'c' || (i % 40))
       FROM generate_series(0, $2::int * $3::int - 1) AS i
       JOIN bench_people b ON b.n = (i * 7) % $2::int""",
    """INSERT INTO orders (tenant_id, id, order_id, profile_id, occurred_at, amount, currency,
           store, channel)
       SELECT $1::uuid, gen_random_uuid(), 'ORD-' || lpad(i::text, 9, '0'), b.id,
           now() - (i % 730) * interval '1 day', (i % 200) + 0.99, 'EUR', 'store-' || (i % 200),
           (ARRAY['store', 'web'])[1 + i % 2]
       FROM generate_series(0, $2::int * $3::int - 1) AS i
       JOIN bench_people b ON b.n = (i * 13) % $2::int""",
    """INSERT INTO consent_changes (tenant_id, id, profile_id, channel, state, source,
           occurred_at)
       SELECT $1::uuid, gen_random_uuid(), id, 'email', 'granted', 'import',
           now() - (n % 900) * interval '1 day'
       FROM bench_people""",
]
GENERATE += [
    # One segment holding every profile; one RFM run scoring every profile.
    """INSERT INTO segments (tenant_id, id, key, name, kind, member_count, version, created_at,
           updated_at)
       VALUES ($1::uuid, '00000000-0000-7000-8000-0000000b5e61', 'bench', 'Bench', 'static', 0, 1,
           now(), now())""",
    """INSERT INTO segment_members (tenant_id, segment_id, profile_id, entered_at, created_at,
           updated_at)
       SELECT $1::uuid, '00000000-0000-7000-8000-0000000b5e61', id,
           now() - (n % 400) * interval '1 day', now(), now()
       FROM bench_people""",
    """INSERT INTO rfm_scores (tenant_id, run_id, profile_id, recency_days, frequency, monetary,
           r, f, m, segment, previous_segment, direction, created_at, updated_at)
       SELECT $1::uuid, '00000000-0000-7000-8000-0000000b5e62', id, n % 365, 1 + n % 40,
           (n % 2000) + 0.99, 1 + n % 5, 1 + (n / 5) % 5, 1 + (n / 25) % 5,
           (ARRAY['Champions', 'Loyal', 'At risk', 'Hibernating'])[1 + n % 4],
           (ARRAY['Champions', 'Loyal', 'At risk', 'Hibernating'])[1 + (n / 4) % 4],
           (ARRAY['up', 'down', 'same'])[1 + n % 3], now(), now()
       FROM bench_people""",
]
GENERATED = [
    "profiles",
    "profile_identities",
    "events",
    "orders",
    "consent_changes",
    "segment_members",
    "rfm_scores",
]
LEDGER = ["messages", "message_events", "message_keys", "message_sightings", "events"]
MEASURED = [*dict.fromkeys([*GENERATED, *LEDGER])]

# Bytes of the table (heap, TOAST, free-space and visibility maps) and of its indexes, every
# partition of a partitioned table summed.
SIZES = """
    WITH leaves AS (SELECT relid FROM pg_partition_tree($1::regclass) WHERE isleaf),
    measured AS (SELECT relid FROM leaves
                 UNION ALL SELECT $1::regclass WHERE NOT EXISTS (SELECT 1 FROM leaves))
    SELECT sum(pg_table_size(relid))::bigint AS table_bytes,
           sum(pg_indexes_size(relid))::bigint AS index_bytes
    FROM measured
"""


def dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def make_brand(settings: Settings) -> TenantId:
    engine = create_engine(settings.database_url)
    factory = make_session_factory(engine)
    async with open_session(factory) as session:
        user = User(email=f"bench-{uuid4().hex[:8]}@example.com", password_hash="x")  # noqa: S106
        session.add(user)
        await session.flush()
        agency = await tenancy_service.create_agency(session, AgencyCreate(name="Bench"), user.id)
        brand = await tenancy_service.create_brand(
            session, None, agency.id, BrandCreate(name="Bench storage", time_zone="UTC")
        )
        await session.commit()
    tenant = TenantId(brand.id)
    async with open_session(factory, tenant) as session:
        await tenancy_service.provision_brand(session, tenant)
        for key, kind in (
            ("tier", AttributeType.TEXT),
            ("points", AttributeType.NUMBER),
            ("joined_on", AttributeType.DATE),
        ):
            await attributes.create_attribute(
                session, AttributeCreate(key=key, label=key, type=kind)
            )
        await session.commit()
    await engine.dispose()
    return tenant


async def generate(settings: Settings, tenant: UUID, profiles: int) -> None:
    """As the owner, which row-level security binds too: the brand is set for the session."""
    connection = await asyncpg.connect(dsn(settings.migration_url))
    try:
        await connection.execute("SELECT set_config('levier.tenant_id', $1, false)", str(tenant))
        for statement in GENERATE:
            await connection.execute(statement, *_arguments(statement, tenant, profiles))
    finally:
        await connection.close()


def _arguments(statement: str, tenant: UUID, profiles: int) -> tuple[Any, ...]:
    if "bench_people AS" in statement:
        return (profiles,)
    if "INTO events" in statement:
        return (str(tenant), profiles, EVENTS_PER_PROFILE)
    if "INTO orders" in statement:
        return (str(tenant), profiles, ORDERS_PER_PROFILE)
    return (str(tenant),)


async def row_counts(settings: Settings, tenant: UUID, tables: list[str]) -> dict[str, int]:
    connection = await asyncpg.connect(dsn(settings.migration_url))
    try:
        await connection.execute("SELECT set_config('levier.tenant_id', $1, false)", str(tenant))
        return {
            table: int(await connection.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608
            for table in tables
        }
    finally:
        await connection.close()


async def sight_every_message(settings: Settings, tenant: UUID) -> None:
    """An ``opened`` sighting for each message (what tracking stores on a first open), so the
    table's bytes per row are measured too; written after the per-message counts."""
    connection = await asyncpg.connect(dsn(settings.migration_url))
    try:
        await connection.execute("SELECT set_config('levier.tenant_id', $1, false)", str(tenant))
        await connection.execute(
            """INSERT INTO message_sightings (tenant_id, message_id, key, count, first_at,
                   last_at, created_at, updated_at)
               SELECT tenant_id, id, 'opened', 1, now(), now(), now(), now() FROM messages"""
        )
    finally:
        await connection.close()


async def sizes(settings: Settings, tables: list[str]) -> dict[str, tuple[int, int]]:
    connection = await asyncpg.connect(dsn(settings.migration_url))
    try:
        for table in tables:
            await connection.execute(f"VACUUM ANALYZE {table}")
        found = {}
        for table in tables:
            row = await connection.fetchrow(SIZES, table)
            found[table] = (int(row["table_bytes"]), int(row["index_bytes"]))
        return found
    finally:
        await connection.close()


def redis_bytes_per_job(url: str, jobs: int) -> dict[str, float]:
    """MEMORY USAGE of a queue's keys per job, for two payload shapes."""
    namespace = f"levier-bench-{uuid4().hex[:8]}"
    broker = RedisBroker(url=url, namespace=namespace)  # type: ignore[no-untyped-call]
    client = redis.Redis.from_url(url)
    tenant = str(uuid4())
    shapes: dict[str, dict[str, Any]] = {
        "messaging.deliver_batch": {"limit": 500, "tenant_id": tenant},
        "segments.evaluate (3 ids)": {
            "segment_id": str(uuid4()),
            "evaluation_id": str(uuid4()),
            "after": str(uuid4()),
            "tenant_id": tenant,
        },
    }
    found = {}
    try:
        for n, (name, kwargs) in enumerate(shapes.items()):
            queue = f"q{n}"
            for _ in range(jobs):
                broker.enqueue(
                    dramatiq.Message(
                        queue_name=queue,
                        actor_name=name.split(" ")[0],
                        args=(),
                        kwargs=kwargs,
                        options={},
                        message_id=str(uuid4()),
                    )
                )
            keys = [key for key in client.scan_iter(f"{namespace}:{queue}*")]
            used = sum(int(client.memory_usage(key) or 0) for key in keys)
            found[name] = used / jobs
    finally:
        for key in client.scan_iter(f"{namespace}:*"):
            client.delete(key)
        broker.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, default=200_000)
    parser.add_argument("--messages", type=int, default=3_000)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--smoke", action="store_true", help="a tiny size: that it runs (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.profiles, args.messages, args.jobs = 500, 40, 100
    settings = Settings(
        database_url=os.environ["LEVIER_BENCH_DATABASE_URL"],
        migration_database_url=os.environ.get("LEVIER_BENCH_MIGRATION_DATABASE_URL"),
        log_level="WARNING",
        webhook_allow_private_targets=True,
    )
    schema.upgrade(settings)
    load_tasks()

    started = time.perf_counter()
    tenant = asyncio.run(make_brand(settings))
    asyncio.run(generate(settings, tenant, args.profiles))
    print(f"generated {args.profiles:,} profiles in {time.perf_counter() - started:.1f} s")

    sender, template, people = asyncio.run(messaging_setup(settings, args.messages))
    before = asyncio.run(row_counts(settings, sender, LEDGER))
    asyncio.run(pipeline(settings, sender, template, people, 500))
    after = asyncio.run(row_counts(settings, sender, LEDGER))
    print(f"\nrows each message adds ({args.messages:,} messages through the pipeline)")
    for table in LEDGER:
        print(f"  {table:<22} {(after[table] - before[table]) / args.messages:6.2f}")

    asyncio.run(sight_every_message(settings, sender))
    rows = {
        table: asyncio.run(row_counts(settings, tenant, [table]))[table]
        + asyncio.run(row_counts(settings, sender, [table]))[table]
        for table in MEASURED
    }
    measured = asyncio.run(sizes(settings, MEASURED))
    print("\n| table | rows | table bytes/row | index bytes/row | total bytes/row |")
    print("| --- | --- | --- | --- | --- |")
    for table in MEASURED:
        table_bytes, index_bytes = measured[table]
        count = max(rows[table], 1)
        print(
            f"| {table} | {rows[table]:,} | {table_bytes / count:,.0f} | "
            f"{index_bytes / count:,.0f} | {(table_bytes + index_bytes) / count:,.0f} |"
        )
    per_profile = sum(sum(measured[t]) for t in ("profiles", "profile_identities")) / max(
        rows["profiles"], 1
    )
    print(f"\nprofile with its two identity keys: {per_profile:,.0f} bytes")

    redis_url = os.environ.get("LEVIER_BENCH_REDIS_URL")
    if redis_url:
        print(f"\nRedis bytes per queued job ({args.jobs:,} jobs of each shape)")
        for name, used in redis_bytes_per_job(redis_url, args.jobs).items():
            print(f"  {name:<28} {used:8,.0f}")


if __name__ == "__main__":
    main()
