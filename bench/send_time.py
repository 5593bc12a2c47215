"""Benchmark: send-time optimisation (``campaigns.send_time.optimal_send_times``) for N profiles
with engagement history, vs the bare read of the same history (the baseline, same run).

Generates N profiles of one brand in SQL (a third in Paris, a third in New York, a third
without a zone: the brand's Brussels), each with a planted habit (a local hour) and E opens and
clicks over the last 180 days (``email_opened`` / ``email_clicked``, as tracking records them),
90 % at the habit's hour and 10 % anywhere. Then, for the N ids at once:

1. the baseline: one asyncpg query fetching every (profile, time) of that history — the least
   any Python-side computation of the hours must read;
2. the service (cold, then warm): brand, policy, the brand's sample, then zones and hourly
   activity per chunk of 10,000, the hours chosen and placed in a 7-day window.

Prints seconds, profiles/s, the ratio to the baseline, and how many profiles got their planted
hour. PostgreSQL only: a scratch database owned by the non-superuser test role (RLS binds).

    DB=127.0.0.1:5432/levier_bench_send_time  # runtime role levier_test_app, owner levier_test
    LEVIER_BENCH_DATABASE_URL=postgresql+asyncpg://levier_test_app@$DB \\
    LEVIER_BENCH_MIGRATION_DATABASE_URL=postgresql+asyncpg://levier_test@$DB \\
    python -m bench.send_time [--profiles N] [--events E] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import time
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import asyncpg

from backend.campaigns.send_time import SendWindow, optimal_send_times
from backend.config import Settings
from backend.core import schema
from backend.core.db import create_engine
from backend.core.tenancy import TenantId, make_session_factory, open_session
from backend.messaging.service import ENGAGEMENT_EVENT_NAMES
from backend.tenancy import service as tenancy_service
from backend.tenancy.schemas import AgencyCreate, BrandCreate
from workers.run import load_tasks

NOW = dt.datetime(2026, 9, 1, 6, 0, tzinfo=dt.UTC)
WINDOW = SendWindow(NOW, NOW + dt.timedelta(days=7))
ZONES = ("Europe/Paris", "America/New_York", None)
BRAND_ZONE = "Europe/Brussels"

# Profile n: zone ZONES[n % 3], habit hour 8 + n % 13 (08:00 to 20:00 local: outside the
# brand's default quiet hours, 21:00 to 08:00).
PROFILES_SQL = """INSERT INTO profiles (tenant_id, id, time_zone, attributes, bounced, suppressed,
    created_at, updated_at)
    SELECT $1::uuid, gen_random_uuid(),
        (ARRAY['Europe/Paris', 'America/New_York', NULL])[1 + n % 3],
        '{}'::jsonb, '[]'::jsonb, '[]'::jsonb, now(), now()
    FROM generate_series(0, $2::int - 1) n"""
NUMBERED_SQL = """CREATE TEMP TABLE numbered AS
    SELECT row_number() OVER (ORDER BY id) - 1 AS n, id,
        coalesce(time_zone, 'Europe/Brussels') AS zone
    FROM profiles WHERE tenant_id = $1"""
# Each event: a day in the last 180, at the habit's local hour (90 %) or any hour, a random
# minute; built as local wall time, then placed in the profile's zone.
EVENTS_SQL = """INSERT INTO events (tenant_id, id, event_id, name, profile_id, occurred_at, source,
    properties, created_at, updated_at)
    SELECT $1::uuid, gen_random_uuid(), 'bench:' || p.n || ':' || e.k,
        CASE WHEN e.k % 3 = 0 THEN 'email_clicked' ELSE 'email_opened' END, p.id,
        ((date_trunc('day', $2::timestamptz AT TIME ZONE p.zone)
            - make_interval(days => 1 + floor(random() * 179)::int)
            + make_interval(hours => CASE WHEN random() < 0.9 THEN (8 + p.n % 13)::int
                                          ELSE floor(random() * 24)::int END,
                            mins => floor(random() * 60)::int)) AT TIME ZONE p.zone),
        'messaging', '{}'::jsonb, now(), now()
    FROM numbered p CROSS JOIN generate_series(1, $3::int) e(k)"""
BASELINE_SQL = """SELECT profile_id, occurred_at FROM events
    WHERE tenant_id = $1 AND profile_id = ANY($2::uuid[]) AND name = ANY($3::text[])
      AND occurred_at >= $4 AND occurred_at <= $5"""


def dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def setup_brand(settings: Settings) -> UUID:
    engine = create_engine(settings.database_url)
    factory = make_session_factory(engine)
    async with open_session(factory) as session:
        agency = await tenancy_service.create_agency(
            session, AgencyCreate(name=f"Bench {uuid4().hex[:6]}"), None
        )
        brand = await tenancy_service.create_brand(
            session, None, agency.id, BrandCreate(name="Bench send time", time_zone=BRAND_ZONE)
        )
        await session.commit()
    async with open_session(factory, TenantId(brand.id)) as session:
        await tenancy_service.provision_brand(session, TenantId(brand.id))
        await session.commit()
    await engine.dispose()
    return brand.id


async def generate(url: str, tenant: UUID, profiles: int, events: int) -> list[tuple[UUID, int]]:
    """The profiles, their history, and each profile's (id, planted hour)."""
    connection = await asyncpg.connect(dsn(url))
    try:
        await connection.execute(f"SET levier.tenant_id = '{tenant}'")
        started = time.perf_counter()
        await connection.execute(PROFILES_SQL, tenant, profiles)
        await connection.execute(NUMBERED_SQL, tenant)
        await connection.execute(EVENTS_SQL, tenant, NOW, events)
        await connection.execute("VACUUM ANALYZE profiles")
        await connection.execute("VACUUM ANALYZE events")
        planted = [(row["id"], 8 + row["n"] % 13) for row in await connection.fetch(
            "SELECT id, n FROM numbered ORDER BY n"
        )]  # fmt: skip
        print(
            f"generated {profiles:,} profiles and {profiles * events:,} events "
            f"in {time.perf_counter() - started:.0f}s",
            flush=True,
        )
        return planted
    finally:
        await connection.close()


async def baseline(url: str, tenant: UUID, ids: list[UUID]) -> tuple[float, int]:
    connection = await asyncpg.connect(dsn(url))
    try:
        await connection.execute(f"SET levier.tenant_id = '{tenant}'")
        since = NOW - dt.timedelta(days=180)
        started = time.perf_counter()
        rows = await connection.fetch(
            BASELINE_SQL, tenant, ids, list(ENGAGEMENT_EVENT_NAMES), since, NOW
        )
        return time.perf_counter() - started, len(rows)
    finally:
        await connection.close()


async def measure(settings: Settings, tenant: TenantId, ids: list[UUID]) -> tuple[float, dict]:
    engine = create_engine(settings.database_url)
    factory = make_session_factory(engine, secret_key=settings.secret_key)
    try:
        async with open_session(factory, tenant) as session:
            await session.connection()  # a connection of the pool, as a request has one
            started = time.perf_counter()
            chosen = await optimal_send_times(session, tenant, ids, WINDOW, now=NOW)
            elapsed = time.perf_counter() - started
            await session.commit()
        return elapsed, chosen
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=20, help="opens and clicks per profile")
    parser.add_argument("--smoke", action="store_true", help="a tiny size, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.profiles, args.events = 300, 5
    url = os.environ["LEVIER_BENCH_DATABASE_URL"]
    settings = Settings(
        database_url=url,
        migration_database_url=os.environ.get("LEVIER_BENCH_MIGRATION_DATABASE_URL"),
        log_level="WARNING",
    )
    owner = settings.migration_url
    schema.upgrade(settings)
    load_tasks()
    brand = asyncio.run(setup_brand(settings))
    planted = asyncio.run(generate(owner, brand, args.profiles, args.events))
    ids = [profile_id for profile_id, _ in planted]
    tenant = TenantId(brand)
    print(f"brand={brand} profiles={args.profiles:,} events/profile={args.events} postgresql")
    asyncio.run(baseline(url, brand, ids))  # warm-up: the history in the cache, untimed
    bare, rows = asyncio.run(baseline(url, brand, ids))
    cold, _ = asyncio.run(measure(settings, tenant, ids))
    warm, chosen = asyncio.run(measure(settings, tenant, ids))
    zones = dict(asyncio.run(_zones(url, brand)))
    found = sum(
        1
        for profile_id, hour in planted
        if chosen[profile_id].astimezone(ZoneInfo(zones[profile_id])).hour == hour
    )
    inside = all(WINDOW.start <= moment <= WINDOW.end for moment in chosen.values())
    print(f"bare read of the history ({rows:,} rows) {bare:8.3f}s")
    print(f"optimal_send_times, first call          {cold:8.3f}s")
    print(
        f"optimal_send_times                      {warm:8.3f}s  ({len(ids) / warm:,.0f} profiles/s)"
    )
    print(f"ratio send-time/bare read               {warm / bare:8.2f}")
    print(f"planted hour found: {found / len(ids):.1%}; every moment in the window: {inside}")


async def _zones(url: str, tenant: UUID) -> list[tuple[UUID, str]]:
    connection = await asyncpg.connect(dsn(url))
    try:
        await connection.execute(f"SET levier.tenant_id = '{tenant}'")
        rows = await connection.fetch(
            "SELECT id, coalesce(time_zone, $2) AS zone FROM profiles WHERE tenant_id = $1",
            tenant,
            BRAND_ZONE,
        )
        return [(row["id"], row["zone"]) for row in rows]
    finally:
        await connection.close()


if __name__ == "__main__":
    main()
