"""Agencies own brands (the tenants); users join agencies and get roles per agency or per brand."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from uuid import UUID

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, IdMixin, TimestampMixin, string_enum
from backend.core.tenancy import TenantMixin


class AgencyRole(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"  # no agency-wide power; reaches only the brands granted to them


class BrandRole(StrEnum):
    MANAGER = "manager"
    VIEWER = "viewer"


class BrandStatus(StrEnum):
    PROVISIONING = "provisioning"
    ACTIVE = "active"


class Agency(IdMixin, TimestampMixin, Base):
    __tablename__ = "agencies"

    name: Mapped[str] = mapped_column(String(200))


class Brand(IdMixin, TimestampMixin, Base):
    """A brand is a tenant: its id is the ``tenant_id`` of all of its data."""

    __tablename__ = "brands"
    __table_args__ = (Index("ix_brands_agency_id_id", "agency_id", "id"),)

    agency_id: Mapped[UUID] = mapped_column(ForeignKey("agencies.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[BrandStatus] = mapped_column(
        string_enum(BrandStatus, "brand_status"), default=BrandStatus.PROVISIONING
    )
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    locale: Mapped[str] = mapped_column(String(16), default="en")
    provisioned_at: Mapped[dt.datetime | None]


class AgencyMember(IdMixin, TimestampMixin, Base):
    __tablename__ = "agency_members"
    __table_args__ = (
        UniqueConstraint("agency_id", "user_id"),
        Index("ix_agency_members_user_id", "user_id"),
    )

    agency_id: Mapped[UUID] = mapped_column(ForeignKey("agencies.id", ondelete="CASCADE"))
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[AgencyRole] = mapped_column(string_enum(AgencyRole, "agency_role"))


class BrandGrant(IdMixin, TimestampMixin, Base):
    """A brand role granted to one agency member on one brand."""

    __tablename__ = "brand_grants"
    __table_args__ = (
        UniqueConstraint("brand_id", "user_id"),
        Index("ix_brand_grants_user_id", "user_id"),
    )

    brand_id: Mapped[UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[BrandRole] = mapped_column(string_enum(BrandRole, "brand_role"))


class BrandSettings(TenantMixin, TimestampMixin, Base):
    """Per-brand defaults every send decision reads (timing and commercial pressure levers).

    Created by the ``tenancy.provision_brand`` job when a brand is created.
    """

    __tablename__ = "brand_settings"

    sender_name: Mapped[str] = mapped_column(String(200))
    quiet_hours_start: Mapped[str] = mapped_column(String(5), default="21:00")
    quiet_hours_end: Mapped[str] = mapped_column(String(5), default="08:00")
    max_messages_per_week: Mapped[int] = mapped_column(default=3)
    default_channel: Mapped[str] = mapped_column(String(16), default="email")

    @property
    def brand_id(self) -> UUID:
        """The brand these settings belong to (their tenant), as the APIs name it."""
        return self.tenant_id
