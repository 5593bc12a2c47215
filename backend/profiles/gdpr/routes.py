"""REST routes of GDPR requests about one person: erasure and access."""

from __future__ import annotations

from uuid import UUID

from litestar import get, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK

from backend.auth.scopes import needs
from backend.core.api import PROFILE_READ_ERRORS, PROFILE_WRITE_ERRORS, BrandController
from backend.core.dependencies import DbSession, Tenant
from backend.profiles.gdpr import service
from backend.profiles.gdpr.schemas import EraseOut, EraseRequest, GdprExport


class ProfileGdprController(BrandController):
    """GDPR requests about one person: erasure and access (export of everything held)."""

    path = "/v1/brands/{brand_id:uuid}/profiles"
    tags = ["profiles"]

    @post(
        "/{profile_id:uuid}/erase",
        operation_id="eraseProfile",
        summary="Erase a person (GDPR)",
        **needs("profiles:write"),
        status_code=HTTP_200_OK,
        responses=PROFILE_WRITE_ERRORS,
    )
    async def erase(
        self,
        db_session: DbSession,
        tenant: Tenant,
        profile_id: FromPath[UUID],
        data: JSONBody[EraseRequest | None] = None,
    ) -> EraseOut:
        """Hard-delete the profile and everything it has (identity keys, consents, orders,
        linked rows and their history, merge history, events and messages). Its email, phone
        and external ids are kept only as salted hashes on the brand's suppression list: a
        later create or import with one of them answers 409 unless it carries a granted
        consent. Needs a brand manager (or above) and `profiles:write`."""
        reason = (data or EraseRequest()).reason
        return EraseOut.of(await service.erase_profile(db_session, tenant, profile_id, reason))

    @get(
        "/{profile_id:uuid}/gdpr-export",
        operation_id="exportPersonData",
        summary="Export everything held on a person (GDPR)",
        **needs("profiles:read"),
        responses=PROFILE_READ_ERRORS,
    )
    async def gdpr_export(self, db_session: DbSession, profile_id: FromPath[UUID]) -> GdprExport:
        """The profile, its identity keys, the whole consent history, orders with lines,
        linked rows with their history and the merges into it, as one JSON document."""
        return GdprExport.of(await service.export_person(db_session, profile_id))
