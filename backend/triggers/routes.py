"""REST routes for trigger definitions and occurrences, under ``/v1/brands/{brand_id}``: the
brand guard answers 404 for a brand out of reach; reads need `events:read`, writes
`events:write`."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from uuid import UUID

from litestar import delete, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from backend.auth.scopes import needs
from backend.core.api import PROFILE_READ_ERRORS, READ_ERRORS, WRITE_ERRORS, BrandController
from backend.core.dependencies import DbSession, Paging
from backend.triggers import service
from backend.triggers.schemas import (
    OccurrenceOut,
    OccurrencePage,
    TriggerCreate,
    TriggerOut,
    TriggerPage,
    TriggerUpdate,
)


class TriggerController(BrandController):
    """The brand's trigger definitions: what raises occurrences, and when."""

    path = "/v1/brands/{brand_id:uuid}/triggers"
    tags = ["triggers"]

    @get(
        "/",
        operation_id="listTriggers",
        summary="List trigger definitions",
        **needs("events:read"),
        responses=READ_ERRORS,
    )
    async def list_triggers(self, db_session: DbSession, page: Paging) -> TriggerPage:
        """The brand's trigger definitions, in creation order."""
        items, cursor = await service.list_definitions(db_session, page)
        return TriggerPage(TriggerOut.many(items), cursor)

    @post(
        "/",
        operation_id="createTrigger",
        summary="Define a trigger",
        **needs("events:write"),
        status_code=HTTP_201_CREATED,
        responses=WRITE_ERRORS,
    )
    async def create_trigger(
        self, db_session: DbSession, data: JSONBody[TriggerCreate]
    ) -> TriggerOut:
        """Define a trigger of a `kind` (event, date_attribute, inactivity, abandoned_cart) with
        that kind's settings; its `key` becomes the `type` of the occurrences it raises."""
        return TriggerOut.of(await service.create_definition(db_session, data))

    @get(
        "/{trigger_id:uuid}",
        operation_id="getTrigger",
        summary="Read a trigger definition",
        **needs("events:read"),
        responses=READ_ERRORS,
    )
    async def get_trigger(self, db_session: DbSession, trigger_id: FromPath[UUID]) -> TriggerOut:
        """One trigger definition."""
        return TriggerOut.of(await service.get_definition(db_session, trigger_id))

    @patch(
        "/{trigger_id:uuid}",
        operation_id="updateTrigger",
        summary="Change a trigger definition",
        **needs("events:write"),
        responses=WRITE_ERRORS,
    )
    async def update_trigger(
        self, db_session: DbSession, trigger_id: FromPath[UUID], data: JSONBody[TriggerUpdate]
    ) -> TriggerOut:
        """Change the label, switch the trigger on or off, or change its settings (its key and
        kind are fixed)."""
        return TriggerOut.of(await service.update_definition(db_session, trigger_id, data))

    @delete(
        "/{trigger_id:uuid}",
        operation_id="deleteTrigger",
        summary="Delete a trigger definition",
        **needs("events:write"),
        status_code=HTTP_204_NO_CONTENT,
        responses=WRITE_ERRORS,
    )
    async def delete_trigger(self, db_session: DbSession, trigger_id: FromPath[UUID]) -> None:
        """Delete the definition; the occurrences it raised stay listed."""
        await service.delete_definition(db_session, trigger_id)


class TriggerOccurrenceController(BrandController):
    """Trigger occurrences: each raised once per (type, dedupe key)."""

    path = "/v1/brands/{brand_id:uuid}/triggers/occurrences"
    tags = ["triggers"]

    @get(
        "/",
        operation_id="listTriggerOccurrences",
        summary="List trigger occurrences",
        **needs("events:read"),
        responses=READ_ERRORS,
    )
    async def list_occurrences(
        self,
        db_session: DbSession,
        page: Paging,
        type: Annotated[str | None, QueryParameter(description="A trigger's key.")] = None,
        profile_id: Annotated[UUID | None, QueryParameter(name="profileId")] = None,
        occurred_from: Annotated[
            dt.datetime | None,
            QueryParameter(name="occurredFrom", description="Inclusive (ISO 8601 with offset)."),
        ] = None,
        occurred_until: Annotated[
            dt.datetime | None,
            QueryParameter(name="occurredUntil", description="Exclusive (ISO 8601 with offset)."),
        ] = None,
    ) -> OccurrencePage:
        """The brand's occurrences in the order they were raised (keyset pages), filtered by
        type, profile and when they occurred."""
        items, cursor = await service.list_occurrences(
            db_session,
            page,
            type=type,
            profile_id=profile_id,
            occurred_from=occurred_from,
            occurred_until=occurred_until,
        )
        return OccurrencePage(OccurrenceOut.many(items), cursor)


class ProfileTriggerOccurrenceController(BrandController):
    """One profile's trigger occurrences (a merged profile's id answers 308 to the survivor's)."""

    path = "/v1/brands/{brand_id:uuid}/triggers/profiles/{profile_id:uuid}/occurrences"
    tags = ["triggers"]

    @get(
        "/",
        operation_id="listProfileTriggerOccurrences",
        summary="List a profile's trigger occurrences",
        **needs("events:read"),
        responses=PROFILE_READ_ERRORS,
    )
    async def list_profile_occurrences(
        self,
        db_session: DbSession,
        page: Paging,
        profile_id: FromPath[UUID],
        type: Annotated[str | None, QueryParameter(description="A trigger's key.")] = None,
    ) -> OccurrencePage:
        """The profile's occurrences in the order they were raised; a merged profile's id
        answers 308 to the survivor's."""
        items, cursor = await service.list_profile_occurrences(
            db_session, profile_id, page, type=type
        )
        return OccurrencePage(OccurrenceOut.many(items), cursor)
