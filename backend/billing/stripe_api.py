"""Calls to Stripe through the official SDK (``stripe.StripeClient``), and what their failures
answer.

One client per unit of work (its HTTP pool is bound to the event loop that opened it), async
(``*_async`` methods over httpx), pointed at ``LEVIER_STRIPE_API_BASE`` when set — the tests'
local server speaking Stripe's API. The SDK retries a call that could not connect
(``LEVIER_STRIPE_MAX_NETWORK_RETRIES``), sending the same idempotency key each time. A failure
reaches the caller as a 502 problem (`stripe-unavailable` when Stripe did not answer in time,
`stripe-error` when it refused), raised before anything of the caller's was written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import TypeVar

import stripe
import structlog

from backend.config import Settings
from backend.core.errors import Conflict, LevierError

T = TypeVar("T")
log = structlog.get_logger("levier.billing")


class BillingNotConfigured(Conflict):
    slug, title = "billing-not-configured", "Billing is not configured"


class StripeUnavailable(LevierError):
    status, slug, title = HTTPStatus.BAD_GATEWAY, "stripe-unavailable", "Stripe did not answer"


class StripeRefused(LevierError):
    status, slug, title = HTTPStatus.BAD_GATEWAY, "stripe-error", "Stripe refused the request"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.code = code


def missing_settings(settings: Settings) -> list[str]:
    """The variables a deployment must set before Levier can bill through Stripe."""
    missing = []
    if not settings.stripe_secret_key:
        missing.append("LEVIER_STRIPE_SECRET_KEY")
    if not settings.stripe_webhook_secret:
        missing.append("LEVIER_STRIPE_WEBHOOK_SECRET")
    if not settings.stripe_plans:
        missing.append("LEVIER_STRIPE_PLANS")
    return missing


def not_configured(settings: Settings, what: str) -> BillingNotConfigured:
    names = ", ".join(missing_settings(settings)) or "the plans (run `levier billing sync-plans`)"
    return BillingNotConfigured(
        f"{what} needs Stripe, which this deployment does not configure: set {names}"
    )


@asynccontextmanager
async def stripe_client(settings: Settings) -> AsyncIterator[stripe.StripeClient]:
    """A client of Stripe's API for this unit of work, closed after it."""
    if not settings.stripe_secret_key:
        raise not_configured(settings, "this")
    http = stripe.HTTPXClient(timeout=settings.stripe_timeout_seconds)
    client = stripe.StripeClient(
        settings.stripe_secret_key,
        base_addresses={"api": settings.stripe_api_base} if settings.stripe_api_base else None,
        http_client=http,
        max_network_retries=settings.stripe_max_network_retries,
    )
    try:
        yield client
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]


async def call(operation: str, request: Awaitable[T]) -> T:
    """``request``'s answer; a Stripe failure as a 502 problem naming ``operation``."""
    try:
        return await request
    except stripe.APIConnectionError as exc:
        log.warning("stripe_unreachable", operation=operation, error=str(exc)[:300])
        raise StripeUnavailable(
            f"{operation}: Stripe did not answer in time; nothing was changed, try again"
        ) from None
    except stripe.StripeError as exc:
        log.warning(
            "stripe_refused",
            operation=operation,
            status=exc.http_status,
            code=exc.code,
            error=(exc.user_message or str(exc))[:300],
        )
        message = exc.user_message or str(exc) or "no reason given"
        raise StripeRefused(
            f"{operation}: Stripe answered {exc.http_status or 'an error'}: {message}",
            code=exc.code,
        ) from None
