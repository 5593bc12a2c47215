"""The FCM adapter against a local FCM: the service-account JWT is exchanged for a bearer at the
account's token URI (kept until expiry), messages:send checks it, dead tokens say gone."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import msgspec
import pytest

from backend.messaging.providers import fcm
from backend.messaging.providers.base import OutgoingPush, ProviderError
from tests.conftest import test_settings as app_settings
from tests.messaging.servers.fcm import LocalFcm, device_token, local_fcm

APP = app_settings(webhook_allow_http=True, webhook_allow_private_targets=True)


@pytest.fixture
def server() -> Iterator[LocalFcm]:
    with local_fcm() as local:
        yield local


def provider_for(server: LocalFcm, **account: str) -> fcm.FcmProvider:
    service_account = {**server.service_account(), **account}
    credentials = msgspec.convert({"serviceAccount": service_account}, fcm.FcmCredentials)
    return fcm.build(credentials, fcm.FcmSettings(base_url=server.base_url, ttl_seconds=60), APP)


def push(token: str) -> OutgoingPush:
    return OutgoingPush(
        message_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        device_id=uuid.uuid4(),
        target={"token": token},
        title="Back in stock",
        body="Your size is back",
        image="https://cdn.example/shoe.png",
        deep_link="app://product/9",
        data={"sku": "9"},
    )


async def test_sends_with_one_cached_bearer(server: LocalFcm) -> None:
    provider = provider_for(server)
    tokens = [device_token() for _ in range(5)]
    results = await asyncio.gather(*(provider.send(push(t)) for t in tokens))
    await provider.aclose()
    assert server.exchanges == 1  # concurrent sends share one token exchange
    assert sorted(m["token"] for m in server.sent) == sorted(tokens)
    sent = server.sent[0]
    assert sent["notification"] == {
        "title": "Back in stock",
        "body": "Your size is back",
        "image": "https://cdn.example/shoe.png",
    }
    assert sent["data"]["sku"] == "9"
    assert sent["data"]["deepLink"] == "app://product/9"
    assert sent["android"] == {"ttl": "60s"}
    assert all(
        r.provider_message_id
        and r.provider_message_id.startswith(f"projects/{server.project_id}/messages/")
        for r in results
    )


async def test_a_revoked_bearer_is_renewed_once(server: LocalFcm) -> None:
    provider = provider_for(server)
    await provider.send(push(device_token()))
    server.bearers.clear()  # Google revoked it before its expiry
    await provider.send(push(device_token()))
    await provider.aclose()
    assert server.exchanges == 2
    assert len(server.sent) == 2


@pytest.mark.parametrize(
    ("token", "gone", "retryable", "code"),
    [("dead", True, False, "UNREGISTERED"), ("short", False, False, "INVALID_ARGUMENT")],
)
async def test_errors_are_classified(
    server: LocalFcm, token: str, gone: bool, retryable: bool, code: str
) -> None:
    value = device_token() if token == "dead" else "short"
    server.dead.add(value)
    provider = provider_for(server)
    with pytest.raises(ProviderError) as raised:
        await provider.send(push(value))
    await provider.aclose()
    assert (raised.value.gone, raised.value.retryable) == (gone, retryable)
    assert code in raised.value.reason


@pytest.mark.parametrize(
    "account", [{"client_email": "intruder@evil.example"}, {"project_id": "someone-else"}]
)
async def test_a_wrong_service_account_is_refused(
    server: LocalFcm, account: dict[str, str]
) -> None:
    provider = provider_for(server, **account)
    with pytest.raises(ProviderError) as raised:
        await provider.check()
    await provider.aclose()
    assert not raised.value.retryable
    assert not server.sent


async def test_check_validates_without_sending(server: LocalFcm) -> None:
    provider = provider_for(server)
    await provider.check()
    await provider.aclose()
    assert server.exchanges == 1
    assert not server.sent


def test_a_key_that_is_not_rsa_is_a_credentials_problem(server: LocalFcm) -> None:
    account = {
        **server.service_account(),
        "private_key": "-----BEGIN PRIVATE KEY-----\n" + "A" * 120,
    }
    credentials = msgspec.convert({"serviceAccount": account}, fcm.FcmCredentials)
    problems = fcm.credentials_problems(credentials, app_settings())
    assert set(problems) == {"serviceAccount.private_key", "serviceAccount.token_uri"}
