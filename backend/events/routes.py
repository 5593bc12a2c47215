"""REST routes for events (ingestion, brand-wide query, profile timeline), event types, the
brand's ingestion settings and profiles' carts.

Sending events needs ``events:write`` (manager role), reading them ``events:read`` (viewer role);
another brand answers 404.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from litestar import Request, Response, delete, get, patch, post
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
)
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_201_CREATED,
    HTTP_202_ACCEPTED,
    HTTP_204_NO_CONTENT,
)

from backend.auth.scopes import needs
from backend.core.api import PROFILE_READ_ERRORS, READ_ERRORS, WRITE_ERRORS, BrandController
from backend.core.dependencies import DbSession, Paging, Tenant
from backend.core.edge import BODY_OPT, BodyRule
from backend.core.errors import InvalidInput, problem_responses
from backend.core.jobs import actor_of
from backend.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageRequest
from backend.events import service
from backend.events.batcher import SingleEventBatcher
from backend.events.schemas import (
    MAX_BATCH,
    CartOut,
    CartPage,
    EventBatchOut,
    EventIn,
    EventOut,
    EventOutcomeOut,
    EventPage,
    EventSettingsOut,
    EventSettingsUpdate,
    EventTypeCreate,
    EventTypeOut,
    EventTypePage,
    EventTypeUpdate,
    Outcome,
)

INGEST_ERRORS = problem_responses(401, 403, 404, 413, 422)
API_SOURCE = service.API_SOURCE

Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="Items per page (1-200).")]
Cursor = Annotated[str | None, QueryParameter(description="The `nextCursor` of the previous page.")]


_BATCH_BODY = RequestBody(
    required=True,
    description=f"Up to {MAX_BATCH} events.",
    content={
        "application/json": OpenAPIMediaType(
            schema=Schema(
                type=OpenAPIType.OBJECT,
                required=["events"],
                properties={
                    "events": Schema(
                        type=OpenAPIType.ARRAY,
                        max_items=MAX_BATCH,
                        items=Reference(ref="#/components/schemas/EventIn"),
                    )
                },
            )
        )
    },
)


@dataclass
class _BatchOperation(Operation):
    """The batch route reads its body itself (each event decoded on its own); this documents it."""

    def __post_init__(self) -> None:
        self.request_body = _BATCH_BODY


class EventController(BrandController):
    """Events: send one or a batch (idempotent on `eventId`), and query the brand's events."""

    path = "/v1/brands/{brand_id:uuid}/events"
    tags = ["events"]

    @post(
        "/",
        operation_id="sendEvent",
        summary="Send an event",
        **needs("events:write"),
        status_code=HTTP_202_ACCEPTED,
        responses={**INGEST_ERRORS},
    )
    async def send_event(
        self, request: Request[Any, Any, Any], tenant: Tenant, data: JSONBody[EventIn]
    ) -> Response[EventOutcomeOut]:
        """Store one event: 202 with its id when accepted, 200 with the stored id when an event
        with this `eventId` was stored before (nothing stored again), 422 naming the reason when
        rejected (unknown profile, undeclared type, properties failing the type's schema, a time
        too far in the future). The answer comes once the event is committed."""
        batcher: SingleEventBatcher = request.app.state.event_batcher
        outcome = await batcher.submit(
            tenant,
            data,
            actor=actor_of(request.scope.get("user")),
            source=API_SOURCE,
            request_id=request.scope["state"].get("request_id"),
        )
        if outcome.outcome is Outcome.REJECTED:
            raise InvalidInput(outcome.reason, errors=outcome.errors)
        status = HTTP_202_ACCEPTED if outcome.outcome is Outcome.ACCEPTED else HTTP_200_OK
        return Response(EventOutcomeOut.of(outcome), status_code=status)

    @post(
        "/batch",
        operation_id="sendEvents",
        summary="Send a batch of events",
        # Depth and media type at the edge; a NUL rejects only the event holding it.
        **needs("events:write", opt={BODY_OPT: BodyRule.JSON_ITEMS}),
        status_code=HTTP_200_OK,
        responses={**INGEST_ERRORS},
        operation_class=_BatchOperation,
    )
    async def send_events(
        self, db_session: DbSession, tenant: Tenant, request: Request[Any, Any, Any]
    ) -> EventBatchOut:
        """Store up to 1,000 events (more answers 413). Each event is accepted, acknowledged as a
        duplicate of the one stored under its `eventId`, or rejected with its reason and the
        fields at fault; a bad event never sinks the others. `index` is the event's position."""
        decoded, _ = service.decode_batch(await request.body())
        outcomes = await service.ingest_decoded(db_session, tenant, decoded, source=API_SOURCE)
        return EventBatchOut.of_outcomes(outcomes)

    @get(
        "/",
        operation_id="listEvents",
        summary="Query the brand's events",
        **needs("events:read"),
        responses=READ_ERRORS,
    )
    async def list_events(
        self,
        db_session: DbSession,
        name: Annotated[str | None, QueryParameter(description="Only events of this name.")] = None,
        profile_id: Annotated[
            UUID | None, QueryParameter(name="profileId", description="Only this profile's.")
        ] = None,
        since: Annotated[
            dt.datetime | None, QueryParameter(description="Occurred at or after this time.")
        ] = None,
        until: Annotated[
            dt.datetime | None, QueryParameter(description="Occurred before this time.")
        ] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> EventPage:
        """The brand's events, newest first (by `occurredAt`), filtered."""
        items, next_cursor = await service.list_events(
            db_session,
            PageRequest(limit=limit),
            cursor,
            name=name,
            profile_id=profile_id,
            since=since,
            until=until,
        )
        return EventPage(EventOut.many(items), next_cursor)


class ProfileEventsController(BrandController):
    """A profile's events (its timeline) and carts."""

    path = "/v1/brands/{brand_id:uuid}/profiles/{profile_id:uuid}"
    tags = ["events"]
    # The 308 to a merged profile's survivor, as the profiles domain answers it (to drop once
    # the application answers `ProfileMerged` on every route).

    @get(
        "/events",
        operation_id="listProfileEvents",
        summary="A profile's timeline",
        **needs("events:read"),
        responses=PROFILE_READ_ERRORS,
    )
    async def timeline(
        self,
        db_session: DbSession,
        profile_id: FromPath[UUID],
        name: Annotated[str | None, QueryParameter(description="Only events of this name.")] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> EventPage:
        """The profile's events, newest first; merged-in profiles' events included."""
        items, next_cursor = await service.timeline(
            db_session, profile_id, PageRequest(limit=limit), cursor, name=name
        )
        return EventPage(EventOut.many(items), next_cursor)

    @get(
        "/carts",
        operation_id="listProfileCarts",
        summary="A profile's carts",
        **needs("events:read"),
        responses=PROFILE_READ_ERRORS,
    )
    async def carts(self, db_session: DbSession, profile_id: FromPath[UUID]) -> CartPage:
        """The profile's carts (open, cleared or converted), last changed first, as kept by
        `cart_updated`, `cart_cleared` and `order_completed` events."""
        carts = await service.carts_of_profile(db_session, profile_id)
        return CartPage(CartOut.many(carts), None)


class EventTypeController(BrandController):
    """Event types the brand declares, with the JSON Schema of their properties."""

    path = "/v1/brands/{brand_id:uuid}/event-types"
    tags = ["events"]

    @get(
        "/",
        operation_id="listEventTypes",
        summary="List event types",
        **needs("events:read"),
        responses=READ_ERRORS,
    )
    async def list_types(self, db_session: DbSession, page: Paging) -> EventTypePage:
        """The declared event types, in creation order."""
        items, cursor = await service.list_event_types(db_session, page)
        return EventTypePage(EventTypeOut.many(items), cursor)

    @post(
        "/",
        operation_id="createEventType",
        summary="Declare an event type",
        **needs("events:write"),
        status_code=HTTP_201_CREATED,
        responses=WRITE_ERRORS,
    )
    async def create_type(
        self, db_session: DbSession, data: JSONBody[EventTypeCreate]
    ) -> EventTypeOut:
        """Declare an event name and the JSON Schema its `properties` must satisfy (enforced on
        ingestion). A name declared twice answers 409, a schema that is not one 422."""
        return EventTypeOut.of(await service.create_event_type(db_session, data))

    @get(
        "/{name:str}",
        operation_id="getEventType",
        summary="Read an event type",
        **needs("events:read"),
        responses=READ_ERRORS,
    )
    async def get_type(self, db_session: DbSession, name: FromPath[str]) -> EventTypeOut:
        """One event type."""
        return EventTypeOut.of(await service.get_event_type(db_session, name))

    @patch(
        "/{name:str}",
        operation_id="updateEventType",
        summary="Change an event type",
        **needs("events:write"),
        responses=WRITE_ERRORS,
    )
    async def update_type(
        self, db_session: DbSession, name: FromPath[str], data: JSONBody[EventTypeUpdate]
    ) -> EventTypeOut:
        """Change the description or the properties schema (applies to events sent after)."""
        return EventTypeOut.of(await service.update_event_type(db_session, name, data))

    @delete(
        "/{name:str}",
        operation_id="deleteEventType",
        summary="Delete an event type",
        **needs("events:write"),
        status_code=HTTP_204_NO_CONTENT,
        responses=WRITE_ERRORS,
    )
    async def delete_type(self, db_session: DbSession, name: FromPath[str]) -> None:
        """Forget the declaration; stored events of that name stay."""
        await service.delete_event_type(db_session, name)


class EventSettingsController(BrandController):
    """How the brand ingests events."""

    path = "/v1/brands/{brand_id:uuid}/event-settings"
    tags = ["events"]

    @get(
        "/",
        operation_id="getEventSettings",
        summary="Read event ingestion settings",
        **needs("events:read"),
        responses=READ_ERRORS,
    )
    async def get_settings(self, db_session: DbSession) -> EventSettingsOut:
        """Whether unknown identity keys create profiles (default yes), whether only declared
        event types are accepted (default no), and how far in the future an event may be dated
        (default 600 s)."""
        return EventSettingsOut.of(await service.get_settings(db_session))

    @patch(
        "/",
        operation_id="updateEventSettings",
        summary="Change event ingestion settings",
        **needs("events:write"),
        responses=WRITE_ERRORS,
    )
    async def update_settings(
        self, db_session: DbSession, data: JSONBody[EventSettingsUpdate]
    ) -> EventSettingsOut:
        """Change the settings given; the others are kept."""
        return EventSettingsOut.of(await service.update_settings(db_session, data))
