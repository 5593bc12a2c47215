"""Tracking's own tables: what was seen of each message (claimed once, then counted) and the
soft bounces of an address in a row."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from sqlalchemy import ForeignKey, ForeignKeyConstraint, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, TimestampMixin
from backend.core.tenancy import TenantMixin


class MessageSighting(TenantMixin, TimestampMixin, Base):
    """One kind of thing seen of a message (``opened``, ``opened:machine``, ``clicked:3``,
    ``unsubscribed``, a provider's report …): inserted by the first sighting, counted by the
    next ones, in one statement — the first is the one that records the event.

    No foreign key to the ledger: ``messages`` is partitioned by month and dropped by retention;
    sightings of a dropped message are meaningless and purged with it."""

    __tablename__ = "message_sightings"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "message_id", "key"),)

    message_id: Mapped[UUID] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(default=1)
    first_at: Mapped[dt.datetime]
    last_at: Mapped[dt.datetime]


class SoftBounceRun(TenantMixin, TimestampMixin, Base):
    """Soft bounces of a profile's address on a channel since its last delivery: at
    :data:`backend.messaging.tracking.feedback.SOFT_BOUNCE_LIMIT` the address counts as
    bounced (hard); a delivery ends the run."""

    __tablename__ = "soft_bounce_runs"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "profile_id", "channel"),
        ForeignKeyConstraint(
            ["tenant_id", "profile_id"],
            ["profiles.tenant_id", "profiles.id"],
            ondelete="CASCADE",
        ),
    )

    profile_id: Mapped[UUID] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(default=1)
    last_at: Mapped[dt.datetime]


class MessagingHookRoute(Base):
    """Which brand a provider account's callback URL (``/v1/hooks/messaging/{account_id}``)
    belongs to: providers call it without a token, so the account is found before any brand
    scope exists (a platform table, as connectors' ``hook_routes``)."""

    __tablename__ = "messaging_hook_routes"

    account_id: Mapped[UUID] = mapped_column(primary_key=True)
    brand_id: Mapped[UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)
