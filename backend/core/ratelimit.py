"""Rate limits per caller and per brand: once a budget is spent, 429 problem+json with Retry-After.

Two budgets, both moving windows in the ``limits`` notation (``LEVIER_RATE_LIMIT_PER_CALLER``,
``LEVIER_RATE_LIMIT_PER_BRAND``):

- *per caller*: the authenticated user (``caller:<user id>``), or the client IP for anonymous
  requests (``ip:<host>``);
- *per brand*: the brand of ``/v1/brands/{brand_id}/…`` or of the ``Levier-Brand`` header
  (``brand:<brand id>``), shared by everyone working on it. Only an authenticated caller who can
  reach the brand spends its budget, so nobody else (anonymous, or of another agency) can exhaust
  it; other requests to a brand answer 401 or 404 anyway.

The caller's budget is spent first: a caller over their own limit never touches the brand's.
Counters live in Redis (``LEVIER_REDIS_URL``, keys under ``LEVIER_REDIS_NAMESPACE``) so every API
replica shares them, or in process memory in the embedded mode. Answers carry ``RateLimit-Limit``,
``RateLimit-Remaining`` and ``RateLimit-Reset`` (seconds) for the tightest applicable limit.
Health, readiness, the API schema, recipients' tracking and live-content links and message
providers' callbacks are never limited (``EXEMPT_PREFIXES``).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import redis.asyncio
import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from backend.config import Settings
from backend.core.caller import CallerLike
from backend.core.errors import send_problem

log = structlog.get_logger("levier.ratelimit")

EXEMPT_PATHS = frozenset({"/health", "/ready", "/schema"})
# What recipients' mail clients and providers' callbacks reach: a signed token or signature is
# the only authority, and mailbox image proxies (Gmail, Apple) and providers (SendGrid, Twilio)
# each come from a few addresses carrying everyone's opens and reports — a per-address budget
# would drop real engagement. Bad tokens and signatures are refused before any database work.
EXEMPT_PREFIXES = ("/schema/", "/t/", "/u/", "/l/", "/v1/hooks/messaging/")
BRAND_HEADER = b"levier-brand"
_BRAND_PATH = re.compile(r"^/v1/brands/([^/]+)(?:/|\Z)")
# Redis is close to the API: answer fast, or skip limiting (see RateLimiter.check).
REDIS_TIMEOUT_SECONDS = 0.5
# After a storage failure, requests go unlimited this long before the storage is tried again.
STORAGE_RETRY_SECONDS = 5.0
STORAGE_ERRORS = (StorageError, RedisError, OSError)


@dataclass(frozen=True)
class Budget:
    """One key and the limits it must stay within."""

    kind: str  # "caller" or "brand": named in the 429 detail
    key: str
    limits: Sequence[RateLimitItem]


@dataclass(frozen=True)
class Decision:
    """The outcome for one request, with the tightest (or the exceeded) limit."""

    allowed: bool
    kind: str
    limit: RateLimitItem
    remaining: int
    reset_seconds: int  # until a request is counted out of the window (at least 1)

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit.amount),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_seconds)
        return headers


class RateLimiter:
    """The configured limits over a storage shared by every API process (Redis) or this one."""

    def __init__(
        self,
        storage: Storage,
        *,
        per_caller: Sequence[RateLimitItem],
        per_brand: Sequence[RateLimitItem],
        pool: redis.asyncio.ConnectionPool | None = None,
    ) -> None:
        self.storage = storage
        self.strategy = MovingWindowRateLimiter(storage)
        self.per_caller = per_caller
        self.per_brand = per_brand
        self._pool = pool
        self._skip_until = 0.0

    async def check(self, budgets: Sequence[Budget]) -> Decision | None:
        """Spend one request of each budget, in order; None when the storage cannot answer.

        Fail open: if the storage is unreachable (Redis down or slow), limiting is a lesser
        evil than refusing every request, so the request goes through, a warning is logged,
        and the storage is left alone for STORAGE_RETRY_SECONDS (no added latency meanwhile).
        """
        if not budgets or time.monotonic() < self._skip_until:
            return None
        try:
            return await self._spend(budgets)
        except STORAGE_ERRORS as exc:
            self._skip_until = time.monotonic() + STORAGE_RETRY_SECONDS
            log.warning(
                "rate_limit_storage_unavailable",
                error=repr(getattr(exc, "storage_error", exc)),
                unlimited_for_seconds=STORAGE_RETRY_SECONDS,
            )
            return None

    async def _spend(self, budgets: Sequence[Budget]) -> Decision:
        # One round trip at a time: spending the brand's budget only after the caller's is the
        # point, and gather() would leave failed siblings running.
        for budget in budgets:
            for item in budget.limits:
                if not await self.strategy.hit(item, budget.key):
                    return await self._decision(False, budget, item)
        decisions = [
            await self._decision(True, budget, item) for budget in budgets for item in budget.limits
        ]
        return min(decisions, key=lambda d: (d.remaining, d.reset_seconds))

    async def _decision(self, allowed: bool, budget: Budget, item: RateLimitItem) -> Decision:
        stats = await self.strategy.get_window_stats(item, budget.key)
        reset = max(1, math.ceil(stats.reset_time - time.time()))
        return Decision(allowed, budget.kind, item, max(0, stats.remaining), reset)

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()


def build_rate_limiter(settings: Settings) -> RateLimiter | None:
    """The limiter the settings describe (None when disabled); connects on first use only."""
    if not settings.rate_limit_enabled:
        return None
    per_caller = parse_many(settings.rate_limit_per_caller)  # validated by Settings.validate
    per_brand = parse_many(settings.rate_limit_per_brand)
    storage, pool = counter_storage(settings, "ratelimit")
    return RateLimiter(storage, per_caller=per_caller, per_brand=per_brand, pool=pool)


def counter_storage(
    settings: Settings, purpose: str
) -> tuple[Storage, redis.asyncio.ConnectionPool | None]:
    """Counters in Redis under ``<namespace>:<purpose>``, shared by every process, or in this
    process's memory when no Redis is configured (the embedded mode serves from one process).
    The pool, if any, is the caller's to close."""
    if settings.redis_url is None:
        return MemoryStorage(), None
    pool = redis.asyncio.ConnectionPool.from_url(
        settings.redis_url,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 1),  # one retry mends a stale connection; no more waiting
    )
    # `limits` documents connection_pool among the client options but types them as scalars.
    options: dict[str, Any] = {"connection_pool": pool}
    storage = RedisStorage(
        _async_redis_uri(settings.redis_url),
        wrap_exceptions=True,
        implementation="redispy",
        key_prefix=f"{settings.redis_namespace}:{purpose}",
        **options,
    )
    return storage, pool


def _async_redis_uri(url: str) -> str:
    if url.startswith("unix://"):
        return "async+redis+unix://" + url.removeprefix("unix://")
    return "async+" + url


def _exempt(path: str) -> bool:
    path = path.rstrip("/") or "/"
    return path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES)


def _uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None


def brand_of(scope: Scope) -> UUID | None:
    """The brand a request works on: the REST path's, else the ``Levier-Brand`` header's."""
    match = _BRAND_PATH.match(scope["path"])
    if match:
        return _uuid(match.group(1))
    for name, value in scope["headers"]:
        if name == BRAND_HEADER:
            return _uuid(value.decode("latin-1").strip())
    return None


def client_host(scope: Scope) -> str:
    """The client's address as the server saw it (uvicorn rewrites it from X-Forwarded-For only
    for the proxies it trusts: ``FORWARDED_ALLOW_IPS``)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def budgets_of(scope: Scope, limiter: RateLimiter) -> list[Budget]:
    caller = scope.get("user")
    if not isinstance(caller, CallerLike):
        return [Budget("caller", f"ip:{client_host(scope)}", limiter.per_caller)]
    budgets = [Budget("caller", f"caller:{caller.actor}", limiter.per_caller)]
    brand_id = brand_of(scope)
    if brand_id is not None and brand_id in caller.brand_access:
        budgets.append(Budget("brand", f"brand:{brand_id}", limiter.per_brand))
    return budgets


class RateLimitMiddleware:
    """Runs after authentication, so the caller is known; answers 429 before any route code."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter: RateLimiter | None = scope["litestar_app"].state.get("rate_limiter")
        if scope["type"] != ScopeType.HTTP or limiter is None or _exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        decision = await limiter.check(budgets_of(scope, limiter))
        if decision is None:
            await self.app(scope, receive, send)
            return
        if not decision.allowed:
            await send_problem(
                scope,
                send,
                429,
                detail=(
                    f"too many requests for this {decision.kind} (at most {decision.limit}); "
                    f"retry in {decision.reset_seconds} s"
                ),
                headers=decision.headers(),
            )
            return
        extra = [(k.lower().encode(), v.encode()) for k, v in decision.headers().items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
