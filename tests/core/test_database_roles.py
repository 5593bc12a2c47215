"""Database roles on PostgreSQL: the runtime role is bound by row-level security and owns nothing;
``levier serve|worker|scheduler`` refuse a role that could switch brand isolation off; the
migrations connect as the schema owner and grant the runtime role exactly its privileges."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError

from backend.config import Settings, SettingsError, load_settings
from backend.core import schema
from backend.core.database_roles import UnsafeDatabaseRole, ensure_safe_runtime_role
from backend.core.db import create_engine
from backend.core.tenancy import TENANT_SETTING
from backend.models import Base
from tests.conftest import asyncpg_dsn

TENANT_TABLES = sorted(t.name for t in Base.metadata.sorted_tables if "tenant_id" in t.c)


@pytest.fixture
def pg_settings(postgres_url: str, postgres_owner_url: str) -> Settings:
    """The test database as the app (runtime role) and the migrations (owner) see it."""
    return Settings(database_url=postgres_url, migration_database_url=postgres_owner_url)


def refusal(url: str) -> str:
    with pytest.raises(UnsafeDatabaseRole) as caught:
        ensure_safe_runtime_role(Settings(database_url=url))
    return str(caught.value)


async def connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(asyncpg_dsn(url))


# Who may run the app --------------------------------------------------------------------------


def test_the_runtime_role_is_accepted(postgres_url: str) -> None:
    ensure_safe_runtime_role(Settings(database_url=postgres_url))


def test_the_tables_owner_is_refused(postgres_owner_url: str) -> None:
    message = refusal(postgres_owner_url)
    owner = make_url(postgres_owner_url).username
    assert f"role {owner!r} owns the tables" in message
    assert "LEVIER_MIGRATION_DATABASE_URL" in message  # and how to fix it


def test_a_superuser_is_refused(postgres_admin_url: str) -> None:
    admin = make_url(postgres_admin_url).username
    assert f"role {admin!r} is a superuser" in refusal(postgres_admin_url)


MakeRole = Callable[[str, str], Awaitable[str]]


@pytest.fixture
async def make_role(postgres_admin_url: str, postgres_owner_url: str) -> AsyncIterator[MakeRole]:
    """Create a login role with the given attributes and membership (as the admin); returns the
    test database's URL as that role. Dropped after the test."""
    admin = await connect(postgres_admin_url)
    created: list[str] = []

    async def make(attributes: str, member_of: str) -> str:
        name = f"levier_test_role_{uuid4().hex[:10]}"
        created.append(name)
        await admin.execute(f"CREATE ROLE {name} LOGIN {attributes}")
        if member_of:
            await admin.execute(f"GRANT {member_of} TO {name}")
        return (
            make_url(postgres_owner_url)
            .set(username=name, password=None)
            .render_as_string(hide_password=False)
        )

    yield make
    for name in created:
        await admin.execute(f"DROP ROLE IF EXISTS {name}")
    await admin.close()


OWNER = make_url(os.environ.get("LEVIER_TEST_DATABASE_URL", "x://levier_test@h/d")).username


@pytest.mark.parametrize(
    ("attributes", "member_of", "expected"),
    [
        ("SUPERUSER", "", "is a superuser"),
        ("NOSUPERUSER BYPASSRLS", "", "has BYPASSRLS"),
        ("NOSUPERUSER NOBYPASSRLS NOINHERIT", "postgres", "is a superuser through its membership"),
        ("NOSUPERUSER NOBYPASSRLS NOINHERIT", OWNER, "owns the tables"),
        ("NOSUPERUSER NOBYPASSRLS", "", None),
    ],
    ids=["superuser", "bypassrls", "member-of-superuser", "member-of-owner", "plain"],
)
async def test_roles_that_could_switch_isolation_off_are_refused(
    make_role: MakeRole, attributes: str, member_of: str, expected: str | None
) -> None:
    url = await make_role(attributes, member_of)
    settings = Settings(database_url=url)
    if expected is None:
        # A role that owns nothing and bypasses nothing runs (even without privileges).
        await asyncio.to_thread(ensure_safe_runtime_role, settings)
        return
    with pytest.raises(UnsafeDatabaseRole, match=expected):
        await asyncio.to_thread(ensure_safe_runtime_role, settings)


# What the runtime role can and cannot do ------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY",
        "DROP POLICY tenant_isolation ON {table}",
        "CREATE POLICY open_door ON {table} USING (true)",
        "ALTER TABLE {table} OWNER TO CURRENT_USER",
        "TRUNCATE {table}",
        "DROP TABLE {table}",
        "CREATE TABLE {table}_copy AS SELECT * FROM {table}",
        "ALTER ROLE CURRENT_USER BYPASSRLS",
    ],
)
async def test_the_runtime_role_cannot_switch_row_level_security_off(
    postgres_url: str, statement: str
) -> None:
    connection = await connect(postgres_url)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute(statement.format(table="brand_settings"))
        enabled = await connection.fetchval(
            "SELECT relrowsecurity AND relforcerowsecurity FROM pg_class "
            "WHERE oid = 'brand_settings'::regclass"
        )
        assert enabled is True
    finally:
        await connection.close()


async def _seed_two_brands(url: str) -> tuple[UUID, UUID]:
    """Two brands with one brand_settings row each, written as the runtime role under RLS."""
    connection = await connect(url)
    try:
        agency = uuid4()
        brands = (uuid4(), uuid4())
        await connection.execute(
            "INSERT INTO agencies (id, name, created_at, updated_at)"
            " VALUES ($1, 'A', now(), now())",
            agency,
        )
        for brand in brands:
            await connection.execute(
                "INSERT INTO brands (id, agency_id, name, status, time_zone, locale, created_at,"
                " updated_at) VALUES ($1, $2, 'B', 'active', 'UTC', 'en', now(), now())",
                brand,
                agency,
            )
            async with connection.transaction():
                await connection.execute(
                    "SELECT set_config($1, $2, true)", TENANT_SETTING, str(brand)
                )
                await connection.execute(
                    "INSERT INTO brand_settings (tenant_id, sender_name, quiet_hours_start,"
                    " quiet_hours_end, max_messages_per_week, default_channel, created_at,"
                    " updated_at) VALUES ($1, 'S', '21:00', '08:00', 3, 'email', now(), now())",
                    brand,
                )
        return brands
    finally:
        await connection.close()


async def test_the_runtime_role_cannot_turn_row_security_off_to_see_other_brands(
    pg_settings: Settings,
) -> None:
    settings = pg_settings
    mine, other = await _seed_two_brands(settings.database_url)
    connection = await connect(settings.database_url)
    try:
        async with connection.transaction():
            await connection.execute("SELECT set_config($1, $2, true)", TENANT_SETTING, str(mine))
            seen = await connection.fetch("SELECT tenant_id FROM brand_settings")
            assert [row["tenant_id"] for row in seen] == [mine]
        # row_security = off does not lift the policy for a role bound by it: the query fails.
        await connection.execute("SET row_security = off")
        async with connection.transaction():
            await connection.execute("SELECT set_config($1, $2, true)", TENANT_SETTING, str(mine))
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
                await connection.fetch("SELECT tenant_id FROM brand_settings")
        # The other brand's row is there: the policy, not an empty table, hid it.
        async with connection.transaction():
            await connection.execute("SET LOCAL row_security = on")
            await connection.execute("SELECT set_config($1, $2, true)", TENANT_SETTING, str(other))
            seen = await connection.fetch("SELECT tenant_id FROM brand_settings")
            assert [row["tenant_id"] for row in seen] == [other]
    finally:
        await connection.close()


async def test_the_owner_could_and_is_why_the_runtime_is_another_role(
    pg_settings: Settings,
) -> None:
    """What the probe did as the shared role: the tables' owner lifts isolation in one statement
    and sees every brand. (Rolled back.)"""
    mine, other = await _seed_two_brands(pg_settings.database_url)
    owner = await connect(pg_settings.migration_url)
    try:
        transaction = owner.transaction()
        await transaction.start()
        await owner.execute("ALTER TABLE brand_settings NO FORCE ROW LEVEL SECURITY")
        seen = {
            row["tenant_id"] for row in await owner.fetch("SELECT tenant_id FROM brand_settings")
        }
        assert {mine, other} <= seen
        await transaction.rollback()
    finally:
        await owner.close()


# Grants ---------------------------------------------------------------------------------------

RUNTIME_PRIVILEGES = {"SELECT", "INSERT", "UPDATE", "DELETE"}
OTHER_PRIVILEGES = {"TRUNCATE", "REFERENCES", "TRIGGER"}


async def _privileges(url: str, role: str) -> dict[str, set[str]]:
    connection = await connect(url)
    try:
        rows = await connection.fetch(
            "SELECT c.relname, p.privilege FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema() "
            "CROSS JOIN unnest($2::text[]) AS p(privilege) "
            "WHERE c.relkind IN ('r', 'p') AND has_table_privilege($1, c.oid, p.privilege)",
            role,
            sorted(RUNTIME_PRIVILEGES | OTHER_PRIVILEGES),
        )
    finally:
        await connection.close()
    found: dict[str, set[str]] = {}
    for row in rows:
        found.setdefault(row["relname"], set()).add(row["privilege"])
    return found


async def test_migrations_grant_the_runtime_role_exactly_its_privileges(
    pg_settings: Settings,
) -> None:
    settings = pg_settings
    role = settings.runtime_role
    assert role is not None
    # As a later upgrade would: tables the last revisions create are granted too.
    await asyncio.to_thread(schema.downgrade, settings, "-2")
    await asyncio.to_thread(schema.upgrade, settings, "head")
    found = await _privileges(settings.migration_url, role)
    assert found == {table: RUNTIME_PRIVILEGES for table in Base.metadata.tables}
    assert "alembic_version" not in found


async def test_grants_cover_a_table_created_after_the_last_upgrade(pg_settings: Settings) -> None:
    settings = pg_settings
    role = settings.runtime_role
    assert role is not None
    owner = await connect(settings.migration_url)
    try:
        await owner.execute("CREATE TABLE later_table (id integer)")
        try:
            assert "later_table" not in await _privileges(settings.migration_url, role)
            await asyncio.to_thread(schema.upgrade, settings, "head")  # nothing to migrate
            found = await _privileges(settings.migration_url, role)
            assert found["later_table"] == RUNTIME_PRIVILEGES
        finally:
            await owner.execute("DROP TABLE later_table")
    finally:
        await owner.close()


# Settings -------------------------------------------------------------------------------------


def test_migrations_default_to_the_database_url_on_sqlite_only() -> None:
    sqlite = Settings(database_url="sqlite+aiosqlite:///./x.db")
    assert sqlite.migration_url == "sqlite+aiosqlite:///./x.db"
    postgres = Settings(database_url="postgresql+asyncpg://app@127.0.0.1/levier")
    with pytest.raises(SettingsError, match="LEVIER_MIGRATION_DATABASE_URL must be set"):
        _ = postgres.migration_url


def test_the_migration_url_is_read_from_the_environment() -> None:
    owner = "postgresql+asyncpg://owner@127.0.0.1/levier"
    settings = load_settings(
        {
            "LEVIER_DATABASE_URL": "postgresql+asyncpg://app@127.0.0.1/levier",
            "LEVIER_MIGRATION_DATABASE_URL": owner,
        }
    )
    assert (settings.migration_url, settings.runtime_role) == (owner, "app")
    with pytest.raises(SettingsError, match="LEVIER_MIGRATION_DATABASE_URL must name the async"):
        load_settings({"LEVIER_MIGRATION_DATABASE_URL": "postgresql://owner@127.0.0.1/levier"})


def test_migrating_as_the_runtime_role_is_refused() -> None:
    url = "postgresql+asyncpg://app@127.0.0.1:1/levier"
    with pytest.raises(SettingsError, match="both use role 'app'"):
        schema.upgrade(Settings(database_url=url, migration_database_url=url))


# The commands ---------------------------------------------------------------------------------


def _levier(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "levier"
    base = {k: v for k, v in os.environ.items() if not k.startswith("LEVIER_")}
    return subprocess.run(  # noqa: S603  (our own console script)
        [str(script), *args],
        cwd=cwd,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "command", [["serve", "--port", "1"], ["worker"], ["scheduler"]], ids=lambda c: c[0]
)
def test_commands_refuse_to_start_as_the_tables_owner(
    postgres_owner_url: str, redis_url: str, tmp_path: Path, command: list[str]
) -> None:
    env = {"LEVIER_DATABASE_URL": postgres_owner_url, "LEVIER_REDIS_URL": redis_url}
    completed = _levier(env, *command, cwd=tmp_path)
    assert completed.returncode == 2, (completed.stdout, completed.stderr)
    assert completed.stdout == ""  # refused before announcing anything
    failure = json.loads(completed.stderr.strip().splitlines()[-1])
    assert failure["error"] == "unsafe-database-role"
    assert "owns the tables" in failure["detail"]
    assert "LEVIER_MIGRATION_DATABASE_URL" in failure["detail"]


def test_migrate_on_postgresql_needs_the_owner_url(postgres_url: str, tmp_path: Path) -> None:
    completed = _levier({"LEVIER_DATABASE_URL": postgres_url}, "migrate", cwd=tmp_path)
    assert completed.returncode == 2
    failure = json.loads(completed.stderr.strip().splitlines()[-1])
    assert failure["error"] == "invalid-settings"
    assert "LEVIER_MIGRATION_DATABASE_URL" in failure["detail"]


def test_migrate_as_the_owner_grants_the_runtime_role(
    postgres_url: str, postgres_owner_url: str, tmp_path: Path
) -> None:
    env = {"LEVIER_DATABASE_URL": postgres_url, "LEVIER_MIGRATION_DATABASE_URL": postgres_owner_url}
    completed = _levier(env, "migrate", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == {"migrated": "head"}


# SQL parameters stay out of errors and logs ---------------------------------------------------


async def test_a_failing_statement_does_not_show_its_parameters(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "jeanne.secret@example.test"
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            with pytest.raises(DBAPIError) as caught:
                await connection.execute(
                    text("SELECT * FROM no_such_table WHERE email = :email"), {"email": secret}
                )
    finally:
        await engine.dispose()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert secret not in str(caught.value)
    assert secret not in repr(caught.value)
    assert secret not in logged
    assert "no_such_table" in str(caught.value)  # the statement still shows, its values do not


@pytest.mark.parametrize(
    "url", ["postgresql+asyncpg://app@127.0.0.1/levier", "sqlite+aiosqlite:///:memory:"]
)
def test_every_engine_hides_parameters(url: str) -> None:
    assert create_engine(url).sync_engine.hide_parameters is True
