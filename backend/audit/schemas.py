"""What the REST API answers about the audit log."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from backend.core.schemas import Schema


class AuditAction(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


@dataclass(frozen=True)
class AuditFilters:
    brand_id: UUID | None = None
    actor: str | None = None
    object_type: str | None = None
    action: AuditAction | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


class AuditEventOut(Schema):
    id: UUID
    occurred_at: dt.datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    agency_id: UUID | None
    brand_id: UUID | None
    fields: list[str]
    request_id: str | None


class AuditEventPage(Schema):
    items: list[AuditEventOut]
    next_cursor: str | None
