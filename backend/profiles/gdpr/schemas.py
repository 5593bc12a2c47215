"""What the REST API reads and writes for GDPR requests: erasure and the export of a person."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from uuid import UUID

import msgspec

from backend.core.schemas import Schema
from backend.profiles.linked.schemas import LinkedRowVersionOut
from backend.profiles.schemas import (
    ConsentOut,
    MergeOut,
    OrderOut,
    ProfileOut,
)


class EraseRequest(Schema):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] = "gdpr-erasure"


class EraseOut(Schema):
    """What the erasure removed, and how many identifiers are now suppressed (as hashes)."""

    profile_id: UUID
    suppressed_keys: int
    erased_at: dt.datetime


class IdentityOut(Schema):
    kind: str
    value: str


class GdprLinkedRow(Schema):
    id: UUID
    table: str
    values: dict[str, Any]
    history: list[LinkedRowVersionOut]


class GdprExport(Schema):
    """Everything Levier holds on one person (GDPR art. 15 and 20)."""

    profile: ProfileOut
    identities: list[IdentityOut]
    consents: list[ConsentOut]  # the whole history, in recording order
    orders: list[OrderOut]
    linked_rows: list[GdprLinkedRow]
    merges: list[MergeOut]
    exported_at: dt.datetime
