"""What the REST API reads and writes for partner connectors and their deliveries, and the
mapping language of each connector type.

Targets (where a value goes) are profile fields by their API name (``email``, ``phone``,
``firstName``, ``lastName``, ``birthDate``, ``locale``, ``timeZone``, ``country``,
``preferredStore``) or ``attributes.<key>`` for a brand attribute.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from uuid import UUID

import msgspec

from backend.connectors.models import ConnectorType, InboundStatus
from backend.core.schemas import Schema, whole
from backend.profiles.models import Channel

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
EventName = Annotated[
    str, msgspec.Meta(pattern=whole(r"[a-z][a-z0-9_]{0,99}"), examples=["form_submitted"])
]
Target = Annotated[str, msgspec.Meta(min_length=1, max_length=100, examples=["firstName"])]
Pointer = Annotated[str, msgspec.Meta(pattern=whole(r"(/.*)?"), examples=["/data/email"])]
Secret = Annotated[str, msgspec.Meta(min_length=16, max_length=200)]


class ConsentTarget(Schema):
    """The consent an opt-in records: a channel, and a topic for a subscription."""

    channel: Channel
    topic: str | None = None


class QualifioMapping(Schema):
    """``fields``: a form field's ``variable`` (or its ``type``, e.g. ``GENDER``) → a target;
    EMAIL, PHONE, FIRSTNAME, LASTNAME and BIRTHDATE fields map to the profile fields without
    being named. ``optins``: an opt-in's ``variable`` (or id) → the consent it records."""

    fields: dict[str, Target] = {}
    optins: dict[str, ConsentTarget] = {}


class PointerConsent(ConsentTarget):
    """A consent granted when the value at ``pointer`` is true, denied when false."""

    pointer: Pointer = ""


class StandardWebhooksMapping(Schema):
    """JSON pointers (RFC 6901) into the payload: ``fields`` target → pointer; ``consents``
    read booleans; ``properties`` name → pointer make the event's properties (the whole payload
    when empty); ``occurredAt`` points to the event's time (the delivery's when absent)."""

    fields: dict[Target, Pointer] = {}
    consents: list[PointerConsent] = []
    properties: dict[str, Pointer] = {}
    occurred_at: Pointer | None = None


class ConnectorCreate(Schema):
    """A connector. Without ``secret`` one is generated (``whsec_…`` for Standard Webhooks) and
    shown once; give Qualifio's when its console generated it."""

    type: ConnectorType
    name: Name
    mapping: dict[str, Any] = {}
    event_name: EventName = "form_submitted"
    secret: Secret | None = None
    enabled: bool = True


class ConnectorUpdate(Schema):
    """A partial change. A new ``secret`` (or ``rotateSecret``) keeps the previous one valid for
    the grace period, while the partner switches."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    mapping: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    event_name: EventName | msgspec.UnsetType = msgspec.UNSET
    secret: Secret | msgspec.UnsetType = msgspec.UNSET
    rotate_secret: bool = False
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


class ConnectorOut(Schema):
    id: UUID
    type: ConnectorType
    name: str
    hook_path: str
    mapping: dict[str, Any]
    event_name: str
    secret_hint: str
    enabled: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class ConnectorWithSecret(ConnectorOut):
    """The connector and its secret: shown when generated, never again."""

    secret: str | None = None

    @classmethod
    def shown(cls, connector: object, secret: str | None) -> ConnectorWithSecret:
        """The connector, with the ``secret`` it was just given (None: nothing to show)."""
        return msgspec.structs.replace(cls.of(connector), secret=secret)


class ConnectorPage(Schema):
    items: list[ConnectorOut]
    next_cursor: str | None


class InboundDeliveryOut(Schema):
    id: UUID
    connector_id: UUID
    external_id: str
    status: InboundStatus
    error: str | None
    result: dict[str, Any] | None
    attempts: int
    received_at: dt.datetime
    processed_at: dt.datetime | None


class InboundDeliveryPage(Schema):
    items: list[InboundDeliveryOut]
    next_cursor: str | None


class HookAccepted(Schema):
    """The delivery is stored; ``duplicate`` when it was already (nothing changed)."""

    delivery_id: UUID
    duplicate: bool
