"""What the REST API answers about imports, and what GraphQL takes to start one."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Self
from uuid import UUID

import msgspec

from backend.core.schemas import Schema
from backend.imports.models import ImportFormat, ImportKind, ImportMode, ImportStatus
from backend.imports.text import DelimiterOption, EncodingOption, delimiter_name

MAX_IDEMPOTENCY_KEY = 255


class ImportOut(Schema):
    """An import: what was sent, how it was read, and how far its job got (`status`, rows
    processed, created, updated and rejected so far)."""

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
    # The file's lines (a CSV's header and each line of a quoted multi-line cell count), and
    # those the job got through: its progress. `totalLines` is null for an import stored
    # before lines were counted.
    total_lines: int | None
    lines_processed: int
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

    @classmethod
    def of(cls, row: object) -> Self:
        """The import of a job row (its delimiter named as the option naming it: `tab`)."""
        out = super().of(row)
        if out.delimiter is None:
            return out
        return msgspec.structs.replace(out, delimiter=delimiter_name(out.delimiter))


class RejectionOut(Schema):
    """A rejected row: its line (1 is a CSV's header), the reason, the row as sent."""

    line: int
    reason: str
    raw: str


class RejectionPage(Schema):
    items: list[RejectionOut]
    next_cursor: str | None


class ImportUpload(Schema, kw_only=True):
    """A file to import, given inline (GraphQL): the options REST takes as query parameters and
    headers. The content is sent in the named `encoding` (UTF-8 unless named)."""

    content: str
    format: ImportFormat  # REST: the Content-Type (`text/csv` or `application/x-ndjson`)
    mode: ImportMode = ImportMode.UPSERT
    # Column → target (`null` ignores the column), as REST's `mapping` parameter.
    mapping: dict[str, str | None] | None = None
    encoding: EncodingOption = EncodingOption.AUTO
    delimiter: DelimiterOption = DelimiterOption.AUTO
    # REST: the `Idempotency-Key` header.
    idempotency_key: (
        Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_IDEMPOTENCY_KEY)] | None
    ) = None
