"""Who is calling, and what they may reach: resolved once per request, checked everywhere."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from uuid import UUID

from backend.core.errors import Forbidden, NotFound
from backend.core.tenancy import TenantId
from backend.tenancy.models import AgencyRole, BrandRole


class Access(IntEnum):
    """How much a caller may do on a brand or agency; higher includes lower."""

    VIEWER = 1
    MANAGER = 2
    ADMIN = 3  # agency owner or admin: manages brands, members and grants
    OWNER = 4


AGENCY_ROLE_ACCESS = {
    AgencyRole.OWNER: Access.OWNER,
    AgencyRole.ADMIN: Access.ADMIN,
    AgencyRole.MEMBER: Access.VIEWER,
}
BRAND_ROLE_ACCESS = {BrandRole.MANAGER: Access.MANAGER, BrandRole.VIEWER: Access.VIEWER}


@dataclass(frozen=True)
class Caller:
    user_id: UUID
    email: str
    agency_access: Mapping[UUID, Access] = field(default_factory=dict)
    brand_access: Mapping[UUID, Access] = field(default_factory=dict)
    brand_agency: Mapping[UUID, UUID] = field(default_factory=dict)  # brand id -> its agency

    @property
    def brand_ids(self) -> list[UUID]:
        return list(self.brand_access)

    def require_brand(self, brand_id: UUID, at_least: Access = Access.VIEWER) -> TenantId:
        """The brand as a tenant if reachable; 404 when not (never confirm it exists)."""
        access = self.brand_access.get(brand_id)
        if access is None:
            raise NotFound("brand not found")
        if access < at_least:
            raise Forbidden(f"this needs the {at_least.name.lower()} role on the brand")
        return TenantId(brand_id)

    def require_agency(self, agency_id: UUID, at_least: Access = Access.VIEWER) -> None:
        access = self.agency_access.get(agency_id)
        if access is None:
            raise NotFound("agency not found")
        if access < at_least:
            raise Forbidden(f"this needs the {at_least.name.lower()} role on the agency")
