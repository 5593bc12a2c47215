"""What the send pipeline tells of a message's outcome: a profile event (segments, scenarios and
RFM read ``message_sent``, ``message_failed``, ``message_refused``, ``message_deferred`` — the
names tracking uses for what follows, ``message_delivered``, ``email_opened`` …) and an outbound
webhook (``message.sent``, ``message.failed``, ``message.refused``, ``message.deferred``), both in
the caller's transaction.

Both carry ids derived from the message and the outcome, so a task run twice (delivered at least
once) stores and publishes each outcome once."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.signals import Signal, signals
from backend.core.tenancy import TenantId
from backend.events import service as events_service
from backend.events.schemas import MAX_BATCH, EventIn
from backend.messaging.models import Message, MessageStatus
from backend.webhooks.models import WebhookEventType
from backend.webhooks.service import publish, subscribed

EVENT_SOURCE = "messaging"  # as tracking's events
EVENT_NAMES = {
    MessageStatus.SENT: "message_sent",
    MessageStatus.FAILED: "message_failed",
    MessageStatus.REFUSED: "message_refused",
    MessageStatus.DEFERRED: "message_deferred",
}
WEBHOOK_TYPES = {
    MessageStatus.SENT: WebhookEventType.MESSAGE_SENT,
    MessageStatus.FAILED: WebhookEventType.MESSAGE_FAILED,
    MessageStatus.REFUSED: WebhookEventType.MESSAGE_REFUSED,
    MessageStatus.DEFERRED: WebhookEventType.MESSAGE_DEFERRED,
}
# Not tracking's namespace: its ids and ours never meet.
_IDS = uuid.UUID("0b7f3a52-6c1e-4d0b-9f57-3e2a8c41d6f0")


def payload_of(
    message: Message,
    status: MessageStatus,
    occurred_at: dt.datetime,
    *,
    detail: str | None = None,
    until: dt.datetime | None = None,
) -> dict[str, Any]:
    """The webhook's ``data`` (the shape of tracking's ``message.*`` payloads)."""
    payload: dict[str, Any] = {
        "messageId": str(message.id),
        "profileId": str(message.profile_id),
        "channel": message.channel.value,
        "topic": message.topic,
        "templateId": str(message.template_id),
        "source": {"kind": message.source_kind.value, "key": message.source_key},
        "status": status.value,
        "occurredAt": occurred_at.isoformat(),
    }
    if detail:
        payload["detail"] = detail
    if until is not None:
        payload["until"] = until.isoformat()
    if status is MessageStatus.SENT:
        payload["providerMessageId"] = message.provider_message_id
        payload["version"] = message.template_version
    return payload


@dataclass(frozen=True)
class Told:
    """One outcome to tell."""

    message: Message
    status: MessageStatus
    occurred_at: dt.datetime
    detail: str | None = None
    until: dt.datetime | None = None


# (session, tenant, outcomes): every outcome told, in its transaction (scenarios hold a profile at
# a send step until its message is sent or dropped).
MESSAGES_TOLD: Signal[[AsyncSession, TenantId, Sequence[Told]]] = Signal("messages_told")


async def tell(
    session: AsyncSession,
    tenant: TenantId,
    message: Message,
    status: MessageStatus,
    occurred_at: dt.datetime,
    *,
    detail: str | None = None,
    until: dt.datetime | None = None,
) -> None:
    """The profile event and the webhook of one outcome."""
    await tell_many(session, tenant, [Told(message, status, occurred_at, detail, until)])


async def tell_many(session: AsyncSession, tenant: TenantId, told: Sequence[Told]) -> None:
    """The profile events and webhooks of many outcomes: the events in one ingest (its accepted
    events' receivers — segments, triggers — run once for the lot), the webhooks only of the
    types an endpoint subscribes to (checked once per type). A deferral happens once per attempt
    (its key names the attempt and the time), the others once per message."""
    if not told:
        return
    events: list[EventIn] = []
    hooks: list[tuple[WebhookEventType, dict[str, Any], uuid.UUID]] = []
    wanted: dict[WebhookEventType, bool] = {}
    for item in told:
        message, status, until = item.message, item.status, item.until
        once = f"{status.value}:{message.attempts}:{until.isoformat()}" if until else status.value
        payload = payload_of(message, status, item.occurred_at, detail=item.detail, until=until)
        properties = {k: v for k, v in payload.items() if k not in ("profileId", "occurredAt")}
        events.append(
            EventIn(
                event_id=f"message:{message.id}:{once}",
                name=EVENT_NAMES[status],
                occurred_at=item.occurred_at,
                profile_id=message.profile_id,
                properties=properties,
            )
        )
        kind = WEBHOOK_TYPES[status]
        if kind not in wanted:
            wanted[kind] = await subscribed(session, kind)
        if wanted[kind]:
            event_id = uuid.uuid5(_IDS, f"{message.tenant_id}:{message.id}:{once}")
            hooks.append((kind, payload, event_id))
    for start in range(0, len(events), MAX_BATCH):
        chunk = events[start : start + MAX_BATCH]
        await events_service.ingest(session, tenant, chunk, source=EVENT_SOURCE)
    for hook_type, body, hook_id in hooks:
        await publish(session, tenant, hook_type, body, event_id=hook_id)
    await signals.send(MESSAGES_TOLD, session, tenant, told)
