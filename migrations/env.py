"""Alembic environment: async engines for PostgreSQL and SQLite, one metadata for both."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import sqlalchemy as sa
from alembic import context
from sqlalchemy.engine import Connection

from backend.config import load_settings
from backend.core.database_roles import grant_runtime_privileges
from backend.core.db import UTCDateTime, create_engine
from backend.models import Base

config = context.config
target_metadata = Base.metadata
# The runtime role (LEVIER_DATABASE_URL's user) granted its privileges after every run.
runtime_role: str | None = config.attributes.get("runtime_role")


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Render our column types as the plain SQLAlchemy types they store, in new revisions."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, sa.JSON):
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return "sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_item=_render_item,
        # SQLite alters tables by copy-and-move; batch mode does that for us.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
        # Every run, in the migrations' transaction: tables a revision created are covered at
        # once, and a failed grant rolls the upgrade back rather than leave the runtime locked out.
        if runtime_role is not None and connection.dialect.name == "postgresql":
            grant_runtime_privileges(connection, runtime_role)


async def _run_with_url(url: str) -> None:
    engine = create_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_configure)
        await connection.commit()
    await engine.dispose()


def run_migrations_online() -> None:
    global runtime_role
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:  # the alembic command itself: the same URLs as `levier migrate`
        settings = load_settings()
        url, runtime_role = settings.migration_url, settings.runtime_role
    asyncio.run(_run_with_url(url))


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run against a database")
run_migrations_online()
