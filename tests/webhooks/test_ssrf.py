"""The SSRF guard with the deployment's defaults: https only, no private targets."""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar

from backend.webhooks import sending
from tests.conftest import test_settings as deployment_settings
from tests.factories import make_world, problem
from tests.profiles.helpers import brand_url
from tests.webhooks.receiver import receiver


@pytest.mark.parametrize(
    "url",
    [
        "http://crm.example.com/hooks",
        "https://127.0.0.1/hooks",
        "https://10.1.2.3/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hooks",
        "https://[::ffff:192.168.1.1]/hooks",
    ],
)
async def test_endpoints_refuse_plain_http_and_private_addresses(
    app: Litestar, client: httpx.AsyncClient, url: str
) -> None:
    world = await make_world(app)
    response = await client.post(
        brand_url(world, "/webhook-endpoints"),
        json={"url": url, "eventTypes": ["profile.created"]},
        headers=world.manager_a.headers,
    )
    assert problem(response, 422)["errors"][0]["field"] == "url"


async def test_a_host_resolving_to_a_private_address_is_never_contacted() -> None:
    settings = deployment_settings(webhook_allow_http=True)
    with receiver() as target:
        url = target.url.replace("127.0.0.1", "localhost")
        outcome = await sending.post(settings, url, "whsec_" + "A" * 44, "msg", "{}")
        assert target.requests == []
    assert not outcome.succeeded
    assert outcome.status_code is None
    assert outcome.error is not None
    assert "non-public address" in outcome.error


async def test_private_targets_are_reached_only_when_the_deployment_allows_them() -> None:
    settings = deployment_settings(webhook_allow_http=True, webhook_allow_private_targets=True)
    with receiver() as target:
        outcome = await sending.post(settings, target.url, "whsec_" + "A" * 44, "msg", "{}")
        assert len(target.requests) == 1
    assert outcome.succeeded
    assert outcome.status_code == 200


def test_public_addresses_pass_and_others_do_not() -> None:
    import ipaddress

    assert sending.is_public(ipaddress.ip_address("93.184.216.34"))
    for address in (
        "127.0.0.1",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.0.1",
        "169.254.1.1",
        "224.0.0.1",
        "0.0.0.0",  # noqa: S104  (an address judged, not bound)
        "240.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:10.0.0.1",
    ):
        assert not sending.is_public(ipaddress.ip_address(address)), address
