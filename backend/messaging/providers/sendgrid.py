"""Email through SendGrid's v3 Mail Send API, and its signed Event Webhook.

Send: ``POST /v3/mail/send`` with the API key as a Bearer token; our message id rides in
``custom_args`` (echoed in every event); 202 answers the ``X-Message-Id`` that events carry as
the prefix of ``sg_message_id``. The credential check reads ``GET /v3/scopes``.

Events: a JSON array, signed with ECDSA P-256 over the ``X-Twilio-Email-Event-Webhook-Timestamp``
header followed by the raw body; the signature (``X-Twilio-Email-Event-Webhook-Signature``,
base64 DER) verifies with the account's verification key (``eventWebhookPublicKey``)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import time
from typing import Annotated, Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from backend.config import Settings
from backend.messaging.providers.base import (
    Feedback,
    FeedbackKind,
    FeedbackRefused,
    Outgoing,
    OutgoingEmail,
    ProviderError,
    ProviderKind,
    SenderIdentity,
    SendResult,
)
from backend.messaging.providers.feedback import FEEDBACK_TOLERANCE_SECONDS, header, message_id_of
from backend.messaging.providers.http import GuardedClient, classify

DEFAULT_BASE_URL = "https://api.sendgrid.com"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


class SendgridSettings(msgspec.Struct, kw_only=True, frozen=True, rename="camel"):
    base_url: Annotated[str, msgspec.Meta(min_length=8, max_length=2000)] = DEFAULT_BASE_URL


class SendgridCredentials(msgspec.Struct, kw_only=True, frozen=True, rename="camel"):
    api_key: Annotated[str, msgspec.Meta(min_length=1)]
    # The Event Webhook's verification key (base64 DER or PEM), when signed events are enabled.
    event_webhook_public_key: str | None = None


def _errors_of(body: bytes) -> str:
    try:
        answer = msgspec.json.decode(body)
        errors = answer.get("errors") or []
        return "; ".join(str(e.get("message", e)) for e in errors) or body.decode()[:300]
    except (msgspec.DecodeError, AttributeError, UnicodeDecodeError):
        return body[:300].decode(errors="replace")


def payload_of(message: OutgoingEmail) -> dict[str, Any]:
    """The Mail Send body of one message."""
    args = {"message_id": str(message.message_id), "tenant_id": str(message.tenant_id)}
    body: dict[str, Any] = {
        "personalizations": [{"to": [{"email": message.to_address}]}],
        "from": {"email": message.from_address, "name": message.from_name},
        "subject": message.subject,
        "content": [
            {"type": "text/plain", "value": message.text},
            {"type": "text/html", "value": message.html},
        ],
        "custom_args": args,
    }
    if message.reply_to:
        body["reply_to"] = {"email": message.reply_to}
    if message.headers:
        body["headers"] = dict(message.headers)
    return body


class SendgridProvider:
    kind = ProviderKind.SENDGRID

    def __init__(
        self,
        settings: Settings,
        config: SendgridSettings,
        credentials: SendgridCredentials,
        sender: SenderIdentity,
    ) -> None:
        self.credentials = credentials
        self.client = GuardedClient(settings, config.base_url)

    def _auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.credentials.api_key}"}

    async def send(self, message: Outgoing) -> SendResult:
        if not isinstance(message, OutgoingEmail):
            raise ProviderError("a SendGrid account sends email only", retryable=False)
        response = await self.client.request(
            "POST", "/v3/mail/send", json=payload_of(message), headers=self._auth()
        )
        if response.status_code not in (200, 202):
            raise classify(response, _errors_of(response.content))
        return SendResult(provider_message_id=response.headers.get("x-message-id"))

    async def check(self) -> None:
        response = await self.client.request("GET", "/v3/scopes", headers=self._auth())
        if response.status_code != 200:
            raise classify(response, _errors_of(response.content))

    async def aclose(self) -> None:
        await self.client.aclose()


def _public_key(text: str) -> ec.EllipticCurvePublicKey:
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(text))
    except (ValueError, binascii.Error) as exc:
        raise FeedbackRefused("the account's event webhook key is not a public key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise FeedbackRefused("the account's event webhook key is not an ECDSA key")
    return key


_KINDS = {
    "delivered": FeedbackKind.DELIVERED,
    "deferred": FeedbackKind.DEFERRED,
    "dropped": FeedbackKind.FAILED,
    "spamreport": FeedbackKind.COMPLAINED,
    "open": FeedbackKind.OPENED,
    "click": FeedbackKind.CLICKED,
    "unsubscribe": FeedbackKind.UNSUBSCRIBED,
    "group_unsubscribe": FeedbackKind.UNSUBSCRIBED,
}


def _feedback(event: dict[str, Any]) -> Feedback | None:
    name = event.get("event")
    if name == "bounce":
        # SendGrid's "blocked" is a temporary refusal; "bounce" a permanent one.
        kind = (
            FeedbackKind.BOUNCED_SOFT
            if event.get("type") == "blocked"
            else FeedbackKind.BOUNCED_HARD
        )
    elif name in _KINDS:
        kind = _KINDS[str(name)]
    else:
        return None  # processed, group_resubscribe…: nothing the ledger tracks
    sg_id = event.get("sg_message_id")
    timestamp = event.get("timestamp")
    occurred = (
        dt.datetime.fromtimestamp(float(timestamp), dt.UTC)
        if isinstance(timestamp, int | float)
        else dt.datetime.now(dt.UTC)
    )
    detail = event.get("reason") or event.get("response") or event.get("status")
    return Feedback(
        provider_message_id=str(sg_id).split(".", 1)[0] if sg_id else None,
        message_id=message_id_of(event.get("message_id")),
        kind=kind,
        occurred_at=occurred,
        detail=str(detail) if detail else None,
        url=event.get("url") if kind is FeedbackKind.CLICKED else None,
    )


def verify_feedback(
    credentials: SendgridCredentials,
    *,
    url: str,
    headers: dict[str, str],
    body: bytes,
    now: float | None = None,
) -> list[Feedback]:
    """The events of one signed Event Webhook POST (:class:`FeedbackRefused` unless the
    signature verifies and the timestamp is fresh)."""
    if not credentials.event_webhook_public_key:
        raise FeedbackRefused("the account has no event webhook verification key")
    signature, timestamp = header(headers, SIGNATURE_HEADER), header(headers, TIMESTAMP_HEADER)
    if not signature or not timestamp:
        raise FeedbackRefused("the signature or timestamp header is missing")
    try:
        age = (time.time() if now is None else now) - int(timestamp)
        raw_signature = base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error):
        raise FeedbackRefused("malformed signature or timestamp") from None
    if abs(age) > FEEDBACK_TOLERANCE_SECONDS:
        raise FeedbackRefused("stale timestamp")
    key = _public_key(credentials.event_webhook_public_key)
    try:
        key.verify(raw_signature, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise FeedbackRefused("the signature does not verify") from None
    try:
        events = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise FeedbackRefused("the body is not JSON") from None
    if not isinstance(events, list):
        raise FeedbackRefused("the body is not an array of events")
    found = (_feedback(e) for e in events if isinstance(e, dict))
    return [f for f in found if f is not None]
