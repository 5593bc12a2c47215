"""What the REST API answers about imports."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from backend.core.schemas import Schema
from backend.imports.models import ImportFormat, ImportKind, ImportMode, ImportStatus


class ImportOut(Schema):
    id: UUID
    kind: ImportKind
    linked_table: str | None  # the table a `linked` import fills
    format: ImportFormat
    compression: str | None  # `gzip` when the file came compressed
    encoding: str | None  # what the file was read as: `utf-8`, `cp1252` or `latin-1`
    delimiter: str | None  # a CSV's: `,`, `;` or `tab`
    mode: ImportMode
    status: ImportStatus
    size_bytes: int
    rows_processed: int
    created: int
    updated: int
    rejected: int
    error: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    # When the stored file and rejected rows were deleted (retention, or an erased person).
    purged_at: dt.datetime | None


class RejectionOut(Schema):
    line: int
    reason: str
    raw: str


class RejectionPage(Schema):
    items: list[RejectionOut]
    next_cursor: str | None
