"""Benchmark: a five-condition segment (attribute, relative date, order aggregate, event,
consent) over N profiles on PostgreSQL, counted and fully materialised through the segments
service, against hand-written SQL for the same answer, in the same run.

Data is generated in SQL (``INSERT … SELECT … FROM generate_series``): N profiles with a brand
attribute ``tier``, a date attribute ``joined_on`` and birth dates; 10 orders per profile on
average over two years; 3 events per profile over four months; one email consent per profile
(a fifth of them unsubscribed later). Timed, each after one untimed warm-up run:

- count: ``service.count_matching`` vs a hand-written ``SELECT count(*)`` (joins on grouped
  subqueries, ``DISTINCT ON`` for the latest consent);
- materialisation, first run (every member enters): ``membership.evaluate`` (staging, entered
  transitions, members, sizes row) vs a hand-written ``INSERT INTO`` a members-like table of
  the same set, and vs hand-written SQL doing the same work as the service (members and
  transitions); then a second run that changes nothing.

Both sides must find the same number of profiles. Publishing the transitions (trigger
occurrences, webhooks) is a separate task and not timed here.

    psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE levier_bench_segments OWNER levier_test"
    DB=127.0.0.1:5432/levier_bench_segments  # runtime role levier_test_app, owner levier_test
    LEVIER_BENCH_DATABASE_URL=postgresql+asyncpg://levier_test_app@$DB \
    LEVIER_BENCH_MIGRATION_DATABASE_URL=postgresql+asyncpg://levier_test@$DB \
    python -m bench.segments [--profiles 1000000] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID, uuid4

import asyncpg
from sqlalchemy import text

from backend.auth.models import User
from backend.config import Settings
from backend.core import schema
from backend.core.db import create_engine
from backend.core.tenancy import TenantId, make_session_factory, open_session
from backend.profiles import attributes
from backend.profiles.models import AttributeType
from backend.profiles.schemas import AttributeCreate
from backend.segments import membership, service
from backend.segments.repository import WHOLE_BRAND_SETTINGS
from backend.segments.schemas import SegmentCreate
from backend.tenancy import service as tenancy_service
from backend.tenancy.schemas import AgencyCreate, BrandCreate
from workers.run import load_tasks

T = TypeVar("T")
ZONE = "Europe/Brussels"
REPEAT = 3
DEFINITION = {
    "and": [
        {"attribute": "tier", "op": "eq", "value": "gold"},
        {"attribute": "joined_on", "op": "within_last_days", "value": 730},
        {"orders": {"aggregate": "count", "windowDays": 365}, "op": "gte", "value": 3},
        {"event": {"name": "email_clicked", "windowDays": 90}, "op": "gte", "value": 1},
        {"consent": {"channel": "email"}, "op": "granted"},
    ]
}

GENERATE = [
    """CREATE TEMPORARY TABLE bench_ids AS
       SELECT n, gen_random_uuid() AS id FROM generate_series(0, $1::int - 1) AS n""",
    "CREATE UNIQUE INDEX ON bench_ids (n)",
    """INSERT INTO profiles (tenant_id, id, email, birth_date, time_zone, country, attributes,
           bounced, suppressed)
       SELECT $1::uuid, id, 'p' || n || '@example.com',
           date '1950-01-01' + (n::bigint * 7919 % 20000)::int,
           CASE WHEN n % 10 = 0 THEN 'America/New_York' WHEN n % 10 = 1 THEN 'Asia/Tokyo' END,
           CASE WHEN n % 3 = 0 THEN 'FR' ELSE 'BE' END,
           jsonb_build_object('tier', (ARRAY['gold', 'silver', 'bronze'])[1 + n % 3],
               'joined_on', to_char(current_date - (n * 31 % 3650), 'YYYY-MM-DD')),
           '[]'::jsonb, '[]'::jsonb
       FROM bench_ids""",
    """INSERT INTO orders (tenant_id, id, order_id, profile_id, occurred_at, amount, currency,
           store)
       SELECT $1::uuid, gen_random_uuid(), 'O' || i, b.id,
           now() - (i % 730) * interval '1 day' - (i % 86400) * interval '1 second',
           (i % 200) + 0.99, 'EUR', 'store-' || (i % 50)
       FROM generate_series(0, $2::int * 10 - 1) AS i
       JOIN bench_ids b ON b.n = (i * 7) % $2::int""",
    """INSERT INTO events (tenant_id, id, event_id, name, profile_id, occurred_at, source,
           properties)
       SELECT $1::uuid, gen_random_uuid(), 'e' || i,
           (ARRAY['email_clicked', 'email_opened', 'page_viewed'])[1 + i % 3], b.id,
           now() - (i % 120) * interval '1 day', 'bench',
           jsonb_build_object('campaign', 'c' || (i % 10))
       FROM generate_series(0, $2::int * 3 - 1) AS i
       JOIN bench_ids b ON b.n = (i * 13) % $2::int""",
    """INSERT INTO consent_changes (tenant_id, id, profile_id, channel, state, source,
           occurred_at)
       SELECT $1::uuid, gen_random_uuid(), id, 'email', 'granted', 'bench',
           now() - (n % 900) * interval '1 day'
       FROM bench_ids""",
    """INSERT INTO consent_changes (tenant_id, id, profile_id, channel, state, source,
           occurred_at)
       SELECT $1::uuid, gen_random_uuid(), id, 'email', 'unsubscribed', 'bench',
           now() - (n % 30) * interval '1 day'
       FROM bench_ids WHERE n % 5 = 0""",
]

# The same question written by hand, as a person fluent in SQL would for this schema.
HAND_SET = """
    WITH o AS (SELECT profile_id FROM orders
               WHERE tenant_id = $1 AND occurred_at >= $2::timestamptz - interval '365 days'
               GROUP BY profile_id HAVING count(*) >= 3),
         e AS (SELECT DISTINCT profile_id FROM events
               WHERE tenant_id = $1 AND name = 'email_clicked'
                 AND occurred_at >= $2::timestamptz - interval '90 days'),
         c AS (SELECT DISTINCT ON (profile_id) profile_id, state FROM consent_changes
               WHERE tenant_id = $1 AND channel = 'email' AND topic IS NULL
               ORDER BY profile_id, occurred_at DESC, id DESC)
    SELECT p.id FROM profiles p
    JOIN o ON o.profile_id = p.id
    JOIN e ON e.profile_id = p.id
    JOIN c ON c.profile_id = p.id AND c.state = 'granted'
    WHERE p.tenant_id = $1 AND p.attributes ->> 'tier' = 'gold'
      AND p.attributes ->> 'joined_on' BETWEEN
          to_char((timezone(coalesce(p.time_zone, $3), $2::timestamptz))::date - 730, 'YYYY-MM-DD')
          AND to_char((timezone(coalesce(p.time_zone, $3), $2::timestamptz))::date, 'YYYY-MM-DD')
"""
HAND_COUNT = f"SELECT count(*) FROM ({HAND_SET}) AS s"  # noqa: S608  (constants only)
MEMBERS_LIKE = """CREATE TABLE IF NOT EXISTS bench_members (
    tenant_id uuid NOT NULL, segment_id uuid NOT NULL, profile_id uuid NOT NULL,
    entered_at timestamptz NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, segment_id, profile_id))"""
TRANSITIONS_LIKE = """CREATE TABLE IF NOT EXISTS bench_transitions (
    tenant_id uuid NOT NULL, id uuid NOT NULL, segment_id uuid NOT NULL, profile_id uuid NOT NULL,
    kind varchar(32) NOT NULL, occurred_at timestamptz NOT NULL, evaluation_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id))"""
TRANSITION_INDEXES = [
    "CREATE INDEX IF NOT EXISTS bench_t_segment ON bench_transitions (tenant_id, segment_id, id)",
    "CREATE INDEX IF NOT EXISTS bench_t_profile ON bench_transitions (tenant_id, profile_id, id)",
]
HAND_INSERT = f"""INSERT INTO bench_members (tenant_id, segment_id, profile_id, entered_at)
    SELECT $1, $4::uuid, id, $2::timestamptz FROM ({HAND_SET}) AS s"""  # noqa: S608
HAND_MATERIALISE = f"""
    WITH new AS MATERIALIZED ({HAND_SET}),
    entered AS (
        INSERT INTO bench_members (tenant_id, segment_id, profile_id, entered_at)
        SELECT $1, $4::uuid, n.id, $2::timestamptz FROM new n
        WHERE NOT EXISTS (SELECT 1 FROM bench_members m WHERE m.tenant_id = $1
                          AND m.segment_id = $4::uuid AND m.profile_id = n.id)
        RETURNING profile_id),
    exited AS (
        DELETE FROM bench_members m WHERE m.tenant_id = $1 AND m.segment_id = $4::uuid
          AND NOT EXISTS (SELECT 1 FROM new n WHERE n.id = m.profile_id)
        RETURNING profile_id),
    t AS (
        INSERT INTO bench_transitions (tenant_id, id, segment_id, profile_id, kind, occurred_at,
                                       evaluation_id)
        SELECT $1, gen_random_uuid(), $4::uuid, profile_id, 'entered', $2::timestamptz, $4::uuid
        FROM entered
        UNION ALL
        SELECT $1, gen_random_uuid(), $4::uuid, profile_id, 'exited', $2::timestamptz, $4::uuid
        FROM exited
        RETURNING 1)
    SELECT (SELECT count(*) FROM new), (SELECT count(*) FROM t)
"""  # noqa: S608


def dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def timed(action: Callable[[], Awaitable[T]]) -> tuple[T, float]:
    started = time.perf_counter()
    result = await action()
    return result, time.perf_counter() - started


async def alternate(
    a: Callable[[], Awaitable[T]],
    b: Callable[[], Awaitable[T]],
    *,
    before_a: Callable[[], Awaitable[None]] | None = None,
    before_b: Callable[[], Awaitable[None]] | None = None,
) -> tuple[tuple[T, float], tuple[T, float]]:
    """The median of REPEAT timed runs of each, alternated (the machine is shared: load that
    comes and goes hits both sides alike). ``before_*`` run untimed before each run."""
    runs: tuple[list[tuple[T, float]], list[tuple[T, float]]] = ([], [])
    for _ in range(REPEAT):
        for action, before, into in ((a, before_a, runs[0]), (b, before_b, runs[1])):
            if before is not None:
                await before()
            into.append(await timed(action))
    medians = [sorted(r, key=lambda run: run[1])[len(r) // 2] for r in runs]
    return medians[0], medians[1]


async def setup(settings: Settings, profiles: int) -> TenantId:
    load_tasks()
    engine = create_engine(settings.database_url)
    factory = make_session_factory(engine)
    async with open_session(factory) as session:
        user = User(email=f"bench-{uuid4().hex[:8]}@example.com", password_hash="x")  # noqa: S106
        session.add(user)
        await session.flush()
        agency = await tenancy_service.create_agency(session, AgencyCreate(name="Bench"), user.id)
        brand = await tenancy_service.create_brand(
            session, None, agency.id, BrandCreate(name="Bench", time_zone=ZONE)
        )
        await session.commit()
    tenant = TenantId(brand.id)
    async with open_session(factory, tenant) as session:
        await tenancy_service.provision_brand(session, tenant)
        for key, kind in (("tier", AttributeType.TEXT), ("joined_on", AttributeType.DATE)):
            await attributes.create_attribute(
                session, AttributeCreate(key=key, label=key, type=kind)
            )
        await session.commit()
    await engine.dispose()
    # As the owner: it ends with ANALYZE (bound by row-level security like the runtime role).
    connection = await asyncpg.connect(dsn(settings.migration_url))
    try:
        await connection.execute("SELECT set_config('levier.tenant_id', $1, false)", str(tenant))
        for statement in GENERATE:
            started = time.perf_counter()
            args: list[Any] = [str(tenant), profiles] if "$2" in statement else []
            if "$1" in statement and "$2" not in statement:
                args = [str(tenant)]
            if "bench_ids AS" in statement:
                args = [profiles]
            await connection.execute(statement, *args)
            print(
                f"  generated in {time.perf_counter() - started:6.1f} s: {statement.split()[0:3]}"
            )
        for table in ("profiles", "orders", "events", "consent_changes"):
            await connection.execute(f"ANALYZE {table}")
    finally:
        await connection.close()
    return tenant


async def run(settings: Settings, tenant: TenantId) -> dict[str, Any]:
    load_tasks()
    engine = create_engine(settings.database_url)
    factory = make_session_factory(engine)
    now = dt.datetime.now(dt.UTC)
    # The hand-written side creates its members-like tables: the schema owner does that, bound
    # by the forced row-level security as the runtime role is.
    hand = await asyncpg.connect(dsn(settings.migration_url))
    figures: dict[str, Any] = {}
    try:
        await hand.execute("SELECT set_config('levier.tenant_id', $1, false)", str(tenant))
        # The planner settings the service uses for a whole-brand statement (see
        # backend.segments.repository.whole_brand): the same for both sides.
        for name, value in WHOLE_BRAND_SETTINGS.items():
            await hand.execute(f"SET {name} = '{value}'")
        await hand.execute(MEMBERS_LIKE)
        await hand.execute(TRANSITIONS_LIKE)
        for statement in TRANSITION_INDEXES:
            await hand.execute(statement)

        async def service_count() -> int:
            async with open_session(factory, tenant) as session:
                return await service.count_matching(session, tenant, DEFINITION, now=now)

        async def hand_count() -> int:
            return int(await hand.fetchval(HAND_COUNT, tenant, now, ZONE))

        await service_count()  # warm-ups
        await hand_count()
        figures["count_service"], figures["count_hand"] = await alternate(service_count, hand_count)

        async with open_session(factory, tenant) as session:
            segment = await service.create_segment(
                session,
                tenant,
                SegmentCreate(key=f"bench_{uuid4().hex[:6]}", name="Bench", definition=DEFINITION),
            )
            await session.commit()
        segment_id = uuid4()

        async def evaluate() -> int:
            async with open_session(factory, tenant) as session:
                outcome = await membership.evaluate(session, tenant, segment.id, now=now)
                await session.commit()
            assert outcome is not None
            return outcome.entered

        async def clear_service() -> None:
            async with open_session(factory, tenant) as session:
                for table in ("segment_members", "segment_transitions", "segment_sizes"):
                    await session.execute(
                        text(f"DELETE FROM {table} WHERE segment_id = :s"),  # noqa: S608
                        {"s": segment.id},
                    )
                await session.commit()

        async def hand_insert() -> int:
            result = await hand.execute(HAND_INSERT, tenant, now, ZONE, uuid4())
            return int(result.split()[-1])

        async def hand_materialise() -> int:
            size, _ = await hand.fetchrow(HAND_MATERIALISE, tenant, now, ZONE, segment_id)
            return int(size)

        async def truncate() -> None:
            await hand.execute("TRUNCATE bench_members, bench_transitions")

        # Warm-ups (untimed), then timed runs; each first run starts from no members.
        await evaluate()
        await hand_materialise()
        figures["materialise_service"], figures["materialise_hand"] = await alternate(
            evaluate, hand_materialise, before_a=clear_service, before_b=truncate
        )
        figures["insert_hand"] = (await alternate(hand_insert, hand_insert, before_a=truncate))[0]
        await evaluate()
        await truncate()
        await hand_materialise()
        figures["materialise_service_again"], figures["materialise_hand_again"] = await alternate(
            evaluate, hand_materialise
        )
        await hand.execute("DROP TABLE bench_members, bench_transitions")
    finally:
        await hand.close()
        await engine.dispose()
    return figures


def report(figures: dict[str, Any], profiles: int) -> None:
    def row(label: str, key: str, base: str) -> None:
        value, seconds = figures[key]
        ratio = seconds / figures[base][1]
        print(f"| {label} | {value:,} | {seconds:.2f} | {ratio:.2f} |")

    print(f"\nprofiles: {profiles:,}  orders: {profiles * 10:,}  events: {profiles * 3:,}")
    print("| run | profiles found / entered | seconds | ratio to hand-written |")
    print("| --- | --- | --- | --- |")
    row("count, hand-written SQL (baseline)", "count_hand", "count_hand")
    row("count, service (compiled)", "count_service", "count_hand")
    row("INSERT of the set into a members-like table, hand-written (baseline)", "insert_hand",
        "insert_hand")  # fmt: skip
    row("materialisation, service, first run (all enter)", "materialise_service", "insert_hand")
    row("materialisation, hand-written (members + transitions), first run",
        "materialise_hand", "insert_hand")  # fmt: skip
    row("materialisation, service, first run vs hand-written same work", "materialise_service",
        "materialise_hand")  # fmt: skip
    row("materialisation, service, rerun (no change)", "materialise_service_again",
        "materialise_hand_again")  # fmt: skip
    row("materialisation, hand-written, rerun (no change)", "materialise_hand_again",
        "materialise_hand_again")  # fmt: skip
    counts = {figures["count_hand"][0], figures["count_service"][0], figures["insert_hand"][0]}
    if len(counts) != 1:
        print(f"MISMATCH: the two sides found {sorted(counts)} profiles", file=sys.stderr)
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--reuse", help="a brand id already generated in this database")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a few seconds at a tiny size: that it runs and prints its figures (CI)",
    )
    args = parser.parse_args()
    if args.smoke:
        args.profiles = 300
    url = os.environ.get("LEVIER_BENCH_DATABASE_URL")
    if not url:
        raise SystemExit("set LEVIER_BENCH_DATABASE_URL to a scratch PostgreSQL database")
    settings = Settings(
        database_url=url,
        migration_database_url=os.environ.get("LEVIER_BENCH_MIGRATION_DATABASE_URL"),
    )
    schema.upgrade(settings)
    tenant = (
        TenantId(UUID(args.reuse)) if args.reuse else asyncio.run(setup(settings, args.profiles))
    )
    print(f"brand {tenant}")
    report(asyncio.run(run(settings, tenant)), args.profiles)


if __name__ == "__main__":
    main()
