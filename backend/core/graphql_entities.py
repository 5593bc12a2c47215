"""GraphQL types derived from the REST schemas, so an entity is shaped once.

An entity's output is one msgspec struct (its REST response body, built from the ORM row with
:meth:`backend.core.schemas.Schema`'s ``from_attributes`` conversion). :func:`entity_type` derives
the strawberry type from that struct: resolvers return the struct itself and a field added to it
appears in both APIs. :func:`input_type` does the same for a mutation's input, and
:func:`struct_of` turns the input back into the REST struct, so both APIs validate alike.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import inspect
import re
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

import msgspec
import strawberry
from strawberry.scalars import JSON
from strawberry.types.base import get_object_definition

from backend.core.errors import InvalidInput, named_field
from backend.core.relay import Node, NodeKind, NodeLoader, register_node

C = TypeVar("C", bound=type)
S = TypeVar("S", bound=msgspec.Struct)

_ENUMS: dict[type[enum.Enum], Any] = {}
_DERIVED: dict[type[msgspec.Struct], Any] = {}  # output types
_DERIVED_INPUTS: dict[type[msgspec.Struct], Any] = {}
_SCALARS: dict[Any, Any] = {
    str: str,
    int: int,
    float: float,
    bool: bool,
    dt.datetime: dt.datetime,
    dt.date: dt.date,
    dt.time: dt.time,
    decimal.Decimal: decimal.Decimal,
    UUID: strawberry.ID,
}


def graphql_enum(python_enum: type[enum.Enum], name: str | None = None) -> Any:
    """The one strawberry enum of ``python_enum`` (named ``name`` the first time it is seen)."""
    if python_enum not in _ENUMS:
        _ENUMS[python_enum] = strawberry.enum(python_enum, name=name or python_enum.__name__)
    return _ENUMS[python_enum]


def _unwrap(annotation: Any) -> tuple[Any, str | None]:
    """The type under ``Annotated`` and the description its ``msgspec.Meta`` gives."""
    description = None
    while typing.get_origin(annotation) is typing.Annotated:
        for meta in annotation.__metadata__:
            if isinstance(meta, msgspec.Meta) and meta.description:
                description = meta.description
        annotation = annotation.__origin__
    return annotation, description


def _graphql_annotation(annotation: Any, *, as_input: bool) -> tuple[Any, bool]:
    """The strawberry annotation of a struct field's type, and whether values need ``str()``
    (UUIDs are shown as `ID`)."""
    annotation, _ = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [
            a for a in typing.get_args(annotation) if a not in (type(None), msgspec.UnsetType)
        ]
        optional = len(members) < len(typing.get_args(annotation))
        if len(members) != 1:
            return (JSON | None if optional else JSON), False
        inner, stringify = _graphql_annotation(members[0], as_input=as_input)
        return (inner | None if optional else inner), stringify
    if origin in (list, tuple, set, frozenset, typing.Sequence):
        args = typing.get_args(annotation)
        inner, stringify = _graphql_annotation(args[0] if args else Any, as_input=as_input)
        return list[inner], stringify  # type: ignore[valid-type]
    if origin in (dict, typing.Mapping) or annotation in (dict, Any, object):
        return JSON, False
    if origin is typing.Literal:
        return str, False
    if annotation in _SCALARS:
        return _SCALARS[annotation], annotation is UUID and not as_input
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return graphql_enum(annotation), False
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        derived = _DERIVED_INPUTS if as_input else _DERIVED
        if annotation not in derived:
            raise TypeError(f"derive {annotation.__name__}'s GraphQL type before its container's")
        return derived[annotation], False
    raise TypeError(f"no GraphQL type for {annotation!r}")


def _stringifier(name: str, annotation: Any) -> Callable[[Any], Any]:
    def resolve(root: Any) -> Any:
        value = getattr(root, name)
        if value is None:
            return None
        if isinstance(value, list):
            return [strawberry.ID(str(v)) for v in value]
        return strawberry.ID(str(value))

    resolve.__annotations__["return"] = annotation
    return resolve


def _graphql_fields(
    struct: type[msgspec.Struct], cls: type, exclude: frozenset[str], *, as_input: bool
) -> None:
    hints = typing.get_type_hints(struct, include_extras=True)
    annotations = dict(inspect.get_annotations(cls))
    for field in msgspec.structs.fields(struct):
        if field.name in exclude or field.name in annotations or field.name in cls.__dict__:
            continue  # the class body overrides or adds this field
        if as_input is False and field.name == "id" and issubclass(cls, Node):
            continue  # `Node` shows it as the global `id` and the `uuid`
        annotation, stringify = _graphql_annotation(hints[field.name], as_input=as_input)
        _, description = _unwrap(hints[field.name])
        annotations[field.name] = annotation
        if as_input:
            if field.required:
                setattr(cls, field.name, strawberry.field(description=description))
            else:  # absent: the REST default (create) or "keep" (update)
                annotations[field.name] = annotation | None
                setattr(
                    cls,
                    field.name,
                    strawberry.field(description=description, default=strawberry.UNSET),
                )
        elif stringify:
            setattr(
                cls,
                field.name,
                strawberry.field(
                    resolver=_stringifier(field.name, annotation), description=description
                ),
            )
        else:
            setattr(cls, field.name, strawberry.field(description=description))
    cls.__annotations__ = annotations


def entity_type(
    struct: type[msgspec.Struct],
    *,
    name: str,
    description: str | None = None,
    exclude: tuple[str, ...] = (),
    node: tuple[str, NodeLoader] | None = None,
) -> Callable[[C], C]:
    """Derive the GraphQL object type of ``struct``: every field of the struct (less
    ``exclude``; the class body may add resolvers or override a field). Resolvers return
    instances of ``struct``. With ``node=(scope, loader)`` the class must inherit
    :class:`Node`, and `node(id:)` loads it with ``loader(session, uuid)`` under that scope."""

    def decorate(cls: C) -> C:
        _graphql_fields(struct, cls, frozenset(exclude), as_input=False)

        def is_type_of(_cls: type, obj: object, _info: Any) -> bool:
            return isinstance(obj, struct)

        cls.is_type_of = classmethod(is_type_of)  # type: ignore[attr-defined]
        derived = strawberry.type(
            cls, name=name, description=description or cls.__doc__ or struct.__doc__
        )
        _DERIVED.setdefault(struct, derived)
        if node is not None:
            if not issubclass(cls, Node):
                raise TypeError(f"{cls.__name__} must inherit Node to be fetched by node(id:)")
            register_node(name, NodeKind(scope=node[0], load=node[1]))
        return derived

    return decorate


def input_type(
    struct: type[msgspec.Struct],
    *,
    name: str,
    description: str | None = None,
    exclude: tuple[str, ...] = (),
) -> Callable[[C], C]:
    """Derive the GraphQL input type of the REST body ``struct``: required fields are
    non-null, the others optional (absent means the REST default, or "keep" on an update).
    The class body may add fields the REST path carries (such as the `id` to update)."""

    def decorate(cls: C) -> C:
        _graphql_fields(struct, cls, frozenset(exclude), as_input=True)
        derived = strawberry.input(
            cls, name=name, description=description or cls.__doc__ or struct.__doc__
        )
        _DERIVED_INPUTS.setdefault(struct, derived)
        return derived

    return decorate


def _plain(value: Any) -> Any:
    """A GraphQL input value as msgspec converts it (nested inputs as attribute holders)."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if get_object_definition(value) is not None:
        return types.SimpleNamespace(
            **{k: _plain(v) for k, v in vars(value).items() if v is not strawberry.UNSET}
        )
    return value


def struct_of(struct: type[S], given: object, **extra: object) -> S:
    """The REST struct of a GraphQL input (absent fields left to the struct's defaults), with
    ``extra`` fields; a 422 `InvalidInput` naming the field (camelCase, with its JSON pointer)
    otherwise, exactly as REST answers the same body."""
    values = {
        k: _plain(v)
        for k, v in {**vars(given), **extra}.items()
        if v is not strawberry.UNSET and k in struct.__struct_fields__
    }
    try:
        return msgspec.convert(types.SimpleNamespace(**values), struct, from_attributes=True)
    except msgspec.ValidationError as exc:
        raise InvalidInput(str(exc), errors=[field_error(str(exc))]) from None


def field_error(message: str) -> dict[str, Any]:
    """The 422 item of a msgspec message (``… - at `$.a[0].b```), with camelCase names."""
    text, _, location = message.rpartition(" - at `")
    item = named_field(text or message, location.rstrip("`") if text else None)
    for name in ("field", "pointer", "key"):
        if item.get(name):
            item[name] = _camel(item[name])
    return item


def _camel(path: str) -> str:
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), path)
