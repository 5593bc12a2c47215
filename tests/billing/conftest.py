"""Billing tests run against a local server speaking Stripe's API (one per module, emptied and
given a fresh catalogue before each test): the app is configured with its address, the secret
key and the webhook signing secret. A test marked ``without_stripe`` gets the embedded default
(no Stripe at all)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend.config import Settings
from tests.billing.stripe_server import SECRET_KEY, WEBHOOK_SECRET, FakeStripe, fake_stripe

PLANS = ("levier_starter", "levier_growth")
METERED = ("levier_email_usage", "levier_sms_usage", "levier_profiles_usage")
STARTER = {
    "levier_brands": "2",
    "levier_profiles": "5",
    "levier_messages_email": "10",
    "levier_messages_sms": "4",
    "levier_messages_push": "unlimited",
    "levier_ab_tests": "false",
    "levier_live_content": "true",
    "levier_api_rate_tier": "standard",
}
GROWTH = {
    "levier_brands": "10",
    "levier_profiles": "1000",
    "levier_messages_email": "1000",
    "levier_messages_sms": "100",
    "levier_ab_tests": "true",
    "levier_live_content": "true",
    "levier_api_rate_tier": "high",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "without_stripe: the embedded default, no Stripe keys")


@pytest.fixture(scope="module")
def stripe_server() -> Iterator[FakeStripe]:
    with fake_stripe() as server:
        yield server


def seed_catalogue(stripe: FakeStripe) -> None:
    """Two plans (a trial on the starter), and metered prices on Levier's meters."""
    stripe.add_price("levier_starter", name="Starter", amount=1900, metadata=STARTER, trial_days=14)
    stripe.add_price("levier_growth", name="Growth", amount=9900, metadata=GROWTH)
    for key, event in (
        ("levier_email_usage", "levier_messages_email"),
        ("levier_sms_usage", "levier_messages_sms"),
        ("levier_profiles_usage", "levier_profiles"),
    ):
        stripe.add_price(key, name=event, amount=1, meter=stripe.add_meter(event)["id"])


@pytest.fixture
def stripe(stripe_server: FakeStripe) -> FakeStripe:
    stripe_server.reset()
    seed_catalogue(stripe_server)
    return stripe_server


@pytest.fixture
def settings(
    settings: Settings, stripe_server: FakeStripe, request: pytest.FixtureRequest
) -> Settings:
    if request.node.get_closest_marker("without_stripe"):
        return settings
    return settings.replace(
        stripe_secret_key=SECRET_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=stripe_server.base_url,
        stripe_plans=PLANS,
        stripe_metered_prices=METERED,
        stripe_max_network_retries=0,
        stripe_timeout_seconds=2.0,
    )
