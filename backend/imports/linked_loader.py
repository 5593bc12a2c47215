"""Rows of a linked table in an import: values validated with the table's typed columns (the
linked tables' own validation, :func:`backend.profiles.linked.service.write_rows`), the profile
found by ``profileId`` (a merged id means its survivor) or by an identity key (``email``,
``phone``, ``externalIds.<source>``).

The row key is the ``key`` column: a row whose key names a stored row of the table updates it
(values merged, a new version in its history); a row without a key always adds a row. Modes:
``upsert`` does both, ``create`` rejects a key already stored, ``update`` rejects a row without
a key or whose key names no row (an update may leave the profile out: the row keeps its own).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.tenancy import TenantId
from backend.imports import repository
from backend.imports.mapping import Targets, identity_key_of
from backend.imports.models import ImportMode
from backend.imports.profiles_loader import Outcome
from backend.imports.reader import Record
from backend.profiles import lookup
from backend.profiles.attributes import coerce_text
from backend.profiles.linked import service as linked
from backend.profiles.models import LinkedTable

# Identity key kinds, as the profiles domain stores them.
EMAIL, PHONE, EXTERNAL = lookup.EMAIL, lookup.PHONE, lookup.EXTERNAL
MAX_KEY = 200


@dataclass
class LinkedImportRow:
    line: int
    raw: str
    key: str | None
    profile_id: UUID | None
    identity_keys: list[tuple[str, str]]
    values: dict[str, Any]

    @property
    def names_profile(self) -> bool:
        return self.profile_id is not None or bool(self.identity_keys)


class LinkedLoader:
    def __init__(
        self,
        tenant: TenantId,
        mode: ImportMode,
        targets: Targets,
        table: LinkedTable,
        region: str | None,
    ) -> None:
        self.tenant = tenant
        self.mode = mode
        self.targets = targets
        self.table = table
        self.columns = linked.definitions(table)
        self.region = region

    def validate(self, record: Record) -> LinkedImportRow | str:
        """The row with its profile reference normalised, or why it is rejected; column values
        are judged when written (an update merges them into the stored row)."""
        if record.error:
            return record.error
        problems: list[str] = []
        key: str | None = None
        profile_id: Any = None
        identity_keys: list[tuple[str, str]] = []
        values: dict[str, Any] = {}
        for column, value in record.values.items():
            target = self.targets.of(column)
            if target is None or value is None:
                continue
            if isinstance(target, str):
                problems.append(f"{column}: {target}")
            elif target.kind == "attribute":
                values[target.name] = coerce_text(self.columns[target.name], value)
            elif (found := identity_key_of(target, value, self.region)) is not None:
                if isinstance(found, str):
                    problems.append(found)
                else:
                    identity_keys.append(found)
            elif target.name == "key":
                key = str(value).strip()
                if not 1 <= len(key) <= MAX_KEY:
                    problems.append(f"key: expected 1 to {MAX_KEY} characters")
            elif target.name == "profile_id":
                profile_id = value
        if problems:
            return "; ".join(problems)
        try:
            uuid = None if profile_id is None else msgspec.convert(profile_id, UUID)
        except msgspec.ValidationError:
            return "profileId: expected a profile id (UUID)"
        row = LinkedImportRow(record.line, record.raw, key, uuid, identity_keys, values)
        if self.mode is ImportMode.UPDATE and key is None:
            return "key: needed to find the row to update"
        if self.mode is not ImportMode.UPDATE and key is None and not row.names_profile:
            return "no profileId nor identity key (email, phone, external id) names the profile"
        return row

    async def write(
        self, session: AsyncSession, rows: list[LinkedImportRow], outcome: Outcome
    ) -> None:
        """Resolve each row's profile in bulk, then write the batch through the linked tables'
        bulk write (which keeps every row's history)."""
        owners = await repository.owners_of_keys(
            session, self.tenant, [key for row in rows for key in row.identity_keys]
        )
        # A merged id names its survivor (as everywhere else).
        current = await lookup.current_ids(
            session, [row.profile_id for row in rows if row.profile_id is not None]
        )
        writes: list[linked.RowWrite] = []
        rows_by_line = {row.line: row for row in rows}
        for row in rows:
            found = {owners[key] for key in row.identity_keys if key in owners}
            if row.identity_keys and not found:
                outcome.reject(row.line, "no profile has these identity keys", row.raw)
                continue
            if row.profile_id is not None:
                survivor = current.get(row.profile_id)
                if survivor is None:
                    outcome.reject(row.line, "profileId: no such profile", row.raw)
                    continue
                found.add(survivor)
            if len(found) > 1:
                reason = "the profile references point to different profiles"
                outcome.reject(row.line, reason, row.raw)
                continue
            profile = next(iter(found)) if found else None
            writes.append(linked.RowWrite(row.line, row.key, profile, row.values))
        result = await linked.write_rows(
            session,
            self.table,
            writes,
            create=self.mode is not ImportMode.UPDATE,
            update=self.mode is not ImportMode.CREATE,
        )
        for line, reason in result.rejected.items():
            outcome.reject(line, reason, rows_by_line[line].raw)
        outcome.created += result.created
        outcome.updated += result.updated
