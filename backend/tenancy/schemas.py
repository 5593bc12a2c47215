"""What the REST API reads and writes for agencies, brands, members, grants and brand settings."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Self
from uuid import UUID

import msgspec

from backend.core.schemas import Schema, whole
from backend.tenancy.models import AgencyRole, BrandRole, BrandStatus

if TYPE_CHECKING:
    from backend.auth.models import User
    from backend.tenancy.models import AgencyMember, BrandGrant

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
TimeZone = Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["Europe/Brussels"])]
Locale = Annotated[str, msgspec.Meta(pattern=whole(r"[a-z]{2,3}(-[A-Z]{2})?"), examples=["fr-BE"])]
ClockTime = Annotated[
    str, msgspec.Meta(pattern=whole(r"([01]\d|2[0-3]):[0-5]\d"), examples=["21:00"])
]
Channel = Annotated[str, msgspec.Meta(pattern=whole(r"(email|sms|push)"))]


class AgencyCreate(Schema):
    name: Name


class AgencyUpdate(Schema):
    name: Name | msgspec.UnsetType = msgspec.UNSET


class AgencyOut(Schema):
    id: UUID
    name: str
    created_at: dt.datetime
    updated_at: dt.datetime


class BrandCreate(Schema):
    name: Name
    time_zone: TimeZone = "UTC"
    locale: Locale = "en"


class BrandUpdate(Schema):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    time_zone: TimeZone | msgspec.UnsetType = msgspec.UNSET
    locale: Locale | msgspec.UnsetType = msgspec.UNSET


class BrandOut(Schema):
    id: UUID
    agency_id: UUID
    name: str
    status: BrandStatus
    time_zone: str
    locale: str
    created_at: dt.datetime
    updated_at: dt.datetime
    provisioned_at: dt.datetime | None


class MemberCreate(Schema):
    email: str
    role: AgencyRole


class MemberUpdate(Schema):
    role: AgencyRole


class AgencyMemberOut(Schema):
    id: UUID
    user_id: UUID
    email: str
    role: AgencyRole
    created_at: dt.datetime

    @classmethod
    def of_member(cls, member: AgencyMember, user: User) -> Self:
        """A membership with its user's email."""
        return cls(
            id=member.id,
            user_id=user.id,
            email=user.email,
            role=member.role,
            created_at=member.created_at,
        )


class GrantCreate(Schema):
    email: str
    role: BrandRole


class GrantOut(Schema):
    id: UUID
    user_id: UUID
    email: str
    role: BrandRole
    created_at: dt.datetime

    @classmethod
    def of_grant(cls, grant: BrandGrant, user: User) -> Self:
        """A brand role with its user's email."""
        return cls(
            id=grant.id,
            user_id=user.id,
            email=user.email,
            role=grant.role,
            created_at=grant.created_at,
        )


class BrandSettingsUpdate(Schema):
    sender_name: Name | msgspec.UnsetType = msgspec.UNSET
    quiet_hours_start: ClockTime | msgspec.UnsetType = msgspec.UNSET
    quiet_hours_end: ClockTime | msgspec.UnsetType = msgspec.UNSET
    max_messages_per_week: Annotated[int, msgspec.Meta(ge=0, le=100)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    default_channel: Channel | msgspec.UnsetType = msgspec.UNSET


class BrandSettingsOut(Schema):
    brand_id: UUID
    sender_name: str
    quiet_hours_start: str
    quiet_hours_end: str
    max_messages_per_week: int
    default_channel: str
    updated_at: dt.datetime


class AgencyPage(Schema):
    items: list[AgencyOut]
    next_cursor: str | None


class BrandPage(Schema):
    items: list[BrandOut]
    next_cursor: str | None


class AgencyMemberPage(Schema):
    items: list[AgencyMemberOut]
    next_cursor: str | None


class GrantPage(Schema):
    items: list[GrantOut]
    next_cursor: str | None
