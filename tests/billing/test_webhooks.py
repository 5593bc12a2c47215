"""Stripe's webhooks: a forged or stale event is refused (400) and changes nothing; every event is
stored once by its id; duplicated and out-of-order deliveries leave one effect and the final
state Stripe's; the events are applied by the `billing.apply_events` job."""

from __future__ import annotations

import itertools
import json
import random
import time
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select

from backend.billing.models import StripeEvent, SubscriptionStatus
from backend.config import Settings
from backend.core.outbox import OutboxMessage
from tests.billing.helpers import (
    WEBHOOK,
    account_of,
    agency_url,
    apply_events,
    checkout,
    deliver,
    deliver_all,
    subscribe,
    sync_plans,
)
from tests.billing.stripe_server import WEBHOOK_SECRET, FakeStripe, signed
from tests.factories import make_world, problem, run_jobs, session_of


async def _events(app: Litestar) -> list[StripeEvent]:
    async with session_of(app) as session:
        return list((await session.scalars(select(StripeEvent).order_by(StripeEvent.id))).all())


async def _apply_jobs(app: Litestar) -> int:
    async with session_of(app) as session:
        count = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.task_name == "billing.apply_events")
        )
    return int(count or 0)


def _forged(body: bytes) -> dict[str, str]:
    return {"stripe-signature": signed(body, secret="whsec_someone_else")}


def _stale(body: bytes) -> dict[str, str]:
    return {"stripe-signature": signed(body, timestamp=int(time.time()) - 301)}


def _tampered(body: bytes) -> dict[str, str]:
    return {"stripe-signature": signed(body.replace(b"past_due", b"active"))}


@pytest.mark.parametrize(
    "headers",
    [_forged, _stale, _tampered, lambda _: {}, lambda _: {"stripe-signature": "t=1,v0=abc"}],
    ids=["forged", "stale", "body-changed", "unsigned", "malformed-header"],
)
async def test_a_forged_or_stale_event_is_refused_and_changes_nothing(
    app: Litestar,
    client: httpx.AsyncClient,
    settings: Settings,
    stripe: FakeStripe,
    headers: Any,
) -> None:
    world = await make_world(app)
    await sync_plans(app, settings)
    subscribed = await subscribe(client, app, settings, stripe, world)
    stored = len(await _events(app))
    jobs = await _apply_jobs(app)
    event = stripe.update_subscription(subscribed.subscription_id, status="past_due")
    body = json.dumps(event).encode()
    response = await client.post(
        WEBHOOK, content=body, headers={"content-type": "application/json", **headers(body)}
    )
    assert problem(response, 400)["type"].endswith(":stripe-signature-invalid")
    assert len(await _events(app)) == stored
    assert await _apply_jobs(app) == jobs
    await apply_events(app, settings)
    assert (await account_of(app, world.agency_a.id)).status is SubscriptionStatus.ACTIVE


async def test_a_signed_body_that_is_not_an_event_is_refused(
    app: Litestar, client: httpx.AsyncClient, stripe: FakeStripe
) -> None:
    for body in (b"not json", b"[1, 2]", b'{"object": "event"}'):
        response = await client.post(
            WEBHOOK,
            content=body,
            headers={"content-type": "application/json", "stripe-signature": signed(body)},
        )
        assert problem(response, 400)["type"].endswith(":stripe-signature-invalid"), body
    assert await _events(app) == []


async def test_a_redelivered_event_is_stored_and_applied_once(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stripe: FakeStripe
) -> None:
    world = await make_world(app)
    await sync_plans(app, settings)
    subscribed = await subscribe(client, app, settings, stripe, world)
    jobs = await _apply_jobs(app)
    failed = stripe.invoice(subscribed.subscription_id, paid=False)
    answers = [await deliver(client, failed) for _ in range(3)]
    assert [a.json()["duplicate"] for a in answers] == [False, True, True]
    assert all(a.json()["id"] == failed["id"] for a in answers)
    assert await _apply_jobs(app) == jobs + 1  # one job for the event, none for its copies
    assert await apply_events(app, settings) == 1
    assert await apply_events(app, settings) == 0
    account = await account_of(app, world.agency_a.id)
    assert account.status is SubscriptionStatus.PAST_DUE
    assert account.past_due_since is not None
    stored = [e for e in await _events(app) if e.id == failed["id"]]
    assert [e.outcome for e in stored] == ["applied"]


def _history(stripe: FakeStripe, subscription_id: str) -> list[dict[str, Any]]:
    """A month of a subscription, as Stripe sends it: the trial ends, a payment fails (past
    due), the invoice is paid (active again), the plan is changed to growth in the portal."""
    growth = stripe.price_by_key("levier_growth")
    events = [
        stripe.update_subscription(subscription_id, status="active"),
        stripe.invoice(subscription_id, paid=False),
        stripe.update_subscription(subscription_id, status="past_due"),
        stripe.invoice(subscription_id, paid=True),
        stripe.update_subscription(subscription_id, status="active"),
    ]
    items = stripe.subscriptions[subscription_id]["items"]["data"]
    items[0] = {**items[0], "price": growth}
    events.append(
        stripe.update_subscription(
            subscription_id, items={**stripe.subscriptions[subscription_id]["items"], "data": items}
        )
    )
    return events


@pytest.mark.parametrize("applied_as_they_come", [True, False], ids=["one-by-one", "in-a-batch"])
async def test_events_replayed_out_of_order_and_duplicated_end_in_stripes_state(
    app: Litestar,
    client: httpx.AsyncClient,
    settings: Settings,
    stripe: FakeStripe,
    applied_as_they_come: bool,
) -> None:
    world = await make_world(app)
    await sync_plans(app, settings)
    subscribed = await subscribe(client, app, settings, stripe, world, "levier_starter")
    history = _history(stripe, subscribed.subscription_id)
    shuffled = list(reversed(history)) + random.Random(7).sample(history, len(history))
    for event in shuffled:
        assert (await deliver(client, event)).status_code == 200
        if applied_as_they_come:
            await apply_events(app, settings)
    await apply_events(app, settings)
    account = await account_of(app, world.agency_a.id)
    assert account.status is SubscriptionStatus.ACTIVE
    assert account.past_due_since is None
    assert account.plan_key == "levier_growth"
    assert len([e for e in await _events(app) if e.id in {h["id"] for h in history}]) == len(
        history
    )
    billing = (
        await client.get(agency_url(world.agency_a.id), headers=world.owner_a.headers)
    ).json()
    assert billing["state"] == "active"
    assert billing["entitlements"]["brands"] == 10  # growth's


async def test_an_older_event_arriving_last_changes_nothing(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stripe: FakeStripe
) -> None:
    world = await make_world(app)
    await sync_plans(app, settings)
    subscribed = await subscribe(client, app, settings, stripe, world)
    late = stripe.update_subscription(subscribed.subscription_id, status="past_due")
    canceled = stripe.update_subscription(subscribed.subscription_id, status="canceled")
    await deliver(client, canceled)
    await apply_events(app, settings)
    await deliver(client, late)
    await apply_events(app, settings)
    account = await account_of(app, world.agency_a.id)
    assert account.status is SubscriptionStatus.CANCELED
    outcomes = {e.id: e.outcome for e in await _events(app)}
    assert outcomes[late["id"]] == "stale"


async def test_events_of_other_types_or_no_account_are_stored_and_ignored(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stripe: FakeStripe
) -> None:
    await sync_plans(app, settings)
    customer = stripe.event("customer.created", {"id": "cus_x", "object": "customer"})
    foreign = stripe.event(
        "customer.subscription.updated",
        {"id": "sub_elsewhere", "object": "subscription", "status": "active", "customer": "cus_x"},
    )
    await deliver_all(client, [customer, foreign])
    await apply_events(app, settings)
    outcomes = {e.id: e.outcome for e in await _events(app)}
    assert outcomes == {customer["id"]: "unknown-account", foreign["id"]: "unknown-account"}


@pytest.mark.worker
async def test_the_apply_job_applies_what_the_webhook_stored(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stripe: FakeStripe
) -> None:
    world = await make_world(app)
    await sync_plans(app, settings)
    started = await checkout(
        client, agency_url(world.agency_a.id, "/checkout-sessions"), world.owner_a, "levier_growth"
    )
    await deliver_all(client, stripe.complete_checkout(started.json()["id"]))
    await run_jobs(app)
    account = await account_of(app, world.agency_a.id)
    assert account.status is SubscriptionStatus.ACTIVE
    assert account.plan_key == "levier_growth"
    assert all(e.processed_at is not None for e in await _events(app))
    assert WEBHOOK_SECRET.startswith("whsec_")
    assert list(itertools.islice(stripe.subscriptions, 1)) == [account.stripe_subscription_id]
