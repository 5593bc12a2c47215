"""Email through Mailgun's Messages API, and its signed webhooks.

Send: ``POST /v3/{domain}/messages`` with HTTP basic auth (``api`` : the API key) and form
fields; our message id rides in the ``v:message_id`` variable (echoed in every event as
``user-variables``). The credential check reads ``GET /v3/domains/{domain}``. The base URL is
``https://api.mailgun.net`` (``https://api.eu.mailgun.net`` for the EU region).

Webhooks: a JSON body whose ``signature`` object holds ``timestamp``, ``token`` and
``signature`` = hex HMAC-SHA256 (key: the webhook signing key) of timestamp + token; a stale
timestamp or a token seen before is refused."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
from email.utils import formataddr
from typing import Annotated, Any, Protocol

import msgspec

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
from backend.messaging.providers.feedback import FEEDBACK_TOLERANCE_SECONDS, message_id_of
from backend.messaging.providers.http import GuardedClient, classify

DEFAULT_BASE_URL = "https://api.mailgun.net"


class MailgunSettings(msgspec.Struct, kw_only=True, frozen=True, rename="camel"):
    domain: Annotated[str, msgspec.Meta(min_length=1, max_length=253)]
    base_url: Annotated[str, msgspec.Meta(min_length=8, max_length=2000)] = DEFAULT_BASE_URL


class MailgunCredentials(msgspec.Struct, kw_only=True, frozen=True, rename="camel"):
    api_key: Annotated[str, msgspec.Meta(min_length=1)]
    webhook_signing_key: str | None = None


class ReplayGuard(Protocol):
    async def first_use(self, provider: str, token: str) -> bool:
        """True the first time a token is presented (remembered for the freshness window)."""


def _message_of(body: bytes) -> str:
    try:
        answer = msgspec.json.decode(body)
        return str(answer.get("message") or answer)
    except (msgspec.DecodeError, AttributeError):
        return body[:300].decode(errors="replace")


def form_of(message: OutgoingEmail) -> dict[str, str]:
    """The Messages API form of one message."""
    form = {
        "from": formataddr((message.from_name, message.from_address)),
        "to": message.to_address,
        "subject": message.subject,
        "text": message.text,
        "html": message.html,
        "v:message_id": str(message.message_id),
        "v:tenant_id": str(message.tenant_id),
    }
    if message.reply_to:
        form["h:Reply-To"] = message.reply_to
    for name, value in message.headers.items():
        form[f"h:{name}"] = value
    return form


class MailgunProvider:
    kind = ProviderKind.MAILGUN

    def __init__(
        self,
        settings: Settings,
        config: MailgunSettings,
        credentials: MailgunCredentials,
        sender: SenderIdentity,
    ) -> None:
        self.config = config
        self.credentials = credentials
        self.client = GuardedClient(settings, config.base_url)

    def _auth(self) -> tuple[str, str]:
        return ("api", self.credentials.api_key)

    async def send(self, message: Outgoing) -> SendResult:
        if not isinstance(message, OutgoingEmail):
            raise ProviderError("a Mailgun account sends email only", retryable=False)
        response = await self.client.request(
            "POST", f"/v3/{self.config.domain}/messages", data=form_of(message), auth=self._auth()
        )
        if response.status_code != 200:
            raise classify(response, _message_of(response.content))
        try:
            answer = msgspec.json.decode(response.content)
            provider_id = str(answer["id"]).strip("<>")
        except (msgspec.DecodeError, KeyError, TypeError):
            provider_id = None
        return SendResult(provider_message_id=provider_id)

    async def check(self) -> None:
        response = await self.client.request(
            "GET", f"/v3/domains/{self.config.domain}", auth=self._auth()
        )
        if response.status_code != 200:
            raise classify(response, _message_of(response.content))

    async def aclose(self) -> None:
        await self.client.aclose()


_KINDS = {
    "delivered": FeedbackKind.DELIVERED,
    "opened": FeedbackKind.OPENED,
    "clicked": FeedbackKind.CLICKED,
    "unsubscribed": FeedbackKind.UNSUBSCRIBED,
    "complained": FeedbackKind.COMPLAINED,
    "rejected": FeedbackKind.FAILED,
}


def _feedback(data: dict[str, Any]) -> Feedback | None:
    name = data.get("event")
    if name == "failed":
        permanent = data.get("severity") == "permanent"
        kind = FeedbackKind.BOUNCED_HARD if permanent else FeedbackKind.BOUNCED_SOFT
    elif name in _KINDS:
        kind = _KINDS[str(name)]
    else:
        return None  # accepted, stored…
    message = data.get("message") or {}
    headers = message.get("headers") or {} if isinstance(message, dict) else {}
    provider_id = headers.get("message-id")
    variables = data.get("user-variables") or {}
    status = data.get("delivery-status") or {}
    detail = status.get("description") or status.get("message") or data.get("reason")
    timestamp = data.get("timestamp")
    return Feedback(
        provider_message_id=str(provider_id).strip("<>") if provider_id else None,
        message_id=message_id_of(variables.get("message_id")),
        kind=kind,
        occurred_at=(
            dt.datetime.fromtimestamp(float(timestamp), dt.UTC)
            if isinstance(timestamp, int | float)
            else dt.datetime.now(dt.UTC)
        ),
        detail=str(detail) if detail else None,
        url=data.get("url") if kind is FeedbackKind.CLICKED else None,
    )


async def verify_feedback(
    credentials: MailgunCredentials,
    *,
    url: str,
    headers: dict[str, str],
    body: bytes,
    replay: ReplayGuard,
    now: float | None = None,
) -> list[Feedback]:
    """The event of one signed webhook POST (:class:`FeedbackRefused` unless the signature
    verifies, the timestamp is fresh and the token is new)."""
    if not credentials.webhook_signing_key:
        raise FeedbackRefused("the account has no webhook signing key")
    try:
        document = msgspec.json.decode(body)
        signed = document["signature"]
        timestamp, token = str(signed["timestamp"]), str(signed["token"])
        signature = str(signed["signature"])
        age = (time.time() if now is None else now) - int(timestamp)
    except (msgspec.DecodeError, KeyError, TypeError, ValueError):
        raise FeedbackRefused("no signature object in the body") from None
    expected = hmac.new(
        credentials.webhook_signing_key.encode(), (timestamp + token).encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise FeedbackRefused("the signature does not verify")
    if abs(age) > FEEDBACK_TOLERANCE_SECONDS:
        raise FeedbackRefused("stale timestamp")
    if not await replay.first_use(ProviderKind.MAILGUN.value, token):
        raise FeedbackRefused("the token was used before")
    data = document.get("event-data")
    found = _feedback(data) if isinstance(data, dict) else None
    return [found] if found is not None else []
