"""What a step does outside the journey: send a message, update a profile, call a webhook.

The executor (:mod:`backend.scenarios.runtime`) only ever acts through an :class:`Effects`:
:class:`LiveEffects` acts for real, in the step's transaction (the message is recorded in the
ledger with the step's idempotency key and delivered after commit; a webhook delivery is stored
and sent after commit), so a step and its effect commit or roll back together. A dry run (a
simulation) gives the executor an implementation that records what would have been done instead.
Reads (conditions, profiles) are not effects: a dry run reads the same data.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.content import service as content_service
from backend.core.errors import LevierError
from backend.core.tenancy import TenantId
from backend.messaging import service as messaging_service
from backend.messaging.models import MessageChannel, MessagePriority, MessageStatus, SourceKind
from backend.profiles import consents as profile_consents
from backend.profiles import service as profiles_service
from backend.profiles.schemas import ConsentChangeIn, ProfileUpdate
from backend.scenarios.graph import SendNode, UpdateNode, WebhookNode
from backend.segments import membership as segments_membership
from backend.segments.schemas import MembersUpload
from backend.webhooks import service as webhooks_service

CONSENT_SOURCE = "scenario"
WEBHOOK_EVENT = "scenario.webhook"
_WEBHOOK_IDS = uuid.UUID("6f1d3c0a-9a58-4a53-bb0e-2f7d3e6b9c11")
# A message's outcomes that end a send step (a deferral holds it).
FINAL = {
    MessageStatus.SENT: "sent",
    MessageStatus.DELIVERED: "sent",
    MessageStatus.OPENED: "sent",
    MessageStatus.CLICKED: "sent",
    MessageStatus.BOUNCED_SOFT: "sent",
    MessageStatus.BOUNCED_HARD: "sent",
    MessageStatus.COMPLAINED: "sent",
    MessageStatus.UNSUBSCRIBED: "sent",
    MessageStatus.FAILED: "failed",
    MessageStatus.REFUSED: "refused",
}


@dataclass(frozen=True)
class SendRequest:
    """One send step: its journey, profile, node, idempotency key and the entry's data."""

    journey_id: UUID
    profile_id: UUID
    node: SendNode
    step_key: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Sent:
    """What became of a send request: the message recorded (its id), and its outcome when it
    is known already (a message recorded by an earlier run of the step); None: wait for it."""

    message_id: UUID | None
    outcome: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Done:
    """What an update or webhook step did: its outcome and what to show of it."""

    outcome: str
    detail: dict[str, Any] | None = None


class Effects(Protocol):
    async def send(self, requests: Sequence[SendRequest]) -> list[Sent]: ...

    async def update(self, profile_id: UUID, node: UpdateNode) -> Done: ...

    async def webhook(
        self, journey_id: UUID, profile_id: UUID, node: WebhookNode, step_key: str
    ) -> Done: ...

    async def flush(self) -> None:
        """After the batch: what the effects queue once (the messages' delivery)."""


class LiveEffects:
    """Effects for real, in the executor's session and transaction."""

    def __init__(self, session: AsyncSession, tenant: TenantId) -> None:
        self.session = session
        self.tenant = tenant
        self._channels: dict[UUID, tuple[MessageChannel, str | None]] = {}
        self._recorded: list[UUID] = []

    async def _template(self, template_id: UUID) -> tuple[MessageChannel, str | None]:
        if template_id not in self._channels:
            template = await content_service.get_template(self.session, template_id)
            self._channels[template_id] = (MessageChannel(template.channel.value), template.topic)
        return self._channels[template_id]

    async def send(self, requests: Sequence[SendRequest]) -> list[Sent]:
        """Record the batch's messages in the ledger at once (keyed by their steps); those
        recorded by an earlier run of the same step answer with their outcome if known."""
        results: list[Sent | None] = [None] * len(requests)
        asked: list[tuple[int, messaging_service.RecordRequest]] = []
        for index, request in enumerate(requests):
            node = request.node
            try:
                channel, topic = await self._template(node.template_id)
                fallback = None
                if node.fallback is not None:
                    fallback_channel, _ = await self._template(node.fallback.template_id)
                    fallback = {
                        "channel": fallback_channel.value,
                        "template_id": str(node.fallback.template_id),
                    }
            except LevierError as exc:  # the template went away since the version was frozen
                results[index] = Sent(None, "failed", f"template-not-found: {exc.detail or exc}")
                continue
            record = messaging_service.RecordRequest(
                source_kind=SourceKind.SCENARIO,
                source_key=request.step_key,
                profile_id=request.profile_id,
                channel=channel,
                template_id=node.template_id,
                priority=MessagePriority(node.priority.value),
                topic=node.topic or topic,
                data=request.data,
                fallback=fallback,
            )
            asked.append((index, record))
        recorded = await messaging_service.record_requests(
            self.session, self.tenant, [record for _, record in asked]
        )
        for (index, _), message in zip(asked, recorded, strict=True):
            if message.created:
                self._recorded.append(message.message_id)
                results[index] = Sent(message.message_id)
            else:  # recorded by an earlier run of this very step: its outcome may be known
                results[index] = Sent(
                    message.message_id, FINAL.get(message.status), message.status_reason
                )
        return [r for r in results if r is not None]

    async def update(self, profile_id: UUID, node: UpdateNode) -> Done:
        detail: dict[str, Any] = {}
        if node.attributes:
            await profiles_service.update_profile(
                self.session, self.tenant, profile_id, ProfileUpdate(attributes=node.attributes)
            )
            detail["attributes"] = sorted(node.attributes)
        if node.add_to_list is not None:
            await segments_membership.upload_members(
                self.session,
                self.tenant,
                node.add_to_list,
                MembersUpload(profile_ids=[profile_id]),
                replace=False,
            )
            detail["addedTo"] = str(node.add_to_list)
        if node.remove_from_list is not None:
            await segments_membership.remove_members(
                self.session, self.tenant, node.remove_from_list, [profile_id]
            )
            detail["removedFrom"] = str(node.remove_from_list)
        if node.consent is not None:
            given: dict[str, str | None] = {"state": node.consent.state, "source": CONSENT_SOURCE}
            given |= {"channel": node.consent.channel, "topic": node.consent.topic}
            change = msgspec.convert(given, ConsentChangeIn)
            await profile_consents.record_change(self.session, profile_id, change)
            detail["consent"] = node.consent.state
        return Done("updated", detail)

    async def webhook(
        self, journey_id: UUID, profile_id: UUID, node: WebhookNode, step_key: str
    ) -> Done:
        event = await webhooks_service.publish_to_endpoint(
            self.session,
            self.tenant,
            node.endpoint_id,
            WEBHOOK_EVENT,
            {
                "journeyId": str(journey_id),
                "profileId": str(profile_id),
                "nodeId": node.id,
                "payload": node.payload,
            },
            event_id=uuid.uuid5(_WEBHOOK_IDS, f"{self.tenant}:{step_key}"),
        )
        return Done("called", {"eventId": str(event.id)} if event is not None else None)

    async def flush(self) -> None:
        if self._recorded:
            await messaging_service.queue_delivery(self.session, self.tenant, self._recorded)
            self._recorded = []
