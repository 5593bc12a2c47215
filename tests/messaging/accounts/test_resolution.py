"""The provider a brand's messages go through: the capture provider when it has no account
(idempotent per message, listed newest first), else its default account's provider, built once
per account version and reused; secret key rotation; callback tokens used once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import dkim as dkimpy
import httpx
import pytest
from litestar import Litestar

from backend.config import Settings
from backend.core.tenancy import TenantId
from backend.messaging.accounts import sealing
from backend.messaging.accounts import service as accounts
from backend.messaging.accounts.rotation import reseal_all
from backend.messaging.accounts.schemas import (
    DkimKeyIn,
    ProviderAccountCreate,
    ProviderAccountUpdate,
    SenderIdentityCreate,
)
from backend.messaging.providers import dkim, registry
from backend.messaging.providers import service as captured
from backend.messaging.providers.base import FeedbackKind, FeedbackRefused, ProviderKind
from backend.profiles.models import Channel
from tests.factories import World, make_world, session_of
from tests.messaging.providers.helpers import mailgun_body, outgoing
from tests.messaging.servers.smtp import SmtpSink, smtp_sink
from tests.profiles.helpers import brand_url

OLD_KEY, NEW_KEY = "old-secret-key-" + "x" * 32, "new-secret-key-" + "y" * 32


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(webhook_allow_private_targets=True, secret_key=OLD_KEY)


@pytest.fixture
def relay() -> Iterator[SmtpSink]:
    with smtp_sink() as sink:
        yield sink


@pytest.fixture
async def world(app: Litestar, client: httpx.AsyncClient) -> World:
    return await make_world(app)


async def _smtp_account(app: Litestar, world: World, relay: SmtpSink) -> uuid.UUID:
    settings: Settings = app.state.settings
    async with session_of(app, world.brand_a.id) as session:
        identity = await accounts.create_identity(
            session,
            SenderIdentityCreate(name="News", from_name="Brand", from_address="news@brand.example"),
        )
        await accounts.set_dkim(session, settings, identity.id, DkimKeyIn(selector="lv1"))
        account = await accounts.create_account(
            session,
            settings,
            ProviderAccountCreate(
                kind=ProviderKind.SMTP,
                name="Relay",
                settings={"host": "127.0.0.1", "port": relay.port, "security": "none"},
                credentials={"password": "unused-without-username"},
            ),
        )
        await session.commit()
        return account.id


async def test_a_brand_without_account_captures_each_message_once(
    app: Litestar, client: httpx.AsyncClient, world: World
) -> None:
    settings: Settings = app.state.settings
    tenant = TenantId(world.brand_a.id)
    first, second = outgoing(tenant_id=tenant), outgoing(tenant_id=tenant, subject="Second")
    async with session_of(app, tenant) as session:
        resolved = await registry.provider_for(session, tenant, settings, Channel.EMAIL)
        assert (resolved.kind, resolved.account_id) == (ProviderKind.CAPTURE, None)
        results = [await resolved.provider.send(m) for m in (first, first, second)]
        await session.commit()
    assert results[0] == results[1]  # the same message twice: the same answer, one row
    response = await client.get(
        brand_url(world, "/captured-messages"), headers=world.viewer_a.headers
    )
    items = response.json()["items"]
    assert [i["payload"]["subject"] for i in items] == ["Second", "Welcome"]  # newest first
    assert items[1]["messageId"] == str(first.message_id)
    assert items[1]["recipient"] == "ada@example.org"
    one = await client.get(
        brand_url(world, f"/captured-messages/{items[1]['id']}"), headers=world.viewer_a.headers
    )
    assert one.json()["payload"]["html"] == "<p>Hello</p>"
    async with session_of(app, tenant) as session:
        latest = await captured.latest_emails(session, limit=1)
    assert [m.message_id for m in latest] == [second.message_id]
    other = await client.get(
        f"/v1/brands/{world.brand_b.id}/captured-messages", headers=world.owner_b.headers
    )
    assert other.json()["items"] == []
    hidden = await client.get(
        f"/v1/brands/{world.brand_b.id}/captured-messages/{items[1]['id']}",
        headers=world.owner_b.headers,
    )
    assert hidden.status_code == 404


async def test_captures_of_one_message_sent_in_parallel_keep_one_row(
    app: Litestar, client: httpx.AsyncClient, world: World
) -> None:
    settings: Settings = app.state.settings
    tenant = TenantId(world.brand_a.id)
    message = outgoing(tenant_id=tenant)

    async def send() -> Any:
        async with session_of(app, tenant) as session:
            resolved = await registry.provider_for(session, tenant, settings, Channel.EMAIL)
            result = await resolved.provider.send(message)
            await session.commit()
            return result

    results = await asyncio.gather(*(send() for _ in range(4)))
    assert len(set(results)) == 1
    async with session_of(app, tenant) as session:
        assert await captured.count_captured(session) == 1


async def test_the_default_account_is_built_once_per_version_and_signs_with_its_identity(
    app: Litestar, client: httpx.AsyncClient, world: World, relay: SmtpSink
) -> None:
    settings: Settings = app.state.settings
    tenant = TenantId(world.brand_a.id)
    account_id = await _smtp_account(app, world, relay)
    async with session_of(app, tenant) as session:
        first = await registry.provider_for(session, tenant, settings, Channel.EMAIL)
        again = await registry.provider_for(session, tenant, settings, Channel.EMAIL)
        await first.provider.send(outgoing(tenant_id=tenant))
        await again.provider.send(outgoing(tenant_id=tenant))
    assert first.account_id == account_id
    assert first.kind is ProviderKind.SMTP
    assert again.provider is first.provider
    assert first.sender.from_address == "news@brand.example"
    assert relay.connections == 2  # the check at creation, then one pooled for both sends
    key = first.sender.dkim
    assert key is not None

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return dkim.dns_value(dkim.public_key_of(key.private_key_pem)).encode()

    assert dkimpy.verify(relay.messages[0].content, dnsfunc=dns)
    async with session_of(app, tenant) as session:
        await accounts.update_account(
            session, settings, account_id, ProviderAccountUpdate(name="Renamed")
        )
        await session.commit()
    async with session_of(app, tenant) as session:
        changed = await registry.provider_for(session, tenant, settings, Channel.EMAIL)
    assert changed.provider is not first.provider
    await registry.close_providers()


async def test_rotation_reseals_with_the_new_key(
    app: Litestar, client: httpx.AsyncClient, world: World, relay: SmtpSink
) -> None:
    old: Settings = app.state.settings
    account_id = await _smtp_account(app, world, relay)
    rotating = old.replace(secret_key=NEW_KEY, previous_secret_keys=(OLD_KEY,))
    rotated = old.replace(secret_key=NEW_KEY)
    tenant = TenantId(world.brand_a.id)
    async with session_of(app, tenant) as session:
        account = await accounts.get_account(session, account_id)
        with pytest.raises(sealing.SealBroken):
            registry.credentials_of(rotated, account)  # sealed with the old key only
        assert registry.credentials_of(rotating, account).password == "unused-without-username"
    assert await reseal_all(app.state.session_factory, rotating) == 2  # credentials + DKIM key
    async with session_of(app, tenant) as session:
        account = await accounts.get_account(session, account_id)
        assert registry.credentials_of(rotated, account).password == "unused-without-username"
        with pytest.raises(sealing.SealBroken):
            registry.credentials_of(old, account)
        resolved = await registry.provider_for(session, tenant, rotated, Channel.EMAIL)
        assert resolved.sender.dkim is not None
    await registry.close_providers()


SIGNING_KEY = "mailgun-signing-key"


@pytest.mark.parametrize("memory", ["configured", "database"])
async def test_a_mailgun_token_verifies_once_even_in_parallel(
    app: Litestar, client: httpx.AsyncClient, world: World, memory: str
) -> None:
    settings: Settings = app.state.settings
    if memory == "database":
        settings = settings.replace(redis_url=None)
    tenant = TenantId(world.brand_a.id)
    message_id = uuid.uuid4()
    body = mailgun_body(
        SIGNING_KEY,
        {
            "event": "delivered",
            "timestamp": 1764757200,
            "user-variables": {"message_id": str(message_id)},
            "message": {"headers": {"message-id": "x@mg.brand.example"}},
        },
    )
    credentials = {"apiKey": "k", "webhookSigningKey": SIGNING_KEY}

    async def verify() -> str:
        async with session_of(app, tenant) as session:
            try:
                found = await registry.verify_feedback(
                    ProviderKind.MAILGUN,
                    credentials,
                    url="https://levier.example/cb",
                    headers={},
                    body=body,
                    replay=registry.replay_guard(session, settings),
                )
            except FeedbackRefused:
                return "refused"
            await session.commit()
            assert found[0].kind is FeedbackKind.DELIVERED
            assert found[0].message_id == message_id
            return "accepted"

    outcomes = await asyncio.gather(*(verify() for _ in range(4)))
    assert sorted(outcomes) == ["accepted", "refused", "refused", "refused"]
    await registry.close_providers()


async def test_erasing_a_person_deletes_what_was_captured_for_their_address(
    app: Litestar, client: httpx.AsyncClient, world: World
) -> None:
    settings: Settings = app.state.settings
    tenant = TenantId(world.brand_a.id)
    created = await client.post(
        brand_url(world, "/profiles"),
        json={"email": "Ada@Example.org"},
        headers=world.manager_a.headers,
    )
    assert created.status_code == 201, created.text
    to_ada, to_bob = outgoing(tenant_id=tenant), outgoing(tenant_id=tenant, to_address="b@x.org")
    async with session_of(app, tenant) as session:
        resolved = await registry.provider_for(session, tenant, settings, Channel.EMAIL)
        for message in (to_ada, to_bob):
            await resolved.provider.send(message)
        await session.commit()
    erased = await client.post(
        brand_url(world, f"/profiles/{created.json()['id']}/erase"),
        json={"reason": "request by email"},
        headers=world.manager_a.headers,
    )
    assert erased.is_success, erased.text
    async with session_of(app, tenant) as session:
        kept = await captured.latest_emails(session, limit=10)
    assert [m.message_id for m in kept] == [to_bob.message_id]
