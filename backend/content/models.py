"""Content: templates per channel, their immutable versions (each holding its locale variants
as written and as compiled at save), and reusable snippets. Coupon pools live in
:mod:`backend.content.coupons.models`."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, JSONType, TimestampMixin, string_enum
from backend.core.ids import new_id
from backend.core.tenancy import TenantMixin


class TemplateChannel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"


LIVE_TEMPLATES = text("archived_at IS NULL")


class ContentTemplate(TenantMixin, TimestampMixin, Base):
    """A brand's template on one channel; ``current_version_id`` is the published version.

    Deleting a template archives it (``archived_at``): messages in the ledger name the exact
    version they were rendered from, so versions are never deleted while the brand lives. An
    archived template is hidden from lists, refused for new sends, and frees its key (the key
    is unique among live templates only).
    """

    __tablename__ = "content_templates"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index(
            "uq_content_templates_tenant_id_key",
            "tenant_id",
            "key",
            unique=True,
            postgresql_where=LIVE_TEMPLATES,
            sqlite_where=LIVE_TEMPLATES,
        ),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[TemplateChannel] = mapped_column(
        string_enum(TemplateChannel, "template_channel")
    )
    topic: Mapped[str | None] = mapped_column(String(64))  # a consent topic's key
    current_version_id: Mapped[UUID | None]
    current_version: Mapped[int | None]
    latest_version: Mapped[int] = mapped_column(default=0)
    archived_at: Mapped[dt.datetime | None]


class TemplateVersion(TenantMixin, TimestampMixin, Base):
    """One saved state of a template, never changed afterwards: a message names it.

    ``variants`` holds each locale's fields as written; ``compiled`` what renders (snippets
    inlined, MJML compiled, CSS inlined, text part generated). ``names`` are the context names
    the version uses (only those are loaded at send), ``pools`` its coupon pools' keys.
    """

    __tablename__ = "content_template_versions"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "template_id", "version"),
        ForeignKeyConstraint(
            ["tenant_id", "template_id"],
            ["content_templates.tenant_id", "content_templates.id"],
            ondelete="CASCADE",
        ),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    template_id: Mapped[UUID]
    version: Mapped[int]
    default_locale: Mapped[str] = mapped_column(String(16))
    variants: Mapped[dict[str, Any]] = mapped_column(JSONType)
    compiled: Mapped[dict[str, Any]] = mapped_column(JSONType)
    names: Mapped[list[str]] = mapped_column(JSONType, default=list)
    pools: Mapped[list[str]] = mapped_column(JSONType, default=list)
    snippets: Mapped[list[str]] = mapped_column(JSONType, default=list)

    @property
    def locales(self) -> list[str]:
        return sorted(self.variants)


class Snippet(TenantMixin, TimestampMixin, Base):
    """A reusable piece of template (``{% include "snippet:key" %}``), copied into each version
    saved while it is in use: changing it changes later versions only."""

    __tablename__ = "content_snippets"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "key"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
