"""The audit log: who (user, task, operator) changed what, in which agency and brand, when."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, IdMixin, utcnow


class AuditEvent(IdMixin, Base):
    """One write. Kept when its agency or brand is deleted (no foreign keys on purpose)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_agency_id_id", "agency_id", "id"),
        Index("ix_audit_events_brand_id_id", "brand_id", "id"),
    )

    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(120))  # user:<id>, task:<name>, operator:cli
    action: Mapped[str] = mapped_column(String(16))  # created, updated, deleted
    object_type: Mapped[str] = mapped_column(String(64))  # the table name
    object_id: Mapped[str] = mapped_column(String(200))
    agency_id: Mapped[UUID | None]
    brand_id: Mapped[UUID | None]
    changes: Mapped[dict[str, Any]]  # {"fields": [...]}: names only, never values (secrets)
    request_id: Mapped[str | None] = mapped_column(String(128))

    @property
    def fields(self) -> list[str]:
        """The names of the fields the write changed (as the APIs show them)."""
        return list(self.changes.get("fields", []))
