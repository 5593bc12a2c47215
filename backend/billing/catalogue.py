"""The prices Levier sells, synced from Stripe by lookup key (``levier billing sync-plans``).

``LEVIER_STRIPE_PLANS`` and ``LEVIER_STRIPE_METERED_PRICES`` name prices by lookup key, never by
id: the sync asks Stripe for them (with their products and, for metered prices, their meters)
and stores what it found. A lookup key Stripe does not know, a metered price not on one of
Levier's meters or entitlements that do not parse refuse the whole sync: nothing is stored.
Prices dropped from the settings stay stored, inactive (accounts may still name them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import stripe
from sqlalchemy.ext.asyncio import AsyncSession

from backend.billing import repository
from backend.billing.models import BillingPrice, PriceKind
from backend.billing.plans import EVENT_NAMES, entitlements_of, trial_days_of
from backend.billing.stripe_api import call, not_configured, stripe_client
from backend.config import Settings
from backend.core.db import utcnow
from backend.core.errors import InvalidInput
from backend.core.pagination import PageRequest


@dataclass(frozen=True)
class SyncResult:
    plans: list[str]
    metered: list[str]
    deactivated: list[str]


def _plain(metadata: object) -> dict[str, str]:
    """Stripe metadata (a Stripe object of strings) as a plain dict."""
    to_dict = getattr(metadata, "to_dict", None)
    raw: Any = to_dict() if callable(to_dict) else (metadata or {})
    return {str(k): str(v) for k, v in dict(raw).items()}


def _metadata(price: stripe.Price) -> dict[str, str]:
    """The product's metadata, overridden by the price's."""
    product = price.product
    found = _plain(product.metadata) if isinstance(product, stripe.Product) else {}
    return {**found, **_plain(price.metadata)}


def _product_of(price: stripe.Price) -> tuple[str, str]:
    product = price.product
    if isinstance(product, stripe.Product):
        return product.id, product.name or price.lookup_key or product.id
    return str(product), price.nickname or price.lookup_key or str(product)


async def _fetch(
    settings: Settings, keys: list[str]
) -> tuple[dict[str, stripe.Price], dict[str, str]]:
    """The prices of ``keys`` (with their products) and the event name of each meter they use."""
    async with stripe_client(settings) as client:
        listed = await call(
            "listing prices",
            client.v1.prices.list_async(
                {"lookup_keys": keys, "expand": ["data.product"], "limit": 100}
            ),
        )
        prices = {p.lookup_key: p for p in listed.data if p.lookup_key}
        meters: dict[str, str] = {}
        for price in prices.values():
            meter_id = price.recurring.meter if price.recurring is not None else None
            if meter_id and meter_id not in meters:
                meter = await call(
                    "reading a billing meter", client.v1.billing.meters.retrieve_async(meter_id)
                )
                meters[meter_id] = meter.event_name
    return prices, meters


def _row_values(
    key: str, price: stripe.Price, kind: PriceKind, meters: dict[str, str], default: str | None
) -> dict[str, Any]:
    recurring = price.recurring
    if not price.active:
        raise InvalidInput(
            f"price {key} is archived in Stripe", errors=[{"field": key, "message": "inactive"}]
        )
    if recurring is None:
        raise InvalidInput(
            f"price {key} is not recurring: a subscription needs a recurring price",
            errors=[{"field": key, "message": "not recurring"}],
        )
    product_id, name = _product_of(price)
    metadata = _metadata(price)
    values: dict[str, Any] = {
        "lookup_key": key,
        "kind": kind,
        "stripe_price_id": price.id,
        "stripe_product_id": product_id,
        "name": name[:200],
        "currency": (price.currency or "").lower()[:3],
        "unit_amount": price.unit_amount,
        "interval": recurring.interval,
        "trial_days": None,
        "entitlements": {},
        "meter_event_name": None,
        "is_default": key == default,
        "active": True,
    }
    if kind is PriceKind.PLAN:
        if recurring.usage_type == "metered":
            raise InvalidInput(
                f"price {key} is metered: list it in LEVIER_STRIPE_METERED_PRICES, not as a plan",
                errors=[{"field": key, "message": "metered price named as a plan"}],
            )
        values["entitlements"] = entitlements_of(key, metadata).as_json()
        values["trial_days"] = trial_days_of(key, metadata, recurring.trial_period_days)
        return values
    event_name = meters.get(recurring.meter or "")
    if recurring.usage_type != "metered" or event_name not in EVENT_NAMES.values():
        raise InvalidInput(
            f"price {key} must be a metered price on a Billing Meter whose event name is one of "
            f"{', '.join(sorted(EVENT_NAMES.values()))}",
            errors=[{"field": key, "message": "not on a Levier meter"}],
        )
    values["meter_event_name"] = event_name
    return values


async def sync(session: AsyncSession, settings: Settings) -> SyncResult:
    """Read the configured prices from Stripe and store them (all or nothing)."""
    if not settings.stripe_configured or not settings.stripe_plans:
        raise not_configured(settings, "syncing the plans")
    keys = {key: PriceKind.PLAN for key in settings.stripe_plans}
    keys.update({key: PriceKind.METERED for key in settings.stripe_metered_prices})
    prices, meters = await _fetch(settings, list(keys))
    unknown = sorted(set(keys) - set(prices))
    if unknown:
        raise InvalidInput(
            f"Stripe has no price with the lookup key {', '.join(unknown)}",
            errors=[{"field": key, "message": "unknown lookup key"} for key in unknown],
        )
    rows = [
        _row_values(key, prices[key], kind, meters, settings.stripe_default_plan)
        for key, kind in keys.items()
    ]
    stored = {p.lookup_key: p for p in await repository.all_prices(session)}
    now = utcnow()
    for values in rows:
        row = stored.get(values["lookup_key"])
        if row is None:
            row = BillingPrice(**values)
            session.add(row)
        else:
            for name, value in values.items():
                setattr(row, name, value)
        row.synced_at = now
    deactivated = []
    for key, row in stored.items():
        if key not in keys and row.active:
            row.active = False
            row.is_default = False
            deactivated.append(key)
    await session.flush()
    return SyncResult(
        plans=[k for k, kind in keys.items() if kind is PriceKind.PLAN],
        metered=[k for k, kind in keys.items() if kind is PriceKind.METERED],
        deactivated=sorted(deactivated),
    )


async def list_plans(
    session: AsyncSession, page: PageRequest
) -> tuple[list[BillingPrice], str | None]:
    """The plans an agency may subscribe to (active, as last synced)."""
    return await repository.list_plans(session, page)


async def count_plans(session: AsyncSession) -> int:
    return await repository.count_plans(session)


async def plan_by_key(session: AsyncSession, key: str) -> BillingPrice | None:
    for price in await repository.active_prices(session):
        if price.lookup_key == key and price.kind is PriceKind.PLAN:
            return price
    return None


async def metered_prices(session: AsyncSession) -> list[BillingPrice]:
    return [p for p in await repository.active_prices(session) if p.kind is PriceKind.METERED]
