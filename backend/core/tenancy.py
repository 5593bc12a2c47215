"""Brand (tenant) isolation, enforced in one place.

Wall one, every dialect: a session opened for a tenant adds ``tenant_id = :tenant`` to every ORM
select, update and delete on tenant tables and stamps ``tenant_id`` on every new row. A session
opened for no tenant refuses to touch tenant tables at all (fail closed).

Wall two, PostgreSQL: row-level security, enabled and forced on every tenant table, compares
``tenant_id`` with the ``levier.tenant_id`` setting, which this module sets for the transaction
(``SET LOCAL``, through ``levier_set_local``) at the start of every transaction.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, NewType
from uuid import UUID

from sqlalchemy import ForeignKey, Table, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import (
    Mapped,
    ORMExecuteState,
    Session,
    SessionTransaction,
    UOWTransaction,
    mapped_column,
    with_loader_criteria,
)

from backend.core.db import SET_LOCAL_FUNCTION, Base

# Only the brand guard (HTTP), the GraphQL brand resolver and the job middleware produce this.
TenantId = NewType("TenantId", UUID)

TENANT_INFO_KEY = "levier.tenant_id"
ACTOR_INFO_KEY = "levier.actor"
REQUEST_ID_INFO_KEY = "levier.request_id"
TENANT_SETTING = "levier.tenant_id"
HASH_KEY_INFO_KEY = "levier.hash_key"


class TenantScopeError(RuntimeError):
    """A tenant table was touched without, or across, a tenant scope: a programming error."""


class TenantMixin:
    """Marks a tenant table: rows belong to one brand and are invisible to every other."""

    # Leads every key of a tenant table (Citus distribution column).
    tenant_id: Mapped[UUID] = mapped_column(
        ForeignKey("brands.id", ondelete="CASCADE"), primary_key=True
    )


class LevierSession(Session):
    """The ORM session class of the application; tenant rules hang on it."""


def session_tenant(session: Session | AsyncSession) -> TenantId | None:
    tenant: TenantId | None = session.info.get(TENANT_INFO_KEY)
    return tenant


def required_tenant(session: Session | AsyncSession) -> TenantId:
    """The session's brand; a session without one is a programming error (TenantScopeError)."""
    tenant = session_tenant(session)
    if tenant is None:
        raise TenantScopeError("this needs a session scoped to a brand")
    return tenant


def make_session_factory(
    engine: AsyncEngine,
    *,
    secret_key: str | None = None,
    info: Mapping[str, Any] | None = None,
) -> async_sessionmaker[AsyncSession]:
    """Sessions of the application. With ``secret_key``, each session carries a key derived from
    it for keyed hashes of personal data (:func:`hash_key_of`), so a service needing one keeps
    the plain ``(session, …)`` signature; ``info`` adds other such shared objects (a read
    cache)."""
    shared: dict[str, Any] = dict(info or {})
    if secret_key is not None:
        derived = hmac.new(secret_key.encode(), b"levier:keyed-hashes", hashlib.sha256).digest()
        shared[HASH_KEY_INFO_KEY] = derived
    return async_sessionmaker(
        engine, sync_session_class=LevierSession, expire_on_commit=False, info=shared
    )


def hash_key_of(session: Session | AsyncSession) -> bytes:
    """The session's key for keyed hashes (derived from the app's secret key)."""
    key = session.info.get(HASH_KEY_INFO_KEY)
    if not isinstance(key, bytes):
        raise RuntimeError("this session factory was made without the secret key")
    return key


def open_session(
    factory: async_sessionmaker[AsyncSession],
    tenant: TenantId | None = None,
    *,
    actor: str | None = None,
    request_id: str | None = None,
) -> AsyncSession:
    """A session for platform tables (no tenant) or scoped to one brand.

    ``actor`` (``user:<id>``, ``task:<name>``, ``operator:cli``) and ``request_id`` say who
    writes through it, for the audit log.
    """
    session = factory()
    if tenant is not None:
        session.info[TENANT_INFO_KEY] = tenant
    if actor is not None:
        session.info[ACTOR_INFO_KEY] = actor
    if request_id is not None:
        session.info[REQUEST_ID_INFO_KEY] = request_id
    return session


def tenant_tables() -> list[Table]:
    """Every table that holds brand data (carries ``tenant_id``)."""
    return [table for table in Base.metadata.sorted_tables if "tenant_id" in table.columns]


@event.listens_for(LevierSession, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    tenant = session_tenant(state.session)
    if tenant is None:
        touched = [
            m.class_.__name__ for m in state.all_mappers if issubclass(m.class_, TenantMixin)
        ]
        if touched:
            raise TenantScopeError(f"tenant tables {touched} queried outside a brand scope")
        return
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantMixin,
            lambda cls: cls.tenant_id == tenant,
            include_aliases=True,
        )
    )


@event.listens_for(LevierSession, "before_flush")
def _stamp_tenant(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    tenant = session_tenant(session)
    for obj in session.new:
        if not isinstance(obj, TenantMixin):
            continue
        if tenant is None:
            raise TenantScopeError(f"{type(obj).__name__} created outside a brand scope")
        if obj.tenant_id is None:
            obj.tenant_id = tenant
        elif obj.tenant_id != tenant:
            raise TenantScopeError(f"{type(obj).__name__} stamped with another brand")
    for obj in session.dirty:
        if isinstance(obj, TenantMixin) and obj.tenant_id != tenant:
            raise TenantScopeError(f"{type(obj).__name__} moved to another brand")


@event.listens_for(LevierSession, "after_begin")
def _set_database_tenant(
    session: Session, _transaction: SessionTransaction, connection: Connection
) -> None:
    if connection.dialect.name != "postgresql":
        return
    tenant = session_tenant(session)
    # Always set, so a pooled connection never carries a previous tenant into this transaction.
    connection.execute(
        text(f"SELECT {SET_LOCAL_FUNCTION}(:name, :value)"),
        {"name": TENANT_SETTING, "value": str(tenant) if tenant else ""},
    )


def row_level_security_sql(table: str) -> list[str]:
    """DDL enabling and forcing RLS on a tenant table (PostgreSQL; used by migrations)."""
    predicate = f"tenant_id = NULLIF(current_setting('{TENANT_SETTING}', true), '')::uuid"
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {table} USING ({predicate}) WITH CHECK ({predicate})",
    ]


def drop_row_level_security_sql(table: str) -> list[str]:
    return [
        f"DROP POLICY IF EXISTS tenant_isolation ON {table}",
        f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
    ]
