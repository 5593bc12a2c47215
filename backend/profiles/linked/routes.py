"""REST routes for linked tables, their rows and row history, and a profile's linked rows.

Tables are addressed by their ``key``. Reads need ``profiles:read`` and the viewer role, writes
``profiles:write`` and the manager role; another brand's tables and rows answer 404.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import delete, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from backend.auth.scopes import needs
from backend.core.api import PROFILE_READ_ERRORS, READ_ERRORS, WRITE_ERRORS, BrandController
from backend.core.dependencies import DbSession, Paging, Tenant
from backend.profiles.linked import service as linked
from backend.profiles.linked.schemas import (
    LinkedRowCreate,
    LinkedRowHistory,
    LinkedRowOut,
    LinkedRowPage,
    LinkedRowUpdate,
    LinkedRowVersionOut,
    LinkedTableCreate,
    LinkedTableOut,
    LinkedTablePage,
    LinkedTableUpdate,
)


class LinkedTableController(BrandController):
    """The brand's linked tables and their rows (each row belongs to one profile)."""

    path = "/v1/brands/{brand_id:uuid}/linked-tables"
    tags = ["linked tables"]

    @get(
        "/",
        operation_id="listLinkedTables",
        summary="List linked tables",
        **needs("profiles:read"),
        responses=READ_ERRORS,
    )
    async def list_tables(self, db_session: DbSession, page: Paging) -> LinkedTablePage:
        """The brand's linked tables, in creation order."""
        items, cursor = await linked.list_tables(db_session, page)
        return LinkedTablePage(LinkedTableOut.many(items), cursor)

    @post(
        "/",
        operation_id="createLinkedTable",
        summary="Define a linked table",
        **needs("profiles:write"),
        status_code=HTTP_201_CREATED,
        responses=WRITE_ERRORS,
    )
    async def create_table(
        self, db_session: DbSession, data: JSONBody[LinkedTableCreate]
    ) -> LinkedTableOut:
        """Define a table around the profile (coupons, loyalty points, contracts…) with typed
        columns: text, number, boolean, date, datetime or enum; required; default. A `key`
        already used answers 409; a bad column 422 naming it (`columns[i].<field>`)."""
        return LinkedTableOut.of(await linked.create_table(db_session, data))

    @get(
        "/{key:str}",
        operation_id="getLinkedTable",
        summary="Read a linked table",
        **needs("profiles:read"),
        responses=READ_ERRORS,
    )
    async def get_table(self, db_session: DbSession, key: FromPath[str]) -> LinkedTableOut:
        """One linked table with its columns."""
        return LinkedTableOut.of(await linked.get_table(db_session, key))

    @patch(
        "/{key:str}",
        operation_id="updateLinkedTable",
        summary="Change a linked table",
        **needs("profiles:write"),
        responses=WRITE_ERRORS,
    )
    async def update_table(
        self, db_session: DbSession, key: FromPath[str], data: JSONBody[LinkedTableUpdate]
    ) -> LinkedTableOut:
        """Change the label, or give the whole new column list: columns may be added or
        changed (label, required, default, options), not removed or retyped."""
        return LinkedTableOut.of(await linked.update_table(db_session, key, data))

    @delete(
        "/{key:str}",
        operation_id="deleteLinkedTable",
        summary="Delete a linked table",
        **needs("profiles:write"),
        status_code=HTTP_204_NO_CONTENT,
        responses=WRITE_ERRORS,
    )
    async def delete_table(self, db_session: DbSession, key: FromPath[str]) -> None:
        """Delete the table, its rows and their history."""
        await linked.delete_table(db_session, key)

    @post(
        "/{key:str}/rows",
        operation_id="createLinkedRow",
        summary="Add a linked row",
        **needs("profiles:write"),
        status_code=HTTP_201_CREATED,
        responses=WRITE_ERRORS,
    )
    async def create_row(
        self,
        db_session: DbSession,
        tenant: Tenant,
        key: FromPath[str],
        data: JSONBody[LinkedRowCreate],
    ) -> LinkedRowOut:
        """Add a row for one profile, named by `profileId` (a merged id means its survivor) or
        by `profileKey` (`{"kind": "email"|"phone"|"external:<source>", "value": …}`). Values
        are checked against the columns: 422 naming `values.<column>` otherwise. An optional
        `key` names the row in its table (unique: 409 when taken); imports upsert on it."""
        return LinkedRowOut.of(await linked.create_row(db_session, tenant, key, data))

    @get(
        "/{key:str}/rows",
        operation_id="listLinkedRows",
        summary="List linked rows",
        **needs("profiles:read"),
        responses=READ_ERRORS,
    )
    async def list_rows(
        self,
        db_session: DbSession,
        key: FromPath[str],
        page: Paging,
        profile_id: Annotated[
            UUID | None,
            QueryParameter(name="profileId", description="Only this profile's rows."),
        ] = None,
    ) -> LinkedRowPage:
        """The table's rows in creation order (keyset pages), optionally of one profile."""
        items, cursor = await linked.list_rows(db_session, key, page, profile_id=profile_id)
        return LinkedRowPage(LinkedRowOut.many(items), cursor)

    @get(
        "/{key:str}/rows/{row_id:uuid}",
        operation_id="getLinkedRow",
        summary="Read a linked row",
        **needs("profiles:read"),
        responses=READ_ERRORS,
    )
    async def get_row(
        self, db_session: DbSession, key: FromPath[str], row_id: FromPath[UUID]
    ) -> LinkedRowOut:
        """One row with its current values and version."""
        return LinkedRowOut.of(await linked.get_row(db_session, key, row_id))

    @patch(
        "/{key:str}/rows/{row_id:uuid}",
        operation_id="updateLinkedRow",
        summary="Change a linked row",
        **needs("profiles:write"),
        responses=WRITE_ERRORS,
    )
    async def update_row(
        self,
        db_session: DbSession,
        key: FromPath[str],
        row_id: FromPath[UUID],
        data: JSONBody[LinkedRowUpdate],
    ) -> LinkedRowOut:
        """Merge values into the row (`null` removes one); the change is appended to the
        row's history as a new version."""
        return LinkedRowOut.of(await linked.update_row(db_session, key, row_id, data))

    @delete(
        "/{key:str}/rows/{row_id:uuid}",
        operation_id="deleteLinkedRow",
        summary="Delete a linked row",
        **needs("profiles:write"),
        status_code=HTTP_204_NO_CONTENT,
        responses=WRITE_ERRORS,
    )
    async def delete_row(
        self, db_session: DbSession, key: FromPath[str], row_id: FromPath[UUID]
    ) -> None:
        """Delete the row; its history stays readable and ends with a `deleted` version."""
        await linked.delete_row(db_session, key, row_id)

    @get(
        "/{key:str}/rows/{row_id:uuid}/history",
        operation_id="listLinkedRowHistory",
        summary="List a linked row's history",
        **needs("profiles:read"),
        responses=READ_ERRORS,
    )
    async def row_history(
        self, db_session: DbSession, key: FromPath[str], row_id: FromPath[UUID], page: Paging
    ) -> LinkedRowHistory:
        """Every version of the row, oldest first: created, updated, merged (it followed its
        profile into the survivor) and deleted."""
        items, cursor = await linked.history(db_session, key, row_id, page)
        return LinkedRowHistory(LinkedRowVersionOut.many(items), cursor)


class ProfileLinkedController(BrandController):
    """A profile's rows in one linked table (core's brand controller, with the profiles' 308 to
    the survivor for a merged profile id)."""

    path = "/v1/brands/{brand_id:uuid}/profiles"
    tags = ["linked tables"]

    @get(
        "/{profile_id:uuid}/linked/{key:str}",
        operation_id="listProfileLinkedRows",
        summary="List a profile's linked rows",
        **needs("profiles:read"),
        responses=PROFILE_READ_ERRORS,
    )
    async def profile_rows(
        self, db_session: DbSession, profile_id: FromPath[UUID], key: FromPath[str], page: Paging
    ) -> LinkedRowPage:
        """The profile's rows in the table `key` (merged-in rows too); a merged id answers 308
        to the survivor."""
        items, cursor = await linked.profile_rows(db_session, profile_id, key, page)
        return LinkedRowPage(LinkedRowOut.many(items), cursor)
