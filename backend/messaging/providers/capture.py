"""The capture provider: the embedded default (``make run``), and any brand without an account
for a channel. Each message is kept in ``captured_messages`` instead of being sent, in the
caller's transaction; the API lists them and ``/dev/outbox`` shows the latest emails.

Idempotent on the ledger's message id: a second send of the same message keeps nothing new and
answers the same result (the unique key decides, not a prior read)."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.messaging.providers import repository
from backend.messaging.providers.base import (
    Outgoing,
    OutgoingEmail,
    OutgoingPush,
    OutgoingSms,
    ProviderKind,
    SendResult,
)
from backend.profiles.models import Channel


def _describe(message: Outgoing) -> tuple[Channel, str]:
    if isinstance(message, OutgoingEmail):
        return Channel.EMAIL, message.to_address
    if isinstance(message, OutgoingSms):
        return Channel.SMS, message.to_phone
    assert isinstance(message, OutgoingPush)
    return Channel.PUSH, str(message.device_id)


class CaptureProvider:
    """Bound to one session (built per resolution, never cached): what it keeps commits or rolls
    back with the send's own transaction."""

    kind = ProviderKind.CAPTURE

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def send(self, message: Outgoing) -> SendResult:
        channel, recipient = _describe(message)
        payload: dict[str, Any] = msgspec.to_builtins(message)
        await repository.capture(
            self.session,
            message_id=message.message_id,
            channel=channel,
            recipient=recipient,
            payload=payload,
        )
        return SendResult(provider_message_id=f"capture-{message.message_id}")

    async def check(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
