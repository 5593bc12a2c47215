"""REST routes for profile exports (CSV or NDJSON files written by a job)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from backend.auth.scopes import needs
from backend.core.api import READ_ERRORS, WRITE_ERRORS
from backend.core.dependencies import DbSession, Paging, Tenant
from backend.core.errors import problem_responses
from backend.profiles import exports
from backend.profiles.models import ExportStatus, ProfileExport
from backend.profiles.routes import BrandScopedController
from backend.profiles.schemas import ExportCreate, ExportOut, ExportPage


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
