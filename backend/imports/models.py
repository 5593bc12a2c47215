"""Bulk imports: the job row, the uploaded file kept as chunks in the database, and the rows the
job rejected.

The file lives in ``import_chunks`` (about 1 MiB per row) so the API pod that received it and the
worker pod that reads it need no shared disk. Chunks and rejections belong to their job by
``(tenant_id, import_id)``: deleting the job deletes them.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Enum,
    ForeignKeyConstraint,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, JSONType, TimestampMixin
from backend.core.ids import new_id
from backend.core.tenancy import TenantMixin


def _enum(enum_cls: type[StrEnum], name: str) -> Enum:
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda cls: [member.value for member in cls],
    )


class ImportKind(StrEnum):
    PROFILES = "profiles"
    ORDERS = "orders"
    LINKED = "linked"  # rows of one linked table (``linked_table``)


class ImportFormat(StrEnum):
    CSV = "csv"
    NDJSON = "ndjson"


class ImportMode(StrEnum):
    """``upsert`` creates or updates; ``create`` rejects rows that match a stored record;
    ``update`` rejects rows that match none."""

    UPSERT = "upsert"
    CREATE = "create"
    UPDATE = "update"


class ImportStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def _of_import() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant_id", "import_id"], ["imports.tenant_id", "imports.id"], ondelete="CASCADE"
    )


class ImportJob(TenantMixin, TimestampMixin, Base):
    """One import: what was sent, how to read it, and how far the job got.

    ``lines_done``/``rows_done`` are the checkpoint: written in the transaction of each batch,
    so a restarted job skips exactly what is committed.
    """

    __tablename__ = "imports"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "idempotency_key"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[ImportKind] = mapped_column(_enum(ImportKind, "import_kind"))
    format: Mapped[ImportFormat] = mapped_column(_enum(ImportFormat, "import_format"))
    mode: Mapped[ImportMode] = mapped_column(_enum(ImportMode, "import_mode"))
    status: Mapped[ImportStatus] = mapped_column(_enum(ImportStatus, "import_status"))
    # Column (or NDJSON key) → target field; ``None`` ignores the column.
    mapping: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # The linked table's key, for a ``linked`` import.
    linked_table: Mapped[str | None] = mapped_column(String(64))
    # ``Idempotency-Key`` of the upload and a hash of what was sent (parameters and body), so a
    # retried upload answers the same job without the body ever being buffered.
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    # How the file's bytes read (given with the upload or detected): ``gzip`` or none, the
    # encoding (``utf-8``, ``cp1252``, ``latin-1``) and a CSV's delimiter (``,`` ``;`` tab).
    compression: Mapped[str | None] = mapped_column(String(8))
    encoding: Mapped[str | None] = mapped_column(String(16))
    delimiter: Mapped[str | None] = mapped_column(String(1))
    # Decompressed size: what is stored.
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    chunk_count: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[str | None] = mapped_column(String(200))
    lines_done: Mapped[int] = mapped_column(BigInteger, default=0)
    # The file's lines, counted as it was stored (None for imports stored before they were):
    # with ``lines_done``, how far the job got.
    total_lines: Mapped[int | None] = mapped_column(BigInteger)
    rows_done: Mapped[int] = mapped_column(BigInteger, default=0)
    created_count: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_count: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected_count: Mapped[int] = mapped_column(BigInteger, default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    # When the stored file and rejected rows were deleted (retention passed, or a person they
    # name was erased); the counts stay.
    purged_at: Mapped[dt.datetime | None]

    # The counts under the names the API shows.
    @property
    def rows_processed(self) -> int:
        return self.rows_done

    @property
    def lines_processed(self) -> int:
        return self.lines_done

    @property
    def created(self) -> int:
        return self.created_count

    @property
    def updated(self) -> int:
        return self.updated_count

    @property
    def rejected(self) -> int:
        return self.rejected_count


class ImportChunk(TenantMixin, TimestampMixin, Base):
    """One slice (``seq`` from 0) of an uploaded file."""

    __tablename__ = "import_chunks"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "import_id", "seq"), _of_import())

    import_id: Mapped[UUID] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ImportRejection(TenantMixin, TimestampMixin, Base):
    """A row the job refused: its line number in the file, why, and the row as sent.

    Keyed by line, so a replayed batch writes each rejection once.
    """

    __tablename__ = "import_rejections"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "import_id", "line"), _of_import())

    import_id: Mapped[UUID] = mapped_column(primary_key=True)
    line: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)
