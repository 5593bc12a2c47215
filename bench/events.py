"""Sustained event ingestion over HTTP against PostgreSQL, the API run as in production.

`levier serve` runs as a subprocess (PostgreSQL, Redis, rate limiting off so that the limiter does
not cap the load); an asyncio httpx load generator on the same machine sends, for a fixed time,
single events from many concurrent clients and batches of 100 from a few. A bare Litestar
endpoint returning a constant, served the same way (uvicorn, one process) and loaded by the same
generator with the same bodies, is the ceiling. Prints events/s and p50/p99 request latency.

    LEVIER_BENCH_DATABASE_URL=postgresql+asyncpg://levier_test@127.0.0.1:5432/levier_bench \
    LEVIER_BENCH_REDIS_URL=redis://127.0.0.1:6379/0 python -m bench.events [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import httpx
import msgspec
from sqlalchemy import text

from backend.auth import service as auth_service
from backend.auth.models import User
from backend.config import Settings
from backend.core import schema
from backend.core.db import create_engine
from backend.core.tenancy import TenantId, make_session_factory, open_session
from backend.profiles import service as profiles_service
from backend.profiles.schemas import ProfileCreate
from backend.tenancy import service as tenancy_service
from backend.tenancy.schemas import AgencyCreate, BrandCreate
from workers.run import load_tasks

PROFILES = 1000
API_PORT = 18431
CEILING_PORT = 18432


async def setup_brand(settings: Settings) -> tuple[str, str]:
    """A provisioned brand with ``PROFILES`` profiles, and an owner's bearer token."""
    engine = create_engine(settings.database_url)
    factory = make_session_factory(engine, secret_key=settings.secret_key)
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
        for i in range(PROFILES):
            await profiles_service.create_profile(
                session, tenant, ProfileCreate(email=f"bench{i}@example.com")
            )
        await session.commit()
    await engine.dispose()
    return str(brand.id), token


@contextlib.contextmanager
def server(command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.DEVNULL)  # noqa: S603  (our own commands)
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


async def wait_ready(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(url)).status_code < 500:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} never answered")


@dataclass
class Run:
    label: str
    requests: int
    events: int
    seconds: float
    latencies: list[float]
    failures: int

    def line(self) -> str:
        ordered = sorted(self.latencies)
        p50 = statistics.median(ordered) * 1000 if ordered else float("nan")
        p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000 if ordered else float("nan")
        return (
            f"{self.label:<34} {self.events / self.seconds:10.0f} events/s "
            f"{self.requests / self.seconds:8.0f} req/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms"
            f"  failures {self.failures}"
        )


async def load(
    label: str,
    url: str,
    headers: dict[str, str],
    body_of: Any,
    *,
    clients: int,
    per_request: int,
    seconds: float,
    expect: int,
) -> Run:
    """``clients`` closed-loop clients posting ``body_of(client, n)`` for ``seconds``."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    failures = 0
    requests = 0
    deadline = time.perf_counter() + seconds

    async def client(number: int) -> None:
        nonlocal failures, requests
        # One connection per client: a shared httpx pool serialises many concurrent clients.
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(limits=limits, timeout=60) as http:
            n = 0
            while time.perf_counter() < deadline:
                content = body_of(number, n)
                n += 1
                start = time.perf_counter()
                response = await http.post(url, content=content, headers=headers)
                latencies.append(time.perf_counter() - start)
                requests += 1
                if response.status_code != expect:
                    failures += 1
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    elapsed = time.perf_counter() - started
    if statuses:
        print(f"{label}: unexpected statuses {statuses}", file=sys.stderr)
    return Run(label, requests, requests * per_request, elapsed, latencies, failures)


def event_body(run: str, client: int, n: int, index: int = 0) -> dict[str, Any]:
    return {
        "eventId": f"{run}-{client}-{n}-{index}",
        "name": "page_viewed",
        "email": f"bench{(client * 7919 + n * 31 + index) % PROFILES}@example.com",
        "properties": {"url": f"/products/{n % 500}", "referrer": "newsletter"},
    }


async def analyze(database_url: str) -> None:
    """Fresh planner statistics, as autovacuum keeps them on a live database: on a table just
    created the planner guesses, and may scan the brand's rows for a unique-key lookup."""
    engine = create_engine(database_url)
    async with engine.connect() as connection:
        await connection.execute(text("ANALYZE"))
    await engine.dispose()


async def measure(
    base: str,
    database_url: str,
    brand: str,
    token: str,
    seconds: float,
    clients: int,
    batch: int,
    batchers: int,
) -> list[Run]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    run = uuid4().hex[:8]
    encode = msgspec.json.encode

    def single(client: int, n: int) -> bytes:
        return encode(event_body(run, client, n))

    def batched(client: int, n: int) -> bytes:
        events = [event_body(run + "b", client, n, i) for i in range(batch)]
        return encode({"events": events})

    ceiling = f"http://127.0.0.1:{CEILING_PORT}/constant"
    events_url = f"{base}/v1/brands/{brand}/events"
    warm = await load(
        "warm-up",
        events_url,
        headers,
        lambda client, n: encode(event_body(run + "w", client, n)),
        clients=4,
        per_request=1,
        seconds=2,
        expect=202,
    )
    assert warm.failures == 0, "the API refused the warm-up events"
    await analyze(database_url)
    return [
        await load(
            f"ceiling, 1-event body x{clients}",
            ceiling,
            headers,
            single,
            clients=clients,
            per_request=1,
            seconds=seconds,
            expect=200,
        ),
        await load(
            f"single events x{clients} clients",
            events_url,
            headers,
            single,
            clients=clients,
            per_request=1,
            seconds=seconds,
            expect=202,
        ),
        await load(
            f"ceiling, {batch}-event body x{batchers}",
            ceiling,
            headers,
            batched,
            clients=batchers,
            per_request=batch,
            seconds=seconds,
            expect=200,
        ),
        await load(
            f"batches of {batch} x{batchers} clients",
            events_url + "/batch",
            headers,
            batched,
            clients=batchers,
            per_request=batch,
            seconds=seconds,
            expect=200,
        ),
    ]


def ceiling_app() -> Any:
    """A bare Litestar app answering a constant: the most the server stack can do."""
    from litestar import Litestar, post

    @post("/constant", status_code=200)
    async def constant() -> dict[str, str]:
        return {"outcome": "accepted"}

    return Litestar([constant], debug=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--batch-clients", type=int, default=4)
    parser.add_argument("--serve-ceiling", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_ceiling:
        import uvicorn

        uvicorn.run(
            ceiling_app(), host="127.0.0.1", port=CEILING_PORT, log_config=None, access_log=False
        )
        return
    url = os.environ["LEVIER_BENCH_DATABASE_URL"]
    redis_url = os.environ["LEVIER_BENCH_REDIS_URL"]
    settings = Settings(database_url=url, redis_url=redis_url, log_level="WARNING")
    schema.upgrade(settings)
    load_tasks()
    brand, token = asyncio.run(setup_brand(settings))
    env = {
        "LEVIER_DATABASE_URL": url,
        "LEVIER_REDIS_URL": redis_url,
        "LEVIER_REDIS_NAMESPACE": f"levier-bench-{uuid4().hex[:8]}",
        "LEVIER_LOG_LEVEL": "WARNING",
        "LEVIER_RATE_LIMIT_ENABLED": "false",
    }
    api = [sys.executable, "-m", "backend.cli", "serve", "--host", "127.0.0.1"]
    api += ["--port", str(API_PORT)]
    ceiling = [sys.executable, "-m", "bench.events", "--serve-ceiling"]
    base = f"http://127.0.0.1:{API_PORT}"
    with server(api, env), server(ceiling, env):
        asyncio.run(wait_ready(f"{base}/health"))
        asyncio.run(wait_ready(f"http://127.0.0.1:{CEILING_PORT}/constant"))
        runs = asyncio.run(
            measure(
                base,
                url,
                brand,
                token,
                args.seconds,
                args.clients,
                args.batch,
                args.batch_clients,
            )
        )
    print(
        f"database=postgresql broker=redis seconds={args.seconds} profiles={PROFILES} "
        f"cpus={os.cpu_count()}"
    )
    for result in runs:
        print(result.line())
    print("targets: batched >= 10000 events/s; single-event p99 < 50 ms at 50 clients")


if __name__ == "__main__":
    main()
