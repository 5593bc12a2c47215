"""Mailgun: the Messages API against a local server speaking it, and webhooks verified as
Mailgun signs them (HMAC-SHA256 of timestamp + token; replays are refused in
tests/messaging/providers/test_feedback.py, which needs the database or Redis)."""

from __future__ import annotations

import time
import uuid

import pytest

from backend.messaging.providers.base import FeedbackKind, FeedbackRefused, ProviderError
from backend.messaging.providers.mailgun import (
    MailgunCredentials,
    MailgunProvider,
    MailgunSettings,
    verify_feedback,
)
from tests.messaging.providers.helpers import LOCAL, SENDER, mailgun_body, outgoing
from tests.messaging.servers.esp import mailgun_server

SIGNING_KEY = "mailgun-signing-key-0123456789"


class FirstUse:
    """Remembers tokens for one test (the real guards are tested against Redis and the
    database in test_feedback.py)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    async def first_use(self, provider: str, token: str) -> bool:
        fresh = token not in self.seen
        self.seen.add(token)
        return fresh


def provider(
    base_url: str, *, api_key: str = "key-test", domain: str = "mg.brand.example"
) -> MailgunProvider:
    return MailgunProvider(
        LOCAL,
        MailgunSettings(domain=domain, base_url=base_url),
        MailgunCredentials(api_key=api_key),
        SENDER,
    )


async def test_a_message_is_sent_as_a_form_with_our_id_as_a_variable() -> None:
    message = outgoing()
    with mailgun_server() as server:
        mailgun = provider(server.base_url)
        try:
            await mailgun.check()
            result = await mailgun.send(message)
        finally:
            await mailgun.aclose()
    form = server.accepted[0]
    assert form["from"] == "Brand <news@brand.example>"
    assert form["to"] == "ada@example.org"
    assert form["subject"] == "Welcome"
    assert (form["text"], form["html"]) == ("Hello", "<p>Hello</p>")
    assert form["v:message_id"] == str(message.message_id)
    assert form["h:Reply-To"] == "care@brand.example"
    assert form["h:List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert result.provider_message_id
    assert result.provider_message_id.endswith("@mg.brand.example")
    assert not result.provider_message_id.startswith("<")


@pytest.mark.parametrize(
    ("api_key", "domain", "reason"),
    [("key-wrong", "mg.brand.example", "401"), ("key-test", "other.example", "Domain not found")],
)
async def test_a_wrong_key_or_domain_fails_the_check(
    api_key: str, domain: str, reason: str
) -> None:
    with mailgun_server() as server:
        mailgun = provider(server.base_url, api_key=api_key, domain=domain)
        with pytest.raises(ProviderError) as refused:
            await mailgun.check()
        await mailgun.aclose()
    assert refused.value.retryable is False
    assert reason in refused.value.reason


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (503, True), (400, False)])
async def test_refusals_are_classified(status: int, retryable: bool) -> None:
    with mailgun_server() as server:
        server.statuses.append((status, {"message": f"refused with {status}"}))
        mailgun = provider(server.base_url)
        with pytest.raises(ProviderError) as refused:
            await mailgun.send(outgoing())
        await mailgun.aclose()
    assert refused.value.retryable is retryable
    assert f"refused with {status}" in refused.value.reason


def _event(name: str, message_id: uuid.UUID, **extra: object) -> dict[str, object]:
    return {
        "event": name,
        "timestamp": 1764757200.25,
        "id": uuid.uuid4().hex,
        "recipient": "ada@example.org",
        "message": {"headers": {"message-id": "20261203.abc@mg.brand.example"}},
        "user-variables": {"message_id": str(message_id)},
        **extra,
    }


@pytest.mark.parametrize(
    ("event", "extra", "kind"),
    [
        ("delivered", {}, FeedbackKind.DELIVERED),
        (
            "failed",
            {
                "severity": "permanent",
                "reason": "bounce",
                "delivery-status": {"code": 550, "description": "No such mailbox"},
            },
            FeedbackKind.BOUNCED_HARD,
        ),
        (
            "failed",
            {"severity": "temporary", "delivery-status": {"message": "4.2.2 full"}},
            FeedbackKind.BOUNCED_SOFT,
        ),
        ("complained", {}, FeedbackKind.COMPLAINED),
        ("opened", {}, FeedbackKind.OPENED),
        ("clicked", {"url": "https://brand.example/offer"}, FeedbackKind.CLICKED),
        ("unsubscribed", {}, FeedbackKind.UNSUBSCRIBED),
        ("rejected", {}, FeedbackKind.FAILED),
    ],
)
async def test_signed_events_become_feedback(
    event: str, extra: dict[str, object], kind: FeedbackKind
) -> None:
    message_id = uuid.uuid4()
    body = mailgun_body(SIGNING_KEY, _event(event, message_id, **extra))
    credentials = MailgunCredentials(api_key="k", webhook_signing_key=SIGNING_KEY)
    [found] = await verify_feedback(
        credentials, url="https://levier.example/cb", headers={}, body=body, replay=FirstUse()
    )
    assert found.kind is kind
    assert found.message_id == message_id
    assert found.provider_message_id == "20261203.abc@mg.brand.example"
    if kind is FeedbackKind.BOUNCED_HARD:
        assert found.detail == "No such mailbox"
    if kind is FeedbackKind.CLICKED:
        assert found.url == "https://brand.example/offer"


@pytest.mark.parametrize("fault", ["other-key", "stale", "future", "no-signature", "tampered"])
async def test_unverified_webhooks_are_refused(fault: str) -> None:
    at = {"stale": time.time() - 3600, "future": time.time() + 3600}.get(fault)
    key = "another-key" if fault == "other-key" else SIGNING_KEY
    body = mailgun_body(key, _event("delivered", uuid.uuid4()), at=at)
    if fault == "no-signature":
        body = b'{"event-data": {"event": "delivered"}}'
    if fault == "tampered":
        body = body.replace(b'"timestamp": "', b'"timestamp": "1', 1)
    credentials = MailgunCredentials(api_key="k", webhook_signing_key=SIGNING_KEY)
    with pytest.raises(FeedbackRefused):
        await verify_feedback(
            credentials, url="https://levier.example/cb", headers={}, body=body, replay=FirstUse()
        )
