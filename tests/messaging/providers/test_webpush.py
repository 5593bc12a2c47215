"""The Web Push adapter against a local push service that checks VAPID and decrypts the
aes128gcm payload with the subscription's private key."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from backend.messaging.providers import webpush
from backend.messaging.providers.base import FeedbackRefused, OutgoingPush, ProviderError
from tests.conftest import test_settings as app_settings
from tests.messaging.servers.webpush import LocalPushService, local_push_service, new_vapid_key

APP = app_settings(webhook_allow_http=True, webhook_allow_private_targets=True)
CREDENTIALS = webpush.WebPushCredentials(
    vapid_private_key=new_vapid_key(), vapid_subject="mailto:push@brand.example"
)


@pytest.fixture
def service() -> Iterator[LocalPushService]:
    with local_push_service(webpush.application_server_key(CREDENTIALS)) as local:
        yield local


def push(target: dict[str, object]) -> OutgoingPush:
    return OutgoingPush(
        message_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        device_id=uuid.uuid4(),
        target=target,
        title="Your cart misses you",
        body="Free delivery until tonight",
        image=None,
        deep_link="https://shop.example/cart",
        data={"cart": "42"},
    )


async def test_the_push_service_decrypts_what_was_sent(service: LocalPushService) -> None:
    subscription = service.subscribe()
    provider = webpush.build(CREDENTIALS, webpush.WebPushSettings(ttl_seconds=600), APP)
    message = push(subscription.as_json())
    result = await provider.send(message)
    await provider.aclose()
    (delivered,) = service.delivered
    assert delivered.payload == {
        "messageId": str(message.message_id),
        "title": "Your cart misses you",
        "body": "Free delivery until tonight",
        "image": None,
        "deepLink": "https://shop.example/cart",
        "data": {"cart": "42"},
    }
    assert delivered.vapid_claims["aud"] == service.base_url
    assert delivered.vapid_claims["sub"] == "mailto:push@brand.example"
    assert (delivered.headers["ttl"], delivered.headers["urgency"]) == ("600", "normal")
    assert result.provider_message_id
    assert result.provider_message_id.startswith(service.base_url)


async def test_a_gone_subscription_says_gone(service: LocalPushService) -> None:
    subscription = service.subscribe()
    service.gone.add(subscription.id)
    provider = webpush.build(CREDENTIALS, webpush.WebPushSettings(), APP)
    with pytest.raises(ProviderError) as raised:
        await provider.send(push(subscription.as_json()))
    await provider.aclose()
    assert (raised.value.gone, raised.value.retryable) == (True, False)
    assert "410" in raised.value.reason


async def test_another_vapid_key_is_refused(service: LocalPushService) -> None:
    subscription = service.subscribe()
    other = webpush.WebPushCredentials(
        vapid_private_key=new_vapid_key(), vapid_subject="mailto:x@brand.example"
    )
    provider = webpush.build(other, webpush.WebPushSettings(), APP)
    with pytest.raises(ProviderError) as raised:
        await provider.send(push(subscription.as_json()))
    await provider.aclose()
    assert (raised.value.gone, raised.value.retryable) == (False, False)
    assert service.refused == ["k is not the application server key"]
    assert not service.delivered


async def test_unknown_endpoint_is_gone_and_bad_keys_fail(service: LocalPushService) -> None:
    subscription = service.subscribe().as_json()
    provider = webpush.build(CREDENTIALS, webpush.WebPushSettings(), APP)
    with pytest.raises(ProviderError) as raised:
        await provider.send(push({**subscription, "endpoint": f"{service.base_url}/push/nope"}))
    assert raised.value.gone
    with pytest.raises(ProviderError) as raised:
        await provider.send(push({**subscription, "keys": {"p256dh": "AAAA", "auth": "AAAA"}}))
    assert not raised.value.retryable
    assert not raised.value.gone
    await provider.aclose()


async def test_an_unreachable_push_service_is_retryable() -> None:
    with local_push_service("x") as gone_service:
        endpoint = f"{gone_service.base_url}/push/x"
    provider = webpush.build(CREDENTIALS, webpush.WebPushSettings(), APP)
    target = {
        "endpoint": endpoint,
        "keys": {
            "p256dh": webpush.application_server_key(CREDENTIALS),
            "auth": "AAAAAAAAAAAAAAAAAAAAAA",
        },
    }
    with pytest.raises(ProviderError) as raised:
        await provider.send(push(target))
    await provider.aclose()
    assert raised.value.retryable


async def test_check_signs_and_no_callbacks_exist() -> None:
    provider = webpush.build(CREDENTIALS, webpush.WebPushSettings(), APP)
    await provider.check()
    await provider.aclose()
    with pytest.raises(FeedbackRefused):
        webpush.verify_feedback(CREDENTIALS, url="https://x", headers={}, body=b"")
