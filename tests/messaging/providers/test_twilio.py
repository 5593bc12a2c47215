"""The Twilio adapter against a local Twilio: sends through the Messages API, classifies
Twilio's errors, and verifies the signed status callbacks Twilio posts back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import parse_qsl

import pytest

from backend.messaging.providers import twilio
from backend.messaging.providers.base import (
    FeedbackKind,
    FeedbackRefused,
    OutgoingSms,
    ProviderError,
)
from tests.conftest import test_settings as app_settings
from tests.messaging.servers.threaded import wait_for
from tests.messaging.servers.twilio import LocalTwilio, local_twilio
from tests.webhooks.receiver import receiver

APP = app_settings(webhook_allow_http=True, webhook_allow_private_targets=True)


@pytest.fixture
def local() -> Iterator[LocalTwilio]:
    with local_twilio() as server:
        yield server


def credentials(server: LocalTwilio, token: str | None = None) -> twilio.TwilioCredentials:
    return twilio.TwilioCredentials(
        account_sid=server.account_sid, auth_token=token or server.auth_token
    )


def sms(to: str = "+32470123456") -> OutgoingSms:
    return OutgoingSms(
        message_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        sender_id="+3225550100",
        to_phone=to,
        text="Your code is 1234",
    )


async def test_send_then_signed_callbacks_become_feedback(local: LocalTwilio) -> None:
    with receiver() as hook:
        settings = twilio.TwilioSettings(base_url=local.base_url, status_callback_url=hook.url)
        provider = twilio.build(credentials(local), settings, APP)
        message = sms()
        result = await provider.send(message)
        await wait_for(lambda: len(hook.requests) == 2)
        await provider.aclose()
    assert result.provider_message_id == local.messages[0]["Sid"]
    sent = local.messages[0]
    assert (sent["To"], sent["From"], sent["Body"]) == (
        "+32470123456",
        "+3225550100",
        "Your code is 1234",
    )
    callback_url = f"{hook.url}?message_id={message.message_id}"
    assert sent["StatusCallback"] == callback_url
    reports = [
        twilio.verify_feedback(credentials(local), url=callback_url, headers=r.headers, body=r.body)
        for r in hook.requests
    ]
    assert reports[0] == []  # "sent": the ledger knows already
    (delivered,) = reports[1]
    assert delivered.kind == FeedbackKind.DELIVERED
    assert delivered.message_id == message.message_id
    assert delivered.provider_message_id == result.provider_message_id


async def test_messaging_service_replaces_the_sender(local: LocalTwilio) -> None:
    service_sid = "MG" + "ab" * 16
    settings = twilio.TwilioSettings(base_url=local.base_url, messaging_service_sid=service_sid)
    provider = twilio.build(credentials(local), settings, APP)
    await provider.send(sms())
    await provider.aclose()
    assert local.messages[0]["MessagingServiceSid"] == service_sid
    assert "From" not in local.messages[0]
    assert "StatusCallback" not in local.messages[0]


@pytest.mark.parametrize(
    ("setup", "to", "retryable", "gone", "reason"),
    [
        ("", "0470123456", False, True, "invalid-number"),
        ("unsubscribed", "+32470123456", False, True, "unsubscribed-recipient"),
        ("429", "+32470123456", True, False, "twilio 429"),
        ("503", "+32470123456", True, False, "twilio 503"),
        ("token", "+32470123456", False, False, "error 20003"),
    ],
)
async def test_errors_are_classified(
    local: LocalTwilio, setup: str, to: str, retryable: bool, gone: bool, reason: str
) -> None:
    if setup == "unsubscribed":
        local.unsubscribed.add(to)
    elif setup.isdigit():
        local.statuses.append(int(setup))
    token = "0" * 32 if setup == "token" else None
    provider = twilio.build(
        credentials(local, token), twilio.TwilioSettings(base_url=local.base_url), APP
    )
    with pytest.raises(ProviderError) as raised:
        await provider.send(sms(to))
    await provider.aclose()
    assert (raised.value.retryable, raised.value.gone) == (retryable, gone)
    assert reason in raised.value.reason
    assert not local.messages


async def test_unreachable_api_is_retryable() -> None:
    with local_twilio() as server:
        base = server.base_url
    provider = twilio.build(
        twilio.TwilioCredentials(account_sid="AC" + "0" * 32, auth_token="t" * 32),
        twilio.TwilioSettings(base_url=base),
        APP,
    )
    with pytest.raises(ProviderError) as raised:
        await provider.send(sms())
    await provider.aclose()
    assert raised.value.retryable


async def test_check_proves_the_credentials(local: LocalTwilio) -> None:
    good = twilio.build(credentials(local), twilio.TwilioSettings(base_url=local.base_url), APP)
    await good.check()
    bad = twilio.build(
        credentials(local, "f" * 32), twilio.TwilioSettings(base_url=local.base_url), APP
    )
    with pytest.raises(ProviderError):
        await bad.check()
    await good.aclose()
    await bad.aclose()


async def test_the_ssrf_guard_refuses_private_base_urls(local: LocalTwilio) -> None:
    guarded = app_settings(webhook_allow_http=True)
    provider = twilio.build(
        credentials(local), twilio.TwilioSettings(base_url=local.base_url), guarded
    )
    with pytest.raises(ProviderError) as raised:
        await provider.send(sms())
    await provider.aclose()
    assert "refused" in raised.value.reason
    assert not local.messages
    assert twilio.settings_problems(
        twilio.TwilioSettings(base_url="http://api.example"), app_settings()
    ) == {"baseUrl": "expected an https URL"}


async def test_undelivered_is_a_bounce_by_error_code(local: LocalTwilio) -> None:
    local.undeliverable["+32470000005"] = "30005"
    local.undeliverable["+32470000003"] = "30003"
    with receiver() as hook:
        provider = twilio.build(
            credentials(local),
            twilio.TwilioSettings(base_url=local.base_url, status_callback_url=hook.url),
            APP,
        )
        for to in ("+32470000005", "+32470000003"):
            await provider.send(sms(to))
        await wait_for(lambda: len(hook.requests) == 4)
        await provider.aclose()
    kinds = {}
    for request in hook.requests:
        params = dict(parse_qsl(request.body.decode()))
        url = next(m["StatusCallback"] for m in local.messages if m["To"] == params["To"])
        for feedback in twilio.verify_feedback(
            credentials(local), url=url, headers=request.headers, body=request.body
        ):
            kinds[params["To"]] = (feedback.kind, feedback.detail)
    assert kinds == {
        "+32470000005": (FeedbackKind.BOUNCED_HARD, "twilio error 30005"),
        "+32470000003": (FeedbackKind.BOUNCED_SOFT, "twilio error 30003"),
    }


def _signed(local: LocalTwilio, url: str) -> tuple[dict[str, str], bytes]:
    params = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "delivered"}
    body = "&".join(f"{k}={v}" for k, v in params.items()).encode()
    return {"X-Twilio-Signature": local.sign(url, params)}, body


@pytest.mark.parametrize("tamper", ["url", "body", "token", "missing"])
def test_callbacks_that_do_not_verify_are_refused(local: LocalTwilio, tamper: str) -> None:
    url = "https://levier.example/v1/hooks/messaging/x/feedback?message_id=" + str(uuid.uuid4())
    headers, body = _signed(local, url)
    token = local.auth_token
    if tamper == "url":
        url += "0"
    elif tamper == "body":
        body = body.replace(b"delivered", b"failed")
    elif tamper == "token":
        token = "e" * 32
    else:
        headers = {}
    with pytest.raises(FeedbackRefused):
        twilio.verify_feedback(credentials(local, token), url=url, headers=headers, body=body)


def test_inbound_message_verifies(local: LocalTwilio) -> None:
    url = "https://levier.example/v1/hooks/messaging/a/inbound-sms"
    params = {
        "MessageSid": "SM" + "2" * 32,
        "From": "+32470123456",
        "To": "+3225550100",
        "Body": "STOP",
    }
    body = "&".join(f"{k}={v.replace('+', '%2B')}" for k, v in params.items()).encode()
    inbound = twilio.verify_inbound(
        credentials(local),
        url=url,
        headers={"x-twilio-signature": local.sign(url, params)},
        body=body,
    )
    assert (inbound.from_phone, inbound.body) == ("+32470123456", "STOP")
