"""The schema stays distributable on Citus (docs/scaling.md, scripts/citus/distribute.sql).

Every table has one place on a cluster: distributed on ``tenant_id`` (every tenant table, one
co-location group), a reference table (copied to every node) or a local table (coordinator only).
What Citus refuses is checked here on the models, so a migration cannot bring it in unnoticed:
foreign keys outside those it supports, sequences, ``SET NULL`` actions on the distribution column,
subqueries in row-level security policies, a brand setting Citus would not forward to the workers.
That the keys of every tenant table lead with ``tenant_id`` is checked by
tests/core/test_tenancy_isolation.py. The distribution script must name every table once, in an
order Citus accepts; on PostgreSQL it is run against the migrated schema with stand-ins for the
Citus functions (inside a transaction rolled back), so its syntax and table names are real.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from litestar import Litestar
from sqlalchemy import ForeignKeyConstraint, Integer, Sequence, Table, event, text
from sqlalchemy.exc import DBAPIError

from backend.core.db import SET_LOCAL_FUNCTION, postgres_settings
from backend.core.tenancy import TENANT_SETTING, row_level_security_sql, tenant_tables
from backend.models import Base
from tests.conftest import asyncpg_dsn
from tests.factories import session_of

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "citus" / "distribute.sql"

# Small platform tables that every node reads or checks foreign keys against (docs/scaling.md).
REFERENCE_TABLES = frozenset(
    {
        "agencies",
        "users",
        "agency_members",
        "brands",
        "brand_grants",
        "oauth_clients",
        "oauth_client_brands",
        "hook_routes",
        "messaging_hook_routes",
    }
)
# Coordinator-only: queues claimed across brands, logs, sessions and tokens (docs/scaling.md).
LOCAL_TABLES = frozenset(
    {
        "audit_events",
        "due_tasks",
        "outbox_messages",
        "idempotency_records",
        "web_sessions",
        "access_tokens",
        "oauth_authorization_codes",
        "oauth_consents",
        # Billing: per agency, not per brand, small and written by the coordinator's jobs.
        "billing_prices",
        "billing_accounts",
        "billing_stripe_events",
        "billing_brand_meters",
        "billing_meter_reports",
        "billing_usage_warnings",
    }
)
DISTRIBUTION_COLUMN = "tenant_id"
ANCHOR = "profiles"  # the first distributed table: the others are co-located with it


def distributed_tables() -> dict[str, Table]:
    """Every tenant table (never none: a check looping over nothing would pass)."""
    tables = {table.name: table for table in tenant_tables()}
    assert len(tables) >= 20, sorted(tables)
    return tables


def kind_of(name: str) -> str:
    if name in distributed_tables():
        return "distributed"
    if name in REFERENCE_TABLES:
        return "reference"
    if name in LOCAL_TABLES:
        return "local"
    raise AssertionError(
        f"{name} has no place on Citus: add it to this file, scripts/citus/distribute.sql and "
        "docs/scaling.md"
    )


def _foreign_keys() -> list[tuple[Table, ForeignKeyConstraint]]:
    found = [
        (table, constraint)
        for table in Base.metadata.tables.values()
        for constraint in table.foreign_key_constraints
    ]
    assert len(found) >= 50, len(found)
    return found


def test_every_table_has_exactly_one_place_on_citus() -> None:
    distributed = set(distributed_tables())
    assert not (REFERENCE_TABLES & LOCAL_TABLES)
    assert not (distributed & (REFERENCE_TABLES | LOCAL_TABLES))
    assert distributed | REFERENCE_TABLES | LOCAL_TABLES == set(Base.metadata.tables)


def test_no_table_outside_the_distributed_group_carries_a_tenant_id() -> None:
    # A brand's rows in a reference or local table would escape both the shard of the brand and
    # row-level security: a table that holds brand data is a tenant table.
    for name in REFERENCE_TABLES | LOCAL_TABLES:
        assert DISTRIBUTION_COLUMN not in Base.metadata.tables[name].columns, name


# What Citus supports, from the referencing table's kind to the referenced table's: between
# co-located distributed tables (on tenant_id, below), to reference tables, and between local and
# reference tables; never into a distributed table from elsewhere, nor from a reference table to a
# local one.
SUPPORTED_FOREIGN_KEYS = frozenset(
    {
        ("distributed", "distributed"),
        ("distributed", "reference"),
        ("reference", "reference"),
        ("local", "reference"),
        ("local", "local"),
    }
)


def test_foreign_keys_are_only_those_citus_supports() -> None:
    unsupported = [
        (table.name, constraint.referred_table.name)
        for table, constraint in _foreign_keys()
        if (kind_of(table.name), kind_of(constraint.referred_table.name))
        not in SUPPORTED_FOREIGN_KEYS
    ]
    assert unsupported == []


def test_foreign_keys_between_tenant_tables_match_tenant_id_with_tenant_id() -> None:
    distributed = distributed_tables()
    checked = 0
    for table, constraint in _foreign_keys():
        if table.name not in distributed or constraint.referred_table.name not in distributed:
            continue
        pairs = [(element.parent.name, element.column.name) for element in constraint.elements]
        # Co-location: the row and the row it points to are in the same brand, so the same shard.
        assert (DISTRIBUTION_COLUMN, DISTRIBUTION_COLUMN) in pairs, (table.name, constraint.name)
        checked += 1
    assert checked >= 20


def test_no_foreign_key_on_the_distribution_column_sets_it_null_or_cascades_updates() -> None:
    # Citus refuses ON DELETE SET NULL / SET DEFAULT and ON UPDATE SET NULL / SET DEFAULT /
    # CASCADE on a foreign key that includes the distribution column.
    for table, constraint in _foreign_keys():
        if DISTRIBUTION_COLUMN not in {column.name for column in constraint.columns}:
            continue
        ondelete = (constraint.ondelete or "NO ACTION").upper()
        onupdate = (constraint.onupdate or "NO ACTION").upper()
        assert ondelete in {"NO ACTION", "RESTRICT", "CASCADE"}, (table.name, constraint.name)
        assert onupdate in {"NO ACTION", "RESTRICT"}, (table.name, constraint.name)


def test_no_column_draws_from_a_sequence() -> None:
    # UUIDs only: a sequence is one counter for every brand (and a cross-node round trip on
    # Citus); an identity column is refused on a distributed table.
    for table in Base.metadata.tables.values():
        for column in table.columns:
            where = f"{table.name}.{column.name}"
            assert column.identity is None, where
            assert not isinstance(column.default, Sequence), where
            assert "nextval" not in str(getattr(column.server_default, "arg", "")), where
            serial = (
                column.primary_key
                and isinstance(column.type, Integer)
                and len(table.primary_key.columns) == 1
                and column.autoincrement in (True, "auto")
            )
            assert not serial, where


def test_partitioned_tenant_tables_key_on_tenant_id_and_their_partition_key() -> None:
    partitioned = {
        name: table.dialect_options["postgresql"]["partition_by"]
        for name, table in distributed_tables().items()
        if table.dialect_options["postgresql"]["partition_by"]
    }
    assert set(partitioned) >= {"messages", "message_events"}
    for name, partition_by in partitioned.items():
        key = re.fullmatch(r"RANGE \((\w+)\)", partition_by)
        assert key is not None, (name, partition_by)
        primary_key = [column.name for column in distributed_tables()[name].primary_key.columns]
        assert primary_key[0] == DISTRIBUTION_COLUMN, name
        assert key.group(1) in primary_key, name


def test_row_level_security_policies_have_no_subquery() -> None:
    # Citus refuses a policy whose expression holds a subquery.
    for statement in row_level_security_sql("profiles"):
        assert not re.search(r"\bselect\b", statement, re.IGNORECASE), statement


# The distribution script --------------------------------------------------------------------

_CALL = re.compile(
    r"SELECT (create_reference_table|create_distributed_table)\('(\w+)'"
    r"(?:, '(\w+)', colocate_with => '(\w+)')?\);"
)
_LOCAL = re.compile(
    r"SELECT citus_add_local_table_to_metadata\(local_table\)\s+FROM unnest\(ARRAY\[(.*?)\]"
    r"::regclass\[\]\) AS local_table",
    re.DOTALL,
)


def script_calls() -> list[tuple[str, str, str | None, str | None]]:
    """(kind, table, distribution column, colocate_with) in the script's order."""
    source = SCRIPT.read_text()
    calls: list[tuple[str, str, str | None, str | None]] = []
    for function, table, column, colocate in _CALL.findall(source):
        kind = "reference" if function == "create_reference_table" else "distributed"
        calls.append((kind, table, column or None, colocate or None))
    local = _LOCAL.search(source)
    assert local is not None, "the script adds no local table"
    calls += [("local", name, None, None) for name in re.findall(r"'(\w+)'", local.group(1))]
    return calls


def test_the_script_names_every_table_once_as_what_it_is() -> None:
    calls = script_calls()
    names = [table for _, table, _, _ in calls]
    assert len(names) == len(set(names)), [n for n in names if names.count(n) > 1]
    assert {table for kind, table, _, _ in calls if kind == "distributed"} == set(
        distributed_tables()
    )
    assert {table for kind, table, _, _ in calls if kind == "reference"} == REFERENCE_TABLES
    assert {table for kind, table, _, _ in calls if kind == "local"} == LOCAL_TABLES


def test_the_script_co_locates_every_tenant_table_on_tenant_id() -> None:
    distributed = [
        (t, column, colocate) for k, t, column, colocate in script_calls() if k == "distributed"
    ]
    assert distributed[0] == (ANCHOR, DISTRIBUTION_COLUMN, "none")
    assert {(column, colocate) for _, column, colocate in distributed[1:]} == {
        (DISTRIBUTION_COLUMN, ANCHOR)
    }


def test_the_script_places_each_table_after_the_tables_it_references() -> None:
    # Citus distributes a table only once the tables its foreign keys point to are distributed
    # or reference tables.
    placed: set[str] = set()
    for kind, name, _, _ in script_calls():
        for constraint in Base.metadata.tables[name].foreign_key_constraints:
            target = constraint.referred_table.name
            assert target in placed or target == name, (kind, name, target)
        placed.add(name)
    assert placed == set(Base.metadata.tables)


_STAND_INS = [
    "CREATE SCHEMA citus_stand_in",
    """CREATE TABLE citus_stand_in.calls (n serial, kind text, tbl regclass, col text,
           colocate text)""",
    """CREATE VIEW citus_stand_in.pg_dist_partition AS
           SELECT tbl AS logicalrelid FROM citus_stand_in.calls""",
    """CREATE FUNCTION citus_stand_in.create_reference_table(table_name regclass) RETURNS void
       LANGUAGE sql AS $$ INSERT INTO citus_stand_in.calls (kind, tbl)
                          VALUES ('reference', table_name) $$""",
    """CREATE FUNCTION citus_stand_in.create_distributed_table(
           table_name regclass, distribution_column text, colocate_with text DEFAULT 'default')
       RETURNS void LANGUAGE plpgsql AS $$
       BEGIN
         IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = table_name
                        AND attname = distribution_column AND NOT attisdropped) THEN
           RAISE EXCEPTION 'no column % in %', distribution_column, table_name;
         END IF;
         INSERT INTO citus_stand_in.calls (kind, tbl, col, colocate)
         VALUES ('distributed', table_name, distribution_column, colocate_with);
       END $$""",
    """CREATE FUNCTION citus_stand_in.citus_add_local_table_to_metadata(
           table_name regclass, cascade_via_foreign_keys boolean DEFAULT false)
       RETURNS void LANGUAGE sql AS $$ INSERT INTO citus_stand_in.calls (kind, tbl)
                                       VALUES ('local', table_name) $$""",
    "SET LOCAL search_path = citus_stand_in, public",
]


async def test_the_script_runs_against_the_migrated_schema(postgres_admin_url: str) -> None:
    """The script as psql would send it, as a superuser (it sets a database default), the Citus
    functions replaced by stand-ins that record their calls; rolled back."""
    connection = await asyncpg.connect(asyncpg_dsn(postgres_admin_url))
    try:
        transaction = connection.transaction()
        await transaction.start()
        try:
            for statement in _STAND_INS:
                await connection.execute(statement)
            await connection.execute(SCRIPT.read_text())
            rows = await connection.fetch(
                "SELECT kind, tbl::text AS tbl, col, colocate FROM citus_stand_in.calls ORDER BY n"
            )
            shard_count = await connection.fetchval("SELECT current_setting('citus.shard_count')")
        finally:
            await transaction.rollback()
    finally:
        await connection.close()
    recorded = [(row["kind"], row["tbl"], row["col"], row["colocate"]) for row in rows]
    assert recorded == script_calls()
    assert shard_count == "64"


# The brand setting reaches the workers -----------------------------------------------------


def _postgres_only(stack: str) -> None:
    if stack != "postgres":
        pytest.skip("transaction settings are PostgreSQL's")


async def test_the_brand_is_set_for_the_transaction_with_set_local(
    app: Litestar, stack: str
) -> None:
    """Citus forwards ``SET LOCAL`` to the workers, never ``set_config()``: the session sets the
    brand through levier_set_local, whose body runs ``SET LOCAL`` and which has no SET clause of
    its own (that would end the setting with the call)."""
    _postgres_only(stack)
    statements: list[str] = []

    def capture(*args: Any) -> None:
        statements.append(args[2])

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", capture)
    tenant = uuid4()
    try:
        async with session_of(app, tenant) as session:
            inside = await session.scalar(text(f"SELECT current_setting('{TENANT_SETTING}')"))
            await session.commit()
            after = await session.scalar(text(f"SELECT current_setting('{TENANT_SETTING}')"))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert inside == str(tenant)
    assert after == str(tenant)  # the next transaction set it again, not a leftover
    assert sum(SET_LOCAL_FUNCTION in statement for statement in statements) == 2
    assert not any("set_config" in statement for statement in statements)
    async with app.state.engine.connect() as connection:
        body, own_settings = (
            await connection.execute(
                text("SELECT prosrc, proconfig FROM pg_proc WHERE proname = :name"),
                {"name": SET_LOCAL_FUNCTION},
            )
        ).one()
    assert "SET LOCAL" in body
    assert own_settings is None


async def test_planner_settings_hold_for_the_block_and_are_set_back(
    app: Litestar, stack: str
) -> None:
    _postgres_only(stack)
    async with session_of(app, uuid4()) as session:
        before = await session.scalar(text("SHOW work_mem"))
        async with postgres_settings(session, {"work_mem": "77MB", "enable_nestloop": "off"}):
            inside = (await session.execute(text("SHOW work_mem"))).scalar_one()
            nestloop = (await session.execute(text("SHOW enable_nestloop"))).scalar_one()
        after = await session.scalar(text("SHOW work_mem"))
    assert (inside, nestloop) == ("77MB", "off")
    assert after == before != "77MB"


async def test_set_local_refuses_anything_but_a_setting_name(app: Litestar, stack: str) -> None:
    _postgres_only(stack)
    async with app.state.engine.connect() as connection:
        with pytest.raises(DBAPIError, match="invalid setting name"):
            await connection.execute(
                text(f"SELECT {SET_LOCAL_FUNCTION}(:name, '1')"),
                {"name": "work_mem = 1; RESET ALL; SET work_mem"},
            )


async def test_no_policy_or_sequence_in_the_database_stops_citus(app: Litestar, stack: str) -> None:
    """What the migrations built, partitions included: no policy with a subquery, no sequence,
    no identity column."""
    _postgres_only(stack)
    async with app.state.engine.connect() as connection:
        policies = (
            await connection.execute(text("SELECT tablename, qual, with_check FROM pg_policies"))
        ).all()
        sequences = await connection.scalar(
            text(
                "SELECT count(*) FROM pg_class WHERE relkind = 'S' AND relnamespace IN "
                "('public'::regnamespace, 'message_partitions'::regnamespace)"
            )
        )
        identities = await connection.scalar(
            text("SELECT count(*) FROM pg_attribute WHERE attidentity <> '' AND attnum > 0")
        )
    assert len(policies) >= len(distributed_tables())
    for table, qual, with_check in policies:
        assert not re.search(r"\bselect\b", f"{qual} {with_check}", re.IGNORECASE), table
    assert (sequences, identities) == (0, 0)
