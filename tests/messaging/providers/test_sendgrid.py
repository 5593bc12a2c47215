"""SendGrid: the v3 Mail Send API against a local server speaking it, and the Event Webhook
verified as SendGrid signs it (ECDSA P-256)."""

from __future__ import annotations

import time
import uuid

import pytest

from backend.messaging.providers.base import FeedbackKind, FeedbackRefused, ProviderError
from backend.messaging.providers.sendgrid import (
    SendgridCredentials,
    SendgridProvider,
    SendgridSettings,
    verify_feedback,
)
from tests.conftest import test_settings as deployment_settings
from tests.messaging.providers.helpers import LOCAL, SENDER, UNSUBSCRIBE, SendgridSigner, outgoing
from tests.messaging.servers.esp import sendgrid_server


def provider(base_url: str, api_key: str = "SG.test-key", settings=LOCAL) -> SendgridProvider:  # type: ignore[no-untyped-def]
    return SendgridProvider(
        settings, SendgridSettings(base_url=base_url), SendgridCredentials(api_key=api_key), SENDER
    )


async def test_a_message_is_sent_with_our_id_in_custom_args() -> None:
    message = outgoing()
    with sendgrid_server() as server:
        sendgrid = provider(server.base_url)
        try:
            await sendgrid.check()
            result = await sendgrid.send(message)
            await sendgrid.send(outgoing())
        finally:
            await sendgrid.aclose()
    mail = server.accepted[0]
    assert server.headers[0]["authorization"] == "Bearer SG.test-key"
    assert mail["personalizations"] == [{"to": [{"email": "ada@example.org"}]}]
    assert mail["from"] == {"email": "news@brand.example", "name": "Brand"}
    assert mail["reply_to"] == {"email": "care@brand.example"}
    assert [c["type"] for c in mail["content"]] == ["text/plain", "text/html"]
    assert mail["custom_args"]["message_id"] == str(message.message_id)
    assert mail["headers"] == UNSUBSCRIBE
    assert result.provider_message_id
    assert len(result.provider_message_id) == 22
    assert len(server.accepted) == 2


@pytest.mark.parametrize(
    ("status", "body", "retryable", "reason"),
    [
        (429, {"errors": [{"message": "too many requests"}]}, True, "too many requests"),
        (500, {"errors": [{"message": "internal error"}]}, True, "internal error"),
        (
            400,
            {"errors": [{"field": "from", "message": "does not match a verified Sender"}]},
            False,
            "does not match a verified Sender",
        ),
        (413, {"errors": [{"message": "payload too large"}]}, False, "payload too large"),
    ],
)
async def test_refusals_are_classified(
    status: int, body: dict[str, object], retryable: bool, reason: str
) -> None:
    with sendgrid_server() as server:
        server.statuses.append((status, body))
        sendgrid = provider(server.base_url)
        with pytest.raises(ProviderError) as refused:
            await sendgrid.send(outgoing())
        await sendgrid.aclose()
    assert refused.value.retryable is retryable
    assert reason in refused.value.reason


async def test_a_wrong_key_fails_the_check_with_sendgrids_reason() -> None:
    with sendgrid_server() as server:
        sendgrid = provider(server.base_url, api_key="SG.wrong")
        with pytest.raises(ProviderError) as refused:
            await sendgrid.check()
        await sendgrid.aclose()
    assert refused.value.retryable is False
    assert "authorization grant is invalid" in refused.value.reason


async def test_an_unreachable_api_is_retryable_and_a_private_one_refused() -> None:
    with sendgrid_server() as server:
        base_url = server.base_url
    sendgrid = provider(base_url)
    with pytest.raises(ProviderError) as down:
        await sendgrid.send(outgoing())
    await sendgrid.aclose()
    assert down.value.retryable is True
    guarded = provider(base_url, settings=deployment_settings(webhook_allow_http=True))
    with pytest.raises(ProviderError) as refused:
        await guarded.send(outgoing())
    await guarded.aclose()
    assert refused.value.retryable is False
    assert "non-public" in refused.value.reason


def _events(message_id: uuid.UUID) -> list[dict[str, object]]:
    base = {
        "email": "ada@example.org",
        "timestamp": 1764757200,
        "message_id": str(message_id),
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
    }
    return [
        {**base, "event": "processed"},
        {**base, "event": "delivered", "response": "250 OK"},
        {**base, "event": "bounce", "type": "bounce", "reason": "550 5.1.1 no such user"},
        {**base, "event": "bounce", "type": "blocked", "reason": "421 try later"},
        {**base, "event": "deferred", "response": "451 greylisted"},
        {**base, "event": "dropped", "reason": "Bounced Address"},
        {**base, "event": "spamreport"},
        {**base, "event": "open"},
        {**base, "event": "click", "url": "https://brand.example/offer"},
        {**base, "event": "unsubscribe"},
    ]


def test_signed_events_become_feedback() -> None:
    signer = SendgridSigner()
    message_id = uuid.uuid4()
    headers, body = signer.sign(_events(message_id))
    credentials = SendgridCredentials(api_key="k", event_webhook_public_key=signer.public_key)
    found = verify_feedback(
        credentials, url="https://levier.example/cb", headers=headers, body=body
    )
    assert [f.kind for f in found] == [
        FeedbackKind.DELIVERED,
        FeedbackKind.BOUNCED_HARD,
        FeedbackKind.BOUNCED_SOFT,
        FeedbackKind.DEFERRED,
        FeedbackKind.FAILED,
        FeedbackKind.COMPLAINED,
        FeedbackKind.OPENED,
        FeedbackKind.CLICKED,
        FeedbackKind.UNSUBSCRIBED,
    ]
    assert {f.message_id for f in found} == {message_id}
    assert {f.provider_message_id for f in found} == {"14c5d75ce93"}
    assert found[1].detail == "550 5.1.1 no such user"
    assert found[7].url == "https://brand.example/offer"


@pytest.mark.parametrize("fault", ["tampered", "stale", "other-key", "no-header", "no-key"])
def test_unverified_events_are_refused(fault: str) -> None:
    signer = SendgridSigner()
    at = time.time() - 3600 if fault == "stale" else None
    headers, body = signer.sign(_events(uuid.uuid4()), at=at)
    key = SendgridSigner().public_key if fault == "other-key" else signer.public_key
    if fault == "tampered":
        body = body.replace(b"delivered", b"delivereD")
    if fault == "no-header":
        headers.pop("X-Twilio-Email-Event-Webhook-Signature")
    credentials = SendgridCredentials(
        api_key="k", event_webhook_public_key=None if fault == "no-key" else key
    )
    with pytest.raises(FeedbackRefused):
        verify_feedback(credentials, url="https://levier.example/cb", headers=headers, body=body)
