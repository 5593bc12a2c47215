"""REST routes for profile exports (CSV or NDJSON files written by a job) and GDPR requests."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from backend.auth.scopes import needs
from backend.core.api import PROFILE_READ_ERRORS, PROFILE_WRITE_ERRORS, READ_ERRORS, WRITE_ERRORS
from backend.core.db import utcnow
from backend.core.dependencies import DbSession, Paging, Tenant
from backend.core.errors import problem_responses
from backend.profiles import exports, gdpr
from backend.profiles.linked_routes import row_out, version_out
from backend.profiles.models import ExportStatus, ProfileExport
from backend.profiles.routes import (
    BrandScopedController,
    consent_out,
    merge_out,
    order_out,
    profile_out,
)
from backend.profiles.schemas import (
    EraseOut,
    EraseRequest,
    ExportCreate,
    ExportOut,
    ExportPage,
    GdprExport,
    GdprLinkedRow,
    IdentityOut,
)


def export_out(export: ProfileExport) -> ExportOut:
    expired = exports.is_expired(export)
    return ExportOut(
        id=export.id,
        format=export.format,
        # Past its time the file is as good as gone, whether or not the purge has run yet.
        status=ExportStatus.EXPIRED if expired else export.status,
        filter=dict(export.filter or {}),
        fields=list(export.fields or []),
        row_count=export.row_count,
        byte_count=export.byte_count,
        error=export.error,
        created_at=export.created_at,
        started_at=export.started_at,
        finished_at=export.finished_at,
        expires_at=export.expires_at,
        expired_reason=export.expired_reason or (exports.TTL_PASSED if expired else None),
    )


class ExportController(BrandScopedController):
    """Exports of the brand's profiles: request one, follow it, download the file."""

    path = "/v1/brands/{brand_id:uuid}/exports"
    tags = ["profiles"]

    @post(
        "/profiles",
        operation_id="createProfileExport",
        summary="Export profiles",
        **needs("profiles:read"),
        status_code=HTTP_202_ACCEPTED,
        responses=WRITE_ERRORS,
    )
    async def create_export(
        self, db_session: DbSession, tenant: Tenant, data: JSONBody[ExportCreate]
    ) -> ExportOut:
        """Export every profile, or those `filter` keeps (the profile list's filters), as
        `csv` or `ndjson`: 202 with the export's `id`, then a job writes the file. `fields`
        (wire names; `attributes` or `attributes.<key>`) choose the columns; CSV writes external
        ids as `source:id;source:id`. It needs `profiles:read`, and the manager role (or
        above) since it extracts personal data in bulk; downloads need a viewer."""
        return export_out(await exports.request_export(db_session, tenant, data))

    @get(
        "/",
        operation_id="listProfileExports",
        summary="List exports",
        **needs("profiles:read"),
        responses=READ_ERRORS,
    )
    async def list_exports(self, db_session: DbSession, page: Paging) -> ExportPage:
        """The brand's exports, newest last (keyset pages)."""
        items, cursor = await exports.list_exports(db_session, page)
        return ExportPage([export_out(e) for e in items], cursor)

    @get(
        "/{export_id:uuid}",
        operation_id="getProfileExport",
        summary="Read an export's status",
        **needs("profiles:read"),
        responses=READ_ERRORS,
    )
    async def get_export(self, db_session: DbSession, export_id: FromPath[UUID]) -> ExportOut:
        """Status (`queued`, `running`, `succeeded`, `failed`, `expired`), rows and bytes
        written, when the file expires and, once expired, why."""
        return export_out(await exports.get_export(db_session, export_id))

    @get(
        "/{export_id:uuid}/download",
        operation_id="downloadProfileExport",
        summary="Download an export's file",
        **needs("profiles:read"),
        responses={
            HTTP_200_OK: ResponseSpec(
                data_container=str,
                media_type="text/csv",
                description="The file (`text/csv` or `application/x-ndjson`), streamed.",
                generate_examples=False,
            ),
            **READ_ERRORS,
            **problem_responses(409, 410),
        },
    )
    async def download(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        tenant: Tenant,
        export_id: FromPath[UUID],
    ) -> Stream:
        """The file, streamed a chunk at a time; 409 until the export has succeeded, 410 once
        it expired (`LEVIER_EXPORT_TTL_HOURS` after it was written, or at once when a person
        it may hold is erased). CSV cells starting like a formula (`=`, `+`, `-`, `@`, tab,
        carriage return) are prefixed with `'` so that spreadsheets show them as text."""
        export = await exports.ready_export(db_session, export_id)
        return Stream(
            exports.stream_file(request.app.state.session_factory, tenant, export),
            media_type=exports.MEDIA_TYPES[export.format],
            headers={"Content-Disposition": f'attachment; filename="{exports.file_name(export)}"'},
        )


class ProfileGdprController(BrandScopedController):
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
        erasure = await gdpr.erase_profile(db_session, tenant, profile_id, reason)
        return EraseOut(
            profile_id=erasure.profile_id,
            suppressed_keys=erasure.suppressed_keys,
            erased_at=erasure.erased_at,
        )

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
        data = await gdpr.export_person(db_session, profile_id)
        return GdprExport(
            profile=profile_out(data.view),
            identities=[IdentityOut(kind=i.kind, value=i.value) for i in data.identities],
            consents=[consent_out(c) for c in data.consents],
            orders=[order_out(o) for o in data.orders],
            linked_rows=[
                GdprLinkedRow(
                    id=view.row.id,
                    table=view.table,
                    values=row_out(view).values,
                    history=[version_out(v) for v in versions],
                )
                for view, versions in data.linked_rows
            ],
            merges=[merge_out(m) for m in data.merges],
            exported_at=utcnow(),
        )
