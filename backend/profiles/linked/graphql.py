"""GraphQL of linked tables, their rows and the rows' history: the REST shapes (derived from
`backend.profiles.linked.schemas`) and the same services. Tables are named by their `key`, as in
REST; rows and tables are also `Node`s. `Profile.linkedRows` loads through
:func:`profile_linked_rows` (a per-request dataloader: one query per page of profiles)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from uuid import UUID

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON

from backend.core.graphql_context import GraphQLContext
from backend.core.graphql_entities import entity_type, graphql_enum, input_type, struct_of
from backend.core.graphql_fields import BrandUnit, brand_mutation, brand_query
from backend.core.graphql_results import Deleted, parse_id
from backend.core.relay import Connection, Node, global_id
from backend.core.tenancy import TenantId
from backend.profiles import service as profiles_service
from backend.profiles.linked import service
from backend.profiles.linked.schemas import (
    LinkedColumn,
    LinkedRowCreate,
    LinkedRowOut,
    LinkedRowUpdate,
    LinkedRowVersionOut,
    LinkedTableCreate,
    LinkedTableOut,
    LinkedTableUpdate,
    ProfileKey,
)
from backend.profiles.models import AttributeType, LinkedRowOperation

READ, WRITE = "profiles:read", "profiles:write"
# Column types are profile attributes' types: the one enum, whoever registers it first.
graphql_enum(AttributeType)
graphql_enum(LinkedRowOperation)


async def _load_table(session: AsyncSession, table_id: UUID) -> LinkedTableOut:
    return LinkedTableOut.of(await service.get_table_by_id(session, table_id))


async def _load_row(session: AsyncSession, row_id: UUID) -> LinkedRowOut:
    return LinkedRowOut.of(await service.get_row_by_id(session, row_id))


@entity_type(LinkedColumn, name="LinkedColumn")
class LinkedColumnType:
    default: JSON | None = strawberry.field(description="The value a new row gets when absent.")


@entity_type(LinkedTableOut, name="LinkedTable", node=(READ, _load_table))
class LinkedTableType(Node):
    """A brand-defined table around the profile (coupons, loyalty points, contracts…)."""


@entity_type(LinkedRowOut, name="LinkedRow", node=(READ, _load_row))
class LinkedRowType(Node):
    """A row of a linked table, belonging to one profile."""

    key: str | None = strawberry.field(description="The row's own key in its table.")
    version: int = strawberry.field(description="How many changes the row went through.")


@entity_type(LinkedRowVersionOut, name="LinkedRowVersion")
class LinkedRowVersionType:
    """One state of a linked row, appended at every change."""


@input_type(LinkedColumn, name="LinkedColumnInput")
class LinkedColumnInput:
    pass


@input_type(LinkedTableCreate, name="CreateLinkedTableInput")
class CreateLinkedTableInput:
    pass


@input_type(LinkedTableUpdate, name="UpdateLinkedTableInput")
class UpdateLinkedTableInput:
    key: str = strawberry.field(description="The table to change.")


@strawberry.input(description="Names one linked table by its key.")
class LinkedTableKeyInput:
    key: str


@input_type(ProfileKey, name="ProfileKeyInput")
class ProfileKeyInput:
    pass


@input_type(LinkedRowCreate, name="CreateLinkedRowInput")
class CreateLinkedRowInput:
    table: str = strawberry.field(description="The linked table's key.")


@input_type(LinkedRowUpdate, name="UpdateLinkedRowInput")
class UpdateLinkedRowInput:
    table: str = strawberry.field(description="The linked table's key.")
    id: strawberry.ID


@strawberry.input(description="Names one row of a linked table.")
class LinkedRowIdInput:
    table: str = strawberry.field(description="The linked table's key.")
    id: strawberry.ID


def _versions(
    unit: BrandUnit, rows: Sequence[Any], cursor: str | None, first: int, after: str | None
) -> Connection[Any]:
    """Versions are keyset-paged on their own id, which their REST shape does not show."""
    versions = LinkedRowVersionOut.many(rows)
    keys = {id(v): r.id for v, r in zip(versions, rows, strict=True)}
    return unit.connection(versions, cursor, unit.page(first, after), key=lambda v: keys[id(v)])


def _rows_loader(
    context: GraphQLContext[Any], tenant: TenantId, table: str
) -> Callable[[Sequence[UUID]], Awaitable[list[list[LinkedRowOut]]]]:
    async def load(profile_ids: Sequence[UUID]) -> list[list[LinkedRowOut]]:
        async with context.transaction(tenant) as session:
            found = await service.rows_of_profiles(session, table, profile_ids)
        return [LinkedRowOut.many(found.get(i, [])) for i in profile_ids]

    return load


async def profile_linked_rows(
    context: GraphQLContext[Any], tenant: TenantId, profile_id: UUID, table: str
) -> list[LinkedRowOut]:
    """The profile's rows in the table ``table`` (its key), oldest first; none for an unknown
    table. Batched per request and table, so a page of profiles costs one query per table."""
    loader = context.loader(
        f"profiles.linked:{tenant}:{table}", _rows_loader(context, tenant, table)
    )
    return await loader.load(profile_id)


@strawberry.type
class LinkedTablesQuery:
    @brand_query(READ)
    async def linked_tables(
        self, unit: BrandUnit, first: int = 50, after: str | None = None
    ) -> Connection[LinkedTableType]:
        """The brand's linked tables, in creation order."""
        page = unit.page(first, after)
        items, cursor = await service.list_tables(unit.session, page)
        return unit.connection(LinkedTableOut.many(items), cursor, page, count=service.count_tables)

    @brand_query(READ, missing_is_null=True)
    async def linked_table(self, unit: BrandUnit, key: str) -> LinkedTableType | None:
        """One linked table by its key (null when the brand has none)."""
        return LinkedTableOut.of(await service.get_table(unit.session, key))

    @brand_query(
        READ,
        description=(
            "The table's rows in creation order, optionally of one profile (a merged id: its "
            "survivor)."
        ),
    )
    async def linked_rows(
        self,
        unit: BrandUnit,
        table: str,
        first: int = 50,
        after: str | None = None,
        profile_id: strawberry.ID | None = None,
    ) -> Connection[LinkedRowType]:
        page = unit.page(first, after)
        profile = parse_id(profile_id, "Profile") if profile_id is not None else None
        items, cursor = await service.list_rows(unit.session, table, page, profile_id=profile)

        async def count(session: AsyncSession) -> int:
            return await service.count_rows(session, table, profile_id=profile)

        return unit.connection(LinkedRowOut.many(items), cursor, page, count=count)

    @brand_query(READ, missing_is_null=True)
    async def linked_row(
        self, unit: BrandUnit, table: str, id: strawberry.ID
    ) -> LinkedRowType | None:
        """One row of a linked table (null when the table has none with this id)."""
        view = await service.get_row(unit.session, table, parse_id(id, "LinkedRow"))
        return LinkedRowOut.of(view)

    @brand_query(
        READ,
        description=(
            "Every version of a row, oldest first (created, updated, merged, deleted); a "
            "deleted row's history stays readable."
        ),
    )
    async def linked_row_history(
        self,
        unit: BrandUnit,
        table: str,
        id: strawberry.ID,
        first: int = 50,
        after: str | None = None,
    ) -> Connection[LinkedRowVersionType]:
        rows, cursor = await service.history(
            unit.session, table, parse_id(id, "LinkedRow"), unit.page(first, after)
        )
        return _versions(unit, rows, cursor, first, after)

    @brand_query(
        READ,
        description=(
            "A profile's rows in the table `table` (merged-in rows too); a merged profile id "
            "answers the survivor's rows."
        ),
    )
    async def profile_linked_rows(
        self,
        unit: BrandUnit,
        profile_id: strawberry.ID,
        table: str,
        first: int = 50,
        after: str | None = None,
    ) -> Connection[LinkedRowType]:
        requested = parse_id(profile_id, "Profile")
        survivor = await profiles_service.survivor_of(unit.session, requested) or requested
        page = unit.page(first, after)
        items, cursor = await service.profile_rows(unit.session, survivor, table, page)
        return unit.connection(LinkedRowOut.many(items), cursor, page)


@strawberry.type
class LinkedTablesMutation:
    @brand_mutation(
        WRITE,
        description=(
            "Define a linked table with typed columns (a taken key: 409; a bad column: 422 "
            "naming `columns[i].<field>`)."
        ),
    )
    async def create_linked_table(
        self, unit: BrandUnit, input: CreateLinkedTableInput
    ) -> LinkedTableType:
        table = await service.create_table(unit.session, struct_of(LinkedTableCreate, input))
        return LinkedTableOut.of(table)

    @brand_mutation(
        WRITE,
        description=(
            "Change the label, or give the whole new column list (columns may be added or "
            "changed, not removed or retyped)."
        ),
    )
    async def update_linked_table(
        self, unit: BrandUnit, input: UpdateLinkedTableInput
    ) -> LinkedTableType:
        data = struct_of(LinkedTableUpdate, input)
        return LinkedTableOut.of(await service.update_table(unit.session, input.key, data))

    @brand_mutation(WRITE)
    async def delete_linked_table(self, unit: BrandUnit, input: LinkedTableKeyInput) -> Deleted:
        """Delete a linked table with its rows and their history; answers its global id."""
        table = await service.get_table(unit.session, input.key)
        await service.delete_table(unit.session, input.key)
        return Deleted(id=global_id("LinkedTable", table.id))

    @brand_mutation(
        WRITE,
        description=(
            "Add a row for one profile, named by `profileId` (a merged id: its survivor) or "
            "by `profileKey`; values are checked against the columns (422 naming "
            "`values.<column>`)."
        ),
    )
    async def create_linked_row(
        self, unit: BrandUnit, input: CreateLinkedRowInput
    ) -> LinkedRowType:
        extra: dict[str, object] = {}
        profile_id = getattr(input, "profile_id", None)  # a field derived from the struct
        if isinstance(profile_id, str):  # a global id too
            extra["profile_id"] = parse_id(profile_id, "Profile")
        data = struct_of(LinkedRowCreate, input, **extra)
        view = await service.create_row(unit.session, unit.tenant, input.table, data)
        return LinkedRowOut.of(view)

    @brand_mutation(WRITE)
    async def update_linked_row(
        self, unit: BrandUnit, input: UpdateLinkedRowInput
    ) -> LinkedRowType:
        """Merge values into a row (`null` removes one); a new version is appended."""
        row_id = parse_id(input.id, "LinkedRow")
        data = struct_of(LinkedRowUpdate, input)
        return LinkedRowOut.of(await service.update_row(unit.session, input.table, row_id, data))

    @brand_mutation(WRITE)
    async def delete_linked_row(self, unit: BrandUnit, input: LinkedRowIdInput) -> Deleted:
        """Delete a row; its history stays readable and ends with a `deleted` version."""
        await service.delete_row(unit.session, input.table, parse_id(input.id, "LinkedRow"))
        return Deleted(id=input.id)
