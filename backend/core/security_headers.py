"""Security headers on every response, matched routes or not."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

_ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
# The API serves data, never a page: nothing may load from it or frame it. The interactive docs
# and GraphiQL (HTML) load their own scripts, so they keep the default policy of the browser.
_API_CSP = "default-src 'none'; frame-ancestors 'none'"
_HSTS = "max-age=63072000; includeSubDomains"


# Encoded once: this runs on every response.
_ALWAYS_RAW = [(name.lower().encode(), value.encode()) for name, value in _ALWAYS.items()]
_CSP_RAW = (b"content-security-policy", _API_CSP.encode())
_HSTS_RAW = (b"strict-transport-security", _HSTS.encode())
_CACHE_CONTROL = b"cache-control"
_NO_STORE = (_CACHE_CONTROL, b"no-store")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        authenticated = any(key == b"authorization" for key, _ in scope["headers"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": self._with_headers(message, authenticated)}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _with_headers(self, message: Message, authenticated: bool) -> list[tuple[bytes, bytes]]:
        """The response's headers plus the security headers it does not set itself."""
        given = cast("Iterable[tuple[bytes, bytes]]", message.get("headers") or ())
        headers = [(name.lower(), value) for name, value in given]
        present = {name for name, _ in headers}
        added = [header for header in _ALWAYS_RAW if header[0] not in present]
        content_type = next((v for n, v in headers if n == b"content-type"), b"")
        if _CSP_RAW[0] not in present and not content_type.startswith(b"text/html"):
            added.append(_CSP_RAW)
        if authenticated:
            # A caller's data must not sit in shared caches.
            headers = [h for h in headers if h[0] != _CACHE_CONTROL]
            added.append(_NO_STORE)
        if self.hsts and _HSTS_RAW[0] not in present:
            added.append(_HSTS_RAW)
        return headers + added
