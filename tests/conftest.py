"""Test stacks: every app-level test runs on the embedded stack (SQLite + in-process broker) and,
when ``LEVIER_TEST_DATABASE_URL`` / ``LEVIER_TEST_REDIS_URL`` are set, on PostgreSQL + Redis.

Each test starts from an empty database built by the migrations: a copy of a migrated SQLite file,
or the PostgreSQL test database emptied. On PostgreSQL, two roles, as in production:

- ``LEVIER_TEST_DATABASE_URL``'s role (CREATEDB) creates one database per test process, owns it,
  runs the migrations and empties the tables between tests;
- the app connects as the runtime role, ``LEVIER_TEST_APP_DATABASE_URL``'s (by default the same
  URL with role ``<owner>_app``): NOSUPERUSER NOBYPASSRLS, owning nothing, so row-level security
  binds as in production. A missing or unsafe runtime role is an error, never a skip.

``LEVIER_TEST_ADMIN_DATABASE_URL`` (a superuser, optional outside CI) lets the role tests create
superuser and BYPASSRLS roles to see them refused.
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

from backend.app import build_state, create_app
from backend.config import Environment, Settings
from backend.core import schema
from backend.core.database_roles import ensure_safe_runtime_role
from backend.core.logging import configure_logging
from backend.core.signals import Signals, signals
from backend.models import Base
from backend.wiring import connect_domains
from tests.factories import serving

PG_URL = os.environ.get("LEVIER_TEST_DATABASE_URL")
PG_APP_URL = os.environ.get("LEVIER_TEST_APP_DATABASE_URL")
PG_ADMIN_URL = os.environ.get("LEVIER_TEST_ADMIN_DATABASE_URL")
REDIS_URL = os.environ.get("LEVIER_TEST_REDIS_URL")
STACKS = ("embedded", "postgres")


@pytest.fixture(scope="session", autouse=True)
def wired_signals() -> Signals:
    """The process's signal registry with every domain connected, as the app and the worker
    wire it: tests calling services directly send to the same receivers."""
    return connect_domains(signals)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "worker: start the in-process worker with the app")
    config.addinivalue_line("markers", "own_app: the test changes its app's routes")
    if os.environ.get("CI", "").lower() == "true" and not (PG_URL and REDIS_URL and PG_ADMIN_URL):
        raise pytest.UsageError(
            "CI runs the suite on PostgreSQL and Redis: set LEVIER_TEST_DATABASE_URL, "
            "LEVIER_TEST_ADMIN_DATABASE_URL and LEVIER_TEST_REDIS_URL (see .ci/run)"
        )


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def app_role_url(owner_url: str) -> str:
    """The runtime role's URL template: LEVIER_TEST_APP_DATABASE_URL, or the owner's URL with
    role ``<owner>_app`` (and no password)."""
    if PG_APP_URL:
        return PG_APP_URL
    base = make_url(owner_url)
    return base.set(username=f"{base.username}_app", password=None).render_as_string(
        hide_password=False
    )


def on_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


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
def postgres_databases() -> Iterator[tuple[str, str]]:
    """A database of this test process as (runtime URL, owner URL): made by the owner role,
    migrated by it, with the runtime role granted its privileges and checked safe."""
    if not PG_URL:
        pytest.skip("LEVIER_TEST_DATABASE_URL is not set: PostgreSQL stack not tested here")
    # Unreachable or misconfigured PostgreSQL fails loudly here (an error, never a skip).
    base = make_url(PG_URL)
    name = f"{base.database}_{os.getpid()}"
    _run(_create_database(PG_URL, name))
    owner = on_database(PG_URL, name)
    runtime = on_database(app_role_url(PG_URL), name)
    settings = Settings(database_url=runtime, migration_database_url=owner)
    try:
        schema.upgrade(settings)
        ensure_safe_runtime_role(settings)
    except Exception as exc:
        _run(_drop_database(PG_URL, name))
        raise RuntimeError(
            f"the test runtime role of {make_url(runtime).render_as_string()} is missing or "
            "unsafe: create it as .ci/run does (psql -U postgres: CREATE ROLE levier_test_app "
            "LOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT)"
        ) from exc
    yield runtime, owner
    # A superuser may end what a test's subprocess left connected as the runtime role (the
    # owner may not: it is no member of that role).
    _run(_drop_database(PG_ADMIN_URL or PG_URL, name))


@pytest.fixture(scope="session")
def postgres_url(postgres_databases: tuple[str, str]) -> str:
    """This process's test database as the runtime role (what the app connects as)."""
    return postgres_databases[0]


@pytest.fixture(scope="session")
def postgres_owner_url(postgres_databases: tuple[str, str]) -> str:
    """This process's test database as the role that owns its schema (DDL, TRUNCATE)."""
    return postgres_databases[1]


@pytest.fixture(scope="session")
def postgres_admin_url(postgres_databases: tuple[str, str]) -> str:
    """This process's test database as a superuser; CI always gives one (.ci/run)."""
    if not PG_ADMIN_URL:
        pytest.skip("LEVIER_TEST_ADMIN_DATABASE_URL is not set: superuser cases not tested here")
    return on_database(PG_ADMIN_URL, make_url(postgres_databases[0]).database or "")


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
    """Empty every table as the schema's owner: TRUNCATE (row-level security is forced on the
    owner too, so it may not DELETE tenant rows). Slow: ~60 new relation files per call."""
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(f"TRUNCATE {tables} CASCADE")
    finally:
        await connection.close()


# One round trip of DELETEs: on the small tables of a test, ~100x cheaper than a TRUNCATE of
# every table (which creates new files for each table and index, ~2 s on a loaded machine).
_DELETE_ALL = ";".join(
    f'DELETE FROM "{table.name}"'  # noqa: S608 (our own table names)
    for table in reversed(Base.metadata.sorted_tables)
)


async def empty_tables(owner_url: str, admin_url: str | None) -> None:
    """Every table emptied before a PostgreSQL test. With a superuser, DELETEs that bypass
    row-level security (and, as a replica, skip foreign-key triggers); otherwise TRUNCATE."""
    if admin_url is None:
        await truncate_all(owner_url)
        return
    connection = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await connection.execute(
            f"SET session_replication_role = replica; {_DELETE_ALL}; "
            "SET session_replication_role = DEFAULT"
        )
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


# A test whose subject does not depend on the database (the guard, a document): SQLite only.
embedded_only = pytest.mark.parametrize("stack", ["embedded"], indirect=True)


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
    owner: str = request.getfixturevalue("postgres_owner_url")
    rd: str = request.getfixturevalue("redis_url")
    # The runtime role may not empty tables: the owner or a superuser does.
    admin = on_database(PG_ADMIN_URL, make_url(pg).database or "") if PG_ADMIN_URL else None
    await empty_tables(owner, admin)
    namespace = f"levier-test-{uuid4().hex[:12]}"
    yield test_settings(
        database_url=pg, migration_database_url=owner, redis_url=rd, redis_namespace=namespace
    )
    client = redis.Redis.from_url(rd)
    keys = list(client.scan_iter(match=f"{namespace}*"))
    if keys:
        client.delete(*keys)


# Building the routes costs ~0.3 s (Litestar prepares ~250 handlers): a test process builds
# them once per shape of settings and hands each test the app with resources of its own.
_APPS: dict[Settings, Litestar] = {}


def _app_shape(settings: Settings) -> Settings:
    """What the routes are built from: the settings without the per-test database and keys."""
    return settings.replace(database_url="", migration_database_url=None, redis_namespace="levier")


@pytest.fixture
async def app(settings: Settings, request: pytest.FixtureRequest) -> AsyncIterator[Litestar]:
    if request.node.get_closest_marker("worker"):
        settings = settings.replace(embedded_worker=True)
    if request.node.get_closest_marker("own_app"):
        # The test adds routes of its own: they must not leak into the next test's app.
        application = create_app(settings)
    else:
        shape = _app_shape(settings)
        application = _APPS.get(shape) or _APPS.setdefault(shape, create_app(settings))
        configure_logging(settings)
        application.state._state.clear()
        application.state.update(build_state(settings.validate()))
    yield application
    # Tests that never start the lifespan still opened connections on this loop.
    await application.state.engine.dispose()


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(app) as http:
        yield http
