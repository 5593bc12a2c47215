"""SMS through Twilio's Messages API, and Twilio's signed callbacks.

Sending is ``POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json``, form-encoded (``To``,
``From`` or ``MessagingServiceSid``, ``Body``, ``StatusCallback``) with HTTP basic auth
``AccountSid:AuthToken``, through the SSRF-guarded client. Status callbacks and inbound messages
are POSTed by Twilio with ``X-Twilio-Signature`` (HMAC-SHA1 of the URL and the sorted
parameters, keyed by the auth token), checked with the official ``twilio`` package's
``RequestValidator``.

Our message id travels in the StatusCallback URL's query (``?message_id=…``): Twilio signs the
full URL, so the id it carries back is as trustworthy as the rest of the callback.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from uuid import UUID

import httpx
import msgspec
from twilio.request_validator import RequestValidator

from backend.config import Settings
from backend.core.schemas import Schema, whole
from backend.messaging.providers import http as provider_http
from backend.messaging.providers.base import (
    Feedback,
    FeedbackKind,
    FeedbackRefused,
    Outgoing,
    OutgoingSms,
    ProviderError,
    ProviderKind,
    SenderIdentity,
    SendResult,
)

DEFAULT_BASE_URL = "https://api.twilio.com"
SIGNATURE_HEADER = "x-twilio-signature"

# Twilio error codes that say the recipient cannot be reached at this number, ever: the send
# fails for good and the address is gone (21610: the recipient replied STOP to this sender).
GONE_CODES = {
    21211: "invalid-number",
    21214: "unreachable-number",
    21610: "unsubscribed-recipient",
    21612: "unreachable-number",
    21614: "not-a-mobile-number",
}
# Undelivered with one of these codes will never be delivered (unknown or landline handset,
# blocked by the recipient); other undelivered codes may pass on a later try.
HARD_UNDELIVERED = {30004, 30005, 30006}
# Statuses on the way out: the ledger already knows the message was handed over.
IN_FLIGHT = {"accepted", "scheduled", "queued", "sending", "sent", "receiving", "received"}

AccountSid = Annotated[str, msgspec.Meta(pattern=whole("AC[0-9a-fA-F]{32}"))]
ServiceSid = Annotated[str, msgspec.Meta(pattern=whole("MG[0-9a-fA-F]{32}"))]


class TwilioCredentials(Schema):
    """An account SID and its auth token (the token also keys callback signatures)."""

    account_sid: AccountSid
    auth_token: Annotated[str, msgspec.Meta(min_length=16, max_length=128)]


class TwilioSettings(Schema):
    """Where to reach Twilio and what to send from: a Messaging Service (its sender pool) or the
    sender identity's number or alphanumeric id. ``statusCallbackUrl`` is where Twilio reports
    delivery; our message id is added to its query."""

    base_url: str = DEFAULT_BASE_URL
    messaging_service_sid: ServiceSid | None = None
    status_callback_url: str | None = None


class InboundSms(msgspec.Struct, kw_only=True, frozen=True):
    """A message a person sent to one of the account's numbers."""

    message_sid: str
    from_phone: str
    to_phone: str
    body: str


class TwilioProvider:
    kind = ProviderKind.TWILIO

    def __init__(
        self, credentials: TwilioCredentials, settings: TwilioSettings, app_settings: Settings
    ) -> None:
        self._credentials = credentials
        self._settings = settings
        self._base = settings.base_url.rstrip("/")
        self._client = provider_http.client(app_settings)
        self._auth = httpx.BasicAuth(credentials.account_sid, credentials.auth_token)

    def _account_url(self, suffix: str) -> str:
        return f"{self._base}/2010-04-01/Accounts/{self._credentials.account_sid}{suffix}"

    async def send(self, message: Outgoing) -> SendResult:
        if not isinstance(message, OutgoingSms):
            raise ProviderError("twilio sends SMS only", retryable=False)
        form = {"To": message.to_phone, "Body": message.text}
        if self._settings.messaging_service_sid:
            form["MessagingServiceSid"] = self._settings.messaging_service_sid
        else:
            form["From"] = message.sender_id
        if self._settings.status_callback_url:
            form["StatusCallback"] = callback_url(
                self._settings.status_callback_url, message.message_id
            )
        answer = await self._request("POST", self._account_url("/Messages.json"), data=form)
        sid = answer.get("sid")
        return SendResult(provider_message_id=sid if isinstance(sid, str) else None)

    async def check(self) -> None:
        """Reads the account itself: proves the SID and token without sending anything."""
        await self._request("GET", self._account_url(".json"))

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _request(
        self, method: str, url: str, data: dict[str, str] | None = None
    ) -> dict[str, Any]:
        try:
            response = await self._client.request(method, url, data=data, auth=self._auth)
        except httpx.TransportError as exc:
            raise provider_http.transport_error(exc, "twilio") from exc
        if response.status_code < 300:
            try:
                answer = response.json()
            except ValueError:
                return {}
            return answer if isinstance(answer, dict) else {}
        raise classify(response)


def classify(response: httpx.Response) -> ProviderError:
    """Twilio's error JSON (``code``, ``message``, ``status``) as a :class:`ProviderError`."""
    code: int | None = None
    text = response.text[:300]
    try:
        body = response.json()
        if isinstance(body, dict):
            code = body.get("code") if isinstance(body.get("code"), int) else None
            text = str(body.get("message") or text)[:300]
    except ValueError:
        pass
    reason = f"twilio {response.status_code}" + (f" (error {code})" if code else "") + f": {text}"
    if response.status_code == 429 or response.status_code >= 500:
        return ProviderError(reason, retryable=True)
    if code in GONE_CODES:
        return ProviderError(f"{GONE_CODES[code]}: {reason}", retryable=False, gone=True)
    return ProviderError(reason, retryable=False)


def callback_url(base: str, message_id: UUID) -> str:
    """The StatusCallback URL of one message: the account's, with our message id added."""
    separator = "&" if urlsplit(base).query else "?"
    return base + separator + urlencode({"message_id": str(message_id)})


def _signed_params(
    credentials: TwilioCredentials, url: str, headers: dict[str, str], body: bytes
) -> dict[str, str]:
    """The POST parameters of a request Twilio signed; FeedbackRefused when it did not."""
    signature = {k.lower(): v for k, v in headers.items()}.get(SIGNATURE_HEADER)
    if not signature:
        raise FeedbackRefused("no X-Twilio-Signature")
    try:
        params = dict(parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError:
        raise FeedbackRefused("the body is not form-encoded text") from None
    if not RequestValidator(credentials.auth_token).validate(url, params, signature):
        raise FeedbackRefused("X-Twilio-Signature does not verify")
    return params


def verify_feedback(
    credentials: TwilioCredentials, *, url: str, headers: dict[str, str], body: bytes
) -> list[Feedback]:
    """A verified status callback as feedback: ``delivered``; ``undelivered`` a hard or soft
    bounce by its ``ErrorCode``; ``failed``; ``read`` an open. Statuses on the way out
    (queued, sent…) report nothing. Raises :class:`FeedbackRefused`."""
    params = _signed_params(credentials, url, headers, body)
    status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    sid = params.get("MessageSid") or params.get("SmsSid")
    code = params.get("ErrorCode") or None
    if status in IN_FLIGHT:
        return []
    kind = {
        "delivered": FeedbackKind.DELIVERED,
        "failed": FeedbackKind.FAILED,
        "canceled": FeedbackKind.FAILED,
        "read": FeedbackKind.OPENED,
    }.get(status)
    if status == "undelivered":
        hard = code is not None and code.isdigit() and int(code) in HARD_UNDELIVERED
        kind = FeedbackKind.BOUNCED_HARD if hard else FeedbackKind.BOUNCED_SOFT
    if kind is None:
        raise FeedbackRefused(f"unknown MessageStatus {status!r}")
    return [
        Feedback(
            provider_message_id=sid,
            message_id=_message_id_of(url),
            kind=kind,
            occurred_at=dt.datetime.now(dt.UTC),  # Twilio's callbacks carry no time of their own
            detail=f"twilio error {code}" if code else status,
        )
    ]


def verify_inbound(
    credentials: TwilioCredentials, *, url: str, headers: dict[str, str], body: bytes
) -> InboundSms:
    """A verified inbound message (Twilio's incoming-message webhook). Raises
    :class:`FeedbackRefused` when the signature does not verify or the message is incomplete."""
    params = _signed_params(credentials, url, headers, body)
    sid, sender = params.get("MessageSid") or params.get("SmsSid"), params.get("From")
    if not sid or not sender:
        raise FeedbackRefused("an inbound message names its MessageSid and From")
    return InboundSms(
        message_sid=sid,
        from_phone=sender,
        to_phone=params.get("To", ""),
        body=params.get("Body", ""),
    )


def _message_id_of(url: str) -> UUID | None:
    for name, value in parse_qsl(urlsplit(url).query):
        if name == "message_id":
            try:
                return UUID(value)
            except ValueError:
                return None
    return None


def build(
    credentials: TwilioCredentials, settings: TwilioSettings, app_settings: Settings
) -> TwilioProvider:
    """The provider of one Twilio account."""
    return TwilioProvider(credentials, settings, app_settings)


def settings_problems(settings: TwilioSettings, app_settings: Settings) -> dict[str, str]:
    """What is wrong with an account's settings, by field (wire names)."""
    problems: dict[str, str] = {}
    for field, url in (
        ("baseUrl", settings.base_url),
        ("statusCallbackUrl", settings.status_callback_url),
    ):
        problem = url and provider_http.url_problem(app_settings, url)
        if problem:
            problems[field] = problem
    return problems


def factory(
    app_settings: Settings,
    settings: TwilioSettings,
    credentials: TwilioCredentials,
    sender: SenderIdentity,
) -> TwilioProvider:
    """The registry's factory (its argument order); the sender travels on each message."""
    return build(credentials, settings, app_settings)


async def verify(
    credentials: TwilioCredentials,
    *,
    url: str,
    headers: dict[str, str],
    body: bytes,
    replay: object = None,
) -> list[Feedback]:
    """The registry's verifier. Twilio's signature has no nonce: a replayed callback repeats a
    status the ledger already holds, which applying it again does not change."""
    return verify_feedback(credentials, url=url, headers=headers, body=body)
