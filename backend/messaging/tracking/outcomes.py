"""What happened to a message, recorded once: its sighting claimed (then only counted), a
timeline entry, the status moved forward, a profile event under the name segments and
engagement RFM read, and an outbound webhook."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.tenancy import TenantId
from backend.events import service as events_service
from backend.events.schemas import EventIn
from backend.messaging.models import Message, MessageChannel, MessageStatus
from backend.messaging.tracking import ledger, repository
from backend.webhooks.models import WebhookEventType
from backend.webhooks.service import publish

EVENT_SOURCE = "messaging"
# Names the engagement RFM reads (backend/rfm/models.py DEFAULT_ENGAGEMENT_EVENTS) for opens
# and clicks; a delivery report keeps one name whatever the channel.
_ENGAGEMENT = {
    (MessageStatus.OPENED, MessageChannel.EMAIL): "email_opened",
    (MessageStatus.OPENED, MessageChannel.PUSH): "push_opened",
    (MessageStatus.CLICKED, MessageChannel.EMAIL): "email_clicked",
    (MessageStatus.CLICKED, MessageChannel.SMS): "sms_clicked",
    (MessageStatus.CLICKED, MessageChannel.PUSH): "push_clicked",
}
# Every profile event a person's open or click makes (a machine's makes none).
ENGAGEMENT_EVENTS = tuple(sorted(set(_ENGAGEMENT.values())))
EVENT_NAMES = {
    MessageStatus.DELIVERED: "message_delivered",
    MessageStatus.BOUNCED_SOFT: "message_bounced",
    MessageStatus.BOUNCED_HARD: "message_bounced",
    MessageStatus.COMPLAINED: "message_complained",
    MessageStatus.UNSUBSCRIBED: "message_unsubscribed",
    MessageStatus.FAILED: "message_failed",
}
WEBHOOK_TYPES = {
    MessageStatus.DELIVERED: WebhookEventType.MESSAGE_DELIVERED,
    MessageStatus.BOUNCED_SOFT: WebhookEventType.MESSAGE_BOUNCED,
    MessageStatus.BOUNCED_HARD: WebhookEventType.MESSAGE_BOUNCED,
    MessageStatus.COMPLAINED: WebhookEventType.MESSAGE_COMPLAINED,
    MessageStatus.OPENED: WebhookEventType.MESSAGE_OPENED,
    MessageStatus.CLICKED: WebhookEventType.MESSAGE_CLICKED,
    MessageStatus.UNSUBSCRIBED: WebhookEventType.MESSAGE_UNSUBSCRIBED,
}
# A namespace for the ids of what tracking publishes: the same sighting, the same id.
_IDS = uuid.UUID("6f1e5b8e-2f4c-4c52-9a7e-0c7f1d3e9b21")


def event_name(kind: MessageStatus, channel: MessageChannel) -> str | None:
    return _ENGAGEMENT.get((kind, channel)) or EVENT_NAMES.get(kind)


@dataclass(frozen=True, slots=True)
class Seen:
    """One thing seen of a message."""

    kind: MessageStatus
    occurred_at: dt.datetime
    detail: str | None = None
    url: str | None = None
    link_index: int | None = None  # a click on our own redirect
    machine: str | None = None  # a machine open or click: counted apart, no event
    properties: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        """What is recorded once per message: the first open, the first click of each link,
        each kind of provider report."""
        key = self.kind.value
        if self.kind is MessageStatus.CLICKED:
            key += f":{self.link_index}" if self.link_index is not None else f":{self.url or ''}"
        if self.machine:
            key += ":machine"
        return key[:200]


async def record(session: AsyncSession, message: Message, seen: Seen) -> bool:
    """Record ``seen`` on the message; True the first time (what follows a first time — the
    timeline entry, the status, the event and the webhook — happens once per message, the
    next ones are only counted)."""
    if await repository.sight(session, message.id, seen.key, seen.occurred_at) != 1:
        return False
    await apply(session, message, seen)
    return True


async def claim(session: AsyncSession, message_id: UUID, seen: Seen) -> bool:
    """Claim ``seen``'s sighting (True: the first); for a caller that acts between the claim
    and :func:`apply` (the claim's row lock queues concurrent duplicates behind it)."""
    return await repository.sight(session, message_id, seen.key, seen.occurred_at) == 1


async def apply(session: AsyncSession, message: Message, seen: Seen) -> None:
    """What follows a first sighting: timeline, status, event and webhook."""
    detail = seen.detail
    if seen.machine:
        detail = f"machine ({seen.machine})" + (f": {detail}" if detail else "")
    await ledger.add_to_timeline(
        session, message, seen.kind, seen.occurred_at, detail=detail, url=seen.url
    )
    if seen.machine:
        return
    await ledger.advance(session, message, seen.kind)
    await _tell(session, message, seen)


def _payload(message: Message, seen: Seen) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "messageId": str(message.id),
        "profileId": str(message.profile_id),
        "channel": message.channel.value,
        "topic": message.topic,
        "templateId": str(message.template_id),
        "source": {"kind": message.source_kind.value, "key": message.source_key},
        "status": seen.kind.value,
        "occurredAt": seen.occurred_at.isoformat(),
    }
    if seen.url is not None:
        payload["url"] = seen.url
    if seen.kind in (MessageStatus.BOUNCED_SOFT, MessageStatus.BOUNCED_HARD):
        payload["bounce"] = "hard" if seen.kind is MessageStatus.BOUNCED_HARD else "soft"
    if seen.detail:
        payload["detail"] = seen.detail
    return payload


async def _tell(session: AsyncSession, message: Message, seen: Seen) -> None:
    tenant = TenantId(message.tenant_id)
    payload = _payload(message, seen)
    name = event_name(seen.kind, message.channel)
    if name is not None:
        properties = {**payload, **(seen.properties or {})}
        for key in ("profileId", "occurredAt"):
            properties.pop(key)
        event = EventIn(
            event_id=f"message:{message.id}:{seen.key}",
            name=name,
            occurred_at=seen.occurred_at,
            profile_id=message.profile_id,
            properties=properties,
        )
        await events_service.ingest(session, tenant, [event], source=EVENT_SOURCE, platform=True)
    webhook = WEBHOOK_TYPES.get(seen.kind)
    if webhook is not None:
        event_id = uuid.uuid5(_IDS, f"{message.tenant_id}:{message.id}:{seen.key}")
        await publish(session, tenant, webhook, payload, event_id=event_id)
