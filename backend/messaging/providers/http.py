"""HTTP to a provider's API behind the outbound webhooks' SSRF guard.

Each request resolves the host once with :func:`backend.webhooks.sending.resolve` (every address
checked), then goes to the checked address with the original ``Host`` and TLS server name, as
webhook deliveries do. One ``httpx.AsyncClient`` per provider account keeps its connections
alive between sends. ``LEVIER_WEBHOOK_ALLOW_HTTP`` / ``LEVIER_WEBHOOK_ALLOW_PRIVATE_TARGETS``
govern provider base URLs too (a test's local server, an on-premises gateway)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from backend.config import Settings
from backend.messaging.providers.base import ProviderError
from backend.webhooks.sending import TargetRefused, resolve

USER_AGENT = "Levier-Messaging/1.0"
REASON_CHARS = 500


class GuardedClient:
    def __init__(self, settings: Settings, base_url: str) -> None:
        self.settings = settings
        self.base_url = base_url.rstrip("/")
        timeout = httpx.Timeout(
            settings.webhook_read_timeout_seconds,
            connect=settings.webhook_connect_timeout_seconds,
        )
        self._client = httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, headers={"user-agent": USER_AGENT}
        )

    def check_base_url(self) -> None:
        """Refuse a base URL the deployment may not call (scheme)."""
        scheme = urlsplit(self.base_url).scheme
        allowed = ("https", "http") if self.settings.webhook_allow_http else ("https",)
        if scheme not in allowed:
            raise ProviderError(f"the base URL must use {' or '.join(allowed)}", retryable=False)

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; network failures and refused targets become :class:`ProviderError`
        (network: retryable; a refused address: permanent)."""
        self.check_base_url()
        parts = urlsplit(self.base_url + path)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            address = await resolve(
                host, port, allow_private=self.settings.webhook_allow_private_targets
            )
        except TargetRefused as exc:
            raise ProviderError(f"refused: {exc}", retryable=False) from None
        netloc = f"[{address}]" if address.version == 6 else str(address)
        if parts.port is not None:
            netloc += f":{parts.port}"
        target = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
        headers = dict(kwargs.pop("headers", {}))
        headers["host"] = parts.netloc.rpartition("@")[2]
        try:
            return await self._client.request(
                method, target, headers=headers, extensions={"sni_hostname": host}, **kwargs
            )
        except httpx.HTTPError as exc:
            raise ProviderError(
                f"{type(exc).__name__}: {exc}"[:REASON_CHARS], retryable=True
            ) from None

    async def aclose(self) -> None:
        await self._client.aclose()


def classify(response: httpx.Response, reason: str) -> ProviderError:
    """429 and 5xx: try again later; any other refusal is permanent."""
    status = response.status_code
    retryable = status == 429 or status >= 500
    return ProviderError(f"{status}: {reason}"[:REASON_CHARS], retryable=retryable)
