"""Triggers: brand-defined trigger definitions, the occurrences they raise (each stored once per
``(tenant_id, type, dedupe_key)``), the scan watermark of each scheduled definition, and the live
carts whose abandonment is timed here.

An occurrence's ``type`` is the ``key`` of the definition that raised it (or the type named by the
domain that raised it directly); the scenario engine consumes occurrences through
:mod:`backend.triggers.consumers`.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import ForeignKeyConstraint, Index, PrimaryKeyConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, JSONType, TimestampMixin, string_enum
from backend.core.ids import new_id
from backend.core.tenancy import TenantMixin


class TriggerKind(StrEnum):
    EVENT = "event"  # an accepted event with this name (and property values)
    DATE_ATTRIBUTE = "date_attribute"  # a date field plus an offset, once or yearly
    INACTIVITY = "inactivity"  # no order for N days since the last one
    ABANDONED_CART = "abandoned_cart"  # a cart updated and not converted within a delay
    PROFILE_CHANGE = "profile_change"  # a profile field or attribute changed (to a value)


# Kinds the periodic scan finds (the others are raised as things happen).
SCANNED_KINDS = (TriggerKind.DATE_ATTRIBUTE, TriggerKind.INACTIVITY)


def _of_profile() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant_id", "profile_id"], ["profiles.tenant_id", "profiles.id"], ondelete="CASCADE"
    )


def _setting(name: str) -> Any:
    """A read-only attribute showing one stored setting (None when the kind has none)."""
    return property(lambda definition: (definition.settings or {}).get(name))


class TriggerDefinition(TenantMixin, TimestampMixin, Base):
    """What raises occurrences of type ``key``: its ``kind`` and the kind's ``settings``."""

    __tablename__ = "trigger_definitions"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "key"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    kind: Mapped[TriggerKind] = mapped_column(string_enum(TriggerKind, "trigger_kind"))
    enabled: Mapped[bool] = mapped_column(default=True)
    # Validated per kind by the service (event name and filters, date field and offset, delays).
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    # The settings as the API shows them, each a field of its own (None: not of this kind).
    event_name = _setting("event_name")
    property_equals = _setting("property_equals")
    date_field = _setting("date_field")
    offset_days = _setting("offset_days")
    local_time = _setting("local_time")  # stored as ISO text, shown as a time of day
    yearly = _setting("yearly")
    inactivity_days = _setting("inactivity_days")
    delay_minutes = _setting("delay_minutes")
    changed_field = _setting("changed_field")
    changed_to = _setting("changed_to")


class TriggerWatermark(TenantMixin, TimestampMixin, Base):
    """How far the scan of a scheduled definition went: the next scan covers (scanned_until, now],
    so what fell due while no scheduler ran is raised when one comes back."""

    __tablename__ = "trigger_watermarks"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "definition_id"),
        ForeignKeyConstraint(
            ["tenant_id", "definition_id"],
            ["trigger_definitions.tenant_id", "trigger_definitions.id"],
            ondelete="CASCADE",
        ),
    )

    definition_id: Mapped[UUID] = mapped_column(primary_key=True)
    scanned_until: Mapped[dt.datetime]


class TriggerOccurrence(TenantMixin, TimestampMixin, Base):
    """One trigger raised for one profile; the unique key makes raising it again a no-op."""

    __tablename__ = "trigger_occurrences"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "type", "dedupe_key"),
        Index("ix_trigger_occurrences_tenant_id_profile_id_id", "tenant_id", "profile_id", "id"),
        Index("ix_trigger_occurrences_tenant_id_occurred_at", "tenant_id", "occurred_at"),
        _of_profile(),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    profile_id: Mapped[UUID]
    type: Mapped[str] = mapped_column(String(64))
    dedupe_key: Mapped[str] = mapped_column(String(300))
    occurred_at: Mapped[dt.datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class TriggerCart(TenantMixin, TimestampMixin, Base):
    """A live cart as last updated; its abandonment checks are due work keyed on ``updated_at``,
    so an update re-arms them and closing the cart (deleting this row) cancels them."""

    __tablename__ = "trigger_carts"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "cart_id"),
        Index("ix_trigger_carts_tenant_id_profile_id", "tenant_id", "profile_id"),
        _of_profile(),
    )

    cart_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    profile_id: Mapped[UUID]
    cart_updated_at: Mapped[dt.datetime]
