"""What the REST API reads and writes for profile exports."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Annotated, Any, Self
from uuid import UUID

import msgspec

from backend.core.db import utcnow
from backend.core.schemas import Schema
from backend.profiles.models import ExportFormat, ExportStatus

TTL_PASSED = "its time to live passed"


def is_expired(export: Any, now: dt.datetime | None = None) -> bool:
    """Whether an export's file is gone, or past its time (the due task may not have run yet);
    ``export`` is the row or its REST shape."""
    if export.status is ExportStatus.EXPIRED:
        return True
    return export.expires_at is not None and export.expires_at <= (now or utcnow())


class ExportFilter(Schema):
    """The filters of the profile list (each optional; all must match)."""

    email: str | None = None
    phone: str | None = None
    external_id: Annotated[str, msgspec.Meta(examples=["erp:10045"])] | None = None
    country: str | None = None
    preferred_store: str | None = None
    updated_since: dt.datetime | None = None


class ExportCreate(Schema):
    """``fields`` (default: every standard field, external ids and every attribute) are wire
    names: ``id``, ``email``, ``firstName``…, ``externalIds``, ``attributes`` (all of them) or
    ``attributes.<key>``."""

    format: ExportFormat
    filter: ExportFilter = msgspec.field(default_factory=ExportFilter)
    fields: Annotated[list[str], msgspec.Meta(min_length=1, max_length=200)] | None = None


class ExportOut(Schema):
    """An export: past its time its file is as good as gone, so it shows ``expired`` (and
    why) whether or not the purge has run yet."""

    id: UUID
    format: ExportFormat
    status: ExportStatus
    filter: dict[str, Any]
    fields: list[str]
    # Rows and bytes written so far (each stored piece of about 1 MiB commits them), out of
    # `totalRows`: the profiles the filter kept when the job started (null before).
    row_count: int
    total_rows: int | None
    byte_count: int
    error: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    # When the file is purged (``export_ttl_hours`` after it was written), and once ``expired``
    # why: its time to live passed, or a person it may hold was erased.
    expires_at: dt.datetime | None
    expired_reason: str | None

    @classmethod
    def of(cls, row: object) -> Self:
        shown = super().of(row)
        if not is_expired(shown):
            return shown
        reason = shown.expired_reason or TTL_PASSED
        return msgspec.structs.replace(shown, status=ExportStatus.EXPIRED, expired_reason=reason)

    @classmethod
    def many(cls, rows: Iterable[object]) -> list[Self]:
        return [cls.of(row) for row in rows]


class ExportPage(Schema):
    items: list[ExportOut]
    next_cursor: str | None
