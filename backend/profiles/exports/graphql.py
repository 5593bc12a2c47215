"""GraphQL of profile exports: the REST shapes (derived from `backend.profiles.exports.schemas`)
and the same services. The file itself is downloaded over REST (`downloadProfileExport`)."""

from __future__ import annotations

from uuid import UUID

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.graphql_entities import entity_type, graphql_enum, input_type, struct_of
from backend.core.graphql_fields import BrandUnit, brand_mutation, brand_query
from backend.core.graphql_results import parse_id
from backend.core.relay import Connection, Node
from backend.profiles.exports import service
from backend.profiles.exports.schemas import ExportCreate, ExportFilter, ExportOut
from backend.profiles.models import ExportFormat, ExportStatus

READ = "profiles:read"
graphql_enum(ExportFormat)
graphql_enum(ExportStatus)


async def _load_export(session: AsyncSession, export_id: UUID) -> ExportOut:
    return ExportOut.of(await service.get_export(session, export_id))


@entity_type(ExportOut, name="ProfileExport", node=(READ, _load_export))
class ProfileExportType(Node):
    """An export of profiles, written by a job: its status, progress and, once expired, why."""

    byte_count: float = strawberry.field(
        description="Bytes written so far (a Float: files may pass GraphQL's 32-bit Int)."
    )


@input_type(ExportFilter, name="ProfileExportFilterInput")
class ProfileExportFilterInput:
    pass


@input_type(ExportCreate, name="CreateProfileExportInput")
class CreateProfileExportInput:
    pass


@strawberry.type
class ProfileExportsQuery:
    @brand_query(READ)
    async def profile_exports(
        self, unit: BrandUnit, first: int = 50, after: str | None = None
    ) -> Connection[ProfileExportType]:
        """The brand's exports, newest last."""
        page = unit.page(first, after)
        items, cursor = await service.list_exports(unit.session, page)
        return unit.connection(ExportOut.many(items), cursor, page, count=service.count_exports)

    @brand_query(READ, missing_is_null=True)
    async def profile_export(self, unit: BrandUnit, id: strawberry.ID) -> ProfileExportType | None:
        """One export (null when the brand has none with this id)."""
        return await _load_export(unit.session, parse_id(id, "ProfileExport"))


@strawberry.type
class ProfileExportsMutation:
    @brand_mutation(
        READ,
        description=(
            "Export profiles (all, or those the filter keeps) as CSV or NDJSON: a job writes "
            "the file, downloaded over REST. Needs a brand manager (it extracts personal data"
            " in bulk) and `profiles:read`."
        ),
    )
    async def create_profile_export(
        self, unit: BrandUnit, input: CreateProfileExportInput
    ) -> ProfileExportType:
        data = struct_of(ExportCreate, input)
        return ExportOut.of(await service.request_export(unit.session, unit.tenant, data))
