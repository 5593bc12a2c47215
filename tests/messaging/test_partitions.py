"""The ledger's monthly partitions on PostgreSQL: the periodic task creates the coming months and
drops those past the retention, through the schema owner's SECURITY DEFINER functions (the
runtime role owns no table)."""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest
from litestar import Litestar

from backend.config import Settings
from backend.core.jobs import TaskContext
from backend.messaging import tasks
from tests.conftest import asyncpg_dsn
from tests.factories import session_of

pytestmark = pytest.mark.parametrize("stack", ["postgres"], indirect=True)


def _month(today: dt.date, ahead: int) -> str:
    index = today.year * 12 + today.month - 1 + ahead
    return f"{index // 12:04d}_{index % 12 + 1:02d}"


async def _partitions(owner: asyncpg.Connection) -> set[str]:
    rows = await owner.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'message_partitions'"
    )
    return {row["relname"] for row in rows}


async def test_the_task_creates_the_coming_months_and_drops_those_past_retention(
    app: Litestar, settings: Settings
) -> None:
    assert settings.migration_database_url is not None
    owner = await asyncpg.connect(asyncpg_dsn(settings.migration_database_url))
    today = dt.datetime.now(dt.UTC).date()
    following = _month(today, 1)
    try:
        for parent in ("messages", "message_events"):
            # A month long past the retention, and a coming month missing (as after a restore).
            await owner.execute(
                f"CREATE TABLE message_partitions.{parent}_2020_01 PARTITION OF {parent} "
                "FOR VALUES FROM (messaging_month_bound('2020-01-01')) "
                "TO (messaging_month_bound('2020-02-01'))"
            )
            await owner.execute(f"DROP TABLE message_partitions.{parent}_{following}")
        async with session_of(app) as session:
            await tasks.maintain_partitions(TaskContext(session, None, settings, "partitions"))
            await session.commit()
        found = await _partitions(owner)
    finally:
        await owner.close()
    months = {_month(today, ahead) for ahead in range(tasks.MONTHS_AHEAD + 1)}
    for parent in ("messages", "message_events"):
        assert f"{parent}_2020_01" not in found
        assert {f"{parent}_{month}" for month in months} <= found
        assert f"{parent}_default" in found
