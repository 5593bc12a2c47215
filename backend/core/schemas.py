"""The base of every REST body."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TypeVar

import msgspec

from backend.core.errors import InvalidInput

S = TypeVar("S", bound=msgspec.Struct)


def whole(pattern: str) -> str:
    """A validation pattern matching the whole value. Python's ``$`` also matches before a
    trailing newline; the lookahead refuses it, and reads the same in the ECMA-262 dialect of
    the OpenAPI document (where ``\\Z`` would mean a literal ``Z``)."""
    return f"^(?:{pattern})$(?!\\n)"


class Schema(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """Base of request and response bodies: camelCase on the wire, unknown fields refused."""


def parse_input(schema: type[S], **values: object) -> S:
    """Validate values given by field name (None meaning "not given") with a REST schema, so
    GraphQL and the CLI accept exactly what REST accepts; 422 ``InvalidInput`` otherwise."""
    given = SimpleNamespace(**{k: v for k, v in values.items() if v is not None})
    try:
        return msgspec.convert(given, schema, from_attributes=True)
    except msgspec.ValidationError as exc:
        raise InvalidInput(str(exc)) from None
