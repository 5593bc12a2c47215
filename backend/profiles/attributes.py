"""Brand-defined profile attributes: their definitions, and the validation of values on writes."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.errors import Conflict, NotFound
from backend.core.pagination import PageRequest
from backend.profiles import repository
from backend.profiles.fields import FieldErrors
from backend.profiles.models import AttributeType, ProfileAttribute
from backend.profiles.schemas import AttributeCreate, AttributeUpdate

MAX_TEXT = 2000
MAX_UNIQUE_TEXT = 400  # the unique-values key holds at most this much


_TRUE, _FALSE = {"true", "1", "yes", "y"}, {"false", "0", "no", "n"}


def coerce_text(definition: ProfileAttribute, value: Any) -> Any:
    """A text cell (from a CSV file) as the attribute's type expects it: numbers and booleans
    are parsed; anything else passes unchanged, for :func:`normalise_value` to judge."""
    if not isinstance(value, str):
        return value
    if definition.type is AttributeType.NUMBER:
        text = value.strip()
        for parse in (int, float):
            try:
                return parse(text)
            except ValueError:
                continue
        return value
    if definition.type is AttributeType.BOOLEAN:
        lowered = value.strip().lower()
        return True if lowered in _TRUE else False if lowered in _FALSE else value
    return value


def normalise_value(definition: ProfileAttribute, value: Any) -> Any:
    """The stored (JSON) form of ``value`` for the attribute; ValueError says what is wrong."""
    kind = definition.type
    if kind is AttributeType.TEXT:
        if not isinstance(value, str):
            raise ValueError("expected text")
        limit = MAX_UNIQUE_TEXT if definition.unique else MAX_TEXT
        if len(value) > limit:
            raise ValueError(f"text longer than {limit} characters")
        return value
    if kind is AttributeType.NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("expected a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("expected a finite number")
        return value
    if kind is AttributeType.BOOLEAN:
        if not isinstance(value, bool):
            raise ValueError("expected true or false")
        return value
    if kind is AttributeType.DATE:
        try:
            return dt.date.fromisoformat(value).isoformat()
        except (TypeError, ValueError):
            raise ValueError("expected a date (YYYY-MM-DD)") from None
    if kind is AttributeType.DATETIME:
        try:
            moment = dt.datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise ValueError("expected an ISO 8601 date and time") from None
        if moment.tzinfo is None:
            raise ValueError("expected a date and time with its UTC offset")
        return moment.astimezone(dt.UTC).isoformat()
    if not isinstance(value, str) or value not in (definition.options or []):
        raise ValueError(f"expected one of {', '.join(definition.options or [])}")
    return value


def unique_key(value: Any) -> str:
    """One text per value, so equal values collide in the unique-values key (1 and 1.0 too)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    return str(value)


def validate_values(
    definitions: Mapping[str, ProfileAttribute],
    current: Mapping[str, Any],
    given: Mapping[str, Any],
    errors: FieldErrors,
    *,
    creating: bool,
    prefix: str = "attributes",
    noun: str = "attribute",
) -> dict[str, Any]:
    """The profile's attributes after applying ``given`` to ``current`` (``null`` removes one).

    Creating applies defaults and checks required attributes; every violation goes to ``errors``
    named ``<prefix>.<key>`` (linked tables validate their columns here too, as ``values``).
    """
    result = {key: value for key, value in current.items() if key in definitions}
    for key, value in given.items():
        field = f"{prefix}.{key}"
        definition = definitions.get(key)
        if definition is None:
            errors.add(field, f"unknown {noun}")
        elif value is None:
            if definition.required:
                errors.add(field, f"required {noun} cannot be removed")
            result.pop(key, None)
        else:
            try:
                result[key] = normalise_value(definition, value)
            except ValueError as exc:
                errors.add(field, str(exc))
    if creating:
        for key, definition in definitions.items():
            if key not in result and key not in given and definition.default is not None:
                result[key] = definition.default
            if definition.required and key not in result and key not in given:
                errors.add(f"{prefix}.{key}", f"required {noun} is missing")
    return result


# Definitions -----------------------------------------------------------------------------------


def _check_definition(
    kind: AttributeType, options: list[str] | None, default: Any, unique: bool
) -> None:
    errors = FieldErrors()
    if kind is AttributeType.ENUM:
        if not options:
            errors.add("options", "an enum attribute needs its options")
        elif len(set(options)) != len(options):
            errors.add("options", "options must be distinct")
    elif options is not None:
        errors.add("options", "only enum attributes have options")
    if unique and kind is AttributeType.BOOLEAN:
        errors.add("unique", "a boolean attribute cannot be unique")
    if default is not None and not errors.errors:
        if unique:
            errors.add("default", "a unique attribute cannot have a default")
        else:
            probe = ProfileAttribute(type=kind, options=options, unique=unique)
            try:
                normalise_value(probe, default)
            except ValueError as exc:
                errors.add("default", str(exc))
    errors.raise_if_any()


async def list_attributes(
    session: AsyncSession, page: PageRequest
) -> tuple[list[ProfileAttribute], str | None]:
    return await repository.list_attributes(session, page)


async def get_attribute(session: AsyncSession, attribute_id: UUID) -> ProfileAttribute:
    attribute = await repository.get_attribute(session, attribute_id)
    if attribute is None:
        raise NotFound("attribute not found")
    return attribute


async def create_attribute(session: AsyncSession, data: AttributeCreate) -> ProfileAttribute:
    """Define an attribute; its key is the name of its values in ``Profile.attributes``."""
    _check_definition(data.type, data.options, data.default, data.unique)
    if await repository.attribute_by_key(session, data.key) is not None:
        raise Conflict(f"attribute {data.key!r} exists", errors=[{"field": "key"}])
    default = None
    if data.default is not None:
        default = normalise_value(
            ProfileAttribute(type=data.type, options=data.options), data.default
        )
    attribute = ProfileAttribute(
        key=data.key,
        label=data.label,
        type=data.type,
        required=data.required,
        unique=data.unique,
        default=default,
        options=data.options,
    )
    session.add(attribute)
    await session.flush()
    return attribute


async def update_attribute(
    session: AsyncSession, attribute_id: UUID, data: AttributeUpdate
) -> ProfileAttribute:
    attribute = await get_attribute(session, attribute_id)
    options = attribute.options if data.options is msgspec.UNSET else data.options
    default = attribute.default if data.default is msgspec.UNSET else data.default
    _check_definition(attribute.type, options, default, attribute.unique)
    if data.label is not msgspec.UNSET:
        attribute.label = data.label
    if data.required is not msgspec.UNSET:
        attribute.required = data.required
    if data.options is not msgspec.UNSET:
        attribute.options = data.options
    if data.default is not msgspec.UNSET:
        attribute.default = None if default is None else normalise_value(attribute, default)
    await session.flush()
    return attribute


async def delete_attribute(session: AsyncSession, attribute_id: UUID) -> None:
    """Remove the definition and every profile's value of it."""
    attribute = await get_attribute(session, attribute_id)
    await repository.strip_attribute(session, attribute.key)
    await repository.delete_unique_values_of_attribute(session, attribute.key)
    await session.delete(attribute)
    await session.flush()


async def definitions(session: AsyncSession) -> dict[str, ProfileAttribute]:
    return {a.key: a for a in await repository.all_attributes(session)}
