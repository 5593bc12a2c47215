"""PostgreSQL roles: the runtime role must be bound by row-level security, and the migrations give
it exactly the privileges it needs.

Two roles share a database: the schema owner, which ``levier migrate`` connects as
(``LEVIER_MIGRATION_DATABASE_URL``), and the runtime role of the API, worker and scheduler
(``LEVIER_DATABASE_URL``). A superuser, a BYPASSRLS role or a table's owner can switch brand
isolation off (``SET row_security = off``, ``ALTER TABLE … DISABLE ROW LEVEL SECURITY``): the
runtime refuses to start as one of them.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from backend.config import Settings, SettingsError
from backend.core.db import create_engine

# What the runtime role may do on the tables, and nothing more (no TRUNCATE, REFERENCES, TRIGGER,
# and no ownership, so no ALTER or DROP).
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
# Alembic's bookkeeping table is the migrations' business only.
MIGRATION_TABLES = ("alembic_version",)

_FIX = (
    "Connect the API, worker and scheduler as a role created with LOGIN NOSUPERUSER NOBYPASSRLS "
    "that owns nothing (LEVIER_DATABASE_URL), and run `levier migrate` as the role that owns the "
    "schema (LEVIER_MIGRATION_DATABASE_URL): it grants the runtime role what it needs."
)


class UnsafeDatabaseRole(SettingsError):
    """The runtime database role could switch row-level security off."""


_PRIVILEGED_ROLES = text(
    "SELECT r.rolname, r.rolsuper, r.rolbypassrls FROM pg_roles r "
    "WHERE pg_has_role(current_user, r.oid, 'MEMBER') AND (r.rolsuper OR r.rolbypassrls) "
    "ORDER BY r.rolname = current_user DESC, r.rolname"
)
# MEMBER, not USAGE: a member of a NOINHERIT owner role can still SET ROLE to it.
_OWNED_TABLES = text(
    "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = ANY (current_schemas(false)) AND c.relkind IN ('r', 'p') "
    "AND pg_has_role(current_user, c.relowner, 'MEMBER') ORDER BY c.relname"
)
# A schema's owner may drop (and so replace) any table in it.
_OWNED_SCHEMAS = text(
    "SELECT n.nspname, pg_get_userbyid(n.nspowner) FROM pg_namespace n "
    "WHERE n.nspname = ANY (current_schemas(false)) "
    "AND pg_has_role(current_user, n.nspowner, 'MEMBER') ORDER BY n.nspname"
)


async def runtime_role_problems(connection: AsyncConnection) -> list[str]:
    """Why the connection's role must not run Levier: empty when it is bound by row-level
    security and owns neither the tables nor their schema."""
    user = (await connection.execute(text("SELECT current_user"))).scalar_one()
    problems: list[str] = []
    for name, is_super, bypasses in (await connection.execute(_PRIVILEGED_ROLES)).all():
        via = "" if name == user else f" through its membership in role {name!r}"
        if is_super:
            problems.append(f"role {user!r} is a superuser{via}")
        elif bypasses:
            problems.append(f"role {user!r} has BYPASSRLS{via}")
    tables = (await connection.execute(_OWNED_TABLES)).all()
    if tables:
        names = ", ".join(name for name, _ in tables[:5]) + (", …" if len(tables) > 5 else "")
        owners = sorted({owner for _, owner in tables})
        problems.append(
            f"role {user!r} owns the tables ({names}; owner {', '.join(owners)}) and could "
            "disable their row-level security"
        )
    for schema, owner in (await connection.execute(_OWNED_SCHEMAS)).all():
        problems.append(
            f"role {user!r} owns schema {schema!r} (owner {owner}) and could drop its tables"
        )
    return problems


async def _check(settings: Settings) -> list[str]:
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            return await runtime_role_problems(connection)
    finally:
        await engine.dispose()


def ensure_safe_runtime_role(settings: Settings) -> None:
    """Refuse to run the API, worker or scheduler on PostgreSQL as a role that could switch
    row-level security off (nothing to check on SQLite, which has no roles)."""
    if settings.is_sqlite:
        return
    # Callers may run inside an event loop of their own: check from a thread with its own.
    with ThreadPoolExecutor(max_workers=1) as executor:
        problems = executor.submit(asyncio.run, _check(settings)).result()
    if problems:
        raise UnsafeDatabaseRole(f"LEVIER_DATABASE_URL is unsafe: {'; '.join(problems)}. {_FIX}")


def grant_runtime_privileges(connection: Connection, role: str) -> None:
    """Give ``role`` exactly the runtime privileges on every table, sequence and function of the
    current schema: run after every upgrade, so tables of later migrations are covered too.
    Anything granted before (or owned privileges' leftovers) is revoked first."""
    quote = connection.dialect.identifier_preparer.quote
    schema = quote(connection.execute(text("SELECT current_schema()")).scalar_one())
    grantee = quote(role)
    statements = [
        f"GRANT USAGE ON SCHEMA {schema} TO {grantee}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {grantee}",
        f"GRANT {', '.join(TABLE_PRIVILEGES)} ON ALL TABLES IN SCHEMA {schema} TO {grantee}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {grantee}",
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {grantee}",
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {schema} TO {grantee}",
    ]
    for table in MIGRATION_TABLES:
        if connection.execute(text("SELECT to_regclass(:t)"), {"t": table}).scalar_one():
            statements.append(f"REVOKE ALL ON {schema}.{quote(table)} FROM {grantee}")
    for statement in statements:
        connection.execute(text(statement))
