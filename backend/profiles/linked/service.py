"""Linked tables: brand-defined tables around the profile (coupons, loyalty points, contracts…).

A table has typed columns (the types, defaults and validation of profile attributes). Its rows live
in one tenant table (``linked_rows``, values as JSON) and each references one profile by
``(tenant_id, profile_id)``: deleting the profile deletes its rows (the foreign key cascades), and a
merge re-points them to the survivor (the :func:`repoint_rows` hook). Every change of a row appends
a version to ``linked_row_versions`` (created, updated, merged, deleted), so a row's history stays
readable, even once the row is deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import utcnow
from backend.core.errors import Conflict, InvalidInput, NotFound
from backend.core.ids import new_id
from backend.core.pagination import PageRequest
from backend.core.signals import Signals
from backend.core.tenancy import TenantId
from backend.profiles import attributes as attribute_rules
from backend.profiles import repository as profile_repository
from backend.profiles import service
from backend.profiles.fields import (
    FieldErrors,
    normalise_email,
    normalise_phone,
    region_of_locale,
    valid_source,
)
from backend.profiles.linked import repository
from backend.profiles.linked.schemas import (
    LinkedColumn,
    LinkedRowCreate,
    LinkedRowUpdate,
    LinkedTableCreate,
    LinkedTableUpdate,
    ProfileKey,
)
from backend.profiles.models import (
    AttributeType,
    LinkedRow,
    LinkedRowOperation,
    LinkedRowVersion,
    LinkedTable,
    ProfileAttribute,
)
from backend.tenancy import service as tenancy_service


@dataclass(frozen=True)
class RowView:
    """A row with its table's key (a row holds the table's id), read like the row itself:
    its REST shape is ``LinkedRowOut.of(view)``."""

    row: LinkedRow
    table: str  # the table's key

    def __getattr__(self, name: str) -> Any:
        return getattr(self.row, name)


# Column definitions ----------------------------------------------------------------------------


def _definition(column: LinkedColumn | dict[str, Any]) -> ProfileAttribute:
    """A column as an (unsaved) attribute definition, so attribute validation applies as is."""
    c = column if isinstance(column, LinkedColumn) else msgspec.convert(column, LinkedColumn)
    return ProfileAttribute(
        key=c.key,
        label=c.label,
        type=c.type,
        required=c.required,
        unique=False,
        default=c.default,
        options=c.options,
    )


def definitions(table: LinkedTable) -> dict[str, ProfileAttribute]:
    return {d.key: d for d in (_definition(c) for c in table.columns or [])}


def _checked_columns(columns: Sequence[LinkedColumn], errors: FieldErrors) -> list[dict[str, Any]]:
    """The columns as stored (defaults normalised); each violation names ``columns[i].<field>``."""
    stored: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, column in enumerate(columns):
        field = f"columns[{index}]"
        if column.key in seen:
            errors.add(f"{field}.key", f"column {column.key!r} is defined twice")
        seen.add(column.key)
        default = column.default
        if column.type is AttributeType.ENUM:
            if not column.options:
                errors.add(f"{field}.options", "an enum column needs its options")
                continue
            if len(set(column.options)) != len(column.options):
                errors.add(f"{field}.options", "options must be distinct")
        elif column.options is not None:
            errors.add(f"{field}.options", "only enum columns have options")
            continue
        if default is not None:
            try:
                default = attribute_rules.normalise_value(_definition(column), default)
            except ValueError as exc:
                errors.add(f"{field}.default", str(exc))
        stored.append(msgspec.to_builtins(msgspec.structs.replace(column, default=default)))
    return stored


# Tables ----------------------------------------------------------------------------------------


async def list_tables(
    session: AsyncSession, page: PageRequest
) -> tuple[list[LinkedTable], str | None]:
    return await repository.tables_page(session, page)


async def count_tables(session: AsyncSession) -> int:
    return await repository.count_tables(session)


async def get_table(session: AsyncSession, key: str) -> LinkedTable:
    table = await repository.table_by_key(session, key)
    if table is None:
        raise NotFound(f"no linked table {key!r}", errors=[{"field": "key"}])
    return table


async def create_table(session: AsyncSession, data: LinkedTableCreate) -> LinkedTable:
    """Define a linked table; its ``key`` names it in row URLs."""
    errors = FieldErrors()
    columns = _checked_columns(data.columns, errors)
    errors.raise_if_any()
    if await repository.table_id_of_key(session, data.key):
        raise Conflict(f"linked table {data.key!r} exists", errors=[{"field": "key"}])
    table = LinkedTable(key=data.key, label=data.label, columns=columns)
    session.add(table)
    await session.flush()
    return table


async def update_table(session: AsyncSession, key: str, data: LinkedTableUpdate) -> LinkedTable:
    """Change the label, or the columns: new ones may be added and existing ones changed (label,
    required, default, options), but not removed or retyped, since rows hold their values."""
    table = await get_table(session, key)
    if data.columns is not msgspec.UNSET:
        errors = FieldErrors()
        columns = _checked_columns(data.columns, errors)
        given = {c.key: c for c in data.columns}
        for old in table.columns or []:
            if old["key"] not in given:
                errors.add("columns", f"column {old['key']!r} cannot be removed")
        for index, column in enumerate(data.columns):
            old_type = next((c["type"] for c in table.columns if c["key"] == column.key), None)
            if old_type is not None and old_type != column.type.value:
                errors.add(f"columns[{index}].type", "the type of a column is fixed")
        errors.raise_if_any()
        table.columns = columns
    if data.label is not msgspec.UNSET:
        table.label = data.label
    await session.flush()
    return table


async def delete_table(session: AsyncSession, key: str) -> None:
    """Delete the table with its rows and their history (the foreign keys cascade)."""
    table = await get_table(session, key)
    await session.delete(table)
    await session.flush()


# Rows ------------------------------------------------------------------------------------------


def _version(row: LinkedRow, operation: LinkedRowOperation) -> LinkedRowVersion:
    return LinkedRowVersion(
        row_id=row.id,
        table_id=row.table_id,
        profile_id=row.profile_id,
        version=row.version,
        operation=operation,
        values=dict(row.values or {}),
        changed_at=utcnow(),
    )


async def _profile_by_key(session: AsyncSession, tenant: TenantId, key: ProfileKey) -> UUID:
    value: str | None = key.value
    if key.kind == service.EMAIL:
        value = normalise_email(key.value)
    elif key.kind == service.PHONE:
        region = region_of_locale((await tenancy_service.get_brand(session, tenant)).locale)
        value = normalise_phone(key.value, region)
    elif not (
        key.kind.startswith(service.EXTERNAL) and valid_source(key.kind[len(service.EXTERNAL) :])
    ):
        raise InvalidInput(
            "expected the kind email, phone or external:<source>",
            errors=[{"field": "profileKey.kind"}],
        )
    owners = (
        {}
        if value is None
        else await profile_repository.owners_of_keys(session, [(key.kind, value)])
    )
    if not owners:
        raise InvalidInput(
            "no profile holds this identity key", errors=[{"field": "profileKey.value"}]
        )
    return next(iter(owners.values()))


async def _target_profile(session: AsyncSession, tenant: TenantId, data: LinkedRowCreate) -> UUID:
    if (data.profile_id is None) == (data.profile_key is None):
        raise InvalidInput(
            "name the profile by profileId or by profileKey (one of them)",
            errors=[{"field": "profileId"}, {"field": "profileKey"}],
        )
    if data.profile_key is not None:
        return await _profile_by_key(session, tenant, data.profile_key)
    assert data.profile_id is not None
    survivor = await service.survivor_of(session, data.profile_id)  # a merged id: its survivor
    if survivor is None:
        raise InvalidInput("no profile has this id", errors=[{"field": "profileId"}])
    return survivor


async def create_row(
    session: AsyncSession, tenant: TenantId, key: str, data: LinkedRowCreate
) -> RowView:
    """Add a row for the profile named by id (a merged id means its survivor) or identity key;
    values are validated against the columns (defaults applied, required ones checked)."""
    table = await get_table(session, key)
    errors = FieldErrors()
    values = attribute_rules.validate_values(
        definitions(table), {}, data.values, errors, creating=True, prefix="values", noun="column"
    )
    errors.raise_if_any()
    profile_id = await _target_profile(session, tenant, data)
    if data.key is not None and await repository.rows_by_key(session, table.id, [data.key]):
        raise Conflict("a row with this key exists in the table", errors=[{"field": "key"}])
    row = LinkedRow(
        table_id=table.id, profile_id=profile_id, key=data.key, values=values, version=1
    )
    session.add(row)
    await session.flush()
    session.add(_version(row, LinkedRowOperation.CREATED))
    await session.flush()
    await service.related_changed(session, [profile_id])
    return RowView(row, table.key)


@dataclass(frozen=True)
class RowWrite:
    """One row to write in bulk (an import): its key in the table (None: always a new row), the
    profile it belongs to (already resolved; None keeps an existing row's profile) and the
    values given (validated here, against the table's columns)."""

    line: int
    key: str | None
    profile_id: UUID | None
    values: dict[str, Any]


@dataclass
class BulkOutcome:
    created: int = 0
    updated: int = 0
    rejected: dict[int, str] = field(default_factory=dict)  # line → reason


async def write_rows(
    session: AsyncSession,
    table: LinkedTable,
    writes: Sequence[RowWrite],
    *,
    create: bool,
    update: bool,
) -> BulkOutcome:
    """Write many rows of one table in order, as :func:`create_row` and :func:`update_row`
    would one by one: a write whose key names a row updates it (values merged, a new version),
    any other creates a row (defaults applied, required columns checked). ``create=False``
    refuses new rows, ``update=False`` refuses rows whose key is taken. Two queries and one
    flush for the whole batch."""
    columns = definitions(table)
    keys = [w.key for w in writes if w.key is not None]
    by_key = await repository.rows_by_key(session, table.id, keys)
    outcome = BulkOutcome()
    for write in writes:
        row = by_key.get(write.key) if write.key is not None else None
        errors = FieldErrors()
        if row is not None:
            if not update:
                outcome.rejected[write.line] = "key: a row with this key exists in the table"
                continue
            values = attribute_rules.validate_values(
                columns,
                dict(row.values or {}),
                write.values,
                errors,
                creating=False,
                prefix="values",
                noun="column",
            )
            if errors.errors:
                outcome.rejected[write.line] = _reason(errors)
                continue
            row.values = values
            if write.profile_id is not None:
                row.profile_id = write.profile_id
            row.version += 1
            session.add(_version(row, LinkedRowOperation.UPDATED))
            outcome.updated += 1
            continue
        if not create:
            outcome.rejected[write.line] = (
                "key: no row has this key in the table"
                if write.key is not None
                else "key: needed to find the row to update"
            )
            continue
        if write.profile_id is None:
            outcome.rejected[write.line] = "no profile named (profileId, email, phone, external id)"
            continue
        values = attribute_rules.validate_values(
            columns, {}, write.values, errors, creating=True, prefix="values", noun="column"
        )
        if errors.errors:
            outcome.rejected[write.line] = _reason(errors)
            continue
        row = LinkedRow(
            id=new_id(),
            table_id=table.id,
            profile_id=write.profile_id,
            key=write.key,
            values=values,
            version=1,
        )
        session.add(row)
        session.add(_version(row, LinkedRowOperation.CREATED))
        if write.key is not None:
            by_key[write.key] = row
        outcome.created += 1
    await session.flush()
    return outcome


def _reason(errors: FieldErrors) -> str:
    return "; ".join(f"{e['field']}: {e['message']}" for e in errors.errors)


async def _row(session: AsyncSession, table: LinkedTable, row_id: UUID) -> LinkedRow:
    row = await repository.row_in_table(session, table.id, row_id)
    if row is None:
        raise NotFound("no such row in this linked table")
    return row


async def get_row(session: AsyncSession, key: str, row_id: UUID) -> RowView:
    table = await get_table(session, key)
    return RowView(await _row(session, table, row_id), table.key)


async def update_row(
    session: AsyncSession, key: str, row_id: UUID, data: LinkedRowUpdate
) -> RowView:
    """Merge values into the row (``null`` removes one) and append the new version."""
    table = await get_table(session, key)
    row = await _row(session, table, row_id)
    errors = FieldErrors()
    values = attribute_rules.validate_values(
        definitions(table),
        dict(row.values or {}),
        data.values,
        errors,
        creating=False,
        prefix="values",
        noun="column",
    )
    errors.raise_if_any()
    row.values = values
    row.version += 1
    await session.flush()
    session.add(_version(row, LinkedRowOperation.UPDATED))
    await session.flush()
    await service.related_changed(session, [row.profile_id])
    return RowView(row, table.key)


async def delete_row(session: AsyncSession, key: str, row_id: UUID) -> None:
    """Delete the row; its history stays, ending with a ``deleted`` version."""
    table = await get_table(session, key)
    row = await _row(session, table, row_id)
    row.version += 1
    session.add(_version(row, LinkedRowOperation.DELETED))
    await session.delete(row)
    await session.flush()
    await service.related_changed(session, [row.profile_id])


async def get_row_by_id(session: AsyncSession, row_id: UUID) -> RowView:
    """A row of any table by its id (for `node(id:)`)."""
    row = await repository.row_by_id(session, row_id)
    if row is None:
        raise NotFound("no such linked row")
    table = await repository.table_by_id(session, row.table_id)
    assert table is not None  # the foreign key holds it
    return RowView(row, table.key)


async def get_table_by_id(session: AsyncSession, table_id: UUID) -> LinkedTable:
    table = await repository.table_by_id(session, table_id)
    if table is None:
        raise NotFound("no such linked table")
    return table


async def list_rows(
    session: AsyncSession, key: str, page: PageRequest, *, profile_id: UUID | None = None
) -> tuple[list[RowView], str | None]:
    """Rows of the table in creation order; ``profile_id`` (a merged id: its survivor) filters."""
    table = await get_table(session, key)
    if profile_id is not None:
        profile_id = await service.survivor_of(session, profile_id) or profile_id
    rows, cursor = await repository.rows_page(session, table.id, page, profile_id=profile_id)
    return [RowView(r, table.key) for r in rows], cursor


async def count_rows(session: AsyncSession, key: str, *, profile_id: UUID | None = None) -> int:
    """How many rows :func:`list_rows` would list in all (none for an unknown table)."""
    table_id = await repository.table_id_of_key(session, key)
    if table_id is None:
        return 0
    if profile_id is not None:
        profile_id = await service.survivor_of(session, profile_id) or profile_id
    return await repository.count_rows(session, table_id, profile_id=profile_id)


async def profile_rows(
    session: AsyncSession, profile_id: UUID, key: str, page: PageRequest
) -> tuple[list[RowView], str | None]:
    """The profile's rows in one table (ProfileMerged for a merged id)."""
    profile = await service.get_profile(session, profile_id)
    table = await get_table(session, key)
    rows, cursor = await repository.rows_page(session, table.id, page, profile_id=profile.id)
    return [RowView(r, table.key) for r in rows], cursor


async def history(
    session: AsyncSession, key: str, row_id: UUID, page: PageRequest
) -> tuple[list[LinkedRowVersion], str | None]:
    """Every version of the row, oldest first; a deleted row's history stays readable."""
    table = await get_table(session, key)
    versions, cursor = await repository.versions_page(session, table.id, row_id, page)
    if not versions and page.after is None:
        raise NotFound("no such row in this linked table")
    return versions, cursor


async def rows_of_profiles(
    session: AsyncSession, key: str, profile_ids: Sequence[UUID]
) -> dict[UUID, list[RowView]]:
    """Rows of many profiles in one table, in two queries (for dataloaders); an unknown table
    has no rows."""
    by_profile: dict[UUID, list[RowView]] = {i: [] for i in profile_ids}
    table_id = await repository.table_id_of_key(session, key)
    if table_id is None or not profile_ids:
        return by_profile
    for row in await repository.rows_of_profiles(session, table_id, profile_ids):
        by_profile.setdefault(row.profile_id, []).append(RowView(row, key))
    return by_profile


async def rows_by_table(session: AsyncSession, profile_id: UUID) -> dict[str, list[RowView]]:
    """Every row of the profile, by table key, oldest first, in two queries (template
    context)."""
    keys = await repository.table_keys(session)
    by_table: dict[str, list[RowView]] = {key: [] for key in keys.values()}
    for row in await repository.rows_of_profile(session, profile_id):
        by_table[keys[row.table_id]].append(RowView(row, keys[row.table_id]))
    return by_table


async def rows_by_table_of_many(
    session: AsyncSession, profile_ids: Sequence[UUID]
) -> dict[UUID, dict[str, list[RowView]]]:
    """:func:`rows_by_table` of many profiles, in two queries whatever their number (template
    contexts of a batch of sends)."""
    keys = await repository.table_keys(session)
    by_profile: dict[UUID, dict[str, list[RowView]]] = {
        i: {key: [] for key in keys.values()} for i in profile_ids
    }
    for row in await repository.rows_of_many_profiles(session, profile_ids):
        key = keys[row.table_id]
        by_profile[row.profile_id][key].append(RowView(row, key))
    return by_profile


async def everything_of_profile(
    session: AsyncSession, profile_id: UUID
) -> list[tuple[RowView, list[LinkedRowVersion]]]:
    """Every row of the profile in every table, each with its history (for GDPR exports)."""
    keys = await repository.table_keys(session)
    rows = await repository.rows_of_profile(session, profile_id)
    by_row: dict[UUID, list[LinkedRowVersion]] = {}
    for version in await repository.versions_of_profile(session, profile_id):
        by_row.setdefault(version.row_id, []).append(version)
    return [(RowView(r, keys[r.table_id]), by_row.get(r.id, [])) for r in rows]


# Merges ----------------------------------------------------------------------------------------


async def repoint_rows(
    session: AsyncSession, tenant: TenantId, survivor_id: UUID, merged_id: UUID
) -> None:
    """The merged profile's rows and their history move to the survivor; each moved row gets a
    ``merged`` version."""
    await repository.move_versions(session, merged_id, survivor_id)
    for row in await repository.rows_of_profile(session, merged_id):
        row.profile_id = survivor_id
        row.version += 1
        session.add(_version(row, LinkedRowOperation.MERGED))
    await session.flush()


async def delete_rows_of_profile(session: AsyncSession, tenant: TenantId, profile_id: UUID) -> None:
    """A deleted profile's rows and their history go too (set-based; the foreign keys would
    cascade anyway)."""
    await repository.delete_of_profile(session, profile_id)


def connect(signals: Signals) -> None:
    """Connect the linked rows' receivers: rows and their history follow their profile."""
    signals.connect(service.PROFILE_MERGED, repoint_rows)
    signals.connect(service.PROFILE_DELETED, delete_rows_of_profile)
