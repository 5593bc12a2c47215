"""Events: what a profile did (signed_up, order_completed, page_viewed…), the brand's declared
event types with their property schema, the brand's ingestion settings, and live carts.

An event references its profile by ``(tenant_id, profile_id)``; it follows the profile through
merges (re-pointed by the merge hook) and goes with it on erasure. The client's ``event_id`` is
unique per brand: that key, not a prior read, makes ingestion idempotent.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ForeignKeyConstraint,
    Index,
    Numeric,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, JSONType, TimestampMixin, string_enum
from backend.core.ids import new_id
from backend.core.tenancy import TenantMixin

DEFAULT_MAX_FUTURE_SKEW_SECONDS = 600


def _of_profile() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant_id", "profile_id"], ["profiles.tenant_id", "profiles.id"], ondelete="CASCADE"
    )


class Event(TenantMixin, TimestampMixin, Base):
    """One event of one profile, stored once per client ``event_id``.

    Written by set-based inserts (no ORM object on the hot path); ``created_at`` is when Levier
    received it, ``occurred_at`` when the client says it happened.
    """

    __tablename__ = "events"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "event_id"),
        Index(
            "ix_events_tenant_id_profile_id_occurred_at",
            "tenant_id",
            "profile_id",
            "occurred_at",
            "id",
        ),
        Index("ix_events_tenant_id_occurred_at", "tenant_id", "occurred_at", "id"),
        _of_profile(),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    event_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(100))
    profile_id: Mapped[UUID]
    occurred_at: Mapped[dt.datetime]
    source: Mapped[str] = mapped_column(String(64))
    properties: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    @property
    def received_at(self) -> dt.datetime:
        """When Levier received it (as the API shows it)."""
        return self.created_at


class EventType(TenantMixin, TimestampMixin, Base):
    """An event name the brand declares, with the JSON Schema its ``properties`` must satisfy."""

    __tablename__ = "event_types"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "name"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500))
    properties_schema: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class EventSettings(TenantMixin, TimestampMixin, Base):
    """How a brand ingests events; a brand without a row has the defaults."""

    __tablename__ = "event_settings"
    __table_args__ = (PrimaryKeyConstraint("tenant_id"),)

    # Unknown identity keys create a profile (otherwise the event is rejected).
    create_unknown_profiles: Mapped[bool] = mapped_column(default=True)
    # Only event names declared as event types are accepted.
    require_declared_types: Mapped[bool] = mapped_column(default=False)
    # Events dated further in the future than this are rejected.
    max_future_skew_seconds: Mapped[int] = mapped_column(default=DEFAULT_MAX_FUTURE_SKEW_SECONDS)


class CartStatus(StrEnum):
    OPEN = "open"
    CLEARED = "cleared"
    CONVERTED = "converted"  # an order completed it


class Cart(TenantMixin, TimestampMixin, Base):
    """A profile's live cart, kept by ``cart_updated`` / ``cart_cleared`` / ``order_completed``."""

    __tablename__ = "carts"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "profile_id", "cart_id"),
        Index("ix_carts_tenant_id_status_changed_at", "tenant_id", "status", "changed_at"),
        _of_profile(),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    profile_id: Mapped[UUID]
    cart_id: Mapped[str] = mapped_column(String(100))  # the brand's own id of the cart
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    total: Mapped[Decimal | None] = mapped_column(Numeric(16, 4))
    currency: Mapped[str | None] = mapped_column(String(3))
    status: Mapped[CartStatus] = mapped_column(string_enum(CartStatus, "cart_status"))
    # The time of the event that last changed it (idle carts are found on it).
    changed_at: Mapped[dt.datetime]
