"""What the REST API reads and writes for events, event types, event settings and carts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Self
from uuid import UUID

import msgspec

from backend.core.schemas import Schema, whole
from backend.events.models import CartStatus

if TYPE_CHECKING:
    from backend.events.service import EventOutcome

MAX_BATCH = 1000

EventName = Annotated[
    str,
    msgspec.Meta(
        pattern=whole(r"[A-Za-z][A-Za-z0-9_.:-]{0,99}"),
        max_length=100,
        examples=["order_completed"],
    ),
]
ClientEventId = Annotated[
    str, msgspec.Meta(min_length=1, max_length=200, examples=["evt_01J9ZK3Q8D2K4R"])
]


class EventExternalId(Schema):
    """An id of the person in another system: ``source`` names the system."""

    source: Annotated[str, msgspec.Meta(examples=["erp"])]
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class EventIn(Schema):
    """One event. ``eventId`` is the client's own id of the event: sending it again is
    acknowledged as a duplicate and stores nothing. The profile is named by ``profileId`` or by
    identity keys (``email``, ``phone``, ``externalId``); unknown keys create a profile when the
    brand allows it. ``occurredAt`` defaults to now and may not lie further in the future than
    the brand's allowed skew (10 minutes by default)."""

    event_id: ClientEventId
    name: EventName
    occurred_at: dt.datetime | None = None
    profile_id: UUID | None = None
    email: Annotated[str, msgspec.Meta(max_length=320, examples=["ada@example.com"])] | None = None
    phone: Annotated[str, msgspec.Meta(max_length=64, examples=["+32470123456"])] | None = None
    external_id: EventExternalId | None = None
    properties: dict[str, Any] = {}


class EventBatchIn(Schema):
    """Up to 1,000 events; each is accepted or rejected on its own."""

    events: list[EventIn]


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"  # stored before under this eventId: nothing stored again
    REJECTED = "rejected"


class EventOutcomeOut(Schema, omit_defaults=True):
    """What became of one event of a request; ``index`` is its position in the batch."""

    index: int
    event_id: str | None
    outcome: Outcome
    id: UUID | None = None  # the stored event's id (accepted or duplicate)
    profile_id: UUID | None = None
    reason: str | None = None
    errors: list[dict[str, Any]] | None = None


class EventBatchOut(Schema):
    """What became of a batch: how many events were accepted, acknowledged as duplicates or
    rejected, and each event's outcome in batch order."""

    accepted: int
    duplicates: int
    rejected: int
    results: list[EventOutcomeOut]

    @classmethod
    def of_outcomes(cls, outcomes: Sequence[EventOutcome]) -> Self:
        counts = {o: 0 for o in Outcome}
        for outcome in outcomes:
            counts[outcome.outcome] += 1
        return cls(
            accepted=counts[Outcome.ACCEPTED],
            duplicates=counts[Outcome.DUPLICATE],
            rejected=counts[Outcome.REJECTED],
            results=EventOutcomeOut.many(outcomes),
        )


class EventOut(Schema):
    """Something a profile did; ``eventId`` is the sender's own id of the event."""

    id: UUID
    event_id: str
    name: str
    profile_id: UUID
    occurred_at: dt.datetime
    received_at: dt.datetime
    source: str
    properties: dict[str, Any]


class EventPage(Schema):
    items: list[EventOut]
    next_cursor: str | None


class EventTypeCreate(Schema):
    """A declared event name with the JSON Schema (draft 2020-12) its ``properties`` must
    satisfy; an empty schema accepts any object."""

    name: EventName
    description: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    properties_schema: dict[str, Any] = {}


class EventTypeUpdate(Schema):
    description: Annotated[str, msgspec.Meta(max_length=500)] | msgspec.UnsetType | None = (
        msgspec.UNSET
    )
    properties_schema: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


class EventTypeOut(Schema):
    """A declared event name and the JSON Schema its ``properties`` must satisfy."""

    id: UUID
    name: str
    description: str | None
    properties_schema: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


class EventTypePage(Schema):
    items: list[EventTypeOut]
    next_cursor: str | None


class EventSettingsUpdate(Schema):
    create_unknown_profiles: bool | msgspec.UnsetType = msgspec.UNSET
    require_declared_types: bool | msgspec.UnsetType = msgspec.UNSET
    max_future_skew_seconds: (
        Annotated[int, msgspec.Meta(ge=0, le=7 * 24 * 3600)] | msgspec.UnsetType
    ) = msgspec.UNSET


class EventSettingsOut(Schema):
    """How the brand ingests events."""

    create_unknown_profiles: bool
    require_declared_types: bool
    max_future_skew_seconds: int


class CartOut(Schema):
    """A profile's live cart, kept by `cart_updated`, `cart_cleared` and `order_completed`."""

    id: UUID
    cart_id: str
    profile_id: UUID
    status: CartStatus
    items: list[dict[str, Any]]
    total: Decimal | None  # a decimal string, as every amount
    currency: str | None
    changed_at: dt.datetime
    updated_at: dt.datetime


class CartPage(Schema):
    items: list[CartOut]
    next_cursor: str | None
