"""HTTP to a provider's API behind the outbound webhooks' SSRF guard.

A provider's base URL is configurable per account (a regional API, a test double, a browser's
push endpoint), so a brand could aim it inside our network. Every request is resolved once by
:func:`backend.webhooks.sending.resolve`, every address checked, and the request sent to the
checked address with the original ``Host`` header and TLS server name — the same rule outbound
webhooks follow. The client is kept by the provider, so its connection pool is reused.
``LEVIER_WEBHOOK_ALLOW_HTTP`` / ``LEVIER_WEBHOOK_ALLOW_PRIVATE_TARGETS`` govern provider URLs too
(a test's local server, an on-premises gateway).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from backend.config import Settings
from backend.messaging.providers.base import ProviderError
from backend.webhooks.sending import TargetRefused, resolve

USER_AGENT = "Levier-Messaging/1.0"
REASON_CHARS = 500


class Refused(httpx.ConnectError):
    """The guard would not let the request leave: the account's URL names a private address."""


def transport_error(exc: httpx.TransportError, who: str) -> ProviderError:
    """A request that got no answer: retryable, unless the guard refused the target (a
    configuration error no retry mends)."""
    if isinstance(exc, Refused):
        return ProviderError(f"{who}: {exc}", retryable=False)
    return ProviderError(f"{who} unreachable: {type(exc).__name__}", retryable=True)


class GuardedTransport(httpx.AsyncBaseTransport):
    """Resolves and checks the host of each request, then connects to the checked address."""

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            address = await resolve(host, port, allow_private=self._allow_private)
        except TargetRefused as exc:
            raise Refused(f"refused: {exc}", request=request) from None
        # The Host header was set from the original URL when the request was built.
        request.url = request.url.copy_with(host=str(address))
        request.extensions = {**request.extensions, "sni_hostname": host}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def client(settings: Settings) -> httpx.AsyncClient:
    """A client for one provider account: guarded, no redirects, the webhook timeouts."""
    timeout = httpx.Timeout(
        settings.webhook_read_timeout_seconds, connect=settings.webhook_connect_timeout_seconds
    )
    return httpx.AsyncClient(
        transport=GuardedTransport(allow_private=settings.webhook_allow_private_targets),
        timeout=timeout,
        follow_redirects=False,
        headers={"user-agent": USER_AGENT},
    )


def url_problem(settings: Settings, url: str) -> str | None:
    """Why a configured base URL or endpoint is refused (plain http unless allowed), or None."""
    parts = urlsplit(url)
    schemes = ("https", "http") if settings.webhook_allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        return f"expected an {' or '.join(schemes)} URL"
    return None


class GuardedClient:
    """A guarded client bound to one API base URL (the ESP adapters)."""

    def __init__(self, settings: Settings, base_url: str) -> None:
        self.settings = settings
        self.base_url = base_url.rstrip("/")
        self._client = client(settings)

    def check_base_url(self) -> None:
        """Refuse a base URL the deployment may not call (scheme)."""
        problem = url_problem(self.settings, self.base_url)
        if problem is not None:
            raise ProviderError(f"the base URL: {problem}", retryable=False)

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; no answer becomes :class:`ProviderError` (network: retryable; a
        refused address: permanent)."""
        self.check_base_url()
        try:
            return await self._client.request(method, self.base_url + path, **kwargs)
        except httpx.TransportError as exc:
            raise transport_error(exc, "the provider") from None

    async def aclose(self) -> None:
        await self._client.aclose()


def classify(response: httpx.Response, reason: str) -> ProviderError:
    """429 and 5xx: try again later; any other refusal is permanent."""
    status = response.status_code
    retryable = status == 429 or status >= 500
    return ProviderError(f"{status}: {reason}"[:REASON_CHARS], retryable=retryable)
