"""What the REST API reads and writes for webhook endpoints, deliveries and attempts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Annotated, Any, Self
from uuid import UUID

import msgspec

from backend.core.schemas import Schema
from backend.webhooks.models import DeliveryStatus, WebhookEventType

Url = Annotated[
    str, msgspec.Meta(min_length=8, max_length=2000, examples=["https://crm.example.com/hooks"])
]
Description = Annotated[str, msgspec.Meta(max_length=200)]
EventTypes = Annotated[list[WebhookEventType], msgspec.Meta(min_length=1)]


class EndpointCreate(Schema):
    """An endpoint subscribed to ``eventTypes``. Its signing secret is generated and shown once,
    in the answer to this request."""

    url: Url
    event_types: EventTypes
    description: Description | None = None
    enabled: bool = True


class EndpointUpdate(Schema):
    """A partial change. Enabling a disabled endpoint clears its failure count and sends what
    waits for it."""

    url: Url | msgspec.UnsetType = msgspec.UNSET
    event_types: EventTypes | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType | None = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


class EndpointOut(Schema):
    id: UUID
    url: str
    event_types: list[str]
    description: str | None
    enabled: bool
    secret_hint: str
    consecutive_failures: int
    disabled_at: dt.datetime | None
    disabled_reason: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class EndpointCreated(EndpointOut):
    """The new endpoint and its signing secret (``whsec_…``): the only time it is shown."""

    secret: str

    @classmethod
    def shown(cls, endpoint: object, secret: str) -> EndpointCreated:
        return cls(**msgspec.structs.asdict(EndpointOut.of(endpoint)), secret=secret)


class EndpointPage(Schema):
    items: list[EndpointOut]
    next_cursor: str | None


class DeliveryOut(Schema):
    id: UUID
    endpoint_id: UUID
    event_id: UUID
    event_type: str
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: dt.datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None
    payload: dict[str, Any] | None = None

    @classmethod
    def of(cls, row: object) -> Self:
        """The delivery (its `nextAttemptAt` only while it is pending; no payload)."""
        out = msgspec.convert(row, cls, from_attributes=True)
        if out.status is DeliveryStatus.PENDING:
            return msgspec.structs.replace(out, payload=None)
        return msgspec.structs.replace(out, next_attempt_at=None, payload=None)

    @classmethod
    def many(cls, rows: Iterable[object]) -> list[Self]:
        return [cls.of(row) for row in rows]

    @classmethod
    def with_payload(cls, row: object, payload: dict[str, Any]) -> Self:
        """The delivery with its event's payload."""
        return msgspec.structs.replace(cls.of(row), payload=payload)


class DeliveryPage(Schema):
    items: list[DeliveryOut]
    next_cursor: str | None


class AttemptOut(Schema):
    id: UUID
    attempted_at: dt.datetime
    succeeded: bool
    status_code: int | None
    duration_ms: int
    response_excerpt: str | None
    error: str | None


class AttemptPage(Schema):
    items: list[AttemptOut]
    next_cursor: str | None
