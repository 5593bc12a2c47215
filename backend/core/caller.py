"""What core needs of whoever calls: their audit name, the brands and agencies they reach and
their scopes.

Authentication (``backend.auth.caller.Caller``) provides it; core code depends only on this
protocol, so ``backend/core`` imports no domain.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable
from uuid import UUID

from backend.core.access import Access
from backend.core.tenancy import TenantId


@runtime_checkable
class CallerLike(Protocol):
    @property
    def actor(self) -> str:
        """The audit name: ``user:<id>`` or ``client:<id>``."""
        ...

    @property
    def brand_access(self) -> Mapping[UUID, object]:
        """The brands the caller reaches (by id), with their access."""
        ...

    def require_scope(self, scope: str | None) -> None:
        """Raise ``InsufficientScope`` unless the token carries ``scope`` (``None``: no check)."""
        ...

    @property
    def brand_agency(self) -> Mapping[UUID, UUID]:
        """The agency of each brand the caller reaches."""
        ...

    def require_brand(
        self, brand_id: UUID, at_least: Access = Access.VIEWER, scope: str | None = None
    ) -> TenantId:
        """The brand as a tenant: 404 out of reach, then 403 short of ``at_least`` or scope."""
        ...

    def require_agency(
        self, agency_id: UUID, at_least: Access = Access.VIEWER, scope: str | None = None
    ) -> None:
        """404 unless the caller belongs to the agency, then 403 short of ``at_least`` or scope."""
        ...
