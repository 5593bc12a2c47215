"""Web Push: RFC 8030 delivery, RFC 8291 payload encryption (aes128gcm) and RFC 8292 VAPID.

pywebpush encrypts the payload for the subscription (``WebPusher.encode``) and py_vapid signs
the VAPID JWT (``aud`` the push service's origin); the request itself goes through the
SSRF-guarded client, since a subscription's endpoint is whatever a browser registered.
404 or 410 from the push service: the subscription is gone (the device is forgotten).
"""

from __future__ import annotations

import base64
import json
import time
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import msgspec
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid
from pywebpush import WebPusher, WebPushException

from backend.config import Settings
from backend.core.schemas import Schema, whole
from backend.messaging.providers import http as provider_http
from backend.messaging.providers.base import (
    Feedback,
    FeedbackRefused,
    Outgoing,
    OutgoingPush,
    ProviderError,
    ProviderKind,
    SenderIdentity,
    SendResult,
)

# A VAPID token is good for at most 24 hours (RFC 8292 §2); a little under keeps clocks happy.
VAPID_LIFETIME_SECONDS = 12 * 3600

VapidKey = Annotated[
    str, msgspec.Meta(pattern=whole("[A-Za-z0-9_-]{43}"), description="32 bytes, base64url")
]


class WebPushCredentials(Schema):
    """The application server's VAPID key pair: the raw P-256 private key (base64url, as
    ``web-push generate-vapid-keys`` prints it) and the contact the push services may write to
    (``mailto:`` or ``https:``)."""

    vapid_private_key: VapidKey
    vapid_subject: Annotated[str, msgspec.Meta(pattern=whole("(mailto:|https://)\\S+"))]


class WebPushSettings(Schema):
    """How long a push service keeps an undelivered message (seconds) and its urgency."""

    ttl_seconds: Annotated[int, msgspec.Meta(ge=0, le=2_419_200)] = 86_400
    urgency: Annotated[str, msgspec.Meta(pattern=whole("very-low|low|normal|high"))] = "normal"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def vapid_of(credentials: WebPushCredentials) -> Vapid:
    try:
        return Vapid.from_raw(credentials.vapid_private_key.encode())
    except ValueError as exc:
        raise ProviderError(
            f"the VAPID private key is not a P-256 key: {exc}", retryable=False
        ) from None


def application_server_key(credentials: WebPushCredentials) -> str:
    """The public key browsers subscribe with (``applicationServerKey``), base64url."""
    public = vapid_of(credentials).public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(public)


def payload_of(message: OutgoingPush) -> bytes:
    """What the service worker receives (decrypted), as JSON."""
    body: dict[str, Any] = {
        "messageId": str(message.message_id),
        "title": message.title,
        "body": message.body,
        "image": message.image,
        "deepLink": message.deep_link,
        "data": message.data,
    }
    return json.dumps(body, separators=(",", ":")).encode()


class WebPushProvider:
    kind = ProviderKind.WEBPUSH

    def __init__(
        self, credentials: WebPushCredentials, settings: WebPushSettings, app_settings: Settings
    ) -> None:
        self._credentials = credentials
        self._settings = settings
        self._app_settings = app_settings
        self._vapid = vapid_of(credentials)
        self._client = provider_http.client(app_settings)

    def _authorization(self, endpoint: str) -> str:
        parts = urlsplit(endpoint)
        claims = {
            "aud": f"{parts.scheme}://{parts.netloc}",
            "exp": int(time.time()) + VAPID_LIFETIME_SECONDS,
            "sub": self._credentials.vapid_subject,
        }
        header: str = self._vapid.sign(claims)["Authorization"]
        return header

    async def send(self, message: Outgoing) -> SendResult:
        if not isinstance(message, OutgoingPush):
            raise ProviderError("web push sends push messages only", retryable=False)
        endpoint = message.target.get("endpoint")
        if not isinstance(endpoint, str) or provider_http.url_problem(self._app_settings, endpoint):
            raise ProviderError("the subscription has no usable endpoint", retryable=False)
        try:
            encrypted = WebPusher(message.target).encode(payload_of(message), "aes128gcm")
        except (WebPushException, ValueError, TypeError) as exc:
            raise ProviderError(
                f"the subscription's keys do not encrypt: {exc}", retryable=False
            ) from None
        headers = {
            "authorization": self._authorization(endpoint),
            "content-encoding": "aes128gcm",
            "content-type": "application/octet-stream",
            "ttl": str(self._settings.ttl_seconds),
            "urgency": self._settings.urgency,
        }
        try:
            response = await self._client.post(endpoint, content=encrypted["body"], headers=headers)
        except httpx.TransportError as exc:
            raise provider_http.transport_error(exc, "push service") from exc
        if response.status_code < 300:
            return SendResult(provider_message_id=response.headers.get("location"))
        raise classify(response)

    async def check(self) -> None:
        """Web Push has no account to ask: the key must load and sign."""
        self._authorization("https://push.example")

    async def aclose(self) -> None:
        await self._client.aclose()


def classify(response: httpx.Response) -> ProviderError:
    reason = f"push service {response.status_code}: {response.text[:300]}"
    if response.status_code in (404, 410):
        return ProviderError(reason, retryable=False, gone=True)
    if response.status_code == 429 or response.status_code >= 500:
        return ProviderError(reason, retryable=True)
    return ProviderError(reason, retryable=False)


def verify_feedback(
    credentials: WebPushCredentials, *, url: str, headers: dict[str, str], body: bytes
) -> list[Feedback]:
    """Push services send no callbacks: anything claiming to be one is refused."""
    raise FeedbackRefused("web push has no delivery callbacks")


def build(
    credentials: WebPushCredentials, settings: WebPushSettings, app_settings: Settings
) -> WebPushProvider:
    """The provider of one VAPID key pair."""
    return WebPushProvider(credentials, settings, app_settings)


def settings_problems(settings: WebPushSettings, app_settings: Settings) -> dict[str, str]:
    return {}


def factory(
    app_settings: Settings,
    settings: WebPushSettings,
    credentials: WebPushCredentials,
    sender: SenderIdentity,
) -> WebPushProvider:
    """The registry's factory (its argument order); the sender travels on each message."""
    return build(credentials, settings, app_settings)
