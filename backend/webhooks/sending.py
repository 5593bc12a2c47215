"""One signed HTTP request to an endpoint, behind the SSRF guard.

The host is resolved once, every address it resolves to is checked, and the request goes to the
checked address (with the original ``Host`` and TLS server name), so a DNS answer that changes
between the check and the connection cannot point the request inside the network.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import re
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx
from standardwebhooks import Webhook

from backend.config import Settings

RESPONSE_EXCERPT_CHARS = 1000
USER_AGENT = "Levier-Webhooks/1.0"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """The URL names an address that requests must not reach."""


@dataclass(frozen=True)
class AttemptOutcome:
    succeeded: bool
    status_code: int | None
    duration_ms: int
    response_excerpt: str | None
    error: str | None


# Addresses that carry an IPv4 address another network delivers to: judged by what they carry.
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix
IPV6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
# What `inet_aton` (and so the system resolver) reads as an IPv4 address: 2130706433, 0x7f.1…
_NUMERIC_HOST = re.compile(r"[0-9a-fA-FxX.]+")


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv4-mapped, 6to4, Teredo or NAT64 address reaches (none for
    another IPv6 address)."""
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)  # the relay server and the client behind it
    if address in NAT64_PREFIX:
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    return []


def is_public(address: IPAddress) -> bool:
    """True only for a globally routable unicast address (``is_global``): never private,
    shared (100.64.0.0/10), loopback, link-local, site-local, multicast, reserved or unspecified.
    An IPv6 address wrapping an IPv4 one (mapped, 6to4, Teredo, NAT64) is judged by what it
    wraps; any other IPv6 address must be global unicast (2000::/3)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return False
        wrapped = embedded_ipv4(address)
        if wrapped:
            return all(is_public(inner) for inner in wrapped)
        if address not in IPV6_GLOBAL_UNICAST or address.is_site_local:
            return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def literal_address(host: str) -> IPAddress | None:
    """The address a host names literally, in any spelling the system resolver accepts
    (``[::1]``, ``127.1``, ``2130706433``, ``0x7f.0.0.1``…); None for a name."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


async def resolve(host: str, port: int, *, allow_private: bool) -> IPAddress:
    """The address to connect to; TargetRefused when any address of the host is not public."""
    literal = literal_address(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except socket.gaierror as exc:
            raise TargetRefused(f"the host {host!r} does not resolve: {exc}") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise TargetRefused(f"the host {host!r} does not resolve")
    if not allow_private:
        refused = [str(a) for a in addresses if not is_public(a)]
        if refused:
            raise TargetRefused(
                f"the host {host!r} resolves to a non-public address ({', '.join(refused)})"
            )
    return addresses[0]


def signed_headers(secret: str, message_id: str, sent_at: dt.datetime, body: str) -> dict[str, str]:
    """Standard Webhooks headers of a message."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, sent_at, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


async def post(
    settings: Settings, url: str, secret: str, message_id: str, body: str
) -> AttemptOutcome:
    """POST a signed body; a 2xx answer is a success, anything else (or no answer) a failure."""
    started = time.perf_counter()

    def elapsed() -> int:
        return int((time.perf_counter() - started) * 1000)

    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        address = await resolve(host, port, allow_private=settings.webhook_allow_private_targets)
    except TargetRefused as exc:
        return AttemptOutcome(False, None, elapsed(), None, f"refused: {exc}")
    netloc = f"[{address}]" if address.version == 6 else str(address)
    if parts.port is not None:
        netloc += f":{parts.port}"
    target = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    headers = signed_headers(secret, message_id, dt.datetime.now(dt.UTC), body)
    headers["host"] = parts.netloc.rpartition("@")[2]
    timeout = httpx.Timeout(
        settings.webhook_read_timeout_seconds, connect=settings.webhook_connect_timeout_seconds
    )
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            response = await client.post(
                target,
                content=body.encode(),
                headers=headers,
                extensions={"sni_hostname": host},
            )
    except httpx.TimeoutException as exc:
        return AttemptOutcome(False, None, elapsed(), None, f"timeout: {type(exc).__name__}")
    except httpx.HTTPError as exc:
        return AttemptOutcome(False, None, elapsed(), None, f"{type(exc).__name__}: {exc}"[:500])
    excerpt = response.text[:RESPONSE_EXCERPT_CHARS] if response.content else None
    ok = 200 <= response.status_code < 300
    error = None if ok else f"the endpoint answered {response.status_code}"
    return AttemptOutcome(ok, response.status_code, elapsed(), excerpt, error)
