"""Tables of the providers themselves: what the capture provider kept, and the callback tokens
already seen (a provider's replay protection, when no Redis is configured)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Index, PrimaryKeyConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, JSONType, TimestampMixin, string_enum
from backend.core.tenancy import TenantMixin
from backend.profiles.models import Channel, TenantKeyMixin


class CapturedMessage(TenantKeyMixin, TimestampMixin, Base):
    """A message the capture provider kept instead of sending (the embedded default): the whole
    payload handed to the provider, shown by the API and at ``/dev/outbox``."""

    __tablename__ = "captured_messages"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        # The ledger's message id: a second send of the same message keeps nothing new.
        UniqueConstraint("tenant_id", "message_id"),
        Index("ix_captured_messages_tenant_id_channel_id", "tenant_id", "channel", "id"),
    )

    message_id: Mapped[UUID]
    channel: Mapped[Channel] = mapped_column(string_enum(Channel, "captured_channel"))
    recipient: Mapped[str] = mapped_column(String(2000))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)


class FeedbackToken(TenantMixin, TimestampMixin, Base):
    """A callback token a provider signed (Mailgun's ``token``), kept while its timestamp is
    fresh (``created_at``: when it was first seen): the same token twice is a replay."""

    __tablename__ = "feedback_tokens"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "provider", "token"),)

    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    token: Mapped[str] = mapped_column(String(200), primary_key=True)
