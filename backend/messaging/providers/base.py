"""What every channel provider speaks: the message handed to it, its answer, its errors and the
feedback it sends back. Adapters (SMTP, ESP APIs, Twilio, Web Push, FCM, capture) implement
:class:`Provider`; the send pipeline knows nothing else of them."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID

import msgspec


class ProviderKind(StrEnum):
    CAPTURE = "capture"  # the embedded default: kept in the database, shown at /dev/outbox
    SMTP = "smtp"
    SENDGRID = "sendgrid"
    MAILGUN = "mailgun"
    TWILIO = "twilio"
    WEBPUSH = "webpush"
    FCM = "fcm"


class OutgoingEmail(msgspec.Struct, kw_only=True, frozen=True):
    message_id: UUID  # the ledger's id: providers carry it back (custom args, Message-ID …)
    tenant_id: UUID
    from_name: str
    from_address: str
    reply_to: str | None = None
    to_address: str
    subject: str
    preheader: str | None = None
    html: str
    text: str
    # Extra headers, e.g. List-Unsubscribe and List-Unsubscribe-Post (RFC 8058).
    headers: dict[str, str] = {}


class OutgoingSms(msgspec.Struct, kw_only=True, frozen=True):
    message_id: UUID
    tenant_id: UUID
    sender_id: str  # alphanumeric sender id or E.164 number
    to_phone: str  # E.164
    text: str


class OutgoingPush(msgspec.Struct, kw_only=True, frozen=True):
    message_id: UUID
    tenant_id: UUID
    device_id: UUID  # the registered device or subscription (pruned when the provider says gone)
    # FCM: the registration token; Web Push: the subscription JSON (endpoint, keys.p256dh/auth).
    target: dict[str, Any]
    title: str
    body: str
    image: str | None = None
    deep_link: str | None = None
    data: dict[str, str] = {}


Outgoing = OutgoingEmail | OutgoingSms | OutgoingPush


class SendResult(msgspec.Struct, kw_only=True, frozen=True):
    provider_message_id: str | None


class ProviderError(Exception):
    """A send the provider did not accept. ``retryable``: try again later (network, 429, 5xx);
    otherwise the message failed for good with ``reason``. ``gone``: the address, token or
    subscription no longer exists (push: delete the device)."""

    def __init__(self, reason: str, *, retryable: bool, gone: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.gone = gone


class Provider(Protocol):
    """One provider account, ready to send. Built per account by the registry; may hold a
    connection pool, closed with :meth:`aclose`."""

    kind: ProviderKind

    async def send(self, message: Outgoing) -> SendResult: ...

    async def check(self) -> None:
        """A harmless call proving the credentials work (raises :class:`ProviderError`)."""

    async def aclose(self) -> None: ...


class FeedbackKind(StrEnum):
    DELIVERED = "delivered"
    DEFERRED = "deferred"
    BOUNCED_SOFT = "bounced_soft"
    BOUNCED_HARD = "bounced_hard"
    COMPLAINED = "complained"
    OPENED = "opened"
    CLICKED = "clicked"
    UNSUBSCRIBED = "unsubscribed"
    FAILED = "failed"


class Feedback(msgspec.Struct, kw_only=True, frozen=True):
    """One thing a provider reports about a message it took, verified and parsed."""

    provider_message_id: str | None
    message_id: UUID | None  # ours, when the provider echoes it back
    kind: FeedbackKind
    occurred_at: dt.datetime
    detail: str | None = None
    url: str | None = None  # the clicked link


class DkimKey(msgspec.Struct, kw_only=True, frozen=True):
    """What signs a sender domain's mail: ``selector._domainkey.domain`` publishes the key."""

    domain: str
    selector: str
    private_key_pem: str


class SenderIdentity(msgspec.Struct, kw_only=True, frozen=True):
    """Who a brand's messages come from (a snapshot: safe to keep beyond the session)."""

    id: UUID | None  # None: the fallback identity of a brand that has none
    from_name: str
    from_address: str
    reply_to: str | None = None
    sms_sender_id: str | None = None
    push_app_id: str | None = None
    dkim: DkimKey | None = None


class FeedbackRefused(Exception):
    """A callback whose signature, timestamp or token does not verify: answered 401, not stored."""
