"""Profile batches on PostgreSQL, set-based from the first byte: the database reads the plain
CSV lines itself (``COPY``), each column's *distinct* values are checked once by the profiles'
own rules (``ProfileLoader.validate``, the one every row of the other path goes through), and
the rows are resolved against the brand's identity keys and written with joins. Python touches
values, not rows: a file of a million people repeating ten first names checks ten names.

Rows the set-based path does not decide go through ``ProfileLoader`` as in the general path:

* lines the database cannot read as they are (quotes, a wrong number of cells…) — see
  ``reader.batches``;
* invalid rows, so that their rejection reads exactly as anywhere else;
* rows sharing an identity key, a unique value or a profile with another row of the batch (file
  order decides those), rows joining several profiles (a merge), rows the mode refuses, rows
  whose unique value another profile holds, new rows missing a required attribute, and rows
  carrying an identifier of an erased person.

None of those shares a key, a unique value or a profile with a row written here, so writing
these first and the others after gives what writing the file line by line gives.

Statements here are composed from this module's table names, column positions and target names
quoted by ``_quote`` (targets are checked names, never cell values); values go as parameters.
"""
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import io
import secrets
import time
import zoneinfo
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import postgres_settings
from backend.imports import repository, staging
from backend.imports.mapping import PROFILE_FIELDS, Target
from backend.imports.models import ImportMode
from backend.imports.profiles_loader import EXTERNAL, Outcome, ProfileLoader, ProfileRow
from backend.imports.reader import Batch, Record
from backend.profiles import suppressions
from backend.profiles.attributes import MAX_TEXT, MAX_UNIQUE_TEXT
from backend.profiles.fields import COUNTRIES, MAX_EMAIL, normalise_country, normalise_phone
from backend.profiles.models import AttributeType, Channel
from backend.profiles.schemas import MAX_EXTERNAL_ID, ProfileCreate

# Addresses the profiles' rule takes as they are, once lower-cased (ASCII, no space, a dotted
# domain): the database accepts these alone; any other goes through the rule.
_PLAIN_EMAIL = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"


def _longest(name: str) -> int:
    """The longest text the profile schema takes for the field ``name``."""
    schema = msgspec.inspect.type_info(ProfileCreate)
    assert isinstance(schema, msgspec.inspect.StructType)
    field = next(f for f in schema.fields if f.name == name)
    assert isinstance(field.type, msgspec.inspect.UnionType)
    (text,) = [t for t in field.type.types if isinstance(t, msgspec.inspect.StrType)]
    assert text.max_length is not None, f"{name}: no longest text in the schema"
    return text.max_length


# Free-text fields, and the longest value of each.
_FREE_TEXT = {name: _longest(name) for name in ("first_name", "last_name", "preferred_store")}
# Fields whose valid values are a list (each zone found loads, so the rule takes it).
_KNOWN: dict[str, frozenset[str]] = {
    "country": COUNTRIES,
    "time_zone": frozenset(zoneinfo.available_timezones()),
    "channel_appetency": frozenset(channel.value for channel in Channel),
}
_MAX_ATTRIBUTE_COLUMNS = 50  # jsonb_build_object takes at most 100 arguments
# A batch's statements are costed far above the JIT thresholds (a probe per key), but each runs
# in a fraction of a second: compiling took 0.1 to 0.2 s a statement, more than it saved. Its
# hash tables (a batch's keys, values, lines) spilled to disk with the default 4 MB.
_BATCH_SETTINGS = {"jit": "off", "work_mem": "64MB"}
_ROWS, _OK, _KEYS, _CLAIMS = (
    "levier_bulk_rows",
    "levier_bulk_ok",
    "levier_bulk_keys",
    "levier_bulk_claims",
)
_OWNED, _HELD, _PLAN = "levier_bulk_owned", "levier_bulk_held", "levier_bulk_plan"
_VALUES, _NEAR = "levier_bulk_values", "levier_bulk_near"
# How many of the brand's keys (per batch key) the stretch of the index a batch's keys span may
# hold for it to be read whole instead of probed key by key (see ``_find_owners``); read by an
# index range scan whatever the table's statistics say.
_NEAR_FACTOR = 2
_RANGE_SCAN = {"enable_seqscan": "off", "enable_bitmapscan": "off"}


# A row of levier_bulk_values: column, cell, the row's country cell, stored text, unique value.
_Value = tuple[int, str, str, str, str | None]


@dataclass(frozen=True)
class _Column:
    index: int  # its place in the header: the staged cell c<index>
    name: str
    target: Target


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _iso_date(cell: str) -> str:
    """SQL: the cell is a real date written YYYY-MM-DD (year 1 or later)."""
    return (
        f"CASE WHEN {cell} ~ '^[0-9]{{4}}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$'"
        f" AND left({cell}, 4) <> '0000' THEN substr({cell}, 9, 2)::integer <= extract(day FROM"
        f" make_date(left({cell}, 4)::integer, substr({cell}, 6, 2)::integer, 1)"
        " + interval '1 month' - interval '1 day') ELSE false END"
    )


class BulkProfileWriter:
    """Writes the plain lines of a profile import's batches (PostgreSQL only)."""

    def __init__(self, loader: ProfileLoader, header: list[str]) -> None:
        self.loader = loader
        self.header = header
        self.columns = [
            _Column(index, name, target)
            for index, name in enumerate(header)
            if isinstance(target := loader.targets.of(name), Target)
        ]
        self.by_field = {c.target.name: c for c in self.columns if c.target.kind == "field"}
        self.attributes = [c for c in self.columns if c.target.kind == "attribute"]
        self.externals = [c for c in self.columns if c.target.kind == "external"]
        definitions = loader.definitions
        self.unique = [c for c in self.attributes if definitions[c.target.name].unique]
        self.defaults = {key: d.default for key, d in definitions.items() if d.default is not None}
        self.required = sorted(
            key for key, d in definitions.items() if d.required and d.default is None
        )
        self._batches = 0
        # Key kinds whose last stretch was too full: the batch to try again, and the wait.
        self._crowded: dict[str, tuple[int, int]] = {}
        # Values are checked one column at a time: a row's mode never matters there.
        self.checker = ProfileLoader(
            loader.tenant, ImportMode.UPSERT, loader.targets, definitions, loader.region
        )

    @staticmethod
    def wants(loader: ProfileLoader, header: list[str]) -> bool:
        """Whether a file with this header can go this way: distinct column names, each aimed
        at nothing or at its own valid target."""
        targets = [loader.targets.of(name) for name in header]
        chosen = [target for target in targets if isinstance(target, Target)]
        return (
            len(set(header)) == len(header)
            and not any(isinstance(target, str) for target in targets)
            and len(set(chosen)) == len(chosen)
            and sum(target.kind == "attribute" for target in chosen) <= _MAX_ATTRIBUTE_COLUMNS
        )

    # The batch ---------------------------------------------------------------------------------

    async def write(self, session: AsyncSession, batch: Batch) -> Outcome:
        """Write the batch (plain lines set-based, the rest through the loader); its outcome."""
        async with postgres_settings(session, _BATCH_SETTINGS):
            return await self._write(session, batch)

    async def _write(self, session: AsyncSession, batch: Batch) -> Outcome:
        outcome = Outcome()
        others: dict[int, ProfileRow] = {}  # rows the loader writes, by line
        for record in batch.records:
            self._check_row(record, outcome, others)
        connection = await session.connection()
        driver: Any = (await connection.get_raw_connection()).driver_connection
        if batch.plain:
            await self._stage(driver, batch)
            await self._check_rows(driver, await self._check_values(driver))
            for line in await _lines(driver, f"SELECT line FROM {_OK} WHERE NOT valid"):
                self._check_row(batch.plain_record(line), outcome, others)
            await self._resolve(session, driver, others)
            for line in await _lines(
                driver,
                f"SELECT line FROM {_OK} WHERE valid AND line NOT IN (SELECT line FROM {_PLAN})",
            ):
                self._check_row(batch.plain_record(line), outcome, others)
            await self._write_planned(session, driver, outcome)
        rows = [others[line] for line in sorted(others)]
        await self.loader.write(session, rows, outcome)
        return outcome

    def _check_row(self, record: Record, outcome: Outcome, rows: dict[int, ProfileRow]) -> None:
        checked = self.loader.validate(record)
        if isinstance(checked, str):
            outcome.reject(record.line, checked, record.raw)
        else:
            rows[record.line] = checked

    async def _stage(self, driver: Any, batch: Batch) -> None:
        cells = ", ".join(f"c{index} text" for index in range(len(self.header)))
        await driver.execute(
            f"CREATE TEMPORARY TABLE {_ROWS} (line integer, {cells}) ON COMMIT DROP"
        )
        # The lines were decoded from the file's encoding: the database reads them as UTF-8.
        await driver.copy_to_table(
            _ROWS,
            source=io.BytesIO("".join(batch.plain).encode()),
            format="csv",
            delimiter=batch.delimiter,
        )
        await driver.execute(f"ANALYZE {_ROWS} (line)")  # its size; its cells are not joined on

    # Values ------------------------------------------------------------------------------------

    async def _check_values(self, driver: Any) -> dict[int, tuple[str, str, str]]:
        """``levier_bulk_values``: each column's valid distinct values and what they become
        (``country``: the row's country cell a phone number is read in; '' otherwise).

        Values of a shape the profiles' rule surely takes as it is (``_accepted``) are taken by
        the database alone; every other distinct value goes through the rule. Answers the
        columns whose every cell has such a shape, with their ``_accepted`` expressions: those
        are read from the row itself."""
        await driver.execute(
            f"CREATE TEMPORARY TABLE {_VALUES} (col integer, raw text, country text, norm text,"
            " claim text) ON COMMIT DROP"
        )
        country = self.by_field.get("country")
        checked: list[_Value] = []
        inline: dict[int, tuple[str, str, str]] = {}
        # Phone numbers are read in a thread while the database checks the other columns.
        phones: asyncio.Future[list[_Value]] | None = None
        phone = self.by_field.get("phone")
        if phone is not None:
            region_cell = f"coalesce(c{country.index}, '')" if country else "''"
            cells = await driver.fetch(
                f"SELECT DISTINCT c{phone.index}, {region_cell} FROM {_ROWS}"
                f" WHERE c{phone.index} IS NOT NULL"
            )
            phones = asyncio.ensure_future(asyncio.to_thread(self._phones, phone.index, cells))
        for column in self.columns:
            cell, index = f"c{column.index}", column.index
            if column is phone:
                continue
            # Distinct values first: the shape tests then run once per value, not per row.
            distinct = f"(SELECT DISTINCT {cell} AS raw FROM {_ROWS} WHERE {cell} IS NOT NULL) d"
            accepted, in_row = self._accepted(column, "raw"), self._accepted(column, cell)
            where = f" WHERE NOT ({accepted[0]})" if accepted is not None else ""
            others = await driver.fetch(f"SELECT raw FROM {distinct}{where}")
            if in_row is not None and not others:
                inline[index] = in_row  # every cell taken as it is: no join needed
                continue
            if accepted is not None:
                condition, norm, claim = accepted
                await driver.execute(
                    f"INSERT INTO {_VALUES} SELECT {index}, raw, '', {norm}, {claim}"
                    f" FROM {distinct} WHERE {condition}"
                )
            for (raw,) in others:
                value = self._value(column, raw)
                if value is not None:
                    checked.append((index, raw, "", *value))
        if phones is not None:
            checked += await phones
        if checked:
            await driver.copy_records_to_table(_VALUES, records=checked)
        await driver.execute(f"ANALYZE {_VALUES} (col, raw, country)")
        return inline

    def _phones(self, index: int, cells: list[tuple[str, str]]) -> list[_Value]:
        """The valid numbers among (cell, the row's country cell), as ``levier_bulk_values``
        rows: the profiles' rule reads a number in the row's country, else the brand's."""
        valid: list[_Value] = []
        for raw, region in cells:
            country = normalise_country(region) if region else None
            number = normalise_phone(raw.strip(), country or self.loader.region)
            if number is not None:
                valid.append((index, raw, region, number, None))
        return valid

    def _accepted(self, column: _Column, cell: str) -> tuple[str, str, str] | None:
        """(condition, stored text, unique value) of the values of ``cell`` the profiles' rule
        takes unchanged (or only lower-cased: an ASCII email), in SQL; None: no such shortcut.
        Each condition is stricter than the rule, and the stored text is what the rule makes."""
        trimmed = f"{cell} ~ '^[!-~](.*[!-~])?$'"  # str.strip() leaves it as it is
        kind, name = column.target.kind, column.target.name
        if kind == "external":
            return f"{trimmed} AND char_length({cell}) <= {MAX_EXTERNAL_ID}", cell, "NULL"
        if kind == "field":
            if name == "email":
                return (
                    f"{cell} ~ '{_PLAIN_EMAIL}' AND length({cell}) <= {MAX_EMAIL}",
                    f"lower({cell})",
                    "NULL",
                )
            if name in _FREE_TEXT:
                return f"{trimmed} AND char_length({cell}) <= {_FREE_TEXT[name]}", cell, "NULL"
            if name == "birth_date":
                return _iso_date(cell), cell, "NULL"
            if name == "locale":
                return f"{cell} ~ '^[a-z]{{2,3}}(-[A-Z]{{2}})?$'", cell, "NULL"
            if name in _KNOWN:  # values the rule takes each of as it is
                listed = ", ".join(_quote(value) for value in sorted(_KNOWN[name]))
                return f"{cell} IN ({listed})", cell, "NULL"
            return None
        definition = self.loader.definitions[name]
        claim = cell if definition.unique else "NULL"
        if definition.type is AttributeType.NUMBER:  # integers a double holds exactly
            return f"{cell} ~ '^(0|-?[1-9][0-9]{{0,14}})$'", cell, claim
        if definition.type is AttributeType.DATE:
            return _iso_date(cell), f"to_jsonb({cell})", "NULL"
        if definition.type is AttributeType.ENUM:
            options = ", ".join(_quote(option) for option in definition.options or [])
            return f"{cell} IN ({options})", f"to_jsonb({cell})", claim
        if definition.type is AttributeType.TEXT:
            limit = MAX_UNIQUE_TEXT if definition.unique else MAX_TEXT
            return f"char_length({cell}) <= {limit}", f"to_jsonb({cell})", claim
        return None

    def _value(self, column: _Column, raw: str) -> tuple[str, str | None] | None:
        """What a cell becomes (as text: a field's value, an attribute's JSON, an external id)
        and the unique value it claims; None when the profiles' rule refuses it."""
        row = self.checker.validate(Record(0, "", {column.name: raw}))
        if isinstance(row, str):
            return None
        kind, name = column.target.kind, column.target.name
        if kind == "field":
            value = row.fields[name]
            return (value.isoformat() if hasattr(value, "isoformat") else str(value)), None
        if kind == "attribute":
            claim = next((v for key, v in row.unique if key == name), None)
            return msgspec.json.encode(row.attributes[name]).decode(), claim
        return row.external[0][1], None

    async def _check_rows(self, driver: Any, inline: dict[int, tuple[str, str, str]]) -> None:
        """``levier_bulk_ok``: each staged line with its values as stored, and whether all of
        its cells are valid (``inline``: columns read from the row, see ``_check_values``)."""
        joins: list[str] = []
        valid: list[str] = []
        country = self.by_field.get("country")
        norm = {c.index: f"v{c.index}.norm" for c in self.columns}
        claim = {c.index: f"v{c.index}.claim" for c in self.columns}
        for column in self.columns:
            v, cell = f"v{column.index}", f"r.c{column.index}"
            if column.index in inline:  # every cell of the batch met the condition: valid
                _, norm[column.index], claim[column.index] = inline[column.index]
                continue
            on = f"{v}.raw = {cell}"
            if column.target == Target("field", "phone"):
                on += f" AND {v}.country = " + (
                    f"coalesce(r.c{country.index}, '')" if country else "''"
                )
            joins.append(f"LEFT JOIN {_VALUES} {v} ON {v}.col = {column.index} AND {on}")
            valid.append(f"({cell} IS NULL OR {v}.raw IS NOT NULL)")
        selected = [f"{' AND '.join(valid) or 'true'} AS valid"]
        for name in PROFILE_FIELDS:
            given = self.by_field.get(name)
            value = f"({norm[given.index]})" if given else "NULL"
            selected.append(f"{value}::{'date' if name == 'birth_date' else 'text'} AS {name}")
        pairs = [f"{_quote(c.target.name)}, ({norm[c.index]})::jsonb" for c in self.attributes]
        selected.append(
            f"jsonb_strip_nulls(jsonb_build_object({', '.join(pairs)})) AS attributes"
            if pairs
            else "'{}'::jsonb AS attributes"
        )
        selected += [f"({norm[c.index]}) AS x{c.index}" for c in self.externals]
        selected += [f"({claim[c.index]}) AS u{c.index}" for c in self.unique]
        await driver.execute(
            f"CREATE TEMPORARY TABLE {_OK} ON COMMIT DROP AS SELECT r.line, "
            + ", ".join(selected)
            + f" FROM {_ROWS} r "
            + " ".join(joins)
        )
        # The identity keys and unique values of the valid lines.
        keys = [
            f"SELECT line, {_quote(kind)}, {name} FROM {_OK} WHERE valid AND {name} IS NOT NULL"
            for kind, name in (("email", "email"), ("phone", "phone"))
            if name in self.by_field
        ]
        keys += [
            f"SELECT line, {_quote(EXTERNAL + c.target.name)}, x{c.index} FROM {_OK}"
            f" WHERE valid AND x{c.index} IS NOT NULL"
            for c in self.externals
        ]
        claims = [
            f"SELECT line, {_quote(c.target.name)}, u{c.index} FROM {_OK}"
            f" WHERE valid AND u{c.index} IS NOT NULL"
            for c in self.unique
        ]
        await driver.execute(
            f"CREATE TEMPORARY TABLE {_KEYS} (line integer, kind text, value text) ON COMMIT DROP"
        )
        await driver.execute(
            f"CREATE TEMPORARY TABLE {_CLAIMS} (line integer, attribute text, value text)"
            " ON COMMIT DROP"
        )
        for table, parts in ((_KEYS, keys), (_CLAIMS, claims)):
            if parts:
                await driver.execute(f"INSERT INTO {table} " + " UNION ALL ".join(parts))

    # Resolution --------------------------------------------------------------------------------

    async def _resolve(
        self, session: AsyncSession, driver: Any, others: dict[int, ProfileRow]
    ) -> None:
        """``levier_bulk_plan``: the valid lines written here, each with its profile (found, or
        a new id) and whether it is new. The keys and unique values of the rows the loader
        writes take part, so that no planned row shares one with them."""
        await driver.copy_records_to_table(
            _KEYS,
            records=[(line, k, v) for line, row in others.items() for k, v in row.identity_keys()],
        )
        await driver.copy_records_to_table(
            _CLAIMS, records=[(line, a, v) for line, row in others.items() for a, v in row.unique]
        )
        await driver.execute(f"ANALYZE {_KEYS}; ANALYZE {_CLAIMS}")
        await self._find_owners(session, driver)
        await driver.execute(
            f"CREATE TEMPORARY TABLE {_HELD} ON COMMIT DROP AS"
            f" SELECT c.line, c.attribute, c.value, h.profile_id FROM {_CLAIMS} c LEFT JOIN LATERAL"
            " (SELECT u.profile_id FROM profile_unique_values u WHERE u.tenant_id = $1::uuid"
            " AND u.attribute = c.attribute AND u.value = c.value LIMIT 1) h ON true",
            self.loader.tenant,
        )
        arguments: list[Any] = []

        def argument(value: Any) -> str:
            arguments.append(value)
            return f"${len(arguments)}"

        new_id = _new_id(argument(_id_prefix()), argument(secrets.token_hex(16)))

        conditions = [
            "o.valid",
            f"o.line <> ALL({argument(list(others))}::integer[])",  # the loader's rows
            "coalesce(f.profiles, 0) <= 1",
            f"NOT EXISTS (SELECT 1 FROM {_KEYS} k JOIN shared_keys s USING (kind, value)"
            " WHERE k.line = o.line)",
            f"NOT EXISTS (SELECT 1 FROM {_CLAIMS} c JOIN shared_claims s USING (attribute, value)"
            " WHERE c.line = o.line)",
            "(f.profile_id IS NULL"
            " OR f.profile_id NOT IN (SELECT profile_id FROM shared_profiles))",
            f"NOT EXISTS (SELECT 1 FROM {_HELD} h WHERE h.line = o.line"
            " AND h.profile_id IS NOT NULL AND h.profile_id IS DISTINCT FROM f.profile_id)",
        ]
        if self.loader.mode is ImportMode.CREATE:
            conditions.append("f.profile_id IS NULL")
        elif self.loader.mode is ImportMode.UPDATE:
            conditions.append("f.profile_id IS NOT NULL")
        if self.required:
            required = argument(self.required)
            conditions.append(f"(f.profile_id IS NOT NULL OR o.attributes ?& {required}::text[])")
        if await suppressions.any_suppressed(session):
            inner, outer = (argument(pad) for pad in suppressions.hash_pads(session))
            brand = argument(self.loader.tenant)
            conditions.append(
                f"NOT EXISTS (SELECT 1 FROM {_OWNED} w JOIN suppressions s"
                f" ON s.tenant_id = {brand}::uuid AND s.kind = w.kind"
                f" AND s.hash = encode(sha256({outer}"
                f"::bytea || sha256({inner}::bytea || convert_to(w.value, 'UTF8'))), 'hex')"
                " WHERE w.line = o.line AND w.profile_id IS NULL)"
            )
        await driver.execute(
            f"""CREATE TEMPORARY TABLE {_PLAN} ON COMMIT DROP AS
            WITH shared_keys AS (
                SELECT kind, value FROM {_KEYS} GROUP BY kind, value HAVING count(*) > 1
            ), shared_claims AS (
                SELECT attribute, value FROM {_CLAIMS} GROUP BY attribute, value
                HAVING count(*) > 1
            ), found AS (
                SELECT line, count(DISTINCT profile_id) AS profiles, min(profile_id::text)::uuid
                    AS profile_id
                FROM {_OWNED} WHERE profile_id IS NOT NULL GROUP BY line
            ), shared_profiles AS (
                SELECT profile_id FROM (SELECT DISTINCT line, profile_id FROM {_OWNED}) w
                WHERE profile_id IS NOT NULL GROUP BY profile_id HAVING count(*) > 1
            )
            SELECT o.line, coalesce(f.profile_id, {new_id}) AS profile_id,
                f.profile_id IS NULL AS is_new
            FROM {_OK} o LEFT JOIN found f USING (line)
            WHERE {" AND ".join(conditions)}""",
            *arguments,
        )

    async def _find_owners(self, session: AsyncSession, driver: Any) -> None:
        """``levier_bulk_owned``: each staged key with the profile holding it, if any.

        A key kind whose staged values span a stretch of the brand's keys holding few keys (at
        most ``_NEAR_FACTOR`` times the batch's: a new file, or one sorted by its keys) has
        that stretch read in one index range scan and hash-joined with the batch's keys; every
        key equal to a staged one lies in it. Other kinds are probed key by key (``LIMIT 1``:
        see ``repository._lookup``). Both find what a probe finds; the stretch costs about a
        microsecond a key read, a probe ten. A kind whose stretch was too full is probed in the
        next batch too, and longer (up to eight batches) while its stretches stay too full."""
        tenant = self.loader.tenant
        self._batches += 1
        spans = await driver.fetch(
            f"SELECT kind, min(value), max(value), count(*) FROM {_KEYS} GROUP BY kind"
        )
        await driver.execute(
            f"CREATE TEMPORARY TABLE {_NEAR} (kind text, value text, profile_id uuid)"
            " ON COMMIT DROP"
        )
        near: list[str] = []
        async with postgres_settings(session, _RANGE_SCAN):
            for kind, low, high, count in spans:
                retry = self._crowded.get(kind)
                if retry is not None and self._batches < retry[0]:
                    continue
                limit = _NEAR_FACTOR * count + 1
                status = await driver.execute(
                    f"INSERT INTO {_NEAR} SELECT kind, value, profile_id FROM profile_identities"
                    " WHERE tenant_id = $1::uuid AND kind = $2 AND value >= $3 AND value <= $4"
                    " LIMIT $5",
                    tenant,
                    kind,
                    low,
                    high,
                    limit,
                )
                if int(status.rsplit(" ", 1)[1]) < limit:
                    near.append(kind)
                    self._crowded.pop(kind, None)
                else:
                    await driver.execute(f"DELETE FROM {_NEAR} WHERE kind = $1", kind)
                    wait = min(2 * retry[1], 8) if retry is not None else 2
                    self._crowded[kind] = (self._batches + wait, wait)
        await driver.execute(f"ANALYZE {_NEAR}")
        await driver.execute(
            f"CREATE TEMPORARY TABLE {_OWNED} ON COMMIT DROP AS"
            f" SELECT k.line, k.kind, k.value, n.profile_id FROM {_KEYS} k LEFT JOIN {_NEAR} n"
            " ON n.kind = k.kind AND n.value = k.value WHERE k.kind = ANY($1::text[])",
            near,
        )
        if len(near) < len(spans):
            await driver.execute(
                f"INSERT INTO {_OWNED} SELECT k.line, k.kind, k.value, o.profile_id"
                f" FROM {_KEYS} k LEFT JOIN LATERAL (SELECT i.profile_id FROM profile_identities i"
                " WHERE i.tenant_id = $1::uuid AND i.kind = k.kind AND i.value = k.value LIMIT 1)"
                " o ON true WHERE k.kind <> ALL($2::text[])",
                tenant,
                near,
            )

    # Writing -----------------------------------------------------------------------------------

    async def _write_planned(self, session: AsyncSession, driver: Any, outcome: Outcome) -> None:
        created, updated = await driver.fetchrow(
            f"SELECT count(*) FILTER (WHERE is_new), count(*) FILTER (WHERE NOT is_new)"
            f" FROM {_PLAN}"
        )
        if not created and not updated:
            return
        await repository.stage_profile_tables(session)
        profiles = repository.STAGED_PROFILES.name
        fields = ", ".join(PROFILE_FIELDS)
        await driver.execute(
            f"INSERT INTO {profiles} (profile_id, is_new, {fields}, attributes)"
            f" SELECT p.profile_id, p.is_new, {', '.join('o.' + n for n in PROFILE_FIELDS)},"
            " CASE WHEN p.is_new THEN $1::jsonb || o.attributes ELSE o.attributes END"
            f" FROM {_PLAN} p JOIN {_OK} o USING (line)",
            msgspec.json.encode(self.defaults).decode(),
        )
        await driver.execute(
            f"INSERT INTO {repository.STAGED_KEYS.name} (kind, value, profile_id)"
            f" SELECT w.kind, w.value, p.profile_id FROM {_OWNED} w JOIN {_PLAN} p USING (line)"
            " WHERE w.profile_id IS DISTINCT FROM p.profile_id"
        )
        await driver.execute(
            f"INSERT INTO {repository.STAGED_CLAIMS.name} (attribute, value, profile_id)"
            f" SELECT h.attribute, h.value, p.profile_id FROM {_HELD} h JOIN {_PLAN} p"
            " USING (line) WHERE h.profile_id IS DISTINCT FROM p.profile_id"
        )
        for table in (repository.STAGED_PROFILES, repository.STAGED_KEYS, repository.STAGED_CLAIMS):
            await driver.execute(staging.analyze_statement(table))
        kinds = await driver.fetchval(
            f"SELECT array_agg(DISTINCT kind) FROM {repository.STAGED_KEYS.name}"
        )
        claims = await driver.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {repository.STAGED_CLAIMS.name})"
        )
        await repository.write_staged_profiles(
            session,
            self.loader.tenant,
            updates=bool(updated),
            new_keys=set(kinds or ()),
            claims=claims,
            unheld=True,  # the plan leaves out every row whose key or value another holds
        )
        outcome.created += created
        outcome.updated += updated


def _id_prefix() -> str:
    """The first 13 hex digits of a UUIDv7 made now: 48 bits of Unix milliseconds, version 7."""
    return f"{time.time_ns() // 1_000_000:012x}7"


def _new_id(prefix: str, seed: str) -> str:
    """SQL: a new profile's id, a UUIDv7 as ``backend.core.ids`` makes them: the batch's time
    prefix, the line number as a counter (so that ids follow the file, and each batch's land
    in order at the end of the indexes instead of splitting pages all over them), then 40 bits
    of ``md5`` of a per-batch secret and the line (``gen_random_uuid`` per row took twice the
    time of the rest of the plan)."""
    line = "lpad(to_hex(o.line), 8, '0')"
    return (
        f"({prefix} || substr({line}, 1, 3) || '8' || substr({line}, 4, 5)"
        f" || substr(md5({seed} || o.line::text), 1, 10))::uuid"
    )


async def _lines(driver: Any, query: str) -> list[int]:
    return [line for (line,) in await driver.fetch(query + " ORDER BY line")]
