"""Opens that no person made: mail privacy proxies and scanners fetching every image (and
following every link) of a message, usually within seconds of its delivery.

A machine open is recorded (timeline, ``opened:machine`` count) but is no ``email_opened``
event and moves no status: engagement RFM, segments and triggers see people only.

Signals used, each documented by the party that sends it or measured by the ESPs:

- **Apple Mail Privacy Protection** fetches remote content through Apple's proxies, in the
  background, whether or not the mail is read. Its requests carry the bare user agent
  ``Mozilla/5.0`` (nothing after it) and come from Apple's network ``17.0.0.0/8``.
- **Link and attachment scanners** (Microsoft Defender Safe Links, Mimecast, Barracuda,
  Proofpoint) and HTTP libraries announce themselves in the user agent.
- **Timing**: a fetch within :data:`PREFETCH_SECONDS` of the send is a prefetch, not a reader.

Google's image proxy (``GoogleImageProxy`` in the user agent) is *not* a machine open: Gmail
fetches through it when the reader opens the mail (and caches afterwards, so later opens of the
same mail may not be seen). It is counted as a person's open, with ``proxy: google``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from enum import StrEnum

PREFETCH_SECONDS = 10
_APPLE = ipaddress.ip_network("17.0.0.0/8")
_SCANNERS = (
    "bot",
    "crawler",
    "spider",
    "python-requests",
    "python-urllib",
    "curl/",
    "wget/",
    "go-http-client",
    "okhttp",
    "barracuda",
    "mimecast",
    "proofpoint",
    "safelinks",
    "microsoft office existence discovery",
)


class Machine(StrEnum):
    APPLE_MPP = "apple-mpp"
    SCANNER = "scanner"
    PREFETCH = "prefetch"


def machine_of(
    user_agent: str | None,
    address: str | None,
    sent_at: dt.datetime | None,
    now: dt.datetime,
) -> Machine | None:
    """Which kind of machine made this request, or None for (presumably) a person."""
    agent = (user_agent or "").strip()
    if agent == "Mozilla/5.0":
        return Machine.APPLE_MPP
    if address:
        try:
            if ipaddress.ip_address(address) in _APPLE:
                return Machine.APPLE_MPP
        except ValueError:
            pass
    lowered = agent.lower()
    if not agent or any(marker in lowered for marker in _SCANNERS):
        return Machine.SCANNER
    if sent_at is not None and (now - sent_at).total_seconds() < PREFETCH_SECONDS:
        return Machine.PREFETCH
    return None


def proxy_of(user_agent: str | None) -> str | None:
    """A mail provider's image proxy fetching for a reader (counted as a person's open)."""
    agent = (user_agent or "").lower()
    if "googleimageproxy" in agent:
        return "google"
    if "yahoomailproxy" in agent:
        return "yahoo"
    return None
