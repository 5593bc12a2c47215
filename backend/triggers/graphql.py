"""GraphQL reads of triggers: definitions and occurrences (the same services as REST)."""

from __future__ import annotations

import datetime as dt
from typing import cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from backend.auth.context import GraphQLContext
from backend.core.access import Access
from backend.core.errors import NotFound
from backend.core.graphql_results import parse_id
from backend.core.pagination import PageRequest
from backend.triggers import service
from backend.triggers.models import TriggerDefinition, TriggerKind, TriggerOccurrence

Ctx = Info[GraphQLContext, None]
TriggerKindEnum = strawberry.enum(TriggerKind, name="TriggerKind")
READ_SCOPE = "events:read"


@strawberry.type(name="Trigger", description="A trigger definition of the brand.")
class TriggerType:
    id: strawberry.ID
    key: str = strawberry.field(description="The `type` of the occurrences it raises.")
    label: str
    kind: TriggerKindEnum  # type: ignore[valid-type]
    enabled: bool
    settings: JSON = strawberry.field(description="The kind's settings, as in REST.")
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, definition: TriggerDefinition) -> TriggerType:
        return cls(
            id=strawberry.ID(str(definition.id)),
            key=definition.key,
            label=definition.label,
            kind=definition.kind,
            enabled=definition.enabled,
            settings=cast(JSON, dict(definition.settings or {})),
            created_at=definition.created_at,
            updated_at=definition.updated_at,
        )


@strawberry.type(name="TriggerOccurrence", description="A trigger raised once for a profile.")
class TriggerOccurrenceType:
    id: strawberry.ID
    profile_id: strawberry.ID
    type: str
    dedupe_key: str
    occurred_at: dt.datetime
    payload: JSON
    created_at: dt.datetime

    @classmethod
    def of(cls, occurrence: TriggerOccurrence) -> TriggerOccurrenceType:
        return cls(
            id=strawberry.ID(str(occurrence.id)),
            profile_id=strawberry.ID(str(occurrence.profile_id)),
            type=occurrence.type,
            dedupe_key=occurrence.dedupe_key,
            occurred_at=occurrence.occurred_at,
            payload=cast(JSON, dict(occurrence.payload or {})),
            created_at=occurrence.created_at,
        )


@strawberry.type(name="TriggerPage")
class TriggerPageType:
    items: list[TriggerType]
    next_cursor: str | None


@strawberry.type(name="TriggerOccurrencePage")
class TriggerOccurrencePageType:
    items: list[TriggerOccurrenceType]
    next_cursor: str | None


@strawberry.type
class TriggersQuery:
    @strawberry.field(description="The brand's trigger definitions, in creation order.")
    async def triggers(
        self, info: Ctx, brand: strawberry.ID, first: int = 50, after: str | None = None
    ) -> TriggerPageType:
        ctx = info.context
        tenant = ctx.require_caller().require_brand(parse_id(brand), Access.VIEWER, READ_SCOPE)
        page = PageRequest.parse(first, after)
        async with ctx.transaction(tenant) as session:
            items, cursor = await service.list_definitions(session, page)
        return TriggerPageType(items=[TriggerType.of(d) for d in items], next_cursor=cursor)

    @strawberry.field(description="One trigger definition.")
    async def trigger(
        self, info: Ctx, brand: strawberry.ID, id: strawberry.ID
    ) -> TriggerType | None:
        ctx = info.context
        tenant = ctx.require_caller().require_brand(parse_id(brand), Access.VIEWER, READ_SCOPE)
        async with ctx.transaction(tenant) as session:
            try:
                definition = await service.get_definition(session, parse_id(id))
            except NotFound:
                return None
        return TriggerType.of(definition)

    @strawberry.field(
        description="Trigger occurrences in the order they were raised, filtered by type, "
        "profile and when they occurred (from inclusive, until exclusive)."
    )
    async def trigger_occurrences(
        self,
        info: Ctx,
        brand: strawberry.ID,
        first: int = 50,
        after: str | None = None,
        type: str | None = None,
        profile_id: strawberry.ID | None = None,
        occurred_from: dt.datetime | None = None,
        occurred_until: dt.datetime | None = None,
    ) -> TriggerOccurrencePageType:
        ctx = info.context
        tenant = ctx.require_caller().require_brand(parse_id(brand), Access.VIEWER, READ_SCOPE)
        page = PageRequest.parse(first, after)
        async with ctx.transaction(tenant) as session:
            items, cursor = await service.list_occurrences(
                session,
                page,
                type=type,
                profile_id=parse_id(profile_id) if profile_id is not None else None,
                occurred_from=occurred_from,
                occurred_until=occurred_until,
            )
        return TriggerOccurrencePageType(
            items=[TriggerOccurrenceType.of(o) for o in items], next_cursor=cursor
        )
