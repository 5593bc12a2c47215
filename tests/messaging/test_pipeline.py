"""The send pipeline end to end on the real parts, with the worker running: `POST /messages` →
outbox → `messaging.deliver` → gate → `render_for` (a template made through the content API,
with a coupon) → tracking's links and List-Unsubscribe headers → the provider (capture, an SMTP
server, a local FCM) → the ledger, the profile events and the `message.*` webhooks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select

from backend.config import Settings
from backend.events.models import Event
from backend.webhooks.models import WebhookEvent
from tests.factories import World, make_world, session_of
from tests.messaging.servers.fcm import LocalFcm, device_token, local_fcm
from tests.messaging.servers.smtp import SmtpSink, smtp_sink
from tests.segments.helpers import make_profile

pytestmark = pytest.mark.worker

MJML = """<mjml><mj-body><mj-section><mj-column>
<mj-text>Hello {{ first_name }}, your code is {{ coupon('WELCOME') }}</mj-text>
<mj-button href="https://shop.test/offers">Shop</mj-button>
<mj-text><a href="levier:unsubscribe">Unsubscribe</a></mj-text>
</mj-column></mj-section></mj-body></mjml>"""
MESSAGE_TYPES = ["message.sent", "message.failed", "message.refused", "message.deferred"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The provider counterparts listen on loopback over plain http.
    return settings.replace(webhook_allow_http=True, webhook_allow_private_targets=True)


@pytest.fixture
def fcm() -> Iterator[LocalFcm]:
    with local_fcm() as server:
        yield server


def url(world: World, path: str) -> str:
    return f"/v1/brands/{world.brand_a.id}{path}"


async def post(client: httpx.AsyncClient, world: World, path: str, body: Any) -> httpx.Response:
    response = await client.post(url(world, path), json=body, headers=world.admin_a.headers)
    assert response.status_code in (200, 201, 202), response.text
    return response


async def until(probe: Callable[[], Awaitable[bool]], what: str, seconds: float = 60) -> None:
    """Wait on the condition (a cap only keeps a broken run from hanging)."""
    deadline = time.monotonic() + seconds
    while not await probe():
        assert time.monotonic() < deadline, f"{what} never happened"
        await asyncio.sleep(0.05)


async def settled(client: httpx.AsyncClient, world: World, message_id: str) -> dict[str, Any]:
    """The message once the worker is done with it (sent, failed or deferred)."""
    found: dict[str, Any] = {}

    async def done() -> bool:
        got = await client.get(
            url(world, f"/messages/{message_id}"), headers=world.viewer_a.headers
        )
        found.update(got.json())
        return found["status"] in ("sent", "failed", "deferred", "refused")

    await until(done, f"message {message_id} settled")
    return found


async def queued(client: httpx.AsyncClient, world: World, body: dict[str, Any]) -> str:
    message_id: str = (await post(client, world, "/messages", body)).json()["id"]
    return message_id


async def email_template(client: httpx.AsyncClient, world: World, codes: list[str]) -> str:
    pool = await post(client, world, "/coupon-pools", {"key": "WELCOME", "name": "Welcome"})
    if codes:
        await post(client, world, f"/coupon-pools/{pool.json()['id']}/codes", {"codes": codes})
    body = {
        "key": "welcome",
        "name": "Welcome",
        "channel": "email",
        "defaultLocale": "en",
        "variants": {"en": {"subject": "Hi {{ first_name }}", "body": MJML, "format": "mjml"}},
    }
    template_id: str = (await post(client, world, "/templates", body)).json()["id"]
    return template_id


async def subscribe(client: httpx.AsyncClient, world: World) -> None:
    await post(
        client,
        world,
        "/webhook-endpoints",
        {"url": "http://127.0.0.1:9/hooks", "eventTypes": MESSAGE_TYPES},
    )


async def told(app: Litestar, world: World, message_id: str) -> tuple[list[str], list[str]]:
    """The profile events and the webhook events told of one message."""
    async with session_of(app, world.brand_a.id) as session:
        events = (await session.scalars(select(Event))).all()
        hooks = (await session.scalars(select(WebhookEvent))).all()
    return (
        sorted(e.name for e in events if e.properties.get("messageId") == message_id),
        sorted(h.type for h in hooks if h.payload.get("messageId") == message_id),
    )


async def test_a_message_goes_through_the_capture_provider_rendered_and_tracked(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await subscribe(client, world)
    template_id = await email_template(client, world, ["W-1"])
    ada = await make_profile(app, world.brand_a.id, email="ada@example.com", first_name="Ada")
    sent = await post(
        client, world, "/messages", {"templateId": template_id, "profileId": str(ada)}
    )
    message = await settled(client, world, sent.json()["id"])
    assert message["status"] == "sent", message
    assert (message["templateVersion"], message["subject"]) == (1, "Hi Ada")
    assert message["providerMessageId"] == f"capture-{message['id']}"
    assert message["providerKind"] == "capture"
    assert [e["kind"] for e in message["timeline"]] == ["queued", "sent"]
    captured = (
        await client.get(url(world, "/captured-messages"), headers=world.admin_a.headers)
    ).json()["items"]
    assert len(captured) == 1
    payload = captured[0]["payload"]
    assert payload["to_address"] == "ada@example.com"
    assert "your code is W-1" in payload["html"]
    assert "https://shop.test/offers" not in payload["html"]  # rewritten to a signed click URL
    assert "/t/c/" in payload["html"]
    assert "/t/o/" in payload["html"]
    assert "/u/" in payload["html"]  # levier:unsubscribe → the preference page
    headers = payload["headers"]
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["List-Unsubscribe"].startswith("<http")
    assert await told(app, world, message["id"]) == (["message_sent"], ["message.sent"])

    # The pool is now empty: the next message fails with content's reason, and says so.
    bob = await make_profile(app, world.brand_a.id, email="bob@example.com", first_name="Bob")
    second = await post(
        client, world, "/messages", {"templateId": template_id, "profileId": str(bob)}
    )
    failed = await settled(client, world, second.json()["id"])
    assert failed["status"] == "failed"
    assert failed["statusReason"].startswith("coupon-pool-empty")
    assert await told(app, world, failed["id"]) == (["message_failed"], ["message.failed"])

    # No address: refused at the request, told too.
    nobody = await make_profile(app, world.brand_a.id, first_name="No")
    refused = await post(
        client, world, "/messages", {"templateId": template_id, "profileId": str(nobody)}
    )
    assert (refused.json()["status"], refused.json()["statusReason"]) == ("refused", "no-address")
    assert await told(app, world, refused.json()["id"]) == (
        ["message_refused"],
        ["message.refused"],
    )


async def test_smtp_end_to_end_and_a_deferral(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    await subscribe(client, world)
    template_id = await email_template(client, world, ["S-1", "S-2"])
    sink: SmtpSink
    with smtp_sink(security="none") as sink:
        await post(
            client,
            world,
            "/provider-accounts",
            {
                "kind": "smtp",
                "name": "Relay",
                "settings": {"host": "127.0.0.1", "port": sink.port, "security": "none"},
            },
        )
        ada = await make_profile(app, world.brand_a.id, email="ada@example.com", first_name="Ada")
        first = await post(
            client, world, "/messages", {"templateId": template_id, "profileId": str(ada)}
        )
        message = await settled(client, world, first.json()["id"])
        assert message["status"] == "sent", message
        assert message["providerKind"] == "smtp"
        assert len(sink.messages) == 1
        mail = sink.messages[0].content.decode()
        assert sink.messages[0].rcpt_tos == ["ada@example.com"]
        assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in mail
        assert f"{message['id']}@" in mail  # the Message-ID carries the ledger's id
        assert message["providerMessageId"]

        sink.replies.append("451 4.3.0 Try again later")
        bob = await make_profile(app, world.brand_a.id, email="bob@example.com", first_name="Bob")
        second = await post(
            client, world, "/messages", {"templateId": template_id, "profileId": str(bob)}
        )
        deferred = await settled(client, world, second.json()["id"])
    assert deferred["status"] == "deferred", deferred
    assert deferred["statusReason"].startswith("provider:")
    assert deferred["dueAt"] is not None
    assert await told(app, world, deferred["id"]) == (["message_deferred"], ["message.deferred"])


async def test_a_push_reaches_a_device_and_a_gone_device_is_forgotten(
    app: Litestar, client: httpx.AsyncClient, fcm: LocalFcm
) -> None:
    world = await make_world(app)
    await post(
        client,
        world,
        "/provider-accounts",
        {
            "kind": "fcm",
            "name": "Firebase",
            "settings": {"baseUrl": fcm.base_url},
            "credentials": {"serviceAccount": fcm.service_account()},
        },
    )
    template = {
        "key": "back",
        "name": "Back in stock",
        "channel": "push",
        "defaultLocale": "en",
        "variants": {"en": {"title": "Hi {{ first_name }}", "body": "Your size is back"}},
    }
    template_id = (await post(client, world, "/templates", template)).json()["id"]
    ada = await make_profile(app, world.brand_a.id, first_name="Ada")
    token = device_token()
    await post(client, world, f"/profiles/{ada}/devices", {"kind": "fcm", "token": token})
    body = {"templateId": template_id, "profileId": str(ada), "channel": "push"}
    message = await settled(
        client, world, (await post(client, world, "/messages", body)).json()["id"]
    )
    assert message["status"] == "sent", message
    assert message["providerMessageId"].startswith(f"projects/{fcm.project_id}/messages/")
    assert [m["token"] for m in fcm.sent] == [token]
    assert fcm.sent[0]["notification"]["title"] == "Hi Ada"
    assert "/t/p/" in fcm.sent[0]["data"]["levierOpenUrl"]

    fcm.dead.add(token)  # the app was uninstalled
    again = {**body, "key": "second"}
    gone = await settled(
        client, world, (await post(client, world, "/messages", again)).json()["id"]
    )
    assert gone["status"] == "failed", gone
    devices = await client.get(
        url(world, f"/profiles/{ada}/devices"), headers=world.admin_a.headers
    )
    assert devices.json()["items"] == []
