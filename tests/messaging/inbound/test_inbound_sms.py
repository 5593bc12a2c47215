"""Inbound SMS keywords through the Twilio hook: a Twilio account created through the accounts
API (its credentials tried against a local Twilio), then STOP and START sent by that Twilio,
signed as Twilio signs, changing the profile's SMS consent once per MessageSid."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from litestar import Litestar

from backend.config import Settings
from tests.factories import World, make_world, problem
from tests.messaging.servers.twilio import LocalTwilio, local_twilio
from tests.profiles.helpers import brand_url, create_profile

PHONE = "+32470123456"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The local Twilio listens on loopback over plain http.
    return settings.replace(webhook_allow_http=True, webhook_allow_private_targets=True)


@pytest.fixture
def twilio_server() -> Iterator[LocalTwilio]:
    with local_twilio() as server:
        yield server


async def create_twilio_account(
    client: httpx.AsyncClient, world: World, server: LocalTwilio, token: str | None = None
) -> httpx.Response:
    return await client.post(
        brand_url(world, "/provider-accounts"),
        json={
            "kind": "twilio",
            "name": "Twilio",
            "settings": {"baseUrl": server.base_url},
            "credentials": {
                "accountSid": server.account_sid,
                "authToken": token or server.auth_token,
            },
        },
        headers=world.admin_a.headers,
    )


async def sms_consent(client: httpx.AsyncClient, world: World, profile_id: str) -> str | None:
    response = await client.get(
        brand_url(world, f"/profiles/{profile_id}/consents"), headers=world.viewer_a.headers
    )
    assert response.status_code == 200, response.text
    states = [
        c["state"] for c in response.json()["items"] if c["channel"] == "sms" and c["topic"] is None
    ]
    return states[0] if states else None


async def _setup(
    app: Litestar, client: httpx.AsyncClient, server: LocalTwilio
) -> tuple[World, str, str]:
    world = await make_world(app)
    profile = await create_profile(client, world, phone=PHONE)
    account = await create_twilio_account(client, world, server)
    assert account.status_code == 201, account.text
    return world, profile["id"], account.json()["id"]


def hook_path(world: World, account_id: str) -> str:
    return f"/v1/hooks/messaging/{world.brand_a.id}/{account_id}/inbound-sms"


async def send_inbound(
    app: Litestar,
    client: httpx.AsyncClient,
    server: LocalTwilio,
    path: str,
    body: str,
    *,
    sid: str | None = None,
    signature: str | None = None,
) -> httpx.Response:
    """What Twilio posts for a message to the brand's number, signed for the public URL."""
    public_url = app.state.settings.public_url.rstrip("/") + path
    params = {
        "MessageSid": sid or "SM" + secrets.token_hex(16),
        "AccountSid": server.account_sid,
        "From": PHONE,
        "To": "+3225550100",
        "Body": body,
        "NumMedia": "0",
    }
    headers = {"X-Twilio-Signature": signature or server.sign(public_url, params)}
    return await client.post(path, data=params, headers=headers)


async def test_stop_then_start_change_sms_consent(
    app: Litestar, client: httpx.AsyncClient, twilio_server: LocalTwilio
) -> None:
    world, profile_id, account_id = await _setup(app, client, twilio_server)
    path = hook_path(world, account_id)
    stop = await send_inbound(app, client, twilio_server, path, " stop ")
    assert stop.status_code == 200, stop.text
    assert stop.headers["content-type"].startswith("text/xml")
    assert stop.text == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
    assert await sms_consent(client, world, profile_id) == "unsubscribed"
    start = await send_inbound(app, client, twilio_server, path, "START")
    assert start.status_code == 200
    assert await sms_consent(client, world, profile_id) == "granted"
    chat = await send_inbound(app, client, twilio_server, path, "stop sending me offers please")
    assert chat.status_code == 200
    assert await sms_consent(client, world, profile_id) == "granted"
    history = await client.get(
        brand_url(world, f"/profiles/{profile_id}/consents/history"), headers=world.viewer_a.headers
    )
    sources = [(c["state"], c["source"], c["proof"]["keyword"]) for c in history.json()["items"]]
    assert sources == [("unsubscribed", "sms-keyword", "STOP"), ("granted", "sms-keyword", "START")]


async def test_a_replayed_message_changes_nothing(
    app: Litestar, client: httpx.AsyncClient, twilio_server: LocalTwilio
) -> None:
    world, profile_id, account_id = await _setup(app, client, twilio_server)
    path = hook_path(world, account_id)
    sid = "SM" + secrets.token_hex(16)
    answers = await asyncio.gather(
        *(send_inbound(app, client, twilio_server, path, "STOP", sid=sid) for _ in range(4))
    )
    assert [a.status_code for a in answers] == [200] * 4
    await send_inbound(app, client, twilio_server, path, "START")
    await send_inbound(app, client, twilio_server, path, "STOP", sid=sid)  # redelivered late
    assert await sms_consent(client, world, profile_id) == "granted"
    history = await client.get(
        brand_url(world, f"/profiles/{profile_id}/consents/history"), headers=world.viewer_a.headers
    )
    assert [c["state"] for c in history.json()["items"]] == ["unsubscribed", "granted"]


@pytest.mark.parametrize("tamper", ["signature", "token", "brand", "account"])
async def test_bad_signatures_and_other_brands_change_nothing(
    app: Litestar, client: httpx.AsyncClient, twilio_server: LocalTwilio, tamper: str
) -> None:
    world, profile_id, account_id = await _setup(app, client, twilio_server)
    path = hook_path(world, account_id)
    if tamper == "signature":
        response = await send_inbound(
            app, client, twilio_server, path, "STOP", signature="bm90IGEgc2lnbmF0dXJl"
        )
        problem(response, 401)
    elif tamper == "token":
        real = twilio_server.auth_token
        twilio_server.auth_token = secrets.token_hex(16)  # signed with another account's token
        problem(await send_inbound(app, client, twilio_server, path, "STOP"), 401)
        twilio_server.auth_token = real
    elif tamper == "brand":
        other = f"/v1/hooks/messaging/{world.brand_b.id}/{account_id}/inbound-sms"
        problem(await send_inbound(app, client, twilio_server, other, "STOP"), 404)
    else:
        unknown = hook_path(world, "00000000-0000-7000-8000-000000000000")
        problem(await send_inbound(app, client, twilio_server, unknown, "STOP"), 404)
    assert await sms_consent(client, world, profile_id) is None


async def test_account_creation_tries_the_credentials(
    app: Litestar, client: httpx.AsyncClient, twilio_server: LocalTwilio
) -> None:
    world = await make_world(app)
    refused = await create_twilio_account(client, world, twilio_server, token="0" * 32)
    body: dict[str, Any] = problem(refused, 422)
    assert "20003" in body["detail"]
    bad_sid = await client.post(
        brand_url(world, "/provider-accounts"),
        json={
            "kind": "twilio",
            "name": "T",
            "credentials": {"accountSid": "nope", "authToken": "x" * 32},
        },
        headers=world.admin_a.headers,
    )
    assert problem(bad_sid, 422)["errors"][0]["pointer"] == "/credentials/accountSid"
    listed = await client.get(brand_url(world, "/provider-accounts"), headers=world.admin_a.headers)
    assert listed.json()["items"] == []
