"""Profiles: the person at the centre of a brand's data, their identity keys, brand-defined
attributes, merges, consent topics, the append-only consent history, and orders.

Rows that belong to a profile reference it by ``(tenant_id, profile_id)``: the database refuses
an orphan, deleting a profile deletes its rows, and the key leads with ``tenant_id`` so the
tables stay colocated when distributed on it. Merges re-point rows before the merged profile goes.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKeyConstraint,
    Index,
    LargeBinary,
    Numeric,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, JSONType, TimestampMixin, string_enum
from backend.core.ids import new_id
from backend.core.tenancy import TenantMixin


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    POST = "post"
    PHONE = "phone"


class AttributeType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    ENUM = "enum"


class ConsentState(StrEnum):
    GRANTED = "granted"
    DENIED = "denied"
    UNSUBSCRIBED = "unsubscribed"


def _of_profile() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant_id", "profile_id"], ["profiles.tenant_id", "profiles.id"], ondelete="CASCADE"
    )


class ProfileKeyMixin(TenantMixin):
    """A key row of a profile (identity key, unique value). Its ``tenant_id`` has no foreign key
    of its own to ``brands``: the one to ``profiles`` implies the brand, and every foreign key is
    a check per inserted row — on the import path ~5 µs a key, a tenth of a profile import."""

    tenant_id: Mapped[UUID] = mapped_column(primary_key=True)


class TenantKeyMixin(TenantMixin):
    """``tenant_id`` then a time-ordered ``id``: the primary key of a tenant entity."""

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)


class ProfileAttribute(TenantKeyMixin, TimestampMixin, Base):
    """A typed field a brand defines on its profiles; values live in ``Profile.attributes``."""

    __tablename__ = "profile_attributes"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "key"),
    )

    key: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    type: Mapped[AttributeType] = mapped_column(string_enum(AttributeType, "attribute_type"))
    required: Mapped[bool] = mapped_column(default=False)
    unique: Mapped[bool] = mapped_column(default=False)
    default: Mapped[Any | None] = mapped_column(JSONType, nullable=True)
    options: Mapped[list[str] | None] = mapped_column(JSONType, nullable=True)  # enum values


class Profile(TenantKeyMixin, TimestampMixin, Base):
    """One person known to a brand (the unique customer reference)."""

    __tablename__ = "profiles"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "id"),)

    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))  # E.164
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    locale: Mapped[str | None] = mapped_column(String(16))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    country: Mapped[str | None] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    preferred_store: Mapped[str | None] = mapped_column(String(100))
    channel_appetency: Mapped[Channel | None] = mapped_column(
        string_enum(Channel, "profile_channel")
    )
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Channels on which the address bounced, or that the brand suppressed (per channel).
    bounced: Mapped[list[str]] = mapped_column(JSONType, default=list)
    suppressed: Mapped[list[str]] = mapped_column(JSONType, default=list)


class ProfileIdentity(ProfileKeyMixin, TimestampMixin, Base):
    """An identity key (``email``, ``phone``, ``external:<source>``) pointing to one profile.

    The primary key makes a key belong to at most one profile of a brand: the database decides.
    """

    __tablename__ = "profile_identities"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "kind", "value"),
        Index("ix_profile_identities_tenant_id_profile_id", "tenant_id", "profile_id"),
        _of_profile(),
    )

    kind: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[str] = mapped_column(String(320), primary_key=True)
    profile_id: Mapped[UUID]


class ProfileUniqueValue(ProfileKeyMixin, TimestampMixin, Base):
    """A value of a ``unique`` attribute, held by one profile (the key refuses a second one)."""

    __tablename__ = "profile_unique_values"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "attribute", "value"),
        Index("ix_profile_unique_values_tenant_id_profile_id", "tenant_id", "profile_id"),
        _of_profile(),
    )

    attribute: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(400), primary_key=True)
    profile_id: Mapped[UUID]


class ProfileMerge(TenantKeyMixin, TimestampMixin, Base):
    """One profile merged into another: the merged id then answers with the survivor."""

    __tablename__ = "profile_merges"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index("ix_profile_merges_tenant_id_merged_id", "tenant_id", "merged_id"),
        Index("ix_profile_merges_tenant_id_survivor_id", "tenant_id", "survivor_id"),
    )

    survivor_id: Mapped[UUID]
    merged_id: Mapped[UUID]
    reason: Mapped[str] = mapped_column(String(200))
    keys: Mapped[list[str]] = mapped_column(JSONType, default=list)  # the keys that joined them
    merged_at: Mapped[dt.datetime]


class ConsentTopic(TenantKeyMixin, TimestampMixin, Base):
    """A brand-defined subscription topic (newsletter, offers…)."""

    __tablename__ = "consent_topics"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "key"),
    )

    key: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))


class ConsentChange(TenantKeyMixin, TimestampMixin, Base):
    """One consent change, appended and never overwritten; the current state is the latest.

    ``channel`` null means every channel (global); ``topic`` null means the channel itself.
    """

    __tablename__ = "consent_changes"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index(
            "ix_consent_changes_tenant_id_profile_id_occurred_at",
            "tenant_id",
            "profile_id",
            "occurred_at",
        ),
        _of_profile(),
    )

    profile_id: Mapped[UUID]
    channel: Mapped[Channel | None] = mapped_column(string_enum(Channel, "consent_channel"))
    topic: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[ConsentState] = mapped_column(string_enum(ConsentState, "consent_state"))
    source: Mapped[str] = mapped_column(String(200))
    proof: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    occurred_at: Mapped[dt.datetime]

    @property
    def recorded_at(self) -> dt.datetime:
        """When Levier recorded the change (``occurred_at`` is when the person made it)."""
        return self.created_at


class Order(TenantKeyMixin, TimestampMixin, Base):
    """A purchase (transaction) of a profile: RFM, segments and conversions read these."""

    __tablename__ = "orders"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "order_id"),
        Index(
            "ix_orders_tenant_id_profile_id_occurred_at", "tenant_id", "profile_id", "occurred_at"
        ),
        _of_profile(),
    )

    order_id: Mapped[str] = mapped_column(String(100))  # the brand's own id of the order
    profile_id: Mapped[UUID]
    occurred_at: Mapped[dt.datetime]
    amount: Mapped[Decimal] = mapped_column(Numeric(16, 4))
    currency: Mapped[str] = mapped_column(String(3))  # ISO 4217
    store: Mapped[str | None] = mapped_column(String(100))
    channel: Mapped[str | None] = mapped_column(String(32))  # web, store, drive, app, phone…


class OrderLine(TenantKeyMixin, TimestampMixin, Base):
    """One line of an order (``order_uuid`` is the order's ``id``)."""

    __tablename__ = "order_lines"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index("ix_order_lines_tenant_id_order_uuid", "tenant_id", "order_uuid"),
        ForeignKeyConstraint(
            ["tenant_id", "order_uuid"], ["orders.tenant_id", "orders.id"], ondelete="CASCADE"
        ),
    )

    order_uuid: Mapped[UUID]
    product: Mapped[str] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(200))
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 3))
    price: Mapped[Decimal] = mapped_column(Numeric(16, 4))  # unit price


# Linked tables ---------------------------------------------------------------------------------


class LinkedTable(TenantKeyMixin, TimestampMixin, Base):
    """A brand-defined table around the profile (coupons, loyalty points, contracts…).

    ``columns`` holds the typed column definitions (``key``, ``label``, ``type``, ``required``,
    ``default``, ``options``), typed like profile attributes.
    """

    __tablename__ = "linked_tables"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "key"),
    )

    key: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    columns: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)


def _of_linked_table() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant_id", "table_id"],
        ["linked_tables.tenant_id", "linked_tables.id"],
        ondelete="CASCADE",
    )


class LinkedRow(TenantKeyMixin, TimestampMixin, Base):
    """One row of a linked table, referencing one profile; ``version`` counts its changes."""

    __tablename__ = "linked_rows"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index("ix_linked_rows_tenant_id_table_id_id", "tenant_id", "table_id", "id"),
        Index(
            "ix_linked_rows_tenant_id_profile_id_table_id", "tenant_id", "profile_id", "table_id"
        ),
        Index("ix_linked_rows_tenant_id_table_id_key", "tenant_id", "table_id", "key", unique=True),
        _of_linked_table(),
        _of_profile(),
    )

    table_id: Mapped[UUID]
    profile_id: Mapped[UUID]
    # The row's own key in its table (a coupon code, a contract number…), unique per table when
    # given: imports upsert on it.
    key: Mapped[str | None] = mapped_column(String(200))
    values: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    version: Mapped[int] = mapped_column(default=1)


class LinkedRowOperation(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    MERGED = "merged"  # the row followed its profile into the surviving profile
    DELETED = "deleted"


class LinkedRowVersion(TenantKeyMixin, TimestampMixin, Base):
    """One state of a linked row, appended at every change and never rewritten.

    Versions outlive a deleted row (its last one says ``deleted``); they go with the table or the
    profile (both keys cascade), so an erased person leaves no history behind.
    """

    __tablename__ = "linked_row_versions"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "row_id", "version"),
        Index("ix_linked_row_versions_tenant_id_profile_id", "tenant_id", "profile_id"),
        Index("ix_linked_row_versions_tenant_id_table_id", "tenant_id", "table_id"),
        _of_linked_table(),
        _of_profile(),
    )

    row_id: Mapped[UUID]
    table_id: Mapped[UUID]
    profile_id: Mapped[UUID]
    version: Mapped[int]
    operation: Mapped[LinkedRowOperation] = mapped_column(
        string_enum(LinkedRowOperation, "linked_row_operation")
    )
    values: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    changed_at: Mapped[dt.datetime]


# Exports ---------------------------------------------------------------------------------------


class ExportFormat(StrEnum):
    CSV = "csv"
    NDJSON = "ndjson"


class ExportStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"  # its file is gone: past its time to live, or a person in it was erased


class ProfileExport(TenantKeyMixin, TimestampMixin, Base):
    """An export of the brand's profiles (all, or a filtered set), written by a job."""

    __tablename__ = "profile_exports"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "id"),)

    format: Mapped[ExportFormat] = mapped_column(string_enum(ExportFormat, "export_format"))
    filter: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    fields: Mapped[list[str]] = mapped_column(JSONType, default=list)
    status: Mapped[ExportStatus] = mapped_column(string_enum(ExportStatus, "export_status"))
    row_count: Mapped[int] = mapped_column(default=0)
    # The profiles the filter kept when the job started (None before it has).
    total_rows: Mapped[int | None]
    byte_count: Mapped[int] = mapped_column(BigInteger, default=0)
    chunk_count: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(String(500))
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    expires_at: Mapped[dt.datetime | None]
    expired_reason: Mapped[str | None] = mapped_column(String(200))


class ExportChunk(TenantMixin, TimestampMixin, Base):
    """One piece (about 1 MiB) of an export's file; ``seq`` orders them from 0."""

    __tablename__ = "export_chunks"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "export_id", "seq"),
        ForeignKeyConstraint(
            ["tenant_id", "export_id"],
            ["profile_exports.tenant_id", "profile_exports.id"],
            ondelete="CASCADE",
        ),
    )

    export_id: Mapped[UUID] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


# GDPR ------------------------------------------------------------------------------------------


class Suppression(TenantMixin, TimestampMixin, Base):
    """An identifier of an erased person, kept only as a keyed hash (HMAC-SHA256 with the
    brand's salt) so that no later write or import brings the person back without new consent.
    """

    __tablename__ = "suppressions"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "kind", "hash"),)

    kind: Mapped[str] = mapped_column(String(80), primary_key=True)  # email, phone, external:<src>
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # hex
    reason: Mapped[str] = mapped_column(String(200))
    erased_at: Mapped[dt.datetime]
