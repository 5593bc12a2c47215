"""GraphQL mutations of linked rows and profile exports: thin, calling the same services as
REST, expected failures as ``OperationError`` members of each result union."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from backend.core.access import Access
from backend.core.graphql_results import Deleted, OperationError, attempt, parse_id
from backend.core.schemas import parse_input
from backend.profiles import exports, linked
from backend.profiles.graphql import Ctx, LinkedRowType
from backend.profiles.models import ExportFormat, ExportStatus, ProfileExport
from backend.profiles.schemas import ExportCreate, LinkedRowCreate, LinkedRowUpdate

ExportFormatEnum = strawberry.enum(ExportFormat, name="ExportFormat")
ExportStatusEnum = strawberry.enum(ExportStatus, name="ExportStatus")


@strawberry.input(
    description="An identity key naming a profile: kind email, phone or external:<source>."
)
class ProfileKeyInput:
    kind: str
    value: str


@strawberry.input(description="A linked row for one profile, named by profileId or profileKey.")
class LinkedRowInput:
    values: JSON
    profile_id: strawberry.ID | None = None
    profile_key: ProfileKeyInput | None = None
    key: str | None = None


@strawberry.input(description="Which profiles to export, and how.")
class ProfileExportInput:
    format: ExportFormatEnum  # type: ignore[valid-type]
    filter: JSON | None = strawberry.field(
        default=None, description="The profile list's filters (email, country, updatedSince…)."
    )
    fields: list[str] | None = None


@strawberry.type(name="ProfileExport", description="An export of profiles, written by a job.")
class ProfileExportType:
    id: strawberry.ID
    format: ExportFormatEnum  # type: ignore[valid-type]
    status: ExportStatusEnum  # type: ignore[valid-type]
    fields: list[str]
    row_count: int
    created_at: dt.datetime
    expires_at: dt.datetime | None
    expired_reason: str | None

    @classmethod
    def of(cls, export: ProfileExport) -> ProfileExportType:
        return cls(
            id=strawberry.ID(str(export.id)),
            format=export.format,
            status=export.status,
            fields=list(export.fields or []),
            row_count=export.row_count,
            created_at=export.created_at,
            expires_at=export.expires_at,
            expired_reason=export.expired_reason,
        )


LinkedRowResult = Annotated[LinkedRowType | OperationError, strawberry.union("LinkedRowResult")]
LinkedRowDeleteResult = Annotated[
    Deleted | OperationError, strawberry.union("LinkedRowDeleteResult")
]
ProfileExportResult = Annotated[
    ProfileExportType | OperationError, strawberry.union("ProfileExportResult")
]


def _row_input(input: LinkedRowInput) -> dict[str, Any]:
    values = dict(vars(input))
    if input.profile_key is not None:
        values["profile_key"] = vars(input.profile_key)
    return values


@strawberry.type
class ProfileOperationsMutation:
    @strawberry.mutation(description="Add a row to a linked table for one profile.")
    async def create_linked_row(
        self, info: Ctx, brand: strawberry.ID, table: str, input: LinkedRowInput
    ) -> LinkedRowResult:
        ctx = info.context

        async def run() -> LinkedRowType:
            tenant = ctx.require_caller().require_brand(
                parse_id(brand), Access.MANAGER, "profiles:write"
            )
            data = parse_input(LinkedRowCreate, **_row_input(input))
            async with ctx.transaction(tenant) as session:
                view = await linked.create_row(session, tenant, table, data)
            return LinkedRowType.of(view.row, view.table)

        return await attempt(run)

    @strawberry.mutation(description="Merge values into a linked row (null removes one).")
    async def update_linked_row(
        self, info: Ctx, brand: strawberry.ID, table: str, id: strawberry.ID, values: JSON
    ) -> LinkedRowResult:
        ctx = info.context

        async def run() -> LinkedRowType:
            tenant = ctx.require_caller().require_brand(
                parse_id(brand), Access.MANAGER, "profiles:write"
            )
            data = parse_input(LinkedRowUpdate, values=values)
            async with ctx.transaction(tenant) as session:
                view = await linked.update_row(session, table, parse_id(id), data)
            return LinkedRowType.of(view.row, view.table)

        return await attempt(run)

    @strawberry.mutation(description="Delete a linked row; its history stays readable.")
    async def delete_linked_row(
        self, info: Ctx, brand: strawberry.ID, table: str, id: strawberry.ID
    ) -> LinkedRowDeleteResult:
        ctx = info.context

        async def run() -> Deleted:
            tenant = ctx.require_caller().require_brand(
                parse_id(brand), Access.MANAGER, "profiles:write"
            )
            async with ctx.transaction(tenant) as session:
                await linked.delete_row(session, table, parse_id(id))
            return Deleted(id=id)

        return await attempt(run)

    @strawberry.mutation(
        description="Export profiles (all, or those the filter keeps) as CSV or NDJSON: a job "
        "writes the file, downloaded over REST. Needs a brand manager."
    )
    async def request_profile_export(
        self, info: Ctx, brand: strawberry.ID, input: ProfileExportInput
    ) -> ProfileExportResult:
        ctx = info.context

        async def run() -> ProfileExportType:
            tenant = ctx.require_caller().require_brand(
                parse_id(brand), Access.MANAGER, "profiles:read"
            )
            data = parse_input(ExportCreate, **vars(input))
            async with ctx.transaction(tenant) as session:
                export = await exports.request_export(session, tenant, data)
            return ProfileExportType.of(export)

        return await attempt(run)
