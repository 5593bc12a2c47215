"""Coupon pools: codes a brand uploads, each handed to one holder (a message) at most once."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from sqlalchemy import (
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, TimestampMixin
from backend.core.ids import new_id
from backend.core.tenancy import TenantMixin


class CouponPool(TenantMixin, TimestampMixin, Base):
    """A named pool of single-use codes (``coupon("KEY")`` in a template)."""

    __tablename__ = "coupon_pools"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "key"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))


class CouponCode(TenantMixin, TimestampMixin, Base):
    """One code; ``claimed_by`` is the message it was handed to. A holder holds at most one code
    per pool (the unique key), so a retried render finds the code it got before."""

    __tablename__ = "coupon_codes"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "pool_id", "code"),
        UniqueConstraint("tenant_id", "pool_id", "claimed_by"),
        Index("ix_coupon_codes_tenant_id_pool_id_claimed_at", "tenant_id", "pool_id", "claimed_at"),
        # The free codes only: a claim finds one without walking those already handed out.
        Index(
            "ix_coupon_codes_free",
            "tenant_id",
            "pool_id",
            "code",
            postgresql_where=text("claimed_by IS NULL"),
            sqlite_where=text("claimed_by IS NULL"),
        ),
        ForeignKeyConstraint(
            ["tenant_id", "pool_id"],
            ["coupon_pools.tenant_id", "coupon_pools.id"],
            ondelete="CASCADE",
        ),
    )

    pool_id: Mapped[UUID] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(100), primary_key=True)
    claimed_by: Mapped[UUID | None]
    claimed_at: Mapped[dt.datetime | None]
