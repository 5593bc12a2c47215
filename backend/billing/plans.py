"""What a plan grants (its entitlements), read from its Stripe product's and price's metadata,
and the metrics Levier meters.

Entitlements are metadata keys on the plan's product (overridden by the same key on the price),
so a plan is changed in Stripe and synced, never in code:

| key | value | meaning |
| --- | --- | --- |
| ``levier_brands`` | integer or ``unlimited`` | brands billed with the plan |
| ``levier_profiles`` | integer or ``unlimited`` | profiles stored, over those brands |
| ``levier_messages_email`` / ``_sms`` / ``_push`` | integer or ``unlimited`` | messages a month |
| ``levier_ab_tests`` / ``levier_live_content`` | ``true`` / ``false`` | features |
| ``levier_api_rate_tier`` | ``standard``, ``high``… | the API rate tier |
| ``levier_trial_days`` | integer | trial days of a first subscription (also the price's own) |

A missing limit is unlimited; a missing feature is off. A value that does not parse refuses the
sync, naming the price and the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from backend.core.errors import InvalidInput

CHANNELS = ("email", "sms", "push")
MESSAGE_METRICS = {channel: f"messages_{channel}" for channel in CHANNELS}
PROFILES = "profiles"
BRANDS = "brands"
# Billing Meter event names: a metered price must sit on a meter with one of them.
EVENT_NAMES = {metric: f"levier_{metric}" for metric in (*MESSAGE_METRICS.values(), PROFILES)}
METRIC_OF_EVENT = {event: metric for metric, event in EVENT_NAMES.items()}
PREFIX = "levier_"
UNLIMITED_WORDS = frozenset({"", "unlimited", "none", "-1"})
TRUE_WORDS = frozenset({"true", "yes", "1", "on"})
FALSE_WORDS = frozenset({"false", "no", "0", "off"})


@dataclass(frozen=True)
class Entitlements:
    """What an account may use; ``None`` is unlimited."""

    brands: int | None = None
    profiles: int | None = None
    messages: Mapping[str, int | None] = field(
        default_factory=lambda: dict.fromkeys(CHANNELS, None)
    )
    ab_tests: bool = True
    live_content: bool = True
    api_rate_tier: str = "unlimited"

    def limit_of(self, metric: str) -> int | None:
        if metric == BRANDS:
            return self.brands
        if metric == PROFILES:
            return self.profiles
        return self.messages.get(metric.removeprefix("messages_"))

    def as_json(self) -> dict[str, Any]:
        return {
            "brands": self.brands,
            "profiles": self.profiles,
            "messages": dict(self.messages),
            "ab_tests": self.ab_tests,
            "live_content": self.live_content,
            "api_rate_tier": self.api_rate_tier,
        }

    @classmethod
    def of_json(cls, value: Mapping[str, Any]) -> Entitlements:
        messages = value.get("messages") or {}
        return cls(
            brands=value.get("brands"),
            profiles=value.get("profiles"),
            messages={c: messages.get(c) for c in CHANNELS},
            ab_tests=bool(value.get("ab_tests", False)),
            live_content=bool(value.get("live_content", False)),
            api_rate_tier=str(value.get("api_rate_tier", "standard")),
        )


# Without Stripe: one plan, unlimited. With Stripe and no subscription nor default plan: nothing.
UNLIMITED = Entitlements()
NOTHING = Entitlements(
    brands=0,
    profiles=0,
    messages=dict.fromkeys(CHANNELS, 0),
    ab_tests=False,
    live_content=False,
    api_rate_tier="none",
)


def _limit(price: str, key: str, raw: str) -> int | None:
    text = raw.strip().lower()
    if text in UNLIMITED_WORDS:
        return None
    if text.isdigit():
        return int(text)
    raise InvalidInput(
        f"price {price}: metadata {key}={raw!r} is neither a whole number nor 'unlimited'",
        errors=[{"field": key, "price": price, "message": "not a limit"}],
    )


def _flag(price: str, key: str, raw: str) -> bool:
    text = raw.strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise InvalidInput(
        f"price {price}: metadata {key}={raw!r} is neither true nor false",
        errors=[{"field": key, "price": price, "message": "not a flag"}],
    )


def entitlements_of(price: str, metadata: Mapping[str, str]) -> Entitlements:
    """The entitlements the metadata of a plan's product and price grant (see the module)."""

    def limit(name: str) -> int | None:
        key = PREFIX + name
        return _limit(price, key, metadata[key]) if key in metadata else None

    def flag(name: str) -> bool:
        key = PREFIX + name
        return _flag(price, key, metadata[key]) if key in metadata else False

    return Entitlements(
        brands=limit(BRANDS),
        profiles=limit(PROFILES),
        messages={c: limit(MESSAGE_METRICS[c]) for c in CHANNELS},
        ab_tests=flag("ab_tests"),
        live_content=flag("live_content"),
        api_rate_tier=metadata.get(PREFIX + "api_rate_tier", "standard").strip() or "standard",
    )


def trial_days_of(price: str, metadata: Mapping[str, str], own: int | None) -> int | None:
    """A plan's trial days: the metadata's, else the price's own ``trial_period_days``."""
    key = PREFIX + "trial_days"
    if key not in metadata:
        return own
    days = _limit(price, key, metadata[key])
    return days or None
