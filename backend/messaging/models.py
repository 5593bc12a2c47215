"""The ledger: one ``messages`` row per dedupe key, its status timeline, and the brand's
commercial pressure policy.

Volume (tens of millions of messages a month for a big brand) shapes the tables:

- ``messages`` and ``message_events`` are partitioned by month on PostgreSQL (native RANGE
  partitioning). The partition key is the message's **time-ordered id** (UUIDv7: its first 48 bits
  are the creation time in ms), so a month is a range of ids, the primary key ``(tenant_id, id)``
  contains the partition key as PostgreSQL requires, and a read by id prunes to one partition.
  The timeline is partitioned by ``message_id`` on the same bounds, so a message and its events
  live in the same month and retention drops both whole partitions at once.
- A unique constraint on a partitioned table must include the partition key, so "one message per
  dedupe key" cannot be a unique index on ``messages`` (it would only be unique per month). The
  dedupe keys live in ``message_keys``, a narrow non-partitioned table whose primary key
  ``(tenant_id, dedupe_key)`` is the claim: ``INSERT … ON CONFLICT DO NOTHING`` decides who writes
  the message, whatever the concurrency. Retention deletes its old rows in batches.
- Partitions live in the ``message_partitions`` schema, created ahead by the periodic task
  ``messaging.maintain_partitions`` through SECURITY DEFINER functions (the runtime role owns no
  table, so it cannot create partitions itself); a DEFAULT partition catches anything outside the
  created months so an insert never fails. SQLite has one plain table of each.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import ForeignKeyConstraint, Index, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, JSONType, TimestampMixin, string_enum, utcnow
from backend.core.ids import new_id
from backend.core.tenancy import TenantMixin


class MessageChannel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"


class MessagePriority(StrEnum):
    """Transactional > triggered > campaign: transactional is exempt from pressure and quiet
    hours; the others are capped, and deferred when their source allows it."""

    TRANSACTIONAL = "transactional"
    TRIGGERED = "triggered"
    CAMPAIGN = "campaign"


class SourceKind(StrEnum):
    TRANSACTIONAL = "transactional"  # the API: the Idempotency-Key or the client's key
    CAMPAIGN = "campaign"
    SCENARIO = "scenario"


class MessageStatus(StrEnum):
    """The message's current state; every change is also a row of the timeline."""

    QUEUED = "queued"  # waiting for a worker (or, deferred, for its due time)
    DEFERRED = "deferred"  # pressure, quiet hours or a retryable provider error: until ``due_at``
    SENDING = "sending"  # claimed by a worker (a worker killed here leaves it to the sweeper)
    SENT = "sent"
    DELIVERED = "delivered"
    BOUNCED_SOFT = "bounced_soft"
    BOUNCED_HARD = "bounced_hard"
    COMPLAINED = "complained"
    OPENED = "opened"
    CLICKED = "clicked"
    UNSUBSCRIBED = "unsubscribed"
    FAILED = "failed"  # the provider or the render refused it for good (``status_reason``)
    REFUSED = "refused"  # the gate said no (``status_reason``)


# The timeline records the same vocabulary.
MessageEventKind = MessageStatus


def _of_profile() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant_id", "profile_id"], ["profiles.tenant_id", "profiles.id"], ondelete="CASCADE"
    )


class MessageKey(TenantMixin, TimestampMixin, Base):
    """A dedupe key claimed by exactly one message (the unique claim the partitioned table cannot
    hold itself)."""

    __tablename__ = "message_keys"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "dedupe_key"),
        Index("ix_message_keys_tenant_id_created_at", "tenant_id", "created_at"),
    )

    dedupe_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    message_id: Mapped[UUID]


class Message(TenantMixin, TimestampMixin, Base):
    """One message to one profile on one channel: what was decided, rendered and sent."""

    __tablename__ = "messages"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index("ix_messages_tenant_id_profile_id_id", "tenant_id", "profile_id", "id"),
        Index("ix_messages_tenant_id_status_id", "tenant_id", "status", "id"),
        # Pressure: what occupies a profile's slots in a rolling window.
        Index(
            "ix_messages_tenant_id_profile_id_counted_at", "tenant_id", "profile_id", "counted_at"
        ),
        # Billing meters what was handed to the providers, window by window.
        Index("ix_messages_tenant_id_sent_at", "tenant_id", "sent_at"),
        # Provider feedback names the provider's id.
        Index("ix_messages_tenant_id_provider_message_id", "tenant_id", "provider_message_id"),
        # A source's messages (a campaign occurrence's): its progress counted, held, cancelled.
        Index(
            "ix_messages_tenant_id_source_kind_source_key_status",
            "tenant_id",
            "source_kind",
            "source_key",
            "status",
        ),
        _of_profile(),
        {"postgresql_partition_by": "RANGE (id)"},
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    dedupe_key: Mapped[str] = mapped_column(String(300))
    source_kind: Mapped[SourceKind] = mapped_column(string_enum(SourceKind, "message_source_kind"))
    source_key: Mapped[str] = mapped_column(String(255))
    profile_id: Mapped[UUID]
    channel: Mapped[MessageChannel] = mapped_column(string_enum(MessageChannel, "message_channel"))
    topic: Mapped[str | None] = mapped_column(String(64))  # a consent topic key
    priority: Mapped[MessagePriority] = mapped_column(
        string_enum(MessagePriority, "message_priority")
    )
    # Pressure over the cap: defer to the next free slot (True) or skip (False).
    deferrable: Mapped[bool] = mapped_column(default=True)
    template_id: Mapped[UUID]
    # The exact version rendered (set at render time).
    template_version_id: Mapped[UUID | None]
    template_version: Mapped[int | None]
    locale: Mapped[str | None] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # A second channel + template to use when this channel is not contactable.
    fallback: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    fallback_of: Mapped[UUID | None]  # the message this one replaces (its channel refused)
    # Email: the rendered subject; SMS/push: a short excerpt.
    subject: Mapped[str | None] = mapped_column(String(998))
    status: Mapped[MessageStatus] = mapped_column(string_enum(MessageStatus, "message_status"))
    status_reason: Mapped[str | None] = mapped_column(String(1000))
    due_at: Mapped[dt.datetime | None]  # deferred until
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_at: Mapped[dt.datetime | None]
    # When the message occupies a pressure slot (its planned or actual send time).
    counted_at: Mapped[dt.datetime | None]
    sent_at: Mapped[dt.datetime | None]
    provider_account_id: Mapped[UUID | None]
    provider_kind: Mapped[str | None] = mapped_column(String(32))
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    # Who the message comes from when not the provider account's identity (a campaign's sender
    # variant); set when recorded.
    sender_identity_id: Mapped[UUID | None]

    @property
    def message_id(self) -> UUID:
        return self.id


class MessageHold(TenantMixin, TimestampMixin, Base):
    """A source whose waiting messages no worker claims while the row exists (a paused
    campaign's): they keep their status and are claimed again once the hold is lifted."""

    __tablename__ = "message_holds"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "source_kind", "source_key"),)

    source_kind: Mapped[SourceKind] = mapped_column(
        string_enum(SourceKind, "message_hold_source_kind"), primary_key=True
    )
    source_key: Mapped[str] = mapped_column(String(255), primary_key=True)


class MessageEvent(TenantMixin, TimestampMixin, Base):
    """One step of a message's timeline."""

    __tablename__ = "message_events"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "message_id", "id"),
        {"postgresql_partition_by": "RANGE (message_id)"},
    )

    message_id: Mapped[UUID] = mapped_column(primary_key=True)
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[MessageStatus] = mapped_column(string_enum(MessageStatus, "message_event_kind"))
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    detail: Mapped[str | None] = mapped_column(String(1000))
    until: Mapped[dt.datetime | None]  # a deferral's due time
    url: Mapped[str | None] = mapped_column(String(2048))  # a click's link


class PressurePolicy(TenantMixin, TimestampMixin, Base):
    """The brand's commercial pressure and quiet hours: at most N messages per profile per rolling
    day/week/month, overall and per channel. Initialised from the brand settings' weekly cap and
    quiet hours the first time it is read."""

    __tablename__ = "pressure_policies"
    __table_args__ = (PrimaryKeyConstraint("tenant_id"),)

    # Overall caps (every channel together); None: no cap.
    per_day: Mapped[int | None]
    per_week: Mapped[int | None]
    per_month: Mapped[int | None]
    # Per channel: {"email": {"day": 1, "week": 3, "month": null}, ...}
    channel_caps: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # "HH:MM" in the profile's time zone (the brand's when unknown); None: no quiet hours.
    quiet_hours_start: Mapped[str | None] = mapped_column(String(5))
    quiet_hours_end: Mapped[str | None] = mapped_column(String(5))
    # Triggered messages count against the caps but pass quiet hours when False.
    quiet_hours_for_triggered: Mapped[bool] = mapped_column(default=True)

    @property
    def brand_id(self) -> UUID:
        return self.tenant_id
