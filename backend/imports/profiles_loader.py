"""Profile rows of an import: validated with the profiles domain's rules, resolved against the
brand's identity keys in bulk, written set-based.

Each batch runs in passes. A pass holds rows whose identity keys and unique values do not
collide with an earlier row of the batch (a colliding row waits for the next pass), so the
outcome is the one of writing the rows one after the other, in file order. In a pass:

* keys owned by no profile → a new profile (``create``, ``upsert``; ``update`` rejects the row);
* keys owned by one profile → that profile is updated (``update``, ``upsert``; ``create``
  rejects the row); given fields overwrite, attributes are merged key by key;
* keys owned by **several** profiles → the row joins them: it goes through the profiles
  service's upsert, which merges them by the documented rule (older survives), in a savepoint;
  ``create`` rejects it. These rows are few; everything else is set-based.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.errors import LevierError
from backend.core.ids import new_id
from backend.core.tenancy import TenantId
from backend.imports import repository
from backend.imports.mapping import PROFILE_FIELDS, Target, Targets, identity_key_of
from backend.imports.models import ImportMode
from backend.imports.reader import Record
from backend.profiles import gdpr
from backend.profiles import service as profiles_service
from backend.profiles.attributes import unique_key, validate_values
from backend.profiles.fields import (
    FieldErrors,
    normalise_country,
    normalise_standard_fields,
)
from backend.profiles.models import AttributeType, ProfileAttribute
from backend.profiles.schemas import MAX_EXTERNAL_ID, ExternalId, ProfileCreate, WriteMode

EMAIL, PHONE, EXTERNAL = "email", "phone", "external:"
_CAMEL = {
    name: ProfileCreate.__struct_encode_fields__[i]
    for i, name in enumerate(ProfileCreate.__struct_fields__)
}
_TRUE, _FALSE = {"true", "1", "yes", "y"}, {"false", "0", "no", "n"}


@dataclass
class ProfileRow:
    line: int
    raw: str
    fields: dict[str, Any]
    attributes: dict[str, Any]
    external: list[tuple[str, str]]
    unique: list[tuple[str, str]] = field(default_factory=list)

    def identity_keys(self) -> list[tuple[str, str]]:
        keys = list(self.external)
        if self.fields.get("email"):
            keys.append((EMAIL, self.fields["email"]))
        if self.fields.get("phone"):
            keys.append((PHONE, self.fields["phone"]))
        return keys


@dataclass
class Outcome:
    created: int = 0
    updated: int = 0
    rejections: list[tuple[int, str, str]] = field(default_factory=list)

    def reject(self, line: int, reason: str, raw: str) -> None:
        self.rejections.append((line, reason, raw))


def _reason(errors: FieldErrors) -> str:
    return "; ".join(f"{e['field']}: {e['message']}" for e in errors.errors)


def _coerce(definition: ProfileAttribute, value: Any) -> Any:
    """A CSV cell (text) as the attribute's type expects it; other values pass unchanged."""
    if not isinstance(value, str):
        return value
    if definition.type is AttributeType.NUMBER:
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                return value
    if definition.type is AttributeType.BOOLEAN:
        lowered = value.strip().lower()
        return True if lowered in _TRUE else False if lowered in _FALSE else value
    return value


class ProfileLoader:
    def __init__(
        self,
        tenant: TenantId,
        mode: ImportMode,
        targets: Targets,
        definitions: Mapping[str, ProfileAttribute],
        region: str | None,
    ) -> None:
        self.tenant = tenant
        self.mode = mode
        self.targets = targets
        self.definitions = dict(definitions)
        self.region = region

    # Validation ----------------------------------------------------------------------------

    def validate(self, record: Record) -> ProfileRow | str:
        """The row, normalised as the profiles service would, or why it is rejected."""
        if record.error:
            return record.error
        given: dict[str, Any] = {}
        attributes: dict[str, Any] = {}
        external: list[tuple[str, str]] = []
        errors = FieldErrors()
        for column, value in record.values.items():
            if value is None:
                continue
            target = self.targets.of(column)
            if target is None:
                continue
            if isinstance(target, str):
                errors.add(column, target)
            elif target.kind == "field":
                given[_CAMEL[target.name]] = value.strip() if isinstance(value, str) else value
            elif target.kind == "attribute":
                attributes[target.name] = _coerce(self.definitions[target.name], value)
            else:
                external.append(self._external(target, value, errors))
        if errors.errors:
            return _reason(errors)
        try:
            data = msgspec.convert(given, ProfileCreate, strict=False)
        except msgspec.ValidationError as exc:
            return str(exc)
        fields = {name: getattr(data, name) for name in PROFILE_FIELDS if _CAMEL[name] in given}
        self._normalise(fields, errors)
        attributes = validate_values(self.definitions, {}, attributes, errors, creating=False)
        if errors.errors:
            return _reason(errors)
        row = ProfileRow(record.line, record.raw, fields, attributes, external)
        row.unique = [
            (key, unique_key(value))
            for key, value in attributes.items()
            if self.definitions[key].unique
        ]
        if self.mode is ImportMode.UPDATE and not row.identity_keys():
            return "no identity key (email, phone or external id) to find the profile by"
        return row

    @staticmethod
    def _external(target: Target, value: Any, errors: FieldErrors) -> tuple[str, str]:
        text = str(value).strip()
        if not text or len(text) > MAX_EXTERNAL_ID:
            errors.add(
                f"externalIds.{target.name}", f"expected an id of 1 to {MAX_EXTERNAL_ID} characters"
            )
        return (EXTERNAL + target.name, text)

    def _normalise(self, fields: dict[str, Any], errors: FieldErrors) -> None:
        # The same rules as the profiles service applies to a REST write.
        fields.update(normalise_standard_fields(fields, errors, self.region))
        if fields.get("channel_appetency") is not None:
            fields["channel_appetency"] = str(fields["channel_appetency"])

    # Re-imports ----------------------------------------------------------------------------

    async def unchanged(
        self, session: AsyncSession, records: list[Record], busy: set[UUID] | None
    ) -> tuple[set[int], set[UUID]]:
        """Lines of ``records`` that would change nothing (each equal to the one profile all its
        identity keys point to), and every profile the batch's known keys point to.

        A re-import of an unchanged file then costs one join per batch instead of the row
        checks and writes. A line is skipped only when nothing else can touch its profile
        first: no other line of the batch points to it, nor did the previous batch (``busy``:
        its profiles, found before it was written; None when unknown: nothing is skipped).
        ``create`` skips nothing (such lines are rejected)."""
        if self.mode is ImportMode.CREATE or not records:
            return set(), set()
        columns: dict[str, int] = {}
        targets: list[tuple[str, str]] = []
        lines: list[dict[str, Any]] = []
        staged: list[dict[str, Any]] = []
        key_counts: dict[int, int] = {}
        for record in records:
            if record.error:
                continue
            keys = self._raw_keys(record)
            if not keys:
                continue
            # A cell the database cannot compare makes the line opaque: its keys still count
            # (it may touch their profiles), but it is never skipped.
            cells: dict[str, Any] = {"opaque": False}
            for column, value in record.values.items():
                target = self.targets.of(column)
                if target is None:
                    continue
                comparable = isinstance(value, str | int) and not isinstance(value, bool)
                if isinstance(target, str) or not comparable:
                    cells["opaque"] = True
                else:
                    if column not in columns:
                        columns[column] = len(targets)
                        targets.append((target.kind, target.name))
                    cells[f"c{columns[column]}"] = str(value)
            key_counts[record.line] = len(keys)
            cells["line"] = record.line
            lines.append(cells)
            staged += [{"line": record.line, "kind": k, "value": v} for k, v in keys]
        found = await repository.rows_matching_profiles(
            session, self.tenant, targets, lines, staged
        )
        profiles_of: dict[int, set[UUID]] = {}
        found_keys: dict[int, int] = {}
        equal: dict[int, bool] = {}
        lines_of: dict[UUID, set[int]] = {}
        for line, profile_id, same in found:
            profiles_of.setdefault(line, set()).add(profile_id)
            found_keys[line] = found_keys.get(line, 0) + 1
            equal[line] = equal.get(line, True) and same
            lines_of.setdefault(profile_id, set()).add(line)
        skip: set[int] = set()
        for line, profiles in profiles_of.items():
            if len(profiles) != 1 or not equal[line] or found_keys[line] != key_counts[line]:
                continue
            (profile_id,) = profiles
            if busy is not None and len(lines_of[profile_id]) == 1 and profile_id not in busy:
                skip.add(line)
        return skip, set(lines_of)

    def _raw_keys(self, record: Record) -> list[tuple[str, str]]:
        """The identity keys of a record, normalised as the row checks would (no key: [])."""
        targets = [(self.targets.of(column), value) for column, value in record.values.items()]
        country = next(
            (
                normalise_country(str(value))
                for target, value in targets
                if isinstance(target, Target)
                and target.kind == "field"
                and target.name == "country"
            ),
            None,
        )
        keys: list[tuple[str, str]] = []
        for target, value in targets:
            if isinstance(target, Target):
                key = identity_key_of(target, value, country or self.region)
                if isinstance(key, tuple):
                    keys.append(key)
        return keys

    # Writing -------------------------------------------------------------------------------

    async def write(self, session: AsyncSession, rows: list[ProfileRow], outcome: Outcome) -> None:
        pending = rows
        while pending:
            current, pending = _split_pass(pending)
            deferred = await self._write_pass(session, current, outcome)
            if deferred:
                pending = sorted(deferred + pending, key=lambda row: row.line)

    async def _write_pass(
        self, session: AsyncSession, rows: list[ProfileRow], outcome: Outcome
    ) -> list[ProfileRow]:
        """Write the rows of a pass; answer those left for the next one (a row whose keys
        differ from an earlier row's but find the same profile: one write per profile)."""
        owners = await repository.owners_of_keys(
            session, self.tenant, [key for row in rows for key in row.identity_keys()]
        )
        holders = await repository.holders_of_unique_values(
            session, self.tenant, [claim for row in rows for claim in row.unique]
        )
        # Keys of erased people (GDPR) must not come back through a file: only a request that
        # carries new consent may reuse them (see backend/profiles/gdpr.py).
        erased = await gdpr.suppressed(
            session,
            [key for row in rows for key in row.identity_keys() if key not in owners],
        )
        staged: list[dict[str, Any]] = []
        keys: list[dict[str, Any]] = []
        claims: list[dict[str, Any]] = []
        joining: list[ProfileRow] = []
        deferred: list[ProfileRow] = []
        claimed: set[UUID] = set()
        for row in rows:
            found = {owners[key] for key in row.identity_keys() if key in owners}
            if found & claimed:
                deferred.append(row)
                continue
            claimed |= found
            if found and self.mode is ImportMode.CREATE:
                kinds = sorted(
                    {kind for kind, value in row.identity_keys() if (kind, value) in owners}
                )
                outcome.reject(
                    row.line,
                    f"identity key ({', '.join(kinds)}) belongs to an existing profile",
                    row.raw,
                )
                continue
            if not found and self.mode is ImportMode.UPDATE:
                outcome.reject(row.line, "no profile has these identity keys", row.raw)
                continue
            if len(found) > 1:
                joining.append(row)
                continue
            is_new = not found
            # Also when an update would give one to an existing profile.
            if gone := sorted(k for k, v in row.identity_keys() if (k, v) in erased):
                outcome.reject(
                    row.line,
                    f"identity key ({', '.join(gone)}) belongs to an erased person: "
                    "it needs new consent, given through the API",
                    row.raw,
                )
                continue
            profile_id = new_id() if is_new else next(iter(found))
            attributes = row.attributes
            if is_new:
                errors = FieldErrors()
                attributes = validate_values(
                    self.definitions, {}, row.attributes, errors, creating=True
                )
                if errors.errors:
                    outcome.reject(row.line, _reason(errors), row.raw)
                    continue
            taken = [
                attribute
                for attribute, value in row.unique
                if holders.get((attribute, value), profile_id) != profile_id
            ]
            if taken:
                reason = "; ".join(f"attributes.{a}: value already taken" for a in taken)
                outcome.reject(row.line, reason, row.raw)
                continue
            staged.append(
                {
                    "profile_id": profile_id,
                    "is_new": is_new,
                    **{name: row.fields.get(name) for name in PROFILE_FIELDS},
                    "attributes": attributes,
                }
            )
            # Keys and values the profile already holds are left alone: a re-import of the same
            # file then writes no index entry at all.
            keys += [
                {"kind": k, "value": v, "profile_id": profile_id}
                for k, v in row.identity_keys()
                if owners.get((k, v)) != profile_id
            ]
            claims += [
                {"attribute": a, "value": v, "profile_id": profile_id}
                for a, v in row.unique
                if holders.get((a, v)) != profile_id
            ]
            if is_new:
                outcome.created += 1
            else:
                outcome.updated += 1
        await repository.write_profiles(session, self.tenant, staged, keys, claims)
        for row in joining:
            await self._merge_row(session, row, outcome)
        return deferred

    async def _merge_row(self, session: AsyncSession, row: ProfileRow, outcome: Outcome) -> None:
        """A row joining several profiles: the profiles service merges them, then writes it."""
        data = ProfileCreate(
            **{name: value for name, value in row.fields.items() if value is not None},
            attributes=row.attributes,
            external_ids=[
                ExternalId(source=kind.removeprefix(EXTERNAL), id=value)
                for kind, value in row.external
            ],
        )
        session.expire_all()  # set-based writes bypassed the identity map
        try:
            async with session.begin_nested():
                await profiles_service.create_profile(session, self.tenant, data, WriteMode.UPSERT)
        except LevierError as exc:
            reasons = [f"{e.get('field')}: {e.get('message', '')}" for e in exc.errors or []]
            outcome.reject(row.line, "; ".join(reasons) or str(exc.detail), row.raw)
            return
        outcome.updated += 1


def _split_pass(rows: list[ProfileRow]) -> tuple[list[ProfileRow], list[ProfileRow]]:
    """Rows free of collisions with an earlier row, and the rest (for the next pass)."""
    seen: set[tuple[str, str]] = set()
    current: list[ProfileRow] = []
    later: list[ProfileRow] = []
    for row in rows:
        marks = set(row.identity_keys()) | {(f"unique:{a}", v) for a, v in row.unique}
        (later if marks & seen else current).append(row)
        seen |= marks
    return current, later
