"""What the REST API reads and writes for messages (the ledger) and the pressure policy."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from uuid import UUID

import msgspec

from backend.core.schemas import Schema, whole
from backend.messaging.models import (
    MessageChannel,
    MessagePriority,
    MessageStatus,
    SourceKind,
)

TopicKey = Annotated[str, msgspec.Meta(pattern=whole(r"[a-z][a-z0-9_]{0,63}"), max_length=64)]
ClientKey = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
HhMm = Annotated[str, msgspec.Meta(pattern=whole(r"([01][0-9]|2[0-3]):[0-5][0-9]"))]
Cap = Annotated[int, msgspec.Meta(ge=0, le=1000)]
IdentityKind = Annotated[
    str, msgspec.Meta(pattern=whole(r"email|phone|external:[a-z0-9_.-]{1,60}"), max_length=80)
]


class Identity(Schema, kw_only=True):
    """An identity key of the profile: `email`, `phone` or `external:<source>`."""

    kind: IdentityKind
    value: Annotated[str, msgspec.Meta(min_length=1, max_length=320)]


class Fallback(Schema, kw_only=True):
    """A second channel and template, used when the first channel is not contactable."""

    channel: MessageChannel
    template_id: UUID


class MessageSend(Schema, kw_only=True):
    """One template to one profile. Name the profile by `profileId` or by an `identity` key.
    `key` (or the `Idempotency-Key` header) makes the request idempotent: the same key gives the
    same message. `data` is extra template data."""

    template_id: UUID
    channel: MessageChannel = MessageChannel.EMAIL
    profile_id: UUID | None = None
    identity: Identity | None = None
    topic: TopicKey | None = None
    data: dict[str, Any] = {}
    key: ClientKey | None = None
    fallback: Fallback | None = None


class MessageOut(Schema, kw_only=True):
    """A message of the ledger. `status` is its latest state; `statusReason` says why it was
    refused, failed or deferred."""

    id: UUID
    profile_id: UUID
    channel: MessageChannel
    status: MessageStatus
    status_reason: str | None
    priority: MessagePriority
    source_kind: SourceKind
    source_key: str
    topic: str | None
    template_id: UUID
    template_version_id: UUID | None
    template_version: int | None
    subject: str | None
    due_at: dt.datetime | None
    sent_at: dt.datetime | None
    attempts: int
    provider_kind: str | None
    provider_message_id: str | None
    fallback_of: UUID | None
    created_at: dt.datetime


class MessageEventOut(Schema, kw_only=True):
    """One step of a message's timeline."""

    id: UUID
    kind: MessageStatus
    occurred_at: dt.datetime
    detail: str | None
    until: dt.datetime | None
    url: str | None


class MessageDetail(MessageOut, kw_only=True):
    """A message with its timeline, oldest first."""

    timeline: list[MessageEventOut]


class MessagePage(Schema):
    items: list[MessageOut]
    next_cursor: str | None


class ChannelCaps(Schema, kw_only=True):
    day: Cap | None = None
    week: Cap | None = None
    month: Cap | None = None


class PressurePolicyOut(Schema, kw_only=True):
    """The brand's commercial pressure: at most N messages per profile per rolling day, week and
    month (30 days), overall and per channel, and quiet hours in the profile's time zone.
    Transactional messages are exempt from both; triggered ones pass quiet hours when
    `quietHoursForTriggered` is false."""

    brand_id: UUID
    per_day: int | None
    per_week: int | None
    per_month: int | None
    channel_caps: dict[str, ChannelCaps]
    quiet_hours_start: str | None
    quiet_hours_end: str | None
    quiet_hours_for_triggered: bool


class PressurePolicyUpdate(Schema, kw_only=True):
    """Fields to change; null removes a cap or the quiet hours."""

    per_day: Cap | msgspec.UnsetType | None = msgspec.UNSET
    per_week: Cap | msgspec.UnsetType | None = msgspec.UNSET
    per_month: Cap | msgspec.UnsetType | None = msgspec.UNSET
    channel_caps: dict[MessageChannel, ChannelCaps] | msgspec.UnsetType = msgspec.UNSET
    quiet_hours_start: HhMm | msgspec.UnsetType | None = msgspec.UNSET
    quiet_hours_end: HhMm | msgspec.UnsetType | None = msgspec.UNSET
    quiet_hours_for_triggered: bool | msgspec.UnsetType = msgspec.UNSET
