"""The SSRF guard with the deployment's defaults: https only, no private targets."""

from __future__ import annotations

import ipaddress

import httpx
import pytest
from litestar import Litestar

from backend.core.errors import InvalidInput
from backend.webhooks import sending
from backend.webhooks import service as webhooks_service
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


# Every spelling of an address requests must not reach. Only the guard is exercised: resolving a
# literal or `localhost` never leaves the machine, and a refused target is never connected to.
REFUSED_HOSTS = [
    # IPv4: private, shared (100.64.0.0/10, where a cloud metadata service lives), loopback,
    # link-local (metadata), unspecified, IETF, benchmark, documentation, multicast, reserved
    "127.0.0.1",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.0.1",
    "100.64.0.1",
    "100.100.100.200",
    "169.254.169.254",
    "0.0.0.0",  # noqa: S104  (an address judged, not bound)
    "192.0.0.1",
    "198.18.0.1",
    "192.0.2.1",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    # the same, spelled as the system resolver also reads them
    "2130706433",
    "0x7f000001",
    "017700000001",
    "127.1",
    "0x7f.0.0.1",
    "0177.0.0.1",
    "1681915905",
    "0xa9fea9fe",
    # IPv6: loopback, unspecified, link-local, unique local (AWS metadata), site-local,
    # multicast, documentation, discard, IPv4-compatible (deprecated)
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd00:ec2::254",
    "fec0::1",
    "ff02::1",
    "2001:db8::1",
    "100::1",
    "::7f00:1",
    # IPv6 wrapping a forbidden IPv4 address: mapped, 6to4, Teredo (client 127.0.0.1), NAT64
    "::ffff:127.0.0.1",
    "::ffff:100.64.0.1",
    "::ffff:169.254.169.254",
    "2002:7f00:1::",
    "2002:a9fe:a9fe::1",
    "2002:6440:1::",
    "2001:0:4136:e378:8000:63bf:80ff:fffe",
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b::a00:1",
    "64:ff9b:1::808:808",
    # a name resolving to a forbidden address
    "localhost",
]

ALLOWED_ADDRESSES = [
    "93.184.216.34",
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",
    "2002:5db8:d822::1",  # 6to4 of 93.184.216.34
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8 (DNS64 on an IPv6-only network)
]


@pytest.mark.parametrize("host", REFUSED_HOSTS)
async def test_the_guard_refuses_to_resolve_to_a_non_global_address(host: str) -> None:
    with pytest.raises(sending.TargetRefused, match="non-public address"):
        await sending.resolve(host, 443, allow_private=False)


@pytest.mark.parametrize("host", [h for h in REFUSED_HOSTS if h != "localhost"])
def test_an_endpoint_naming_a_non_global_address_is_refused_when_created(host: str) -> None:
    netloc = f"[{host}]" if ":" in host else host
    with pytest.raises(InvalidInput) as refused:
        webhooks_service.check_url(f"https://{netloc}/hooks", deployment_settings())
    assert refused.value.errors == [{"field": "url", "message": "address not allowed"}]


@pytest.mark.parametrize("host", ["2130706433", "127.1", "0x7f.0.0.1", "[::ffff:127.0.0.1]"])
async def test_a_loopback_target_in_any_spelling_is_never_contacted(host: str) -> None:
    settings = deployment_settings(webhook_allow_http=True)
    with receiver() as target:
        url = target.url.replace("127.0.0.1", host)
        outcome = await sending.post(settings, url, "whsec_" + "A" * 44, "msg", "{}")
        assert target.requests == []
    assert outcome.error is not None
    assert outcome.error.startswith("refused:")


@pytest.mark.parametrize("address", ALLOWED_ADDRESSES)
def test_globally_routable_addresses_pass_the_guard(address: str) -> None:
    # The check alone: nothing is sent to these addresses.
    assert sending.is_public(ipaddress.ip_address(address))
    netloc = f"[{address}]" if ":" in address else address
    url = f"https://{netloc}/hooks"
    assert webhooks_service.check_url(url, deployment_settings()) == url


def test_numeric_spellings_are_read_as_the_address_they_name() -> None:
    assert sending.literal_address("134744072") == ipaddress.ip_address("8.8.8.8")
    assert sending.literal_address("0x7f.1") == ipaddress.ip_address("127.0.0.1")
    assert sending.literal_address("[::1]") == ipaddress.ip_address("::1")
    assert sending.literal_address("cafe.example") is None
