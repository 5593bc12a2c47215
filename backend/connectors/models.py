"""Inbound partner connectors: a brand's configured sources (Qualifio, Standard Webhooks), the
raw deliveries they push, and the route from a public hook URL to its brand.

A delivery is stored once per (connector, delivery id): the partner's retry of a delivery already
stored changes nothing.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, JSONType, TimestampMixin, string_enum
from backend.profiles.models import TenantKeyMixin


class ConnectorType(StrEnum):
    QUALIFIO = "qualifio"
    STANDARD_WEBHOOKS = "standard_webhooks"


class InboundStatus(StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    FAILED = "failed"


class Connector(TenantKeyMixin, TimestampMixin, Base):
    """A partner source of the brand: how its deliveries are verified and mapped."""

    __tablename__ = "connectors"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "id"),)

    type: Mapped[ConnectorType] = mapped_column(string_enum(ConnectorType, "connector_type"))
    name: Mapped[str] = mapped_column(String(200))
    # Encrypted like webhook signing secrets; the previous one verifies for a grace period
    # after a rotation (the partner may still sign with it for a while).
    secret_ciphertext: Mapped[str] = mapped_column(Text)
    secret_hint: Mapped[str] = mapped_column(String(16))
    previous_secret_ciphertext: Mapped[str | None] = mapped_column(Text)
    secret_rotated_at: Mapped[dt.datetime | None]
    mapping: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    event_name: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(default=True)

    @property
    def hook_path(self) -> str:
        """Where the partner posts its deliveries (no token: the signature authenticates)."""
        return f"/v1/hooks/{self.id}"


class HookRoute(Base):
    """Which brand a public hook URL belongs to: the hook is called without a token, so the
    connector is found before any brand scope exists (a platform table, not a brand one)."""

    __tablename__ = "hook_routes"

    connector_id: Mapped[UUID] = mapped_column(primary_key=True)
    brand_id: Mapped[UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)


class InboundDelivery(TenantKeyMixin, TimestampMixin, Base):
    """One delivery as received (raw body kept), and what processing it gave."""

    __tablename__ = "inbound_deliveries"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "connector_id", "external_id"),
        ForeignKeyConstraint(
            ["tenant_id", "connector_id"],
            ["connectors.tenant_id", "connectors.id"],
            ondelete="CASCADE",
        ),
        Index("ix_inbound_deliveries_tenant_id_connector_id_id", "tenant_id", "connector_id", "id"),
    )

    connector_id: Mapped[UUID]
    # The partner's delivery id: Qualifio's participation id, or the `webhook-id` header.
    external_id: Mapped[str] = mapped_column(String(200))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[InboundStatus] = mapped_column(
        string_enum(InboundStatus, "inbound_status"), default=InboundStatus.RECEIVED
    )
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    attempts: Mapped[int] = mapped_column(default=0)
    received_at: Mapped[dt.datetime]
    processed_at: Mapped[dt.datetime | None]
