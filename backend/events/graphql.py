"""GraphQL of events: sending events (one, or a batch with an outcome per event, as REST), the
brand's events and a profile's timeline as connections, carts, event types and ingestion
settings. Types are derived from `backend.events.schemas`; the same services as REST.

A profile's latest events (`Profile.events`) load through a per-request dataloader: a page of
profiles costs one events query.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from uuid import UUID

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.context import GraphQLContext
from backend.core.edge import nul_field, nul_refusal
from backend.core.errors import InvalidInput, NotFound
from backend.core.graphql_entities import entity_type, graphql_enum, input_type, struct_of
from backend.core.graphql_fields import BrandUnit, brand_mutation, brand_query
from backend.core.graphql_results import Deleted
from backend.core.pagination import MAX_LIMIT, encode_cursor
from backend.core.relay import Connection, Edge, Node, PageInfo, global_id, parse_id
from backend.core.tenancy import TenantId
from backend.events import repository, service
from backend.events.models import CartStatus, Event
from backend.events.schemas import (
    MAX_BATCH,
    CartOut,
    EventBatchIn,
    EventBatchOut,
    EventExternalId,
    EventIn,
    EventOut,
    EventOutcomeOut,
    EventSettingsOut,
    EventSettingsUpdate,
    EventTypeCreate,
    EventTypeOut,
    EventTypeUpdate,
    Outcome,
)
from backend.events.service import BatchTooLarge, EventOutcome
from backend.profiles.service import ProfileMerged

READ, WRITE = "events:read", "events:write"
graphql_enum(Outcome, "EventOutcomeKind")
graphql_enum(CartStatus)


async def _load_event_type(session: AsyncSession, type_id: UUID) -> EventTypeOut:
    return EventTypeOut.of(await service.get_event_type_by_id(session, type_id))


@entity_type(EventOut, name="Event")
class EventType:
    """Something a profile did."""


@entity_type(EventOutcomeOut, name="EventOutcome")
class EventOutcomeType:
    """What became of one event: accepted (stored), a duplicate of the event stored under its
    `eventId` (nothing stored again), or rejected with its reason and the fields at fault."""


@entity_type(EventBatchOut, name="EventBatch")
class EventBatchType:
    pass


@entity_type(EventTypeOut, name="EventType", node=(READ, _load_event_type))
class EventTypeNode(Node):
    pass


@entity_type(EventSettingsOut, name="EventSettings")
class EventSettingsType:
    pass


@entity_type(CartOut, name="Cart")
class CartType:
    pass


@input_type(EventExternalId, name="EventExternalIdInput")
class EventExternalIdInput:
    pass


@input_type(EventIn, name="SendEventInput")
class SendEventInput:
    pass


@input_type(EventBatchIn, name="SendEventsInput")
class SendEventsInput:
    pass


@input_type(EventTypeCreate, name="CreateEventTypeInput")
class CreateEventTypeInput:
    pass


@input_type(EventTypeUpdate, name="UpdateEventTypeInput")
class UpdateEventTypeInput:
    name: str = strawberry.field(description="The event type to change.")


@strawberry.input(description="Names one event type.")
class EventTypeNameInput:
    name: str


@input_type(EventSettingsUpdate, name="UpdateEventSettingsInput")
class UpdateEventSettingsInput:
    pass


# Sending ---------------------------------------------------------------------------------------


def _event_of(given: Any) -> EventIn:
    """The REST struct of an event input: a NUL anywhere refused as REST refuses it, a
    `profileId` given as a global id read as its uuid, then validated as REST does (422)."""
    field = nul_field(_json_like(given))
    if field is not None:
        raise nul_refusal(field)
    extra: dict[str, object] = {}
    profile_id = getattr(given, "profile_id", None)
    if isinstance(profile_id, str):
        with contextlib.suppress(NotFound):  # not an id: the struct names the field
            extra["profile_id"] = str(parse_id(profile_id, "Profile"))
    return struct_of(EventIn, given, **extra)


def _json_like(value: Any) -> Any:
    """An input as JSON-like values, for the NUL check."""
    if isinstance(value, dict):
        return {str(k): _json_like(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_like(v) for v in value]
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return {k: _json_like(v) for k, v in vars(value).items() if v is not strawberry.UNSET}
    return value


def _decoded(events: Sequence[Any]) -> list[EventIn | EventOutcome]:
    """Each event of a batch on its own: a malformed one becomes its rejected outcome (as the
    REST batch decodes them)."""
    if len(events) > MAX_BATCH:
        raise BatchTooLarge(
            f"a batch holds at most {MAX_BATCH} events, this one {len(events)}",
            errors=[{"field": "events", "message": f"at most {MAX_BATCH} events"}],
        )
    decoded: list[EventIn | EventOutcome] = []
    for index, given in enumerate(events):
        try:
            decoded.append(_event_of(given))
        except InvalidInput as exc:
            event_id = getattr(given, "event_id", None)
            decoded.append(
                EventOutcome(
                    index,
                    event_id if isinstance(event_id, str) else None,
                    Outcome.REJECTED,
                    reason=exc.detail or "the event is malformed",
                    errors=_at(index, exc.errors),
                )
            )
    return decoded


def _at(index: int, errors: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """An event's field errors, their pointers inside the batch input (`/events/3/name`)."""
    return [
        {**e, "pointer": f"/events/{index}{e['pointer']}"} if e.get("pointer") else e
        for e in errors or []
    ]


# Reading ---------------------------------------------------------------------------------------


def _event_connection(
    items: Sequence[Event], next_cursor: str | None, after: str | None
) -> Connection[Any]:  # of EventType, derived from EventOut
    """A page of events, newest first: each edge's cursor is the events' own keyset cursor."""
    edges = [Edge(node=EventOut.of(e), cursor=repository.encode_cursor(e)) for e in items]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=next_cursor is not None,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


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
) -> list[EventOut]:
    """The profile's ``last`` latest events, newest first; needs ``events:read``."""
    ctx.require_caller(READ)
    _check_count(last, "last")
    loader = ctx.loader(f"events.latest:{tenant}:{last}", _latest_loader(ctx, tenant, last))
    return EventOut.many(await loader.load(profile_id))


async def _survivor(
    session: AsyncSession, profile_id: UUID, read: Callable[[UUID], Awaitable[Any]]
) -> Any:
    """``read(profile_id)``, following a merged id to its survivor (REST answers 308 there)."""
    try:
        return await read(profile_id)
    except ProfileMerged as merged:
        return await read(merged.survivor_id)


@strawberry.type
class EventsQuery:
    @brand_query(READ)
    async def events(
        self,
        unit: BrandUnit,
        first: int = 50,
        after: str | None = None,
        name: str | None = None,
        profile_id: strawberry.ID | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> Connection[EventType]:
        """The brand's events, newest first, filtered by name, profile (a merged id means its
        survivor) and time range (`since` included, `until` excluded)."""
        page = unit.page(first, None)
        items, cursor = await service.list_events(
            unit.session,
            page,
            after,
            name=name,
            profile_id=parse_id(profile_id, "Profile") if profile_id is not None else None,
            since=since,
            until=until,
        )
        return _event_connection(items, cursor, after)

    @brand_query(READ)
    async def profile_events(
        self,
        unit: BrandUnit,
        profile_id: strawberry.ID,
        first: int = 50,
        after: str | None = None,
        name: str | None = None,
    ) -> Connection[EventType]:
        """A profile's timeline, newest first, merged-in profiles' events included (a merged
        id reads its survivor's)."""
        page = unit.page(first, None)

        async def read(profile: UUID) -> tuple[list[Event], str | None]:
            return await service.timeline(unit.session, profile, page, after, name=name)

        items, cursor = await _survivor(unit.session, parse_id(profile_id, "Profile"), read)
        return _event_connection(items, cursor, after)

    @brand_query(READ)
    async def profile_carts(
        self,
        unit: BrandUnit,
        profile_id: strawberry.ID,
        first: int = 50,
        after: str | None = None,
    ) -> Connection[CartType]:
        """A profile's carts (open, cleared or converted), last changed first (a merged id
        reads its survivor's)."""
        page = unit.page(first, after)

        async def read(profile: UUID) -> list[Any]:
            return await service.carts_of_profile(unit.session, profile)

        carts = CartOut.many(await _survivor(unit.session, parse_id(profile_id, "Profile"), read))
        start = 0
        if page.after is not None:  # a profile holds few carts: paged in memory
            ids = [c.id for c in carts]
            if page.after not in ids:
                raise InvalidInput("cursor is not valid", errors=[{"field": "after"}])
            start = ids.index(page.after) + 1
        shown = carts[start : start + page.limit]
        more = start + page.limit < len(carts)
        cursor = encode_cursor(shown[-1].id) if more and shown else None
        total = len(carts)

        async def count(_: AsyncSession) -> int:
            return total

        return unit.connection(shown, cursor, page, count=count)

    @brand_query(READ)
    async def event_types(
        self, unit: BrandUnit, first: int = 50, after: str | None = None
    ) -> Connection[EventTypeNode]:
        """The declared event types, in creation order."""
        page = unit.page(first, after)
        items, cursor = await service.list_event_types(unit.session, page)
        return unit.connection(
            EventTypeOut.many(items), cursor, page, count=service.count_event_types
        )

    @brand_query(READ, missing_is_null=True)
    async def event_type(self, unit: BrandUnit, name: str) -> EventTypeNode | None:
        """One event type, by name (null when the brand declares none of this name)."""
        return EventTypeOut.of(await service.get_event_type(unit.session, name))

    @brand_query(READ)
    async def event_settings(self, unit: BrandUnit) -> EventSettingsType:
        """How the brand ingests events: whether unknown identity keys create profiles
        (default yes), whether only declared event types are accepted (default no), and how
        far in the future an event may be dated (default 600 s)."""
        return EventSettingsOut.of(await service.get_settings(unit.session))


@strawberry.type
class EventsMutation:
    @brand_mutation(WRITE)
    async def send_event(self, unit: BrandUnit, input: SendEventInput) -> EventOutcomeType:
        """Store one event (idempotent on `eventId`): its outcome, `accepted` or `duplicate`
        (the event stored before under this `eventId`, nothing stored again). A rejected
        event (unknown profile, undeclared type, properties failing the type's schema, a time
        too far in the future) is an `OperationError` naming the fields at fault."""
        data = _event_of(input)
        [outcome] = await service.ingest(
            unit.session, unit.tenant, [data], source=service.API_SOURCE
        )
        if outcome.outcome is Outcome.REJECTED:
            raise InvalidInput(outcome.reason, errors=outcome.errors)
        return EventOutcomeOut.of(outcome)

    @brand_mutation(WRITE)
    async def send_events(self, unit: BrandUnit, input: SendEventsInput) -> EventBatchType:
        """Store up to 1,000 events (more is an `OperationError` with status 413). Each is
        accepted, acknowledged as a duplicate or rejected with its reason and the fields at
        fault; a bad event never sinks the others. `index` is the event's position."""
        decoded = _decoded(input.events)  # type: ignore[attr-defined]
        outcomes = await service.ingest_decoded(
            unit.session, unit.tenant, decoded, source=service.API_SOURCE
        )
        return EventBatchOut.of_outcomes(outcomes)

    @brand_mutation(WRITE)
    async def create_event_type(
        self, unit: BrandUnit, input: CreateEventTypeInput
    ) -> EventTypeNode:
        """Declare an event name and the JSON Schema its `properties` must satisfy (enforced
        on ingestion). A name declared twice is a 409, a schema that is not one a 422."""
        data = struct_of(EventTypeCreate, input)
        return EventTypeOut.of(await service.create_event_type(unit.session, data))

    @brand_mutation(WRITE)
    async def update_event_type(
        self, unit: BrandUnit, input: UpdateEventTypeInput
    ) -> EventTypeNode:
        """Change the description or the properties schema (applies to events sent after)."""
        data = struct_of(EventTypeUpdate, input)
        return EventTypeOut.of(await service.update_event_type(unit.session, input.name, data))

    @brand_mutation(WRITE)
    async def delete_event_type(self, unit: BrandUnit, input: EventTypeNameInput) -> Deleted:
        """Forget the declaration; stored events of that name stay. Answers the type's id."""
        event_type = await service.get_event_type(unit.session, input.name)
        await service.delete_event_type(unit.session, input.name)
        return Deleted(id=global_id("EventType", event_type.id))

    @brand_mutation(WRITE)
    async def update_event_settings(
        self, unit: BrandUnit, input: UpdateEventSettingsInput
    ) -> EventSettingsType:
        """Change the settings given; the others are kept."""
        data = struct_of(EventSettingsUpdate, input)
        return EventSettingsOut.of(await service.update_settings(unit.session, data))
