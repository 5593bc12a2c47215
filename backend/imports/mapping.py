"""Which field each column (or NDJSON key) of an import fills.

Targets: a standard field (``email``, ``firstName`` or ``first_name``…), ``attributes.<key>`` (a
defined attribute), ``externalIds.<source>`` (an external id of that source system); for orders
the order fields and the identity keys that find the profile; for a linked table ``key`` (the
row's key in its table), ``profileId`` or an identity key, and ``values.<column>`` or a bare
column name (a column named like one of those fields is reached as ``values.<column>``). A mapping
maps a column to a target, or to ``null`` to ignore it; unmapped columns target their own name.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from backend.core.errors import InvalidInput
from backend.imports.models import ImportKind
from backend.profiles.fields import normalise_email, normalise_phone, valid_source

PROFILE_FIELDS = (
    "email",
    "phone",
    "first_name",
    "last_name",
    "birth_date",
    "locale",
    "time_zone",
    "country",
    "preferred_store",
    "channel_appetency",
)
ORDER_FIELDS = (
    "order_id",
    "profile_id",
    "occurred_at",
    "amount",
    "currency",
    "store",
    "channel",
    "lines",
    "email",
    "phone",
)
LINKED_FIELDS = ("key", "profile_id", "email", "phone")
ATTRIBUTES, EXTERNAL, VALUES = "attributes.", "externalIds.", "values."
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


@dataclass(frozen=True)
class Target:
    kind: str  # "field", "attribute" (or a linked table's column) or "external"
    name: str  # snake_case field, attribute or column key, or source


def snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def parse_mapping(text: str | None) -> dict[str, str | None]:
    """The ``mapping`` parameter: a JSON object of column → target (or null)."""
    if not text:
        return {}
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise InvalidInput(
            f"mapping is not JSON: {exc}", errors=[{"field": "mapping", "message": str(exc)}]
        ) from None
    if not isinstance(value, dict) or not all(
        isinstance(target, str | None) for target in value.values()
    ):
        raise InvalidInput(
            "mapping must be a JSON object of column names to target names (or null)",
            errors=[{"field": "mapping", "message": "expected an object of strings"}],
        )
    return value


def resolve(kind: ImportKind, name: str, attribute_keys: Collection[str]) -> Target | str:
    """The target ``name`` designates, or why it designates none (``attribute_keys`` are a
    linked table's column keys for a linked import)."""
    if kind is ImportKind.LINKED:
        return _resolve_linked(name, attribute_keys)
    if name.startswith(ATTRIBUTES) and kind is ImportKind.PROFILES:
        key = name.removeprefix(ATTRIBUTES)
        return Target("attribute", key) if key in attribute_keys else "unknown attribute"
    if name.startswith(EXTERNAL) or name.startswith("external_ids."):
        source = name.split(".", 1)[1]
        return Target("external", source) if valid_source(source) else "invalid source name"
    field = snake(name)
    fields = PROFILE_FIELDS if kind is ImportKind.PROFILES else ORDER_FIELDS
    return Target("field", field) if field in fields else "unknown field"


def _resolve_linked(name: str, column_keys: Collection[str]) -> Target | str:
    if name.startswith(VALUES):
        key = name.removeprefix(VALUES)
        return Target("attribute", key) if key in column_keys else "unknown column"
    if name.startswith(EXTERNAL) or name.startswith("external_ids."):
        source = name.split(".", 1)[1]
        return Target("external", source) if valid_source(source) else "invalid source name"
    if snake(name) in LINKED_FIELDS:
        return Target("field", snake(name))
    return Target("attribute", name) if name in column_keys else "unknown column"


class Targets:
    """Column → target for one import, resolved once per column name."""

    def __init__(
        self, kind: ImportKind, mapping: Mapping[str, str | None], attribute_keys: Collection[str]
    ) -> None:
        self.kind = kind
        self.mapping = dict(mapping)
        self.attribute_keys = frozenset(attribute_keys)
        self._cache: dict[str, Target | str | None] = {}

    def of(self, column: str) -> Target | str | None:
        """The column's target, None when ignored, or an error text."""
        if column not in self._cache:
            name = self.mapping.get(column, column)
            self._cache[column] = (
                None if name is None else resolve(self.kind, name, self.attribute_keys)
            )
        return self._cache[column]

    def check(self, columns: Iterable[str]) -> None:
        """422 naming every column (and mapping entry) that targets nothing."""
        errors: list[dict[str, Any]] = []
        for column in dict.fromkeys([*self.mapping, *columns]):
            target = self.of(column)
            if isinstance(target, str):
                name = self.mapping.get(column, column)
                field = f"mapping.{column}" if column in self.mapping else column
                errors.append({"field": field, "message": f"{name}: {target}"})
        if errors:
            fields = ", ".join(e["field"] for e in errors)
            raise InvalidInput(f"no target for {fields}", errors=errors)


def identity_key_of(target: Target, value: Any, region: str | None) -> tuple[str, str] | str | None:
    """The identity key a cell gives (``email``, ``phone`` or ``external:<source>``, normalised
    as profiles store them), why it is not valid (a text), or None for a cell that is no key."""
    if target.kind == "external":
        return (f"external:{target.name}", str(value).strip())
    if target.kind != "field":
        return None
    if target.name == "email":
        email = normalise_email(str(value))
        return ("email", email) if email else "email: not a valid email address"
    if target.name == "phone":
        phone = normalise_phone(str(value), region)
        return ("phone", phone) if phone else "phone: not a valid phone number"
    return None
