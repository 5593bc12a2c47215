"""What the REST API reads and writes for profiles, attributes, identities, merges, consents and
orders."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

import msgspec

from backend.core.schemas import Schema, whole
from backend.profiles.models import (
    AttributeType,
    Channel,
    ConsentState,
)

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Key = Annotated[
    str,
    msgspec.Meta(pattern=whole(r"[a-z][a-z0-9_]{0,63}"), max_length=64, examples=["loyalty_tier"]),
]
Text200 = Annotated[str, msgspec.Meta(max_length=200)]
Source = Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["qualifio"])]


class WriteMode(StrEnum):
    """``create`` refuses a profile whose identity keys are known (409); ``upsert`` updates the
    profile they point to, merging the profiles when they point to several."""

    CREATE = "create"
    UPSERT = "upsert"


MAX_EXTERNAL_ID = 256


class ExternalId(Schema):
    """An id of the person in another system: ``source`` names the system."""

    source: Annotated[str, msgspec.Meta(examples=["erp"])]
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_EXTERNAL_ID)]


class ProfileCreate(Schema):
    """A new profile. ``consents`` are recorded with it; a **granted** one is the new consent
    that lets the write carry identifiers of an erased person (without it, a suppressed email,
    phone or external id answers 409, and with it their suppression is lifted)."""

    email: Annotated[str, msgspec.Meta(examples=["ada@example.com"])] | None = None
    phone: Annotated[str, msgspec.Meta(examples=["+32470123456"])] | None = None
    first_name: Text200 | None = None
    last_name: Text200 | None = None
    birth_date: dt.date | None = None
    locale: Annotated[str, msgspec.Meta(examples=["fr-BE"])] | None = None
    time_zone: Annotated[str, msgspec.Meta(examples=["Europe/Brussels"])] | None = None
    country: Annotated[str, msgspec.Meta(examples=["BE"])] | None = None
    preferred_store: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    channel_appetency: Channel | None = None
    attributes: dict[str, Any] = {}
    external_ids: list[ExternalId] = []
    consents: list[ConsentChangeIn] = []


class ProfileUpdate(Schema):
    """A partial update: absent fields are kept, ``null`` clears a field. ``attributes`` are
    merged key by key (``null`` removes one); ``externalIds`` are added to the profile's."""

    email: str | msgspec.UnsetType | None = msgspec.UNSET
    phone: str | msgspec.UnsetType | None = msgspec.UNSET
    first_name: Text200 | msgspec.UnsetType | None = msgspec.UNSET
    last_name: Text200 | msgspec.UnsetType | None = msgspec.UNSET
    birth_date: dt.date | msgspec.UnsetType | None = msgspec.UNSET
    locale: str | msgspec.UnsetType | None = msgspec.UNSET
    time_zone: str | msgspec.UnsetType | None = msgspec.UNSET
    country: str | msgspec.UnsetType | None = msgspec.UNSET
    preferred_store: Annotated[str, msgspec.Meta(max_length=100)] | msgspec.UnsetType | None = (
        msgspec.UNSET
    )
    channel_appetency: Channel | msgspec.UnsetType | None = msgspec.UNSET
    attributes: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    external_ids: list[ExternalId] | msgspec.UnsetType = msgspec.UNSET
    bounced: list[Channel] | msgspec.UnsetType = msgspec.UNSET
    suppressed: list[Channel] | msgspec.UnsetType = msgspec.UNSET


class ProfileOut(Schema):
    id: UUID
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    birth_date: dt.date | None
    locale: str | None
    time_zone: str | None
    country: str | None
    preferred_store: str | None
    channel_appetency: Channel | None
    attributes: dict[str, Any]
    external_ids: list[ExternalId]
    bounced: list[str]
    suppressed: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime


class ProfilePage(Schema):
    items: list[ProfileOut]
    next_cursor: str | None


class MergeRequest(Schema):
    other_id: UUID
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] = "explicit"


class MergeOut(Schema):
    id: UUID
    survivor_id: UUID
    merged_id: UUID
    reason: str
    keys: list[str]
    merged_at: dt.datetime


class MergePage(Schema):
    items: list[MergeOut]
    next_cursor: str | None


class AttributeCreate(Schema):
    key: Key
    label: Name
    type: AttributeType
    required: bool = False
    unique: bool = False
    default: Any = None
    options: list[Annotated[str, msgspec.Meta(min_length=1, max_length=200)]] | None = None


class AttributeUpdate(Schema):
    """``key``, ``type`` and ``unique`` are fixed at creation; a new ``required`` applies to
    profiles created from then on and to writes that clear the attribute."""

    label: Name | msgspec.UnsetType = msgspec.UNSET
    required: bool | msgspec.UnsetType = msgspec.UNSET
    default: Any | msgspec.UnsetType = msgspec.UNSET
    options: (
        list[Annotated[str, msgspec.Meta(min_length=1, max_length=200)]] | msgspec.UnsetType
    ) = msgspec.UNSET


class AttributeOut(Schema):
    id: UUID
    key: str
    label: str
    type: AttributeType
    required: bool
    unique: bool
    default: Any
    options: list[str] | None
    created_at: dt.datetime
    updated_at: dt.datetime


class AttributePage(Schema):
    items: list[AttributeOut]
    next_cursor: str | None


class TopicCreate(Schema):
    key: Key
    label: Name


class TopicUpdate(Schema):
    label: Name


class TopicOut(Schema):
    id: UUID
    key: str
    label: str
    created_at: dt.datetime


class TopicPage(Schema):
    items: list[TopicOut]
    next_cursor: str | None


class ConsentChangeIn(Schema):
    """A consent change. No ``channel`` and no ``topic``: every channel (global unsubscribe or
    its lifting); a ``channel``: that channel; a ``channel`` and a ``topic``: that subscription."""

    state: ConsentState
    source: Source
    channel: Channel | None = None
    topic: Annotated[str, msgspec.Meta(examples=["newsletter"])] | None = None
    proof: dict[str, Any] | None = None  # e.g. {"ip": …, "form": …, "partner": …}
    occurred_at: dt.datetime | None = None  # when the person gave it; now when absent


class ConsentOut(Schema):
    id: UUID
    channel: Channel | None
    topic: str | None
    state: ConsentState
    source: str
    proof: dict[str, Any] | None
    occurred_at: dt.datetime
    recorded_at: dt.datetime


class ConsentPage(Schema):
    items: list[ConsentOut]
    next_cursor: str | None


class Contactability(Schema):
    channel: Channel
    contactable: bool
    reasons: list[str]  # why not: no-address, invalid-address, no-consent, denied, …


class ConsentsOut(Schema):
    """The current state (the latest change) of every channel and topic, and contactability."""

    items: list[ConsentOut]
    contactability: list[Contactability]


Money = Annotated[Decimal, msgspec.Meta(examples=["49.90"])]


class OrderLineIn(Schema):
    product: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    quantity: Decimal  # more than zero; decimal for goods sold by weight
    price: Money  # unit price
    category: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class OrderIn(Schema):
    """An order (transaction). Amounts are decimals, sent as JSON numbers or strings and
    answered as strings so that no precision is lost."""

    order_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100, examples=["W-10045"])]
    occurred_at: dt.datetime
    amount: Money
    currency: Annotated[str, msgspec.Meta(pattern=whole(r"[A-Z]{3}"), examples=["EUR"])]
    store: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    channel: Annotated[str, msgspec.Meta(max_length=32, examples=["drive"])] | None = None
    lines: list[OrderLineIn] = []


class OrderLineOut(Schema):
    product: str
    category: str | None
    quantity: Decimal
    price: Decimal


class OrderOut(Schema):
    id: UUID
    order_id: str
    profile_id: UUID
    occurred_at: dt.datetime
    amount: Decimal
    currency: str
    store: str | None
    channel: str | None
    lines: list[OrderLineOut]
    created_at: dt.datetime


class OrderPage(Schema):
    items: list[OrderOut]
    next_cursor: str | None
