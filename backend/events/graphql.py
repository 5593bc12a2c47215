"""GraphQL types and queries of events: a brand-level events query, and a profile's latest events
loaded through a per-request dataloader (a page of profiles costs one events query)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from typing import cast
from uuid import UUID

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from backend.auth.context import GraphQLContext
from backend.core.access import Access
from backend.core.errors import InvalidInput
from backend.core.graphql_results import parse_id
from backend.core.pagination import MAX_LIMIT, PageRequest
from backend.core.tenancy import TenantId
from backend.events import service
from backend.events.models import Event

Ctx = Info[GraphQLContext, None]


@strawberry.type(name="Event", description="Something a profile did.")
class EventType:
    id: strawberry.ID
    event_id: str = strawberry.field(description="The sender's own id of the event.")
    name: str
    profile_id: strawberry.ID
    occurred_at: dt.datetime
    received_at: dt.datetime
    source: str
    properties: JSON

    @classmethod
    def of(cls, event: Event) -> EventType:
        return cls(
            id=strawberry.ID(str(event.id)),
            event_id=event.event_id,
            name=event.name,
            profile_id=strawberry.ID(str(event.profile_id)),
            occurred_at=event.occurred_at,
            received_at=event.created_at,
            source=event.source,
            properties=cast(JSON, dict(event.properties or {})),
        )


@strawberry.type(name="EventPage")
class EventPageType:
    items: list[EventType]
    next_cursor: str | None


def _check_count(count: int, name: str) -> None:
    if not 1 <= count <= MAX_LIMIT:
        raise InvalidInput(f"{name} must be between 1 and {MAX_LIMIT}", errors=[{"field": name}])


def _latest_loader(
    ctx: GraphQLContext, tenant: TenantId, last: int
) -> Callable[[Sequence[UUID]], Awaitable[list[list[Event]]]]:
    async def load(profile_ids: Sequence[UUID]) -> list[list[Event]]:
        async with ctx.transaction(tenant) as session:
            found = await service.latest_events_of(session, profile_ids, last)
        return [found.get(i, []) for i in profile_ids]

    return load


async def events_of_profile(
    ctx: GraphQLContext, tenant: TenantId, profile_id: UUID, last: int
) -> list[EventType]:
    """The profile's ``last`` latest events, newest first; needs ``events:read``."""
    ctx.require_caller("events:read")
    _check_count(last, "last")
    loader = ctx.loader(f"events.latest:{tenant}:{last}", _latest_loader(ctx, tenant, last))
    return [EventType.of(e) for e in await loader.load(profile_id)]


@strawberry.type
class EventsQuery:
    @strawberry.field(
        description="The brand's events, newest first, filtered by name, profile and time "
        "range (`since` included, `until` excluded), in keyset pages."
    )
    async def events(
        self,
        info: Ctx,
        brand: strawberry.ID,
        first: int = 50,
        after: str | None = None,
        name: str | None = None,
        profile_id: strawberry.ID | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> EventPageType:
        ctx = info.context
        tenant = ctx.require_caller().require_brand(parse_id(brand), Access.VIEWER, "events:read")
        _check_count(first, "first")
        async with ctx.transaction(tenant) as session:
            items, cursor = await service.list_events(
                session,
                PageRequest(limit=first),
                after,
                name=name,
                profile_id=parse_id(profile_id) if profile_id is not None else None,
                since=since,
                until=until,
            )
        return EventPageType(items=[EventType.of(e) for e in items], next_cursor=cursor)
