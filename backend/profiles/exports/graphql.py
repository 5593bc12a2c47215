"""GraphQL of profile exports: the REST shapes (derived from `backend.profiles.exports.schemas`)
and the same services. The file itself is downloaded over REST (`downloadProfileExport`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator
from uuid import UUID

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.graphql_entities import entity_type, graphql_enum, input_type, struct_of
from backend.core.graphql_fields import BrandUnit, brand_mutation, brand_query
from backend.core.graphql_results import parse_id
from backend.core.graphql_subscriptions import BrandWatch, ProgressFields, brand_subscription
from backend.core.live import Progress
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


ENDED = (ExportStatus.SUCCEEDED, ExportStatus.FAILED, ExportStatus.EXPIRED)


@strawberry.type(name="ProfileExportProgress")
class ProfileExportProgressType(ProgressFields):
    """How far an export got, in profiles written out of those its filter kept when the job
    started, with the export as it stands."""

    export: ProfileExportType

    @classmethod
    def of(cls, export: ExportOut, now: dt.datetime) -> ProfileExportProgressType:
        done, total = export.row_count, export.total_rows
        if export.status is ExportStatus.SUCCEEDED:
            total = done  # the profiles written in the end (some may have come or gone)
        ended = (export.finished_at or now) if export.status in ENDED else None
        progress = Progress(done, total, export.started_at, ended, now)
        return cls(**ProgressFields.values(progress), export=export)  # type: ignore[arg-type]


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


@strawberry.type
class ProfileExportsSubscription:
    @brand_subscription(READ)
    async def export_progress(
        self, unit: BrandWatch, id: strawberry.ID
    ) -> AsyncGenerator[ProfileExportProgressType, None]:
        """A profile export's progress: its state now, then each change (read every
        `LEVIER_LIVE_POLL_SECONDS`), until it succeeded, failed or expired — that last message
        has `finished: true`, then the subscription completes."""
        export_id = parse_id(id, "ProfileExport")
        async for export in unit.follow(
            lambda session: _load_export(session, export_id),
            finished=lambda export: export.status in ENDED,
        ):
            yield ProfileExportProgressType.of(export, unit.now())
