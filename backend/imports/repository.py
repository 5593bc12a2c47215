"""Queries of the imports domain: the job row, rejections, and the set-based writes of profile
and order rows through staging tables. Core statements here stamp and filter ``tenant_id``
themselves (the session scopes ORM statements only); RLS still binds them on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Uuid,
    and_,
    cast,
    delete,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import ColumnElement, Select

from backend.core.db import JSONType, dialect_of, insert_for, postgres_settings
from backend.core.tenancy import TenantId
from backend.imports import staging
from backend.imports.mapping import PROFILE_FIELDS
from backend.imports.models import ImportChunk, ImportJob, ImportRejection, ImportStatus
from backend.profiles.models import Order, OrderLine, Profile, ProfileIdentity, ProfileUniqueValue

_LINE_KEYS = staging.staging_table(
    "levier_stage_line_keys",
    Column("line", Integer),
    Column("kind", String),
    Column("value", String),
)
_LOOKUP = staging.staging_table(
    "levier_stage_lookup", Column("kind", String), Column("value", String)
)
STAGED_PROFILES = staging.staging_table(
    "levier_stage_profiles",
    Column("profile_id", Uuid),
    Column("is_new", Boolean),
    *[Column(name, Date if name == "birth_date" else String) for name in PROFILE_FIELDS],
    Column("attributes", JSONType),
    analyze=("profile_id", "is_new"),
)
STAGED_KEYS = staging.staging_table(
    "levier_stage_keys", Column("kind", String), Column("value", String), Column("profile_id", Uuid)
)
STAGED_CLAIMS = staging.staging_table(
    "levier_stage_unique",
    Column("attribute", String),
    Column("value", String),
    Column("profile_id", Uuid),
)
_ORDERS = staging.staging_table(
    "levier_stage_orders",
    Column("id", Uuid),
    Column("order_id", String),
    Column("profile_id", Uuid),
    Column("occurred_at", DateTime(timezone=True)),
    Column("amount", Numeric(16, 4)),
    Column("currency", String),
    Column("store", String),
    Column("channel", String),
    Column("has_lines", Boolean),
)
_LINES = staging.staging_table(
    "levier_stage_lines",
    Column("id", Uuid),
    Column("order_id", String),
    Column("product", String),
    Column("category", String),
    Column("quantity", Numeric(12, 3)),
    Column("price", Numeric(16, 4)),
)

_P: Table = Profile.__table__  # type: ignore[assignment]
_I: Table = ProfileIdentity.__table__  # type: ignore[assignment]
_U: Table = ProfileUniqueValue.__table__  # type: ignore[assignment]
_O: Table = Order.__table__  # type: ignore[assignment]
_L: Table = OrderLine.__table__  # type: ignore[assignment]


async def _staged(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    await staging.create(session, table)
    await staging.load(session, table, rows)


async def _drop(session: AsyncSession, *tables: Table) -> None:
    for table in tables:
        await staging.drop(session, table)


def _lookup(
    session: AsyncSession,
    tenant: TenantId,
    stage: Table,
    table: Table,
    on: Sequence[tuple[str, str]],
    columns: Sequence[str],
) -> Select[Any]:
    """The staged rows' ``on`` columns with the ``columns`` of the ``table`` row each matches
    (``on``: staged column, table column; staged rows without a match are left out).

    On PostgreSQL the table is probed once per staged row (LATERAL … LIMIT 1, which the planner
    cannot flatten into a join): a plain join would let the planner hash the brand's whole table
    whenever its statistics lag behind (a table an import
    just grew by a million rows, before autovacuum analyses it), and read all of it on every
    batch. SQLite probes indexes per row anyway, and has no LATERAL."""
    keys = [stage.c[staged] for staged, _ in on]
    matches = [table.c[column] == stage.c[staged] for staged, column in on]
    if dialect_of(session) == "postgresql":
        found = (
            select(*[table.c[c] for c in columns])
            .where(table.c.tenant_id == tenant, *matches)
            .limit(1)  # the key is unique; and LIMIT keeps the planner from flattening it
            .lateral()
        )
        return select(*keys, *[found.c[c] for c in columns]).select_from(stage.join(found, true()))
    return select(*keys, *[table.c[c] for c in columns]).select_from(
        stage.join(table, and_(table.c.tenant_id == tenant, *matches))
    )


# Jobs ------------------------------------------------------------------------------------------


async def get_job(session: AsyncSession, import_id: UUID) -> ImportJob | None:
    return await session.scalar(
        select(ImportJob).where(ImportJob.id == import_id).execution_options(populate_existing=True)
    )


async def job_by_idempotency_key(session: AsyncSession, key: str) -> ImportJob | None:
    return await session.scalar(select(ImportJob).where(ImportJob.idempotency_key == key))


async def hold(session: AsyncSession, import_id: UUID, lines_done: int | None) -> bool:
    """Write-lock the job row if its checkpoint is still ``lines_done`` (False: another run
    moved it; None: whatever the checkpoint). Opening each batch's transaction with a write
    also keeps SQLite from failing a read transaction's later upgrade to a write."""
    # A job failed meanwhile (its file purged by an erasure) is not held: its run ends.
    statement = update(ImportJob).where(
        ImportJob.id == import_id, ImportJob.status == ImportStatus.RUNNING
    )
    if lines_done is not None:
        statement = statement.where(ImportJob.lines_done == lines_done)
    result = await session.execute(
        statement.values(updated_at=func.now()).execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def record_progress(
    session: AsyncSession,
    import_id: UUID,
    *,
    lines_done: int,
    rows: int,
    created: int,
    updated: int,
    rejected: int,
) -> None:
    """Move the checkpoint and the counters, in the batch's own transaction."""
    await session.execute(
        update(ImportJob)
        .where(ImportJob.id == import_id)
        .values(
            lines_done=lines_done,
            rows_done=ImportJob.rows_done + rows,
            created_count=ImportJob.created_count + created,
            updated_count=ImportJob.updated_count + updated,
            rejected_count=ImportJob.rejected_count + rejected,
            updated_at=func.now(),
        )
        .execution_options(synchronize_session=False)
    )


async def add_rejections(
    session: AsyncSession, tenant: TenantId, import_id: UUID, rows: Sequence[tuple[int, str, str]]
) -> None:
    if not rows:
        return
    table: Table = ImportRejection.__table__  # type: ignore[assignment]
    # Text columns take no NUL (PostgreSQL refuses it): a rejected row shows it escaped.
    values = [
        {
            "tenant_id": tenant,
            "import_id": import_id,
            "line": line,
            "reason": reason.replace("\0", "\\x00"),
            "raw": raw.replace("\0", "\\x00"),
        }
        for line, reason, raw in rows
    ]
    statement = insert_for(session, table).on_conflict_do_nothing()
    await session.execute(statement, values)


async def list_rejections(
    session: AsyncSession, import_id: UUID, after_line: int, limit: int
) -> list[ImportRejection]:
    query = (
        select(ImportRejection)
        .where(ImportRejection.import_id == import_id, ImportRejection.line > after_line)
        .order_by(ImportRejection.line)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


# Retention -------------------------------------------------------------------------------------

_ENDED = (ImportStatus.SUCCEEDED, ImportStatus.FAILED)


async def ended_with_files(session: AsyncSession, before: dt.datetime) -> list[UUID]:
    """Imports that ended before ``before`` and still hold their file or rejected rows."""
    query = select(ImportJob.id).where(
        ImportJob.purged_at.is_(None),
        ImportJob.status.in_(_ENDED),
        ImportJob.finished_at < before,
    )
    return list((await session.scalars(query)).all())


async def with_files(session: AsyncSession) -> list[tuple[UUID, str | None]]:
    """Imports still holding their file: id and encoding."""
    query = select(ImportJob.id, ImportJob.encoding).where(ImportJob.purged_at.is_(None))
    return [(row.id, row.encoding) for row in await session.execute(query)]


async def purge_files(session: AsyncSession, import_ids: Sequence[UUID], at: dt.datetime) -> None:
    """Delete the imports' stored files and rejected rows, noting when on the imports."""
    for model in (ImportChunk, ImportRejection):
        await session.execute(
            delete(model)
            .where(model.import_id.in_(import_ids))
            .execution_options(synchronize_session=False)
        )
    await session.execute(
        update(ImportJob)
        .where(ImportJob.id.in_(import_ids))
        .values(purged_at=at)
        .execution_options(synchronize_session=False)
    )


async def unfinished(session: AsyncSession, import_ids: Sequence[UUID]) -> list[ImportJob]:
    """Those of these imports still queued or running."""
    query = select(ImportJob).where(ImportJob.id.in_(import_ids), ImportJob.status.not_in(_ENDED))
    return list((await session.scalars(query)).all())


# Identity keys and unique values, in bulk -------------------------------------------------------


async def owners_of_keys(
    session: AsyncSession, tenant: TenantId, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], UUID]:
    """The profile each known identity key points to."""
    if not keys:
        return {}
    await _staged(session, _LOOKUP, [{"kind": k, "value": v} for k, v in set(keys)])
    rows = await session.execute(
        _lookup(
            session, tenant, _LOOKUP, _I, [("kind", "kind"), ("value", "value")], ["profile_id"]
        )
    )
    owners = {(kind, value): profile_id for kind, value, profile_id in rows}
    await _drop(session, _LOOKUP)
    return owners


async def holders_of_unique_values(
    session: AsyncSession, tenant: TenantId, claims: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], UUID]:
    """The profile holding each (unique attribute, value) already taken."""
    if not claims:
        return {}
    await _staged(session, _LOOKUP, [{"kind": a, "value": v} for a, v in set(claims)])
    rows = await session.execute(
        _lookup(
            session,
            tenant,
            _LOOKUP,
            _U,
            [("kind", "attribute"), ("value", "value")],
            ["profile_id"],
        )
    )
    holders = {(attribute, value): profile_id for attribute, value, profile_id in rows}
    await _drop(session, _LOOKUP)
    return holders


# Rows equal to their profile (re-imports) -------------------------------------------------------


async def rows_matching_profiles(
    session: AsyncSession,
    tenant: TenantId,
    columns: Sequence[tuple[str, str]],
    lines: Sequence[dict[str, Any]],
    keys: Sequence[dict[str, Any]],
) -> list[tuple[int, UUID, bool]]:
    """For each staged identity key (``line``, ``kind``, ``value``) that is known: its line, the
    profile it points to, and whether every given cell of the line (``lines``: ``line``,
    ``opaque``, ``c0``, ``c1``…) equals what that profile holds (never for an ``opaque`` line,
    one with a cell that cannot be compared here).

    ``columns`` are the (kind, name) targets of the cells: ``field`` (trimmed of spaces,
    compared with the stored text), ``attribute`` (compared exactly with the stored JSON value as
    text) or ``external`` (the profile holds that external id). An empty cell (NULL) matches
    anything: imports never clear a value. Equal means "writing the line would change nothing";
    a cell the database cannot prove equal sends the line through the full checks.
    """
    if not keys:
        return []
    stage = Table(
        "levier_stage_lines",
        MetaData(),
        Column("line", Integer),
        Column("opaque", Boolean),
        *[Column(f"c{index}", String) for index in range(len(columns))],
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )
    await _staged(session, stage, lines)
    await _staged(session, _LINE_KEYS, keys)
    k = _LINE_KEYS
    key_matches = [_I.c.tenant_id == tenant, _I.c.kind == k.c.kind, _I.c.value == k.c.value]
    profile_of_key = and_(_P.c.tenant_id == tenant, _P.c.id == _I.c.profile_id)
    if dialect_of(session) == "postgresql":  # one probe per key (see _lookup)
        profile: Any = (
            select(_P).join(_I, profile_of_key).where(*key_matches).limit(1).lateral("profile")
        )
        joined = k.join(profile, true())
    else:
        profile = _P
        joined = k.join(_I, and_(*key_matches)).join(_P, profile_of_key)
    held = _I.alias("held")
    same: list[ColumnElement[bool]] = []
    for index, (kind, name) in enumerate(columns):
        cell = stage.c[f"c{index}"]
        if kind == "field":
            stored: ColumnElement[Any] = profile.c[name]
            if name in ("birth_date", "channel_appetency"):
                stored = cast(stored, String)
            equal = func.trim(cell) == stored
        elif kind == "attribute":
            equal = cell == profile.c.attributes[name].as_string()
        else:
            equal = exists().where(
                held.c.tenant_id == tenant,
                held.c.kind == f"external:{name}",
                held.c.value == func.trim(cell),
                held.c.profile_id == profile.c.id,
            )
        same.append(or_(cell.is_(None), equal))
    query = select(k.c.line, profile.c.id, and_(stage.c.opaque.is_(False), *same)).select_from(
        joined.join(stage, stage.c.line == k.c.line)
    )
    found = [(line, profile, bool(equal)) for line, profile, equal in await session.execute(query)]
    await _drop(session, stage, _LINE_KEYS)
    return found


# Profiles, set-based -----------------------------------------------------------------------------


async def write_profiles(
    session: AsyncSession,
    tenant: TenantId,
    profiles: Sequence[dict[str, Any]],
    keys: Sequence[dict[str, Any]],
    claims: Sequence[dict[str, Any]],
) -> None:
    """Insert the new profiles, update the found ones (given fields overwrite, attributes merge
    key by key), move their identity keys and unique values; replaying it changes nothing."""
    if not profiles:
        return
    await _staged(session, STAGED_PROFILES, profiles)
    await _staged(session, STAGED_KEYS, keys)
    await _staged(session, STAGED_CLAIMS, claims)
    await write_staged_profiles(
        session,
        tenant,
        updates=any(not row["is_new"] for row in profiles),
        new_keys={key["kind"] for key in keys},
        claims=bool(claims),
    )


async def stage_profile_tables(session: AsyncSession) -> None:
    """Create the (empty) staging tables ``write_staged_profiles`` reads."""
    for table in (STAGED_PROFILES, STAGED_KEYS, STAGED_CLAIMS):
        await staging.create(session, table)


async def write_staged_profiles(
    session: AsyncSession,
    tenant: TenantId,
    *,
    updates: bool,
    new_keys: set[str],
    claims: bool,
    unheld: bool = False,
) -> None:
    """``write_profiles`` from its filled staging tables (``updates``: some staged profile
    exists; ``new_keys``: the kinds of the staged keys; ``claims``: some unique value is
    staged; ``unheld``: the caller found every staged key and unique value held by no profile
    in this transaction, so they are inserted plainly — a third cheaper than ``ON CONFLICT``,
    and a concurrent claim fails the batch instead of being skipped); drops them.

    Staged rows meet the brand's tables by index probes only (no hash or merge join): with the
    statistics of a table the import itself is growing, the planner took the brand for a few
    hundred profiles and hashed all of them for every batch (1.5 s a batch at a million)."""
    async with postgres_settings(session, _PROBES_ONLY):
        await _write_staged_profiles(
            session, tenant, updates=updates, new_keys=new_keys, claims=claims, unheld=unheld
        )


_PROBES_ONLY = {"enable_hashjoin": "off", "enable_mergejoin": "off"}


async def _write_staged_profiles(
    session: AsyncSession,
    tenant: TenantId,
    *,
    updates: bool,
    new_keys: set[str],
    claims: bool,
    unheld: bool,
) -> None:
    s = STAGED_PROFILES
    brand = literal(tenant, _P.c.tenant_id.type)
    pg = dialect_of(session) == "postgresql"
    # An updated profile whose email or phone changes gives up the old key. A changed value is
    # a key the profile does not hold yet, so it is staged in ``keys``: without one, no release.
    for name in ("email", "phone"):
        if name not in new_keys or not updates:
            continue
        changed = (
            _P.c.tenant_id == tenant,
            _P.c.id == s.c.profile_id,
            s.c.is_new.is_(False),
            s.c[name].is_not(None),
            _P.c[name].is_not(None),
            _P.c[name] != s.c[name],
        )
        key = (_I.c.tenant_id == tenant, _I.c.kind == name)
        if pg:  # DELETE … USING: a join the planner can hash
            released = delete(_I).where(
                *key, _I.c.value == _P.c[name], _I.c.profile_id == _P.c.id, *changed
            )
        else:
            old = select(_P.c[name], _P.c.id).where(*changed)
            released = delete(_I).where(*key, tuple_(_I.c.value, _I.c.profile_id).in_(old))
        await session.execute(released)
    u = STAGED_CLAIMS
    if not updates or not claims:
        pass
    elif pg:
        await session.execute(
            delete(_U).where(
                _U.c.tenant_id == tenant,
                _U.c.attribute == u.c.attribute,
                _U.c.profile_id == u.c.profile_id,
            )
        )
    else:
        await session.execute(
            delete(_U).where(
                _U.c.tenant_id == tenant,
                tuple_(_U.c.attribute, _U.c.profile_id).in_(select(u.c.attribute, u.c.profile_id)),
            )
        )
    empty = literal([], JSONType)
    await session.execute(
        _P.insert().from_select(
            ["tenant_id", "id", *PROFILE_FIELDS, "attributes", "bounced", "suppressed"],
            select(
                brand,
                s.c.profile_id,
                *[s.c[n] for n in PROFILE_FIELDS],
                s.c.attributes,
                empty,
                empty,
            ).where(s.c.is_new.is_(True)),
        )
    )
    changes: list[ColumnElement[bool]] = []
    if pg:  # rows equal to the stored ones are left alone (no dead tuple, no index churn)
        changes = [
            or_(
                *[
                    and_(s.c[n].is_not(None), s.c[n].is_distinct_from(_P.c[n]))
                    for n in PROFILE_FIELDS
                ],
                not_(_P.c.attributes.op("@>", return_type=Boolean)(s.c.attributes)),
            )
        ]
    await session.execute(
        update(_P)
        .where(_P.c.tenant_id == tenant, _P.c.id == s.c.profile_id, s.c.is_new.is_(False), *changes)
        .values(
            **{n: func.coalesce(s.c[n], _P.c[n]) for n in PROFILE_FIELDS},
            attributes=staging.json_merge(session, _P.c.attributes, s.c.attributes),
            updated_at=func.now(),
        )
    )
    for target, stage, columns in (
        (_I, STAGED_KEYS, ("kind", "value")),
        (_U, STAGED_CLAIMS, ("attribute", "value")),
    ):
        rows = select(brand, *[stage.c[c] for c in columns], stage.c.profile_id).where(true())
        if unheld:
            written: Any = target.insert().from_select(["tenant_id", *columns, "profile_id"], rows)
        else:
            written = (
                insert_for(session, target)
                .from_select(["tenant_id", *columns, "profile_id"], rows)
                .on_conflict_do_nothing()
            )
        await session.execute(written)
    await _drop(session, s, STAGED_KEYS, STAGED_CLAIMS)


# Orders, set-based -------------------------------------------------------------------------------


async def existing_orders(
    session: AsyncSession, tenant: TenantId, order_ids: Sequence[str]
) -> dict[str, UUID]:
    if not order_ids:
        return {}
    await _staged(session, _LOOKUP, [{"kind": "", "value": v} for v in set(order_ids)])
    rows = await session.execute(
        _lookup(session, tenant, _LOOKUP, _O, [("value", "order_id")], ["id"])
    )
    found = {order_id: uuid for order_id, uuid in rows}
    await _drop(session, _LOOKUP)
    return found


async def write_orders(
    session: AsyncSession,
    tenant: TenantId,
    orders: Sequence[dict[str, Any]],
    lines: Sequence[dict[str, Any]],
) -> None:
    """Upsert orders on ``(tenant_id, order_id)``; an order given with lines has its lines
    replaced by them. Replaying it changes nothing."""
    if not orders:
        return
    s = _ORDERS
    await _staged(session, s, orders)
    await _staged(session, _LINES, lines)
    brand = literal(tenant, _O.c.tenant_id.type)
    fields = ("profile_id", "occurred_at", "amount", "currency", "store", "channel")
    insert = insert_for(session, _O).from_select(
        ["tenant_id", "id", "order_id", *fields],
        select(brand, s.c.id, s.c.order_id, *[s.c[f] for f in fields]).where(true()),
    )
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=["tenant_id", "order_id"],
            set_={**{f: insert.excluded[f] for f in fields}, "updated_at": func.now()},
        )
    )
    replaced = (
        select(_O.c.id)
        .join(s, _O.c.order_id == s.c.order_id)
        .where(_O.c.tenant_id == tenant, s.c.has_lines.is_(True))
    )
    await session.execute(delete(_L).where(_L.c.tenant_id == tenant, _L.c.order_uuid.in_(replaced)))
    line = _LINES
    await session.execute(
        _L.insert().from_select(
            ["tenant_id", "id", "order_uuid", "product", "category", "quantity", "price"],
            select(
                brand,
                line.c.id,
                _O.c.id,
                line.c.product,
                line.c.category,
                line.c.quantity,
                line.c.price,
            ).join(_O, and_(_O.c.tenant_id == tenant, _O.c.order_id == line.c.order_id)),
        )
    )
    await _drop(session, s, _LINES)
