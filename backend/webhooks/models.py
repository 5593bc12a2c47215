"""Outbound webhooks: a brand's endpoints, the events published to them, one delivery per
(event, endpoint) and every attempt to send it.

Deliveries of one endpoint are sent in the order they were created (time-ordered ids): the sender
only ever takes the earliest pending one, holding a short lease on it while the request is out.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import ForeignKeyConstraint, Index, PrimaryKeyConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, JSONType, TimestampMixin, string_enum
from backend.profiles.models import TenantKeyMixin


class WebhookEventType(StrEnum):
    PROFILE_CREATED = "profile.created"
    PROFILE_UPDATED = "profile.updated"
    CONSENT_CHANGED = "consent.changed"
    SEGMENT_ENTERED = "segment.entered"
    SEGMENT_EXITED = "segment.exited"
    IMPORT_FINISHED = "import.finished"
    ENDPOINT_DISABLED = "webhook_endpoint.disabled"
    # Messaging tracking (backend/messaging/tracking/outcomes.py).
    MESSAGE_DELIVERED = "message.delivered"
    MESSAGE_BOUNCED = "message.bounced"
    MESSAGE_COMPLAINED = "message.complained"
    MESSAGE_OPENED = "message.opened"
    MESSAGE_CLICKED = "message.clicked"
    MESSAGE_UNSUBSCRIBED = "message.unsubscribed"
    # The send pipeline (backend/messaging/notify.py).
    MESSAGE_SENT = "message.sent"
    MESSAGE_FAILED = "message.failed"
    MESSAGE_REFUSED = "message.refused"
    MESSAGE_DEFERRED = "message.deferred"
    # A scenario's webhook step (backend/scenarios/effects.py): sent to the endpoint it names.
    SCENARIO_WEBHOOK = "scenario.webhook"
    # Billing (backend/billing/metering.py).
    BILLING_USAGE_WARNING = "billing.usage_warning"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # every attempt failed


class WebhookEndpoint(TenantKeyMixin, TimestampMixin, Base):
    """An HTTPS URL of the brand's, subscribed to some event types."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "id"),)

    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(200))
    event_types: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # The signing secret, encrypted with a key derived from the deployment's secret key; only
    # its first characters are ever shown again.
    secret_ciphertext: Mapped[str] = mapped_column(Text)
    secret_hint: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(default=True)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    disabled_at: Mapped[dt.datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(Text)


class WebhookEvent(TenantKeyMixin, TimestampMixin, Base):
    """One occurrence published to the brand's endpoints (its id is the ``webhook-id``)."""

    __tablename__ = "webhook_events"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "id"),)

    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)


class WebhookDelivery(TenantKeyMixin, TimestampMixin, Base):
    """An event to send to one endpoint, until it succeeds or its attempts run out."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        ForeignKeyConstraint(
            ["tenant_id", "endpoint_id"],
            ["webhook_endpoints.tenant_id", "webhook_endpoints.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "event_id"],
            ["webhook_events.tenant_id", "webhook_events.id"],
            ondelete="CASCADE",
        ),
        Index(
            "ix_webhook_deliveries_tenant_id_endpoint_id_status_id",
            "tenant_id",
            "endpoint_id",
            "status",
            "id",
        ),
        Index("ix_webhook_deliveries_tenant_id_endpoint_id_id", "tenant_id", "endpoint_id", "id"),
    )

    endpoint_id: Mapped[UUID]
    event_id: Mapped[UUID]
    event_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[DeliveryStatus] = mapped_column(
        string_enum(DeliveryStatus, "webhook_delivery_status"), default=DeliveryStatus.PENDING
    )
    attempt_count: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime]
    # While a sender holds the delivery (its request is out), nobody else sends this endpoint.
    sending_until: Mapped[dt.datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[dt.datetime | None]


class WebhookAttempt(TenantKeyMixin, TimestampMixin, Base):
    """One HTTP request of a delivery: what came back, how long it took, or why it failed."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        ForeignKeyConstraint(
            ["tenant_id", "delivery_id"],
            ["webhook_deliveries.tenant_id", "webhook_deliveries.id"],
            ondelete="CASCADE",
        ),
        Index("ix_webhook_attempts_tenant_id_delivery_id_id", "tenant_id", "delivery_id", "id"),
    )

    delivery_id: Mapped[UUID]
    attempted_at: Mapped[dt.datetime]
    succeeded: Mapped[bool]
    status_code: Mapped[int | None]
    duration_ms: Mapped[int]
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
