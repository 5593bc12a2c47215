"""Firebase Cloud Messaging, HTTP v1: ``POST {base}/v1/projects/{project}/messages:send`` with
an OAuth 2 bearer.

The bearer comes from the service account (RFC 7523 JWT bearer grant): a JWT signed RS256 with
the account's private key (joserfc), ``aud`` its ``token_uri``, exchanged at that URI and kept
until a minute before it expires. Both calls go through the SSRF-guarded client.
``UNREGISTERED`` or 404: the registration token is dead (the device is forgotten).
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import httpx
import msgspec
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from backend.config import Settings
from backend.core.schemas import Schema
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

DEFAULT_BASE_URL = "https://fcm.googleapis.com"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL)
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME_SECONDS = 3600
TOKEN_MARGIN_SECONDS = 60  # a bearer this close to expiry is renewed before use
GONE_ERRORS = {"UNREGISTERED"}
RETRYABLE_ERRORS = {"UNAVAILABLE", "INTERNAL", "QUOTA_EXCEEDED"}


class ServiceAccount(msgspec.Struct, frozen=True):
    """The service-account JSON as Google issues it (other fields of the file are ignored)."""

    project_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    client_email: Annotated[str, msgspec.Meta(min_length=3, max_length=320)]
    private_key: Annotated[str, msgspec.Meta(min_length=100)]
    private_key_id: str | None = None
    token_uri: str = DEFAULT_TOKEN_URI
    type: str = "service_account"


class FcmCredentials(Schema):
    """The Firebase project's service account (the downloaded JSON, as is)."""

    service_account: ServiceAccount


class FcmSettings(Schema):
    """Where to reach FCM; ``ttlSeconds`` how long FCM keeps a message for an offline device."""

    base_url: str = DEFAULT_BASE_URL
    ttl_seconds: Annotated[int, msgspec.Meta(ge=0, le=2_419_200)] = 86_400


def signing_key(credentials: FcmCredentials) -> RSAKey:
    try:
        return RSAKey.import_key(credentials.service_account.private_key)
    except (JoseError, ValueError, TypeError) as exc:
        raise ProviderError(
            f"the service account's private key is not an RSA key: {exc}", retryable=False
        ) from None


class FcmProvider:
    kind = ProviderKind.FCM

    def __init__(
        self, credentials: FcmCredentials, settings: FcmSettings, app_settings: Settings
    ) -> None:
        self._account = credentials.service_account
        self._key = signing_key(credentials)
        self._settings = settings
        self._client = provider_http.client(app_settings)
        self._send_url = (
            f"{settings.base_url.rstrip('/')}/v1/projects/{self._account.project_id}/messages:send"
        )
        self._bearer: str | None = None
        self._bearer_expires = 0.0
        self._lock = asyncio.Lock()  # one token exchange at a time, shared by concurrent sends

    def assertion(self) -> str:
        """The signed JWT the token endpoint exchanges for a bearer."""
        now = int(time.time())
        header: dict[str, Any] = {"alg": "RS256", "typ": "JWT"}
        if self._account.private_key_id:
            header["kid"] = self._account.private_key_id
        claims = {
            "iss": self._account.client_email,
            "sub": self._account.client_email,
            "scope": SCOPE,
            "aud": self._account.token_uri,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECONDS,
        }
        return jwt.encode(header, claims, self._key, algorithms=["RS256"])

    async def bearer(self, *, renew: bool = False) -> str:
        async with self._lock:
            if renew or self._bearer is None or time.time() >= self._bearer_expires:
                self._bearer, lifetime = await self._exchange()
                self._bearer_expires = time.time() + max(lifetime - TOKEN_MARGIN_SECONDS, 0)
            return self._bearer

    async def _exchange(self) -> tuple[str, float]:
        form = {"grant_type": JWT_BEARER, "assertion": self.assertion()}
        try:
            response = await self._client.post(self._account.token_uri, data=form)
        except httpx.TransportError as exc:
            raise provider_http.transport_error(exc, "google token endpoint") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise ProviderError(f"token endpoint {response.status_code}", retryable=True)
        try:
            answer = response.json()
            token, lifetime = answer["access_token"], float(answer.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise ProviderError(
                f"token endpoint {response.status_code}: {response.text[:300]}", retryable=False
            ) from None
        if response.status_code >= 300 or not isinstance(token, str):
            raise ProviderError(f"token endpoint {response.status_code}", retryable=False)
        return token, lifetime

    async def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        for attempt in range(2):
            # A bearer revoked or expired early answers 401: one more try with a new one.
            token = await self.bearer(renew=attempt > 0)
            try:
                response = await self._client.post(
                    self._send_url, json=body, headers={"authorization": f"Bearer {token}"}
                )
            except httpx.TransportError as exc:
                raise provider_http.transport_error(exc, "fcm") from exc
            if response.status_code == 401 and attempt == 0:
                continue
            if response.status_code < 300:
                answer = response.json()
                return answer if isinstance(answer, dict) else {}
            raise classify(response)
        raise AssertionError("unreachable")

    async def send(self, message: Outgoing) -> SendResult:
        if not isinstance(message, OutgoingPush):
            raise ProviderError("fcm sends push messages only", retryable=False)
        token = message.target.get("token")
        if not isinstance(token, str) or not token:
            raise ProviderError("the device has no registration token", retryable=False)
        answer = await self._post({"message": message_of(message, token, self._settings)})
        name = answer.get("name")
        return SendResult(provider_message_id=name if isinstance(name, str) else None)

    async def check(self) -> None:
        """A bearer, then a validate-only send to a topic: proves the key and the project's
        permission without reaching any device."""
        message = {"topic": "levier-check", "notification": {"title": "check", "body": "check"}}
        await self._post({"validate_only": True, "message": message})

    async def aclose(self) -> None:
        await self._client.aclose()


def message_of(message: OutgoingPush, token: str, settings: FcmSettings) -> dict[str, Any]:
    """The FCM v1 ``Message``: a notification, and data values (strings, as FCM requires)."""
    notification: dict[str, str] = {"title": message.title, "body": message.body}
    if message.image:
        notification["image"] = message.image
    data = {**message.data, "messageId": str(message.message_id)}
    if message.deep_link:
        data["deepLink"] = message.deep_link
    return {
        "token": token,
        "notification": notification,
        "data": data,
        "android": {"ttl": f"{settings.ttl_seconds}s"},
        "apns": {"headers": {"apns-expiration": str(int(time.time()) + settings.ttl_seconds)}},
    }


def classify(response: httpx.Response) -> ProviderError:
    """FCM's error (``error.status`` and the ``FcmError`` detail's ``errorCode``)."""
    status, code, text = "", "", response.text[:300]
    try:
        error = response.json().get("error", {})
        status = str(error.get("status", ""))
        text = str(error.get("message", text))[:300]
        for detail in error.get("details", []):
            if str(detail.get("@type", "")).endswith("FcmError"):
                code = str(detail.get("errorCode", ""))
    except (ValueError, AttributeError, TypeError):
        pass
    reason = f"fcm {response.status_code} {code or status}: {text}"
    if code in GONE_ERRORS or response.status_code == 404:
        return ProviderError(reason, retryable=False, gone=True)
    if (
        response.status_code == 429
        or response.status_code >= 500
        or code in RETRYABLE_ERRORS
        or status in RETRYABLE_ERRORS
    ):
        return ProviderError(reason, retryable=True)
    return ProviderError(reason, retryable=False)  # INVALID_ARGUMENT, SENDER_ID_MISMATCH…


def verify_feedback(
    credentials: FcmCredentials, *, url: str, headers: dict[str, str], body: bytes
) -> list[Feedback]:
    """FCM sends no delivery callbacks: anything claiming to be one is refused."""
    raise FeedbackRefused("fcm has no delivery callbacks")


def build(
    credentials: FcmCredentials, settings: FcmSettings, app_settings: Settings
) -> FcmProvider:
    """The provider of one Firebase project."""
    return FcmProvider(credentials, settings, app_settings)


def settings_problems(settings: FcmSettings, app_settings: Settings) -> dict[str, str]:
    problem = provider_http.url_problem(app_settings, settings.base_url)
    return {"baseUrl": problem} if problem else {}


def credentials_problems(credentials: FcmCredentials, app_settings: Settings) -> dict[str, str]:
    """A key that does not load, or a token URI the guard refuses, by field."""
    problems: dict[str, str] = {}
    try:
        signing_key(credentials)
    except ProviderError as exc:
        problems["serviceAccount.private_key"] = exc.reason
    problem = provider_http.url_problem(app_settings, credentials.service_account.token_uri)
    if problem:
        problems["serviceAccount.token_uri"] = problem
    return problems


def factory(
    app_settings: Settings,
    settings: FcmSettings,
    credentials: FcmCredentials,
    sender: SenderIdentity,
) -> FcmProvider:
    """The registry's factory (its argument order); the sender travels on each message."""
    return build(credentials, settings, app_settings)
