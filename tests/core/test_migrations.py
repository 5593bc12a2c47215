"""Migrations run both ways on both dialects, and match the models exactly."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from backend.config import Settings
from backend.core import schema
from backend.core.db import create_engine
from backend.models import Base


async def _inspect(settings: Settings, look: Any) -> Any:
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(look)
    finally:
        await engine.dispose()


def _model_differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


async def test_upgrade_downgrade_upgrade_round_trip(settings: Settings) -> None:
    schema.downgrade(settings, "base")
    assert await _inspect(settings, _tables) == set()
    schema.upgrade(settings, "head")
    assert await _inspect(settings, _tables) == set(Base.metadata.tables)


async def test_migrations_match_the_models(settings: Settings) -> None:
    assert await _inspect(settings, _model_differences) == []
