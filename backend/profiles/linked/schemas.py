"""What the REST API reads and writes for linked tables, their rows and the rows' history."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from uuid import UUID

import msgspec

from backend.core.schemas import Schema, whole
from backend.profiles.models import AttributeType, LinkedRowOperation

# As profile attributes' keys and labels.
Key = Annotated[
    str,
    msgspec.Meta(pattern=whole(r"[a-z][a-z0-9_]{0,63}"), max_length=64, examples=["loyalty_tier"]),
]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class LinkedColumn(Schema):
    """A typed column of a linked table (typed like profile attributes)."""

    key: Key
    label: Name
    type: AttributeType
    required: bool = False
    default: Any = None
    options: list[Annotated[str, msgspec.Meta(min_length=1, max_length=200)]] | None = None


Columns = Annotated[list[LinkedColumn], msgspec.Meta(max_length=100)]


class LinkedTableCreate(Schema):
    key: Key
    label: Name
    columns: Columns = []


class LinkedTableUpdate(Schema):
    """``columns`` is the whole new list: columns may be added or changed (label, required,
    default, options), not removed or retyped (rows hold their values)."""

    label: Name | msgspec.UnsetType = msgspec.UNSET
    columns: Columns | msgspec.UnsetType = msgspec.UNSET


class LinkedTableOut(Schema):
    id: UUID
    key: str
    label: str
    columns: list[LinkedColumn]
    created_at: dt.datetime
    updated_at: dt.datetime


class LinkedTablePage(Schema):
    items: list[LinkedTableOut]
    next_cursor: str | None


class ProfileKey(Schema):
    """An identity key of a profile: ``email``, ``phone`` or ``external:<source>``."""

    kind: Annotated[str, msgspec.Meta(examples=["email", "external:erp"])]
    value: Annotated[str, msgspec.Meta(min_length=1, max_length=320)]


class LinkedRowCreate(Schema):
    """A row for one profile, named by ``profileId`` or by ``profileKey`` (exactly one)."""

    values: dict[str, Any] = {}
    profile_id: UUID | None = None
    profile_key: ProfileKey | None = None
    # The row's own key in its table (a coupon code…), unique per table; imports upsert on it.
    key: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None


class LinkedRowUpdate(Schema):
    """Values merged key by key (``null`` removes one)."""

    values: dict[str, Any]


class LinkedRowOut(Schema):
    """A row of a linked table (built from a ``RowView``: the row and its table's key)."""

    id: UUID
    table: str
    key: str | None
    profile_id: UUID
    values: dict[str, Any]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class LinkedRowPage(Schema):
    items: list[LinkedRowOut]
    next_cursor: str | None


class LinkedRowVersionOut(Schema):
    version: int
    operation: LinkedRowOperation
    profile_id: UUID
    values: dict[str, Any]
    changed_at: dt.datetime


class LinkedRowHistory(Schema):
    items: list[LinkedRowVersionOut]
    next_cursor: str | None
