"""The base of every REST body."""

from __future__ import annotations

from collections.abc import Iterable
from types import SimpleNamespace
from typing import Self, TypeVar

import msgspec

from backend.core.errors import InvalidInput

S = TypeVar("S", bound=msgspec.Struct)


def whole(pattern: str) -> str:
    """A validation pattern matching the whole value. Python's ``$`` also matches before a
    trailing newline; the lookahead refuses it, and reads the same in the ECMA-262 dialect of
    the OpenAPI document (where ``\\Z`` would mean a literal ``Z``)."""
    return f"^(?:{pattern})$(?!\\n)"


class Schema(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """Base of request and response bodies: camelCase on the wire, unknown fields refused.

    An entity's output is one such struct, built from its ORM row by :meth:`of` and shown by
    both APIs (GraphQL derives its type from it: :mod:`backend.core.graphql_entities`).
    """

    @classmethod
    def of(cls, row: object) -> Self:
        """This shape of ``row`` (an ORM row or any object with the fields as attributes)."""
        return msgspec.convert(row, cls, from_attributes=True)

    @classmethod
    def many(cls, rows: Iterable[object]) -> list[Self]:
        return [msgspec.convert(row, cls, from_attributes=True) for row in rows]


def parse_input(schema: type[S], **values: object) -> S:
    """Validate values given by field name (None meaning "not given") with a REST schema, so
    GraphQL and the CLI accept exactly what REST accepts; 422 ``InvalidInput`` otherwise."""
    given = SimpleNamespace(**{k: v for k, v in values.items() if v is not None})
    try:
        return msgspec.convert(given, schema, from_attributes=True)
    except msgspec.ValidationError as exc:
        raise InvalidInput(str(exc)) from None
