"""Levier through PgBouncer in transaction mode (``LEVIER_DATABASE_PGBOUNCER=true``): a real
PgBouncer on a local port in front of the test database, two server connections for every
client, so that a statement prepared in one transaction and used in another fails as soon as the
two transactions land on different server connections. Without the setting it does fail: the
test bites.

PgBouncer is Debian's package; `.ci/run` installs it, and in CI its absence fails the test."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import make_url, text

from backend.app import create_app
from backend.config import Settings
from backend.core.db import PoolOptions, create_engine
from backend.tenancy.models import Brand, BrandStatus
from tests.factories import World, make_world, run_jobs, serving, session_of

pytestmark = pytest.mark.parametrize("stack", ["postgres"], indirect=True)


def _binary() -> str:
    found = shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
    )
    if found is None:
        message = "pgbouncer is not installed (Debian: apt-get install pgbouncer)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; .ci/run installs it")
        pytest.skip(message)
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextlib.contextmanager
def running_pgbouncer(database_url: str) -> Iterator[str]:
    """PgBouncer in transaction mode with two server connections, in front of
    ``database_url``'s server; yields the same URL through it."""
    binary = _binary()
    url = make_url(database_url)
    port = _free_port()
    folder = Path(tempfile.mkdtemp(prefix="levier-pgbouncer-"))
    config = folder / "pgbouncer.ini"
    (folder / "users.txt").write_text(f'"{url.username}" ""\n')
    config.write_text(
        f"""[databases]
* = host={url.host or "127.0.0.1"} port={url.port or 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder / "users.txt"}
pool_mode = transaction
default_pool_size = 2
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 200
logfile = {folder / "pgbouncer.log"}
pidfile = {folder / "pgbouncer.pid"}
"""
    )
    command = [binary, str(config)]
    if os.geteuid() == 0:
        # PgBouncer refuses to run as root: it drops to the postgres account.
        account = pwd.getpwnam("postgres")
        folder.chmod(0o755)
        for path in [folder, *folder.iterdir()]:
            os.chown(path, account.pw_uid, account.pw_gid)
        command = [binary, "-u", "postgres", str(config)]
    process = subprocess.Popen(  # noqa: S603  (Debian's pgbouncer, our own config)
        command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                log = folder / "pgbouncer.log"
                pytest.fail(f"pgbouncer did not start:\n{log.read_text() if log.exists() else ''}")
            time.sleep(0.05)
        yield url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def bouncer(settings: Settings) -> Iterator[str]:
    with running_pgbouncer(settings.database_url) as url:
        yield url


async def _status(app: Litestar, brand_id: str) -> BrandStatus:
    async with session_of(app) as session:
        brand = await session.get(Brand, brand_id)
        assert brand is not None
        return brand.status


async def _busy_clients(client: httpx.AsyncClient, world: World) -> list[httpx.Response]:
    """Many requests at once: as many client connections, two server connections behind."""
    reads = [
        client.get(f"/v1/brands/{world.brand_a.id}", headers=world.viewer_a.headers)
        for _ in range(12)
    ]
    writes = [
        client.post(
            f"/v1/brands/{world.brand_a.id}/profiles",
            json={"email": f"p{n}@example.com"},
            headers=world.manager_a.headers,
        )
        for n in range(12)
    ]
    return list(await asyncio.gather(*reads, *writes))


@pytest.mark.worker
async def test_levier_runs_through_pgbouncer_in_transaction_mode(
    settings: Settings, bouncer: str
) -> None:
    app = create_app(
        settings.replace(database_url=bouncer, database_pgbouncer=True, embedded_worker=True)
    )
    async with serving(app) as client:
        world = await make_world(app)
        answers = await _busy_clients(client, world)
        assert [a.status_code for a in answers] == [200] * 12 + [201] * 12, [
            a.text for a in answers if a.status_code >= 400
        ]
        # Row-level security rides on a per-transaction setting: still binding here.
        other = await client.get(f"/v1/brands/{world.brand_b.id}", headers=world.viewer_a.headers)
        assert other.status_code == 404
        # The outbox, the relay and a job, through the same two server connections.
        created = await client.post(
            f"/v1/agencies/{world.agency_a.id}/brands",
            json={"name": "Bounced"},
            headers=world.owner_a.headers,
        )
        assert created.status_code == 201, created.text
        await run_jobs(app)
        assert await _status(app, created.json()["id"]) is BrandStatus.ACTIVE


@pytest.mark.parametrize("pgbouncer_setting", [False, True], ids=["without", "with"])
async def test_a_statement_prepared_in_one_transaction_is_not_reused_in_another(
    settings: Settings, bouncer: str, pgbouncer_setting: bool
) -> None:
    # The second transaction of `first` lands on the other server connection, `second` holding
    # the one `first` prepared its statement on: asyncpg's caches then name a statement that
    # server never saw.
    engine = create_engine(bouncer, pool=PoolOptions(pgbouncer=pgbouncer_setting))
    failure: str | None = None
    try:
        async with engine.connect() as first:
            assert (await first.execute(text("SELECT 1"))).scalar() == 1
            await first.commit()
            async with engine.connect() as second:
                assert (await second.execute(text("SELECT 2"))).scalar() == 2
                try:
                    assert (await first.execute(text("SELECT 1"))).scalar() == 1
                except Exception as exc:
                    failure = str(exc)
    finally:
        await engine.dispose()
    if pgbouncer_setting:
        assert failure is None
    else:
        assert failure is not None, "the caches went through PgBouncer unharmed: no bite"
        assert "prepared statement" in failure
