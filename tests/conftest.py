"""Test stacks: every app-level test runs on the embedded stack (SQLite + in-process broker) and,
when ``LEVIER_TEST_DATABASE_URL`` / ``LEVIER_TEST_REDIS_URL`` are set, on PostgreSQL + Redis.

Each test starts from an empty database built by the migrations: a copy of a migrated SQLite file,
or the PostgreSQL test database truncated. PostgreSQL is reached as a non-superuser without
BYPASSRLS, so row-level security binds as in production.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest
import redis
from litestar import Litestar
from sqlalchemy import make_url

from backend.app import create_app
from backend.config import Environment, Settings
from backend.core import schema
from backend.models import Base
from tests.factories import serving

PG_URL = os.environ.get("LEVIER_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("LEVIER_TEST_REDIS_URL")
STACKS = ("embedded", "postgres")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "worker: start the in-process worker with the app")
    if os.environ.get("CI", "").lower() == "true" and not (PG_URL and REDIS_URL):
        raise pytest.UsageError(
            "CI runs the suite on PostgreSQL and Redis: set LEVIER_TEST_DATABASE_URL and "
            "LEVIER_TEST_REDIS_URL"
        )


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _check_role(url: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        row = await connection.fetchrow(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
    finally:
        await connection.close()
    assert row is not None
    if row["rolsuper"] or row["rolbypassrls"]:
        pytest.exit(
            "LEVIER_TEST_DATABASE_URL must use a role without SUPERUSER and BYPASSRLS, "
            "or row-level security is not tested",
            returncode=3,
        )


async def _create_database(url: str, name: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def _drop_database(url: str, name: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    # Session fixtures may be set up from inside a test's running loop: use a thread of our own.
    with ThreadPoolExecutor(max_workers=1) as executor:
        executor.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this test process, made by the test role (which owns it) and migrated."""
    if not PG_URL:
        pytest.skip("LEVIER_TEST_DATABASE_URL is not set: PostgreSQL stack not tested here")
    # Unreachable or misconfigured PostgreSQL fails loudly here (an error, never a skip).
    _run(_check_role(PG_URL))
    base = make_url(PG_URL)
    name = f"{base.database}_{os.getpid()}"
    _run(_create_database(PG_URL, name))
    url = base.set(database=name).render_as_string(hide_password=False)
    schema.upgrade(Settings(database_url=url))
    yield url
    _run(_drop_database(PG_URL, name))


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not REDIS_URL:
        pytest.skip("LEVIER_TEST_REDIS_URL is not set: Redis stack not tested here")
    redis.Redis.from_url(REDIS_URL).ping()
    return REDIS_URL


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "levier.db"
    schema.upgrade(Settings(database_url=f"sqlite+aiosqlite:///{path}"))
    return path


async def truncate_all(url: str) -> None:
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(f"TRUNCATE {tables} CASCADE")
    finally:
        await connection.close()


def test_settings(**overrides: object) -> Settings:
    base = Settings(
        env=Environment.TEST,
        embedded_worker=False,
        relay_interval_seconds=0.05,
        scheduler_interval_seconds=3600,
        worker_poll_ms=50,
        gc_freeze=False,
    )
    return base.replace(**overrides)


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def settings(
    stack: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Settings]:
    if stack == "embedded":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "levier.db"
        shutil.copy(template, path)
        yield test_settings(database_url=f"sqlite+aiosqlite:///{path}")
        return
    pg: str = request.getfixturevalue("postgres_url")
    rd: str = request.getfixturevalue("redis_url")
    await truncate_all(pg)
    namespace = f"levier-test-{uuid4().hex[:12]}"
    yield test_settings(database_url=pg, redis_url=rd, redis_namespace=namespace)
    client = redis.Redis.from_url(rd)
    keys = list(client.scan_iter(match=f"{namespace}*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
async def app(settings: Settings, request: pytest.FixtureRequest) -> AsyncIterator[Litestar]:
    if request.node.get_closest_marker("worker"):
        settings = settings.replace(embedded_worker=True)
    application = create_app(settings)
    yield application
    # Tests that never start the lifespan still opened connections on this loop.
    await application.state.engine.dispose()


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(app) as http:
        yield http
