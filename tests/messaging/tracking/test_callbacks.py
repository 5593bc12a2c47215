"""Provider callbacks signed as SendGrid and Mailgun sign them, applied to the ledger: status,
timeline, suppression (hard bounce, complaint, soft bounces in a row), events and webhooks;
bad signatures and unknown accounts store nothing; repeats change nothing; brands stay apart."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from litestar import Litestar
from twilio.request_validator import RequestValidator

from backend.messaging import gate
from backend.messaging.accounts.models import ProviderAccount
from backend.messaging.accounts.sealing import seal_json
from backend.messaging.models import MessageChannel, MessagePriority
from backend.messaging.providers.base import ProviderKind
from backend.messaging.tracking import routing
from backend.messaging.tracking.feedback import SOFT_BOUNCE_LIMIT
from backend.profiles import service as profiles_service
from backend.profiles.models import Channel
from tests.factories import World, make_world, problem, session_of
from tests.messaging.tracking.helpers import (
    Recipient,
    events_named,
    ledger_state,
    make_message,
    make_recipient,
    sightings,
    subscribe_webhooks,
    webhook_types,
)

SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
SENDGRID_PUBLIC = base64.b64encode(
    SENDGRID_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()
MAILGUN_SIGNING_KEY = "key-" + secrets.token_hex(16)
TWILIO_AUTH_TOKEN = secrets.token_hex(16)


async def make_account(app: Litestar, brand_id: UUID, kind: ProviderKind) -> UUID:
    """A provider account as the accounts service stores it (credentials sealed), routed."""
    credentials: dict[str, Any] = {"apiKey": "test-" + secrets.token_hex(8)}
    if kind is ProviderKind.TWILIO:
        credentials = {"accountSid": "AC" + secrets.token_hex(16), "authToken": TWILIO_AUTH_TOKEN}
    elif kind is ProviderKind.SENDGRID:
        credentials["eventWebhookPublicKey"] = SENDGRID_PUBLIC
    else:
        credentials["webhookSigningKey"] = MAILGUN_SIGNING_KEY
    async with session_of(app, brand_id) as session:
        account = ProviderAccount(
            kind=kind,
            channel=Channel.SMS if kind is ProviderKind.TWILIO else Channel.EMAIL,
            name=kind.value,
            is_default=False,
            settings={},
            credentials_ciphertext=seal_json(app.state.settings, credentials),
            credential_fields=sorted(credentials),
            identity_id=None,
        )
        session.add(account)
        await session.flush()
        await routing.route_account(session, account.id)
        await session.commit()
        return account.id


def sendgrid_post(events: list[dict[str, Any]], *, key: Any = SENDGRID_KEY) -> dict[str, Any]:
    """SendGrid's signed Event Webhook: ECDSA P-256/SHA-256 over timestamp + raw body."""
    body = json.dumps(events).encode()
    timestamp = str(int(time.time()))
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    headers = {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }
    return {"content": body, "headers": headers}


def mailgun_post(event: dict[str, Any], *, key: str = MAILGUN_SIGNING_KEY) -> dict[str, Any]:
    """Mailgun's webhook: hex HMAC-SHA256 (signing key) of timestamp + token in the body."""
    timestamp, token = str(int(time.time())), secrets.token_hex(25)
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    body = {
        "signature": {"timestamp": timestamp, "token": token, "signature": signature},
        "event-data": event,
    }
    return {"content": json.dumps(body).encode(), "headers": {"Content-Type": "application/json"}}


def sg_event(event: str, message: UUID, *, echo: bool = True, **extra: Any) -> dict[str, Any]:
    """One Event Webhook event; ``echo``: with our message id in its custom args."""
    found = {
        "email": "ada@example.com",
        "timestamp": int(time.time()),
        "event": event,
        "sg_event_id": uuid4().hex,
        "sg_message_id": "sg-" + message.hex[:12] + ".filter0001",
        **extra,
    }
    if echo:
        found["message_id"] = str(message)
    return found


async def _profile(app: Litestar, who: Recipient) -> Any:
    async with session_of(app, who.tenant) as session:
        return await profiles_service.get_profile(session, who.profile_id)


async def _setup(app: Litestar, client: httpx.AsyncClient) -> tuple[World, Recipient, UUID, UUID]:
    world = await make_world(app)
    await subscribe_webhooks(client, world)
    ada = await make_recipient(app, world.brand_a.id, "ada@example.com")
    account = await make_account(app, world.brand_a.id, ProviderKind.SENDGRID)
    return world, ada, account, await make_message(app, ada, account_id=account)


async def test_sendgrid_reports_move_the_message_and_a_hard_bounce_suppresses(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    _world, ada, account, message = await _setup(app, client)
    hook = f"/v1/hooks/messaging/{account}"
    delivered = sendgrid_post([sg_event("delivered", message)])
    for _ in range(2):  # a provider retrying: harmless
        answer = await client.post(hook, **delivered)
        assert answer.status_code == 200, answer.text
    assert answer.json() == {"reports": 1, "applied": 0}
    bounce = sendgrid_post([sg_event("bounce", message, type="bounce", reason="550 5.1.1")])
    assert (await client.post(hook, **bounce)).json() == {"reports": 1, "applied": 1}
    status, timeline = await ledger_state(app, ada.tenant, message)
    assert status == "bounced_hard"
    assert timeline == [("delivered", None), ("bounced_hard", "550 5.1.1")]
    assert (await _profile(app, ada)).bounced == ["email"]
    async with session_of(app, ada.tenant) as session:  # the gate refuses the next send
        profile = await profiles_service.get_profile(session, ada.profile_id)
        for priority in (MessagePriority.TRANSACTIONAL, MessagePriority.CAMPAIGN):
            refusal = await gate.contactable(
                session, profile, MessageChannel.EMAIL, priority, "news"
            )
            assert refusal == "bounced"
    named = await events_named(app, ada.tenant, ada.profile_id)
    assert (named["message_delivered"], named["message_bounced"]) == (1, 1)
    types = await webhook_types(app, ada.tenant)
    assert (types.count("message.delivered"), types.count("message.bounced")) == (1, 1)


async def test_a_report_found_by_the_providers_id_and_a_complaint_suppresses(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    _world, ada, account, _ = await _setup(app, client)
    message = await make_message(app, ada, account_id=account, provider_message_id="sg-abc123")
    event = {**sg_event("spamreport", message, echo=False), "sg_message_id": "sg-abc123.filter0"}
    answer = await client.post(f"/v1/hooks/messaging/{account}", **sendgrid_post([event]))
    assert answer.json() == {"reports": 1, "applied": 1}
    assert (await ledger_state(app, ada.tenant, message))[0] == "complained"
    assert (await _profile(app, ada)).suppressed == ["email"]
    assert (await events_named(app, ada.tenant, ada.profile_id))["message_complained"] == 1
    assert (await webhook_types(app, ada.tenant)).count("message.complained") == 1


async def test_soft_bounces_in_a_row_count_as_a_hard_one_and_a_delivery_ends_the_run(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    _world, ada, account, _ = await _setup(app, client)
    hook = f"/v1/hooks/messaging/{account}"

    async def soft_bounce() -> None:
        message = await make_message(app, ada, account_id=account)
        event = sg_event("bounce", message, type="blocked")
        assert (await client.post(hook, **sendgrid_post([event]))).status_code == 200

    for _ in range(SOFT_BOUNCE_LIMIT - 1):
        await soft_bounce()
    delivered = await make_message(app, ada, account_id=account)
    event = sg_event("delivered", delivered)
    await client.post(hook, **sendgrid_post([event]))
    for _ in range(SOFT_BOUNCE_LIMIT - 1):
        await soft_bounce()
    assert (await _profile(app, ada)).bounced == []  # the delivery broke the run
    await soft_bounce()
    assert (await _profile(app, ada)).bounced == ["email"]


async def test_mailgun_reports_are_verified_and_applied_once(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await make_recipient(app, world.brand_a.id, "ada@example.com")
    account = await make_account(app, world.brand_a.id, ProviderKind.MAILGUN)
    message = await make_message(app, ada, account_id=account)
    event = {
        "event": "clicked",
        "timestamp": time.time(),
        "url": "https://shop.example/",
        "user-variables": {"message_id": str(message)},
    }
    hook = f"/v1/hooks/messaging/{account}"
    for _ in range(2):  # signed again (a new token) each time: applied once all the same
        answer = await client.post(hook, **mailgun_post(event))
        assert answer.status_code == 200, answer.text
    assert (await ledger_state(app, ada.tenant, message))[0] == "clicked"
    assert (await sightings(app, ada.tenant, message))["clicked:https://shop.example/"] == 2
    assert (await events_named(app, ada.tenant, ada.profile_id))["email_clicked"] == 1


async def test_twilio_status_callbacks_signed_as_twilio_signs_them(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await subscribe_webhooks(client, world)
    ada = await make_recipient(app, world.brand_a.id, "ada@example.com")
    account = await make_account(app, world.brand_a.id, ProviderKind.TWILIO)
    message = await make_message(
        app,
        ada,
        channel=MessageChannel.SMS,
        topic=None,
        account_id=account,
        provider_message_id="SM" + secrets.token_hex(16),
    )
    # Twilio's StatusCallback: our URL with the message id, signed over URL + sorted params.
    path = f"/v1/hooks/messaging/{account}?message_id={message}"
    url = app.state.settings.public_url.rstrip("/") + path
    validator = RequestValidator(TWILIO_AUTH_TOKEN)

    async def post(params: dict[str, str], token: RequestValidator = validator) -> httpx.Response:
        return await client.post(
            path,
            data=params,
            headers={"X-Twilio-Signature": token.compute_signature(url, params)},
        )

    sent = {"MessageSid": "SM" + secrets.token_hex(16), "MessageStatus": "sent"}
    assert (await post(sent)).json() == {"reports": 0, "applied": 0}
    undelivered = {**sent, "MessageStatus": "undelivered", "ErrorCode": "30005"}
    problem(await post(undelivered, RequestValidator("not-the-" + TWILIO_AUTH_TOKEN)), 401)
    assert (await _profile(app, ada)).bounced == []
    for _ in range(2):
        answer = await post(undelivered)
        assert answer.status_code == 200, answer.text
    assert answer.json() == {"reports": 1, "applied": 0}
    status, timeline = await ledger_state(app, ada.tenant, message)
    assert (status, timeline) == ("bounced_hard", [("bounced_hard", "twilio error 30005")])
    assert (await _profile(app, ada)).bounced == ["sms"]
    assert (await events_named(app, ada.tenant, ada.profile_id))["message_bounced"] == 1
    assert (await webhook_types(app, ada.tenant)).count("message.bounced") == 1


@pytest.mark.parametrize("case", ["wrong-key", "tampered", "stale", "unsigned"])
async def test_a_callback_that_does_not_verify_is_refused_and_stores_nothing(
    app: Litestar, client: httpx.AsyncClient, case: str
) -> None:
    _world, ada, account, message = await _setup(app, client)
    events = [sg_event("bounce", message, type="bounce")]
    post = sendgrid_post(events, key=ec.generate_private_key(ec.SECP256R1()))
    if case != "wrong-key":
        post = sendgrid_post(events)
    if case == "tampered":
        post["content"] = post["content"].replace(b"bounce", b"bounced", 1)
    elif case == "stale":
        stale = str(int(time.time()) - 3600)
        signature = SENDGRID_KEY.sign(stale.encode() + post["content"], ec.ECDSA(hashes.SHA256()))
        post["headers"]["X-Twilio-Email-Event-Webhook-Timestamp"] = stale
        post["headers"]["X-Twilio-Email-Event-Webhook-Signature"] = base64.b64encode(
            signature
        ).decode()
    elif case == "unsigned":
        post["headers"] = {"Content-Type": "application/json"}
    problem(await client.post(f"/v1/hooks/messaging/{account}", **post), 401)
    assert await ledger_state(app, ada.tenant, message) == ("sent", [])
    assert await sightings(app, ada.tenant, message) == {}
    assert (await _profile(app, ada)).bounced == []


async def test_callbacks_reach_their_accounts_brand_only(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world, ada, _account, message = await _setup(app, client)
    problem(await client.post(f"/v1/hooks/messaging/{uuid4()}", **sendgrid_post([])), 404)
    # Brand B's account (same signing key) reporting on brand A's message: not found there.
    account_b = await make_account(app, world.brand_b.id, ProviderKind.SENDGRID)
    events = [sg_event("bounce", message, type="bounce")]
    answer = await client.post(f"/v1/hooks/messaging/{account_b}", **sendgrid_post(events))
    assert answer.json() == {"reports": 1, "applied": 0}
    # Another account of the same brand cannot report on a message it did not send.
    other = await make_account(app, world.brand_a.id, ProviderKind.SENDGRID)
    answer = await client.post(f"/v1/hooks/messaging/{other}", **sendgrid_post(events))
    assert answer.json() == {"reports": 1, "applied": 0}
    assert await ledger_state(app, ada.tenant, message) == ("sent", [])
