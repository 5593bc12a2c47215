"""Who is calling, and what they may reach: resolved once per request, checked everywhere."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from uuid import UUID

from backend.core.access import Access
from backend.core.errors import Forbidden, InsufficientScope, NotFound
from backend.core.tenancy import TenantId
from backend.tenancy.models import AgencyRole, BrandRole

AGENCY_ROLE_ACCESS = {
    AgencyRole.OWNER: Access.OWNER,
    AgencyRole.ADMIN: Access.ADMIN,
    AgencyRole.MEMBER: Access.VIEWER,
}
BRAND_ROLE_ACCESS = {BrandRole.MANAGER: Access.MANAGER, BrandRole.VIEWER: Access.VIEWER}


@dataclass(frozen=True)
class Caller:
    """A signed-in user (``user_id``), or an OAuth client acting for itself (``client_id``).

    A user's token may also name the client it was issued to. ``scopes`` are what the token
    carries: checked by :meth:`require_scope` after the brand is known to be in reach.
    """

    user_id: UUID | None
    email: str | None = None
    client_id: UUID | None = None
    scopes: frozenset[str] = frozenset()
    agency_access: Mapping[UUID, Access] = field(default_factory=dict)
    brand_access: Mapping[UUID, Access] = field(default_factory=dict)
    brand_agency: Mapping[UUID, UUID] = field(default_factory=dict)  # brand id -> its agency

    @property
    def brand_ids(self) -> list[UUID]:
        return list(self.brand_access)

    @property
    def actor(self) -> str:
        """The audit name of the caller: ``user:<id>``, or ``client:<id>`` for a machine."""
        return f"user:{self.user_id}" if self.user_id is not None else f"client:{self.client_id}"

    def require_user(self) -> UUID:
        """The signed-in user; a client acting for itself answers 403."""
        if self.user_id is None:
            raise Forbidden("this needs a signed-in user, not a client")
        return self.user_id

    def require_scope(self, scope: str | None) -> None:
        if scope is not None and scope not in self.scopes:
            raise InsufficientScope(scope)

    def require_brand(
        self, brand_id: UUID, at_least: Access = Access.VIEWER, scope: str | None = None
    ) -> TenantId:
        """The brand as a tenant if reachable; 404 when not (never confirm it exists), then 403
        when the role or the token's scope falls short."""
        access = self.brand_access.get(brand_id)
        if access is None:
            raise NotFound("brand not found")
        self.require_scope(scope)
        if access < at_least:
            raise Forbidden(f"this needs the {at_least.name.lower()} role on the brand")
        return TenantId(brand_id)

    def require_agency(
        self, agency_id: UUID, at_least: Access = Access.VIEWER, scope: str | None = None
    ) -> None:
        access = self.agency_access.get(agency_id)
        if access is None:
            raise NotFound("agency not found")
        self.require_scope(scope)
        if access < at_least:
            raise Forbidden(f"this needs the {at_least.name.lower()} role on the agency")
