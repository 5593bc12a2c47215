"""Push devices over REST and GraphQL: registration idempotent on the token or endpoint (also
in parallel), shapes checked field by field, brand isolation, and a device forgotten when its
provider answers gone."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar

from backend.core.tenancy import TenantId
from backend.messaging.devices import service
from backend.messaging.devices.schemas import DeviceRegister, WebPushSubscription
from backend.messaging.providers import fcm, webpush
from backend.messaging.providers.base import OutgoingPush, ProviderError
from tests.conftest import embedded_only
from tests.conftest import test_settings as app_settings
from tests.factories import World, make_world, problem, session_of
from tests.messaging.servers.fcm import device_token, local_fcm
from tests.messaging.servers.webpush import b64url, local_push_service, new_vapid_key
from tests.profiles.helpers import brand_url, create_profile
from tests.test_graphql import gql, gql_data

# A real P-256 point: the user agent key of RFC 8291's example.
P256DH = "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
AUTH = "tBHItJI5svbpez7KI4CCXg"


def subscription(endpoint: str = "https://push.example/send/abc") -> dict[str, Any]:
    return {"endpoint": endpoint, "keys": {"p256dh": P256DH, "auth": AUTH}}


async def _setup(app: Litestar, client: httpx.AsyncClient) -> tuple[World, str]:
    world = await make_world(app)
    profile = await create_profile(client, world, email="ada@example.com")
    return world, profile["id"]


def devices_url(world: World, profile_id: str, suffix: str = "") -> str:
    return brand_url(world, f"/profiles/{profile_id}/devices{suffix}")


async def test_register_list_read_and_delete(app: Litestar, client: httpx.AsyncClient) -> None:
    world, profile_id = await _setup(app, client)
    token = device_token()
    headers = world.manager_a.headers
    body = {"kind": "fcm", "token": token, "platform": "android", "label": "Pixel"}
    first = await client.post(devices_url(world, profile_id), json=body, headers=headers)
    assert first.status_code == 201, first.text
    again = await client.post(
        devices_url(world, profile_id), json={**body, "label": "Pixel 9"}, headers=headers
    )
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["label"] == "Pixel 9"
    assert again.json()["addressHint"] == token[:16] + "…"
    web = await client.post(
        devices_url(world, profile_id),
        json={"kind": "webpush", "subscription": subscription()},
        headers=headers,
    )
    assert web.status_code == 201
    assert web.json()["addressHint"] == "https://push.example/…"
    listed = await client.get(devices_url(world, profile_id), headers=world.viewer_a.headers)
    assert [d["kind"] for d in listed.json()["items"]] == ["fcm", "webpush"]
    device_url = devices_url(world, profile_id, f"/{first.json()['id']}")
    read = await client.get(device_url, headers=world.viewer_a.headers)
    assert read.json()["platform"] == "android"
    async with session_of(app, world.brand_a.id) as session:
        targets = [d.target for d in await service.devices_of(session, uuid.UUID(profile_id))]
    assert targets == [{"token": token}, subscription()]
    assert (await client.delete(device_url, headers=headers)).status_code == 204
    problem(await client.get(device_url, headers=headers), 404)


async def test_brand_isolation_and_roles(app: Litestar, client: httpx.AsyncClient) -> None:
    world, profile_id = await _setup(app, client)
    created = await client.post(
        devices_url(world, profile_id),
        json={"kind": "fcm", "token": device_token()},
        headers=world.manager_a.headers,
    )
    device_id = created.json()["id"]
    outsider = world.owner_b.headers
    problem(await client.get(devices_url(world, profile_id), headers=outsider), 404)
    problem(
        await client.delete(devices_url(world, profile_id, f"/{device_id}"), headers=outsider), 404
    )
    # Brand B's own URL with brand A's profile and device: neither exists there.
    other = f"/v1/brands/{world.brand_b.id}/profiles/{profile_id}/devices"
    problem(await client.get(other, headers=outsider), 404)
    problem(
        await client.post(other, json={"kind": "fcm", "token": device_token()}, headers=outsider),
        404,
    )
    problem(await client.get(f"{other}/{device_id}", headers=outsider), 404)
    problem(
        await client.post(
            devices_url(world, profile_id),
            json={"kind": "fcm", "token": device_token()},
            headers=world.viewer_a.headers,
        ),
        403,
    )
    listed = await client.get(devices_url(world, profile_id), headers=world.viewer_a.headers)
    assert len(listed.json()["items"]) == 1


def _point_off_curve() -> str:
    return b64url(b"\x04" + b"\x01" * 64)


@embedded_only
@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"kind": "fcm", "token": "too-short"}, "/token"),
        ({"kind": "fcm", "token": "x" * 150 + "!"}, "/token"),
        ({"kind": "fcm"}, "/token"),
        ({"kind": "fcm", "token": "a" * 150, "subscription": subscription()}, "/subscription"),
        ({"kind": "webpush"}, "/subscription"),
        (
            {"kind": "webpush", "subscription": subscription("http://push.example/x")},
            "/subscription/endpoint",
        ),
        (
            {
                "kind": "webpush",
                "subscription": {
                    **subscription(),
                    "keys": {"p256dh": b64url(b"\x04" + b"\x00" * 31), "auth": AUTH},
                },
            },
            "/subscription/keys/p256dh",
        ),
        (
            {
                "kind": "webpush",
                "subscription": {
                    **subscription(),
                    "keys": {"p256dh": _point_off_curve(), "auth": AUTH},
                },
            },
            "/subscription/keys/p256dh",
        ),
        (
            {
                "kind": "webpush",
                "subscription": {
                    **subscription(),
                    "keys": {"p256dh": P256DH, "auth": b64url(b"12345678")},
                },
            },
            "/subscription/keys/auth",
        ),
    ],
)
async def test_bad_shapes_are_refused_by_field(
    app: Litestar, client: httpx.AsyncClient, body: dict[str, Any], pointer: str
) -> None:
    world, profile_id = await _setup(app, client)
    response = await client.post(
        devices_url(world, profile_id), json=body, headers=world.manager_a.headers
    )
    errors = problem(response, 422)["errors"]
    assert pointer in [e["pointer"] for e in errors], errors
    listed = await client.get(devices_url(world, profile_id), headers=world.viewer_a.headers)
    assert listed.json()["items"] == []


async def test_parallel_registrations_of_one_token_make_one_device(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world, profile_id = await _setup(app, client)
    other = await create_profile(client, world, email="grace@example.com")
    token = device_token()

    async def register(owner: str) -> httpx.Response:
        return await client.post(
            devices_url(world, owner),
            json={"kind": "fcm", "token": token},
            headers=world.manager_a.headers,
        )

    answers = await asyncio.gather(*(register(p) for p in [profile_id] * 4 + [other["id"]] * 4))
    assert {a.status_code for a in answers} <= {200, 201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(a.status_code == 201 for a in answers) == 1
    mine = await client.get(devices_url(world, profile_id), headers=world.viewer_a.headers)
    theirs = await client.get(devices_url(world, other["id"]), headers=world.viewer_a.headers)
    assert len(mine.json()["items"]) + len(theirs.json()["items"]) == 1


async def test_graphql_parity(app: Litestar, client: httpx.AsyncClient) -> None:
    world, profile_id = await _setup(app, client)
    brand = str(world.brand_a.id)
    register = """mutation($brand: ID!, $input: RegisterDeviceInput!) {
      registerDevice(brand: $brand, input: $input) {
        __typename ... on PushDevice { id uuid kind addressHint }
        ... on OperationError { fieldErrors { field pointer } } } }"""
    ok = await gql_data(
        client,
        register,
        world.manager_a,
        {
            "brand": brand,
            "input": {"profileId": profile_id, "kind": "WEBPUSH", "subscription": subscription()},
        },
    )
    device = ok["registerDevice"]
    assert device["kind"] == "WEBPUSH"
    bad = await gql_data(
        client,
        register,
        world.manager_a,
        {"brand": brand, "input": {"profileId": profile_id, "kind": "FCM", "token": "short"}},
    )
    assert bad["registerDevice"]["__typename"] == "OperationError"
    assert "/token" in [e["pointer"] for e in bad["registerDevice"]["fieldErrors"]]
    listed = await gql_data(
        client,
        """query($brand: ID!, $profile: ID!) {
      devices(brand: $brand, profileId: $profile) { totalCount nodes { uuid } } }""",
        world.viewer_a,
        {"brand": brand, "profile": profile_id},
    )
    assert listed["devices"]["totalCount"] == 1
    foreign = await gql(
        client,
        """query($brand: ID!, $profile: ID!) {
      devices(brand: $brand, profileId: $profile) { totalCount } }""",
        world.owner_b,
        {"brand": brand, "profile": profile_id},
    )
    assert foreign.get("errors")
    deleted = await gql_data(
        client,
        """mutation($brand: ID!, $id: ID!) {
      deleteDevice(brand: $brand, input: {id: $id}) { __typename } }""",
        world.manager_a,
        {"brand": brand, "id": device["id"]},
    )
    assert deleted["deleteDevice"]["__typename"] == "Deleted"


@embedded_only
@pytest.mark.parametrize("kind", ["webpush", "fcm"])
async def test_a_device_the_provider_says_gone_is_forgotten(
    app: Litestar, client: httpx.AsyncClient, kind: str
) -> None:
    world, profile_id = await _setup(app, client)
    local = app_settings(webhook_allow_http=True, webhook_allow_private_targets=True)
    tenant = TenantId(world.brand_a.id)
    credentials = webpush.WebPushCredentials(
        vapid_private_key=new_vapid_key(), vapid_subject="mailto:push@brand.example"
    )
    with (
        local_push_service(webpush.application_server_key(credentials)) as push_service,
        local_fcm() as fcm_server,
    ):
        if kind == "webpush":
            browser = push_service.subscribe()
            push_service.gone.add(browser.id)
            data = DeviceRegister(
                kind=service.DeviceKind.WEBPUSH,
                subscription=msgspec.convert(browser.as_json(), WebPushSubscription),
            )
            provider: Any = webpush.build(credentials, webpush.WebPushSettings(), local)
        else:
            token = device_token()
            fcm_server.dead.add(token)
            data = DeviceRegister(kind=service.DeviceKind.FCM, token=token)
            account = fcm.FcmCredentials(
                service_account=fcm.ServiceAccount(
                    **{
                        k: v
                        for k, v in fcm_server.service_account().items()
                        if k in fcm.ServiceAccount.__struct_fields__
                    }
                )
            )
            provider = fcm.build(account, fcm.FcmSettings(base_url=fcm_server.base_url), local)
        async with session_of(app, world.brand_a.id) as session:
            device, _ = await service.register(session, tenant, local, uuid.UUID(profile_id), data)
            await session.commit()
        async with session_of(app, world.brand_a.id) as session:
            (device,) = await service.devices_of(session, uuid.UUID(profile_id))
            message = OutgoingPush(
                message_id=uuid.uuid4(),
                tenant_id=tenant,
                device_id=device.id,
                target=device.target,
                title="t",
                body="b",
            )
            with pytest.raises(ProviderError) as raised:
                await provider.send(message)
            await provider.aclose()
            assert raised.value.gone
            await service.forget(session, message.device_id)
            await service.forget(session, message.device_id)  # reported twice: still fine
            await session.commit()
    async with session_of(app, world.brand_a.id) as session:
        assert await service.devices_of(session, uuid.UUID(profile_id)) == []
