"""Messages and callback signatures made as the providers make them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from backend.messaging.providers.base import OutgoingEmail, SenderIdentity
from tests.conftest import test_settings as deployment_settings

# The servers listen on loopback over plain http.
LOCAL = deployment_settings(webhook_allow_http=True, webhook_allow_private_targets=True)
SENDER = SenderIdentity(id=None, from_name="Brand", from_address="news@brand.example")
UNSUBSCRIBE = {
    "List-Unsubscribe": "<https://levier.example/u/tok>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
}


def outgoing(**changes: Any) -> OutgoingEmail:
    values: dict[str, Any] = {
        "message_id": uuid.uuid4(),
        "tenant_id": uuid.uuid4(),
        "from_name": "Brand",
        "from_address": "news@brand.example",
        "reply_to": "care@brand.example",
        "to_address": "ada@example.org",
        "subject": "Welcome",
        "html": "<p>Hello</p>",
        "text": "Hello",
        "headers": UNSUBSCRIBE,
    }
    return OutgoingEmail(**{**values, **changes})


class SendgridSigner:
    """SendGrid's Event Webhook signing: ECDSA P-256 / SHA-256 over timestamp + raw body; the
    verification key as its console shows it (base64 DER)."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_key = base64.b64encode(der).decode()

    def sign(
        self, events: list[dict[str, Any]], *, at: float | None = None
    ) -> tuple[dict[str, str], bytes]:
        body = json.dumps(events).encode()
        timestamp = str(int(time.time() if at is None else at))
        signature = self.key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        headers = {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
            "Content-Type": "application/json",
        }
        return headers, body


def mailgun_body(
    signing_key: str,
    event_data: dict[str, Any],
    *,
    at: float | None = None,
    token: str | None = None,
) -> bytes:
    """A Mailgun webhook body: ``signature`` = hex HMAC-SHA256(key, timestamp + token)."""
    timestamp = str(int(time.time() if at is None else at))
    token = token or uuid.uuid4().hex + uuid.uuid4().hex[:18]
    digest = hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256)
    signature = {"timestamp": timestamp, "token": token, "signature": digest.hexdigest()}
    return json.dumps({"signature": signature, "event-data": event_data}).encode()
