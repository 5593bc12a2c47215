"""Sustained event ingestion over HTTP against PostgreSQL, the API run as in production.

`levier serve --workers N` runs as a subprocess (PostgreSQL, Redis, rate limiting off so that the
limiter does not cap the load); wrk on the same machine (one thread, keep-alive connections, a
Lua script giving every request fresh event ids) sends, for a fixed time, single events from many
concurrent clients and batches of 100 from a few. A bare Litestar endpoint returning a constant,
served the same way (uvicorn, N processes) and loaded by the same generator with the same bodies,
is the ceiling. Prints events/s and p50/p99 request latency. Needs wrk (`apt-get install wrk`).

    DB=127.0.0.1:5432/levier_bench  # runtime role levier_test_app, schema owner levier_test
    LEVIER_BENCH_DATABASE_URL=postgresql+asyncpg://levier_test_app@$DB \
    LEVIER_BENCH_MIGRATION_DATABASE_URL=postgresql+asyncpg://levier_test@$DB \
    LEVIER_BENCH_REDIS_URL=redis://127.0.0.1:6379/0 python -m bench.events [--seconds 20] [--smoke]

``--smoke`` (CI) runs a second per load at a few clients on free ports, through a load generator
in Python when wrk is missing: that the benchmark runs, not what it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import httpx
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


async def wait_ready(url: str, seconds: float = 180) -> None:
    """Until ``url`` answers: a server starting on a loaded machine (CI) may take a minute."""
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient() as client:
        while time.perf_counter() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(url)).status_code < 500:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} never answered in {seconds:.0f} s")


@dataclass
class Run:
    label: str
    requests_per_second: float
    events_per_request: int
    p50_ms: float
    p99_ms: float
    failures: int

    def line(self) -> str:
        return (
            f"{self.label:<34} {self.requests_per_second * self.events_per_request:10.0f} "
            f"events/s {self.requests_per_second:8.0f} req/s  p50 {self.p50_ms:6.1f} ms  "
            f"p99 {self.p99_ms:6.1f} ms  failures {self.failures}"
        )


# wrk's Lua: every request a new body (fresh event ids), built from the thread's own counter.
WRK_SCRIPT = """
local counter = 0
local thread_id = 0
local threads = 0
function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end
local function event(n, i)
  return string.format(
    '{"eventId":"%s-%d-%d-%d","name":"page_viewed","email":"bench%d@example.com",'
    .. '"properties":{"url":"/products/%d","referrer":"newsletter"}}',
    RUN, thread_id, n, i, (thread_id * 7919 + n * 31 + i) % PROFILES, n % 500)
end
request = function()
  counter = counter + 1
  local body
  if PER_REQUEST == 1 then
    body = event(counter, 0)
  else
    local parts = {}
    for i = 1, PER_REQUEST do parts[i] = event(counter, i) end
    body = '{"events":[' .. table.concat(parts, ",") .. ']}'
  end
  return wrk.format("POST", nil, HEADERS, body)
end
"""


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    assert match, text
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def load(
    label: str,
    url: str,
    headers: dict[str, str],
    run: str,
    *,
    clients: int,
    per_request: int,
    seconds: float,
) -> Run:
    """``clients`` keep-alive connections posting new events for ``seconds``, driven by wrk
    (one thread: the other core is the server's)."""
    lua_headers = ", ".join(f'["{name}"] = "{value}"' for name, value in headers.items())
    script = (
        f'RUN = "{run}"\nPROFILES = {PROFILES}\nPER_REQUEST = {per_request}\n'
        f"HEADERS = {{{lua_headers}}}\n{WRK_SCRIPT}"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    try:
        command = [
            "wrk",
            "-t1",
            f"-c{clients}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "-s",
            file.name,
        ]
        printed = subprocess.run(  # noqa: S603  (wrk, our arguments)
            [*command, url], capture_output=True, text=True, check=True
        ).stdout
    finally:
        os.unlink(file.name)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", printed).group(1))  # type: ignore[union-attr]
    # The latency distribution's own lines (a stdev column may also end in "99%").
    p50 = re.search(r"^\s+50%\s+(\S+)$", printed, re.M).group(1)  # type: ignore[union-attr]
    p99 = re.search(r"^\s+99%\s+(\S+)$", printed, re.M).group(1)  # type: ignore[union-attr]
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", printed)
    errors = re.search(r"Socket errors: .*", printed)
    if errors:
        print(f"{label}: {errors.group(0)}", file=sys.stderr)
    return Run(
        label,
        rate,
        per_request,
        _milliseconds(p50),
        _milliseconds(p99),
        int(failed.group(1)) if failed else 0,
    )


def _event(run: str, thread: int, n: int, i: int) -> dict[str, Any]:
    """The body wrk's script builds, in Python."""
    return {
        "eventId": f"{run}-{thread}-{n}-{i}",
        "name": "page_viewed",
        "email": f"bench{(thread * 7919 + n * 31 + i) % PROFILES}@example.com",
        "properties": {"url": f"/products/{n % 500}", "referrer": "newsletter"},
    }


def load_in_python(
    label: str,
    url: str,
    headers: dict[str, str],
    run: str,
    *,
    clients: int,
    per_request: int,
    seconds: float,
) -> Run:
    """What :func:`load` measures, from an httpx client in this process: far below wrk's rate,
    so only for ``--smoke`` where wrk is missing."""

    async def send() -> Run:
        latencies: list[float] = []
        failures = 0
        deadline = time.perf_counter() + seconds

        async def client_loop(http: httpx.AsyncClient, thread: int) -> None:
            nonlocal failures
            n = 0
            while time.perf_counter() < deadline:
                n += 1
                events = [_event(run, thread, n, i) for i in range(1, per_request + 1)]
                body = _event(run, thread, n, 0) if per_request == 1 else {"events": events}
                started = time.perf_counter()
                response = await http.post(url, json=body)
                latencies.append((time.perf_counter() - started) * 1000)
                failures += response.status_code >= 400

        started = time.perf_counter()
        async with httpx.AsyncClient(headers=headers, timeout=60) as http:
            await asyncio.gather(*(client_loop(http, thread) for thread in range(clients)))
        elapsed = time.perf_counter() - started
        latencies.sort()
        assert latencies, f"{label}: no request sent"

        def at(quantile: float) -> float:
            return latencies[min(len(latencies) - 1, int(quantile * len(latencies)))]

        return Run(label, len(latencies) / elapsed, per_request, at(0.5), at(0.99), failures)

    return asyncio.run(send())


Loader = Callable[..., Run]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def analyze(database_url: str) -> None:
    """Fresh planner statistics, as autovacuum keeps them on a live database: on a table just
    created the planner guesses, and may scan the brand's rows for a unique-key lookup."""
    engine = create_engine(database_url)
    async with engine.connect() as connection:
        await connection.execute(text("ANALYZE"))
    await engine.dispose()


def measure(
    base: str,
    ceiling: str,
    brand: str,
    token: str,
    seconds: float,
    clients: int,
    batch: int,
    batchers: int,
    load: Loader = load,
) -> list[Run]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    run = uuid4().hex[:8]
    events_url = f"{base}/v1/brands/{brand}/events"
    return [
        load(f"ceiling, 1-event body x{clients}", ceiling, headers, run + "c",
             clients=clients, per_request=1, seconds=seconds),
        load(f"single events x{clients} clients", events_url, headers, run + "s",
             clients=clients, per_request=1, seconds=seconds),
        load(f"ceiling, {batch}-event body x{batchers}", ceiling, headers, run + "d",
             clients=batchers, per_request=batch, seconds=seconds),
        load(f"batches of {batch} x{batchers} clients", events_url + "/batch", headers, run + "b",
             clients=batchers, per_request=batch, seconds=seconds),
    ]  # fmt: skip


async def stored_events(database_url: str, brand: str) -> int:
    engine = create_engine(database_url)
    async with engine.connect() as connection:
        # Row-level security: the brand's rows are visible once the session names it.
        await connection.execute(
            text("SELECT set_config('levier.tenant_id', :b, false)"), {"b": brand}
        )
        count = await connection.scalar(text("SELECT count(*) FROM events"))
    await engine.dispose()
    return int(count or 0)


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
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="API processes")
    parser.add_argument(
        "--smoke", action="store_true", help="a few seconds at a tiny size: that it runs (CI)"
    )
    args = parser.parse_args()
    loader: Loader = load
    api_port, ceiling_port = API_PORT, CEILING_PORT
    if args.smoke:
        global PROFILES  # read by the setup and the load scripts
        PROFILES = 50
        args.seconds, args.clients, args.batch, args.batch_clients, args.workers = 1, 4, 10, 2, 1
        api_port, ceiling_port = free_port(), free_port()
    if shutil.which("wrk") is None:
        if not args.smoke:
            sys.exit("bench.events needs wrk (Debian: apt-get install wrk)")
        loader = load_in_python
        print("wrk is missing: the smoke run loads from Python")
    url = os.environ["LEVIER_BENCH_DATABASE_URL"]
    redis_url = os.environ["LEVIER_BENCH_REDIS_URL"]
    settings = Settings(
        database_url=url,
        migration_database_url=os.environ.get("LEVIER_BENCH_MIGRATION_DATABASE_URL"),
        redis_url=redis_url,
        log_level="WARNING",
    )
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
    api += ["--port", str(api_port), "--workers", str(args.workers)]
    # The ceiling is served the same way: uvicorn, as many processes.
    ceiling = [sys.executable, "-m", "uvicorn", "bench.events:ceiling_app", "--factory"]
    ceiling += ["--host", "127.0.0.1", "--port", str(ceiling_port), "--no-access-log"]
    ceiling += ["--workers", str(args.workers), "--log-level", "warning"]
    base = f"http://127.0.0.1:{api_port}"
    ceiling_url = f"http://127.0.0.1:{ceiling_port}/constant"
    before = asyncio.run(stored_events(url, brand))
    with server(api, env), server(ceiling, env):
        asyncio.run(wait_ready(f"{base}/health"))
        asyncio.run(wait_ready(ceiling_url))
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        events_url = f"{base}/v1/brands/{brand}/events"
        warm = loader("warm-up", events_url, headers, uuid4().hex[:8], clients=4, per_request=1,
                    seconds=2)  # fmt: skip
        assert warm.failures == 0, "the API refused the warm-up events"
        asyncio.run(analyze(settings.migration_url))  # the tables' owner
        runs = measure(
            base, ceiling_url, brand, token, args.seconds, args.clients, args.batch,
            args.batch_clients, loader,
        )  # fmt: skip
    stored = asyncio.run(stored_events(url, brand)) - before
    print(
        f"database=postgresql broker=redis seconds={args.seconds} profiles={PROFILES} "
        f"cpus={os.cpu_count()} api_processes={args.workers} load=wrk (1 thread)"
    )
    for result in runs:
        print(result.line())
    print(f"events stored during the run (warm-up included): {stored}")
    print("targets: batched >= 10000 events/s; single-event p99 < 50 ms at 50 clients")


if __name__ == "__main__":
    main()
