"""Inbound SMS as received: one row per provider message id, so a redelivery changes nothing."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from uuid import UUID

from sqlalchemy import Index, PrimaryKeyConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, TimestampMixin, string_enum
from backend.profiles.models import TenantKeyMixin


class KeywordAction(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    NONE = "none"  # not a keyword (or HELP): kept, no consent change
    UNKNOWN_SENDER = "unknown_sender"  # a keyword from a number no profile holds


class InboundSms(TenantKeyMixin, TimestampMixin, Base):
    """A message a person sent to one of the brand's SMS numbers, and what it changed.

    No foreign key to the account or the profile: the record outlives both as proof of the
    consent change (the profile's deletion or erasure deletes it: see ``service``)."""

    __tablename__ = "inbound_sms"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "message_sid"),
        Index("ix_inbound_sms_tenant_id_profile_id", "tenant_id", "profile_id"),
        Index("ix_inbound_sms_tenant_id_from_phone", "tenant_id", "from_phone"),
    )

    account_id: Mapped[UUID]
    message_sid: Mapped[str] = mapped_column(String(64))
    from_phone: Mapped[str] = mapped_column(String(32))
    to_phone: Mapped[str] = mapped_column(String(32))
    keyword: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[KeywordAction] = mapped_column(string_enum(KeywordAction, "inbound_sms_action"))
    profile_id: Mapped[UUID | None]
    received_at: Mapped[dt.datetime]
