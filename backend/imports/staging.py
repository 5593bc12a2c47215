"""Temporary staging tables and how rows get into them: ``COPY`` on PostgreSQL (asyncpg's binary
copy), batched ``executemany`` on SQLite. The set-based statements then read them with joins.

Staging tables are per connection and per transaction (``ON COMMIT DROP`` on PostgreSQL, dropped
explicitly on SQLite), so nothing leaks between batches or tenants.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import Column, MetaData, Table, func, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.schema import CreateTable, DropTable
from sqlalchemy.sql.expression import ColumnElement

from backend.core.db import JSONType, dialect_of

_METADATA = MetaData()
TRUE = true


def staging_table(name: str, *columns: Column[Any], analyze: Sequence[str] = ()) -> Table:
    """A staging table; ``analyze``: the columns its readers join or filter on, the only ones
    given statistics (all when empty) — a wide table's other columns would cost the most."""
    return Table(
        name,
        _METADATA,
        *columns,
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
        info={"analyze": tuple(analyze)},
    )


def analyze_statement(table: Table) -> str:
    """``ANALYZE`` of a staging table, restricted to the columns its readers use."""
    columns = table.info.get("analyze") or ()
    return f"ANALYZE {table.name}" + (f" ({', '.join(columns)})" if columns else "")


async def create(session: AsyncSession, table: Table) -> None:
    connection = await session.connection()
    await connection.execute(DropTable(table, if_exists=True))
    await connection.execute(CreateTable(table))


async def drop(session: AsyncSession, table: Table) -> None:
    connection = await session.connection()
    await connection.execute(DropTable(table, if_exists=True))


async def load(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Fill a staging table: COPY on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    names = [column.name for column in table.columns]
    if dialect_of(session) != "postgresql":  # a missing key is NULL, as in the COPY below
        await session.execute(table.insert(), [{n: row.get(n) for n in names} for row in rows])
        return
    json_columns = {c.name for c in table.columns if c.type is JSONType or _is_json(c)}
    records = [
        tuple(
            msgspec.json.encode(row.get(name)).decode()
            if name in json_columns and row.get(name) is not None
            else row.get(name)
            for name in names
        )
        for row in rows
    ]
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.copy_records_to_table(table.name, records=records, columns=names)
    # Temporary tables get no statistics otherwise: the planner would guess, and loop.
    await driver.execute(analyze_statement(table))


def _is_json(column: Column[Any]) -> bool:
    return "JSON" in type(column.type).__name__.upper() or "JSON" in repr(column.type).upper()


def json_merge(session: AsyncSession, stored: Any, given: Any) -> ColumnElement[Any]:
    """``stored`` with the keys of ``given`` written over it (both JSON objects)."""
    if dialect_of(session) == "postgresql":
        return stored.op("||", return_type=JSONType)(given)  # type: ignore[no-any-return]
    return func.json_patch(stored, given, type_=JSONType)
