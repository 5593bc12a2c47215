"""Engine, declarative base and column types shared by every domain, for PostgreSQL and SQLite."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import msgspec
from sqlalchemy import (
    JSON,
    ColumnElement,
    DateTime,
    Enum,
    MetaData,
    any_,
    bindparam,
    event,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, QueryableAttribute, mapped_column
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from backend.core.ids import new_id

if TYPE_CHECKING:
    from backend.config import Settings
    from backend.core.tenancy import TenantId

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware timestamp that always comes back in UTC, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is dt.UTC:  # already UTC (utcnow, the drivers' values): as it is
            return value
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused: pass an aware datetime")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None or value.tzinfo is dt.UTC:  # asyncpg gives UTC already
            return value
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


# JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")


def string_enum(enum_cls: type[StrEnum], name: str) -> Enum:
    """A StrEnum column stored as plain strings with a CHECK: portable across both dialects, and
    adding a value is a simple migration."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda cls: [member.value for member in cls],
    )


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSONType}


class IdMixin:
    """A time-ordered UUID primary key: index-friendly and safe to expose."""

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now()
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # WAL lets the API read while the in-process worker writes; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@dataclass(frozen=True)
class PoolOptions:
    """How many connections a process keeps, and whether they go through PgBouncer."""

    size: int = 10
    max_overflow: int = 10
    timeout_seconds: float = 30.0
    pgbouncer: bool = False

    @classmethod
    def of(cls, settings: Settings) -> PoolOptions:
        return cls(
            size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            timeout_seconds=settings.database_pool_timeout_seconds,
            pgbouncer=settings.database_pgbouncer,
        )


def _unique_statement_name() -> str:
    return f"__levier_{uuid4().hex}__"


# PgBouncer in transaction mode hands each transaction whichever server connection is free: a
# statement prepared in one transaction is gone (or another client's) in the next. asyncpg's own
# statement cache and SQLAlchemy's are turned off, and every statement gets a name of its own, so
# two clients never collide on a server connection (SQLAlchemy's asyncpg notes, "Prepared
# Statement Name with PGBouncer").
PGBOUNCER_CONNECT_ARGS: dict[str, Any] = {
    "statement_cache_size": 0,
    "prepared_statement_cache_size": 0,
    "prepared_statement_name_func": _unique_statement_name,
}


def create_engine(
    database_url: str, *, echo: bool = False, pool: PoolOptions | None = None
) -> AsyncEngine:
    """An async engine for either dialect, configured for how Levier uses it.

    Statement parameters hold personal data (emails, names): ``hide_parameters`` keeps them out of
    exception texts and therefore out of the logs."""
    if database_url.startswith("sqlite"):
        engine = create_async_engine(database_url, echo=echo, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    pool = pool or PoolOptions()
    return create_async_engine(
        database_url,
        echo=echo,
        hide_parameters=True,
        pool_pre_ping=True,
        pool_size=pool.size,
        max_overflow=pool.max_overflow,
        pool_timeout=pool.timeout_seconds,
        connect_args=dict(PGBOUNCER_CONNECT_ARGS) if pool.pgbouncer else {},
        # jsonb values read back (profiles' attributes, messages' data…): msgspec gives the
        # same Python values as json.loads (dicts, lists, str, int, float, bool, None) in a
        # fraction of its time — a batch of 500 messages reads thousands of them.
        json_deserializer=msgspec.json.decode,
    )


def engine_for(settings: Settings, pool_name: str, role: str) -> AsyncEngine:
    """The runtime engine of a process: pool sized by the settings, its use in the metrics
    (``levier_db_pool_*{pool=pool_name}``), its statements traced when tracing is on."""
    from backend.core import metrics, tracing

    engine = create_engine(settings.database_url, pool=PoolOptions.of(settings))
    metrics.observe_pool(engine, pool_name)
    tracing.instrument_engine(engine, tracing.tracer_provider(settings, role))
    return engine


def dialect_of(session: AsyncSession) -> str:
    """``postgresql`` or ``sqlite``: the dialect a session's statements are written for."""
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def among(
    session: AsyncSession,
    column: ColumnElement[Any] | QueryableAttribute[Any],
    values: Iterable[Any],
) -> ColumnElement[bool]:
    """``column IN values``, for a batch's lists of ids. PostgreSQL: ``column = ANY($1)``, the
    values bound as one array — one statement text (one prepared statement) and one parameter
    whatever their number, where an IN list renders and binds a parameter per value at every
    execution (about a millisecond of Python for 500 ids; 10,000 ids took 0.3 s to compile);
    SQLite: the IN list."""
    listed = list(values)
    if dialect_of(session) == "postgresql":
        return column == any_(bindparam(None, listed, type_=postgresql.ARRAY(column.type)))
    return column.in_(listed)


async def start_as_writer(session: AsyncSession, table: str) -> None:
    """SQLite: make the transaction the database's one writer now, with a write to ``table``
    that changes nothing. A transaction that read first and writes later fails at once
    ("database is locked") if another connection wrote meanwhile, where a writer's first
    statement waits out the busy timeout; and readers of rows a writer is about to claim wait
    for its commit. PostgreSQL locks rows instead: nothing to do there."""
    if dialect_of(session) == "sqlite":
        await session.execute(text(f"DELETE FROM {table} WHERE 1 = 0"))  # noqa: S608  (our names)


# ``SET LOCAL`` through a function (migration 0030), for transaction settings on PostgreSQL: unlike
# ``set_config()``, a ``SET LOCAL`` is forwarded by Citus to the workers running the statements
# (the brand read by row-level security, planner settings; docs/scaling.md).
SET_LOCAL_FUNCTION = "levier_set_local"


@asynccontextmanager
async def postgres_settings(
    session: AsyncSession, settings: Mapping[str, str]
) -> AsyncIterator[None]:
    """PostgreSQL settings (planner, memory) for the statements of the block, set back to what
    they were after it; nothing on SQLite. One round trip each way. If the block fails, the
    transaction (or the savepoint) it fails is rolled back, and the settings with it."""
    if dialect_of(session) != "postgresql" or not settings:
        yield
        return
    names = list(settings)
    previous = (await session.execute(select(*(func.current_setting(n) for n in names)))).one()
    await _set_local(session, dict(zip(names, settings.values(), strict=True)))
    yield
    await _set_local(session, dict(zip(names, previous, strict=True)))


async def _set_local(session: AsyncSession, settings: Mapping[str, str]) -> None:
    set_local = getattr(func, SET_LOCAL_FUNCTION)
    await session.execute(select(*(set_local(n, v) for n, v in settings.items())))


def insert_for(session: AsyncSession, target: Any) -> Any:
    """The session dialect's INSERT of ``target`` (a model or table): it knows ``ON CONFLICT``."""
    insert = postgresql.insert if dialect_of(session) == "postgresql" else sqlite.insert
    return insert(target)


async def insert_ignoring_conflict(
    session: AsyncSession,
    model: type[Base],
    values: dict[str, Any],
    conflict_columns: list[str],
) -> bool:
    """INSERT … ON CONFLICT DO NOTHING on either dialect; True when a row was inserted.

    The unique key, not a prior read, decides: safe when concurrent writers race.
    """
    statement = (
        insert_for(session, model)
        .values(values)
        .on_conflict_do_nothing(index_elements=conflict_columns)
    )
    result = await session.execute(statement)
    return bool(getattr(result, "rowcount", 0))


@asynccontextmanager
async def unit_of_work(
    factory: async_sessionmaker[AsyncSession],
    relay_wake: Callable[[], None],
    tenant: TenantId | None = None,
    *,
    actor: str | None = None,
    request_id: str | None = None,
) -> AsyncIterator[AsyncSession]:
    """A session committed when the block succeeds and rolled back when it raises; the relay is
    woken after a commit that enqueued tasks."""
    # Both modules build on this one: imported here, not at the top, to keep the import acyclic.
    from backend.core.jobs import take_outbox_flag
    from backend.core.tenancy import open_session

    session = open_session(factory, tenant, actor=actor, request_id=request_id)
    try:
        yield session
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    finally:
        await session.close()
    if take_outbox_flag(session):
        relay_wake()
