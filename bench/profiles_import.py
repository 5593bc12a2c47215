"""Benchmark: a profile import through the API and a worker vs a raw ``COPY`` of the same file.

Generates N profile rows as CSV (the ten standard fields and three brand attributes), uploads the
file to ``POST /v1/brands/{id}/imports/profiles`` (the ASGI app over httpx, streamed in 1 MiB
pieces), and times until a separate ``levier worker`` process reports the job succeeded. In the
same run, ``COPY`` loads the same file into a bare table of the same columns (the baseline).
Then the same file is imported again (every row an update). Prints rows/s, the ratios to COPY,
and the worker's peak resident memory (VmHWM). PostgreSQL and Redis only: a scratch database.

    DB=127.0.0.1:5432/levier_bench  # runtime role levier_test_app, schema owner levier_test
    LEVIER_BENCH_DATABASE_URL=postgresql+asyncpg://levier_test_app@$DB \
    LEVIER_BENCH_MIGRATION_DATABASE_URL=postgresql+asyncpg://levier_test@$DB \
    LEVIER_BENCH_REDIS_URL=redis://127.0.0.1:6379/0 \
    python -m bench.profiles_import [--rows N] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from uuid import uuid4

import asyncpg
import httpx

from backend.app import create_app
from backend.auth import service as auth_service
from backend.auth.models import User
from backend.config import Settings
from backend.core import schema
from backend.core.tenancy import TenantId, open_session
from backend.profiles import attributes
from backend.profiles.models import AttributeType
from backend.profiles.schemas import AttributeCreate
from backend.tenancy import service as tenancy_service
from backend.tenancy.schemas import AgencyCreate, BrandCreate
from workers.run import load_tasks

COLUMNS = (
    "email,phone,firstName,lastName,birthDate,locale,timeZone,country,preferredStore,"
    "channelAppetency,attributes.tier,attributes.points,attributes.member_since"
)
BARE_TABLE = """CREATE TABLE bare_profiles (
    email text, phone text, first_name text, last_name text, birth_date date, locale text,
    time_zone text, country text, preferred_store text, channel_appetency text, tier text,
    points integer, member_since date)"""
FIRST = ["Ada", "Bea", "Cyril", "Dora", "Emile", "Fanny", "Gaston", "Hind", "Ivo", "Jade"]
LAST = ["Martin", "Peeters", "Janssens", "Dubois", "Lambert", "Maes", "Claes", "Wouters"]
TIERS = ["gold", "silver", "bronze"]
CHANNELS = ["email", "sms", "push"]


def generate(path: Path, rows: int) -> None:
    rng = random.Random(7)
    with path.open("w") as out:
        out.write(COLUMNS + "\n")
        for i in range(rows):
            birth = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(20000))
            since = dt.date(2010, 1, 1) + dt.timedelta(days=rng.randrange(5000))
            out.write(
                f"person{i}@example.com,+32470{i:06d},{rng.choice(FIRST)},{rng.choice(LAST)},"
                f"{birth.isoformat()},fr-BE,Europe/Brussels,BE,store-{i % 250},"
                f"{rng.choice(CHANNELS)},{rng.choice(TIERS)},{rng.randrange(5000)},"
                f"{since.isoformat()}\n"
            )


async def setup_brand(settings: Settings) -> tuple[str, str]:
    """A brand with its three attributes, and an owner's bearer token."""
    from backend.core.db import create_engine
    from backend.core.tenancy import make_session_factory

    engine = create_engine(settings.database_url)
    factory = make_session_factory(engine)
    async with open_session(factory) as session:
        user = User(email=f"bench-{uuid4().hex[:8]}@example.com", password_hash="x")  # noqa: S106  (never signs in)
        session.add(user)
        await session.flush()
        agency = await tenancy_service.create_agency(session, AgencyCreate(name="Bench"), user.id)
        brand = await tenancy_service.create_brand(
            session, None, agency.id, BrandCreate(name="Bench", time_zone="Europe/Brussels")
        )
        token, _ = await auth_service.issue_access_token(
            session, user.id, ttl=dt.timedelta(hours=4)
        )
        await session.commit()
    tenant = TenantId(brand.id)
    async with open_session(factory, tenant) as session:
        await tenancy_service.provision_brand(session, tenant)
        for key, kind, options in (
            ("tier", AttributeType.ENUM, TIERS),
            ("points", AttributeType.NUMBER, None),
            ("member_since", AttributeType.DATE, None),
        ):
            await attributes.create_attribute(
                session, AttributeCreate(key=key, label=key, type=kind, options=options)
            )
        await session.commit()
    await engine.dispose()
    return str(brand.id), token


async def copy_baseline(url: str, path: Path) -> float:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute("DROP TABLE IF EXISTS bare_profiles")
        await connection.execute(BARE_TABLE)
        started = time.perf_counter()
        await connection.copy_to_table("bare_profiles", source=str(path), format="csv", header=True)
        elapsed = time.perf_counter() - started
        await connection.execute("DROP TABLE bare_profiles")
    finally:
        await connection.close()
    return elapsed


STAGE_TABLE = """CREATE TEMPORARY TABLE stage_profiles (
    line bigserial, email text, phone text, first_name text, last_name text, birth_date text,
    locale text, time_zone text, country text, preferred_store text, channel_appetency text,
    tier text, points text, member_since text) ON COMMIT DROP"""
FLOOR_PROFILES = """INSERT INTO profiles (tenant_id, id, email, phone, first_name, last_name,
    birth_date, locale, time_zone, country, preferred_store, channel_appetency, attributes,
    bounced, suppressed)
    SELECT $1::uuid, (lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12,
           '0') || '70008' || lpad(to_hex(line), 15, '0'))::uuid,
        lower(email), phone, first_name, last_name, birth_date::date, locale, time_zone, country,
        preferred_store, channel_appetency,
        jsonb_build_object('tier', tier, 'points', points::int, 'member_since', member_since),
        '[]'::jsonb, '[]'::jsonb
    FROM stage_profiles"""
FLOOR_KEYS = """INSERT INTO profile_identities (tenant_id, kind, value, profile_id)
    SELECT tenant_id, 'email', email, id FROM profiles WHERE tenant_id = $1::uuid
    UNION ALL SELECT tenant_id, 'phone', phone, id FROM profiles WHERE tenant_id = $1::uuid"""


async def write_floor(url: str, brand: str, path: Path) -> float:
    """The least any import must do with these rows: COPY them to a staging table, then one
    INSERT … SELECT into the profiles and one into their identity keys (no validation, no key
    lookup, no merge), in the brand's RLS-scoped transaction. Rolled back afterwards."""
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute(f"SET LOCAL levier.tenant_id = '{brand}'")
        started = time.perf_counter()
        await connection.execute(STAGE_TABLE)
        await connection.copy_to_table(
            "stage_profiles",
            source=str(path),
            format="csv",
            header=True,
            columns=[
                "email", "phone", "first_name", "last_name", "birth_date", "locale",
                "time_zone", "country", "preferred_store", "channel_appetency", "tier",
                "points", "member_since",
            ],
        )  # fmt: skip
        await connection.execute(FLOOR_PROFILES, brand)
        await connection.execute(FLOOR_KEYS, brand)
        elapsed = time.perf_counter() - started
        await transaction.rollback()
    finally:
        await connection.close()
    return elapsed


async def file_pieces(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as source:
        while piece := source.read(1 << 20):
            yield piece


async def import_through_api(settings: Settings, brand: str, token: str, path: Path) -> float:
    app = create_app(settings)
    headers = {"Authorization": f"Bearer {token}"}
    started_at = time.perf_counter()
    async with app.lifespan():  # the outbox relay hands the job to Redis
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", timeout=3600
        ) as http:
            response = await http.post(
                f"/v1/brands/{brand}/imports/profiles",
                content=file_pieces(path),
                headers={**headers, "content-type": "text/csv"},
            )
            assert response.status_code == 202, response.text
            location = response.headers["location"]
            uploaded = time.perf_counter() - started_at
            while True:
                await asyncio.sleep(0.5)
                body = (await http.get(location, headers=headers)).json()
                if body["status"] in ("succeeded", "failed"):
                    break
    elapsed = time.perf_counter() - started_at
    assert body["status"] == "succeeded", body
    print(
        f"  upload {uploaded:.1f}s, job {elapsed - uploaded:.1f}s: created {body['created']}, "
        f"updated {body['updated']}, rejected {body['rejected']}",
        flush=True,
    )
    return elapsed


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def worker_process(settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "LEVIER_DATABASE_URL": settings.database_url,
        "LEVIER_REDIS_URL": settings.redis_url or "",
        "LEVIER_REDIS_NAMESPACE": settings.redis_namespace,
        "LEVIER_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "worker", "--threads", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a few seconds at a tiny size: that it runs and prints its figures (CI)",
    )
    args = parser.parse_args()
    if args.smoke:
        args.rows = 300
    url = os.environ["LEVIER_BENCH_DATABASE_URL"]
    settings = Settings(
        database_url=url,
        migration_database_url=os.environ.get("LEVIER_BENCH_MIGRATION_DATABASE_URL"),
        redis_url=os.environ["LEVIER_BENCH_REDIS_URL"],
        redis_namespace=f"levier-bench-{uuid4().hex[:8]}",
        embedded_worker=False,
        log_level="WARNING",
        relay_interval_seconds=0.2,
    )
    schema.upgrade(settings)
    load_tasks()
    folder = Path(tempfile.mkdtemp(prefix="levier-bench-"))
    path = folder / "profiles.csv"
    generate(path, args.rows)
    size_mib = path.stat().st_size / (1 << 20)
    print(f"rows={args.rows} columns=13 file={size_mib:.0f} MiB database=postgresql broker=redis")
    brand, token = asyncio.run(setup_brand(settings))
    copy_seconds = asyncio.run(copy_baseline(settings.migration_url, path))  # creates a table
    floor_seconds = asyncio.run(write_floor(url, brand, path))
    with worker_process(settings) as worker:
        first = asyncio.run(import_through_api(settings, brand, token, path))
        again = asyncio.run(import_through_api(settings, brand, token, path))
        peak = peak_rss_mib(worker.pid)
    path.unlink()
    rate = args.rows
    print(f"raw COPY               {rate / copy_seconds:10.0f} rows/s  ({copy_seconds:.1f}s)")
    print(f"floor (SQL writes only){rate / floor_seconds:10.0f} rows/s  ({floor_seconds:.1f}s)")
    print(f"import (all new)       {rate / first:10.0f} rows/s  ({first:.1f}s)")
    print(f"re-import (all update) {rate / again:10.0f} rows/s  ({again:.1f}s)")
    print(f"ratio floor/COPY       {floor_seconds / copy_seconds:10.2f}  (no import can beat it)")
    print(f"ratio import/COPY      {first / copy_seconds:10.2f}  (target <= 4)")
    print(f"ratio re-import/COPY   {again / copy_seconds:10.2f}  (target <= 6)")
    print(f"ratio import/floor     {first / floor_seconds:10.2f}")
    print(f"ratio re-import/floor  {again / floor_seconds:10.2f}")
    print(f"worker peak RSS        {peak:10.0f} MiB (target < 500)")


if __name__ == "__main__":
    main()
