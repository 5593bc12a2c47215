"""What the tracking tests share: a brand with topics, a profile and messages in the ledger."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import httpx
from litestar import Litestar
from sqlalchemy import func, select

from backend.core.db import utcnow
from backend.core.ids import new_id
from backend.core.tenancy import TenantId
from backend.events.models import Event
from backend.messaging.models import (
    Message,
    MessageChannel,
    MessageEvent,
    MessagePriority,
    MessageStatus,
    SourceKind,
)
from backend.messaging.tracking.models import MessageSighting
from backend.profiles import consents
from backend.profiles import service as profiles_service
from backend.profiles.models import Channel, ConsentState
from backend.profiles.schemas import ConsentChangeIn, ProfileCreate, TopicCreate
from backend.webhooks.models import WebhookEvent
from tests.factories import World, session_of

BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)


@dataclass(frozen=True)
class Recipient:
    tenant: TenantId
    profile_id: UUID


async def make_recipient(app: Litestar, brand_id: UUID, email: str) -> Recipient:
    """A profile subscribed to email and to the topics ``news`` and ``offers``."""
    tenant = TenantId(brand_id)
    async with session_of(app, brand_id) as session:
        for key, label in (("news", "Newsletter"), ("offers", "Offers")):
            if not await consents.repository.topic_by_key(session, key):
                await consents.create_topic(session, TopicCreate(key=key, label=label))
        granted = [
            ConsentChangeIn(state=ConsentState.GRANTED, source="test", channel=Channel.EMAIL),
            *(
                ConsentChangeIn(
                    state=ConsentState.GRANTED, source="test", channel=Channel.EMAIL, topic=t
                )
                for t in ("news", "offers")
            ),
        ]
        profile, _ = await profiles_service.create_profile(
            session, tenant, ProfileCreate(email=email, consents=granted)
        )
        await session.commit()
        return Recipient(tenant, profile.id)


async def make_message(
    app: Litestar,
    recipient: Recipient,
    *,
    channel: MessageChannel = MessageChannel.EMAIL,
    topic: str | None = "news",
    sent_ago: dt.timedelta = dt.timedelta(minutes=5),
    account_id: UUID | None = None,
    provider_message_id: str | None = None,
) -> UUID:
    """A message in the ledger, sent ``sent_ago``."""
    sent_at = utcnow() - sent_ago
    async with session_of(app, recipient.tenant) as session:
        message = Message(
            id=new_id(),
            dedupe_key=f"test:{uuid4()}",
            source_kind=SourceKind.TRANSACTIONAL,
            source_key=f"test-{uuid4().hex[:8]}",
            profile_id=recipient.profile_id,
            channel=channel,
            topic=topic,
            priority=MessagePriority.CAMPAIGN,
            template_id=uuid4(),
            subject="Our news",
            status=MessageStatus.SENT,
            sent_at=sent_at,
            provider_account_id=account_id,
            provider_kind="sendgrid" if account_id else None,
            provider_message_id=provider_message_id,
        )
        session.add(message)
        await session.commit()
        return message.id


async def ledger_state(
    app: Litestar, tenant: UUID, message_id: UUID
) -> tuple[MessageStatus, list[tuple[str, str | None]]]:
    async with session_of(app, tenant) as session:
        message = await session.scalar(select(Message).where(Message.id == message_id))
        assert message is not None
        timeline = await session.execute(
            select(MessageEvent.kind, MessageEvent.detail)
            .where(MessageEvent.message_id == message_id)
            .order_by(MessageEvent.id)
        )
        return message.status, [(k.value, d) for k, d in timeline]


async def sightings(app: Litestar, tenant: UUID, message_id: UUID) -> dict[str, int]:
    async with session_of(app, tenant) as session:
        rows = await session.execute(
            select(MessageSighting.key, MessageSighting.count).where(
                MessageSighting.message_id == message_id
            )
        )
        return {key: value for key, value in rows.all()}


async def events_named(app: Litestar, tenant: UUID, profile_id: UUID) -> dict[str, int]:
    async with session_of(app, tenant) as session:
        rows = await session.execute(
            select(Event.name, func.count())
            .where(Event.profile_id == profile_id)
            .group_by(Event.name)
        )
        return {key: value for key, value in rows.all()}


async def webhook_types(app: Litestar, tenant: UUID) -> list[str]:
    async with session_of(app, tenant) as session:
        return sorted(await session.scalars(select(WebhookEvent.type)))


async def subscribe_webhooks(client: httpx.AsyncClient, world: World, brand: str = "a") -> None:
    """An endpoint of the brand subscribed to every message.* type (so events are stored)."""
    brand_id = world.brand_a.id if brand == "a" else world.brand_b.id
    person = world.owner_a if brand == "a" else world.owner_b
    body: dict[str, Any] = {
        "url": "https://hooks.example.com/levier",
        "eventTypes": [
            "message.delivered",
            "message.bounced",
            "message.complained",
            "message.opened",
            "message.clicked",
            "message.unsubscribed",
        ],
    }
    response = await client.post(
        f"/v1/brands/{brand_id}/webhook-endpoints", json=body, headers=person.headers
    )
    assert response.status_code == 201, response.text


async def consent_states(
    client: httpx.AsyncClient, world: World, profile_id: UUID
) -> dict[tuple[str | None, str | None], str]:
    """The profile's current consents, read through the API: (channel, topic) → state."""
    response = await client.get(
        f"/v1/brands/{world.brand_a.id}/profiles/{profile_id}/consents",
        headers=world.viewer_a.headers,
    )
    assert response.status_code == 200, response.text
    return {(c["channel"], c["topic"]): c["state"] for c in response.json()["items"]}
