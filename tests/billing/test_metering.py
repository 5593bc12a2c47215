"""Metered usage: sends counted from the ledger in batches and reported to Stripe's Billing Meters
exactly once — also when the job is retried after a crash at any point — with what Levier
counted and what Stripe took readable over the API; profiles stored reported daily."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select

from backend.billing import metering
from backend.billing.models import BrandMeter, MeterReport, ReportStatus
from backend.billing.tasks import send_reports
from backend.config import Settings
from backend.core.db import utcnow
from backend.core.jobs import TaskContext
from backend.messaging.models import MessageChannel
from tests.billing.helpers import account_of, agency_url, brand_url, subscribe, sync_plans
from tests.billing.stripe_server import FakeStripe, Fault
from tests.billing.usage import meter, report, sent
from tests.factories import World, make_world, session_of
from tests.messaging.test_ledger import make_profile
from tests.test_graphql import gql_data

EMAIL_EVENT = "levier_messages_email"


async def _reports(app: Litestar) -> list[MeterReport]:
    async with session_of(app) as session:
        return list(
            (await session.scalars(select(MeterReport).order_by(MeterReport.window_start))).all()
        )


async def _subscribed_with_sends(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stripe: FakeStripe
) -> tuple[World, str, dt.datetime]:
    """Agency A subscribed (metered), 3 emails and 2 SMS of brand A sent since; (the world, the
    customer, a moment when the meter may count them)."""
    world = await make_world(app)
    await sync_plans(app, settings)
    subscribed = await subscribe(client, app, settings, stripe, world)
    since = (await account_of(app, world.agency_a.id)).metering_since
    assert since is not None
    moment = since + dt.timedelta(seconds=30)
    await sent(app, world.brand_a.id, [moment] * 3)
    await sent(app, world.brand_a.id, [moment] * 2, MessageChannel.SMS)
    later = moment + dt.timedelta(seconds=settings.billing_usage_settle_seconds + 60)
    return world, subscribed.customer_id, later


async def _task_send(app: Litestar, settings: Settings) -> None:
    """The `billing.send_reports` task as the worker runs it (the runtime commits at the end)."""
    async with session_of(app) as session:
        await send_reports(TaskContext(session, None, settings, ""))
        await session.commit()


async def test_sends_are_metered_per_channel_and_reported_once(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stripe: FakeStripe
) -> None:
    world, customer, later = await _subscribed_with_sends(app, client, settings, stripe)
    brand = world.brand_a.id
    counted = await meter(app, brand, settings, later)
    assert counted.pending == 2
    rows = await _reports(app)
    assert {(r.metric, r.value, r.status) for r in rows} == {
        ("messages_email", 3, ReportStatus.PENDING),
        ("messages_sms", 2, ReportStatus.PENDING),
    }
    assert all(r.stripe_customer_id == customer for r in rows)
    await _task_send(app, settings)
    assert stripe.metered(customer, EMAIL_EVENT) == 3
    assert stripe.metered(customer, "levier_messages_sms") == 2
    sent_events = {e["identifier"] for e in stripe.meter_events}
    assert sent_events == {r.identifier for r in rows}
    assert all(r.status is ReportStatus.REPORTED for r in await _reports(app))
    # Metering again counts nothing twice: the cursor moved past these sends.
    again = await meter(app, brand, settings, later + dt.timedelta(minutes=5))
    assert again.windows == 0
    await _task_send(app, settings)
    assert len(stripe.meter_events) == 2


@pytest.mark.parametrize(
    "crash",
    ["answer-lost", "died-after-stripe-took-it", "idempotency-key-expired", "died-before-sending"],
)
async def test_a_report_retried_after_a_crash_is_billed_once(
    app: Litestar,
    client: httpx.AsyncClient,
    settings: Settings,
    stripe: FakeStripe,
    crash: str,
) -> None:
    world, customer, later = await _subscribed_with_sends(app, client, settings, stripe)
    await meter(app, world.brand_a.id, settings, later)
    if crash == "answer-lost":
        # Stripe records the event and the connection drops before its answer: the job fails.
        stripe.fail("/v1/billing/meter_events", Fault(drop=True))
        await _task_send(app, settings)
        assert len(stripe.meter_events) == 2  # Stripe holds both, one answer never came back
        waiting = [r for r in await _reports(app) if r.status is ReportStatus.PENDING]
        assert len(waiting) == 1
        assert "did not answer" in (waiting[0].last_error or "")
    else:
        # The worker dies mid-job: the claim is committed, what came after is lost.
        async with session_of(app) as session:
            claimed = await metering.claim_reports(session, settings)
            await session.commit()
        if crash != "died-before-sending":
            await metering.send_reports(settings, claimed)
            assert len(stripe.meter_events) == 2
        if crash == "idempotency-key-expired":
            stripe.idempotent.clear()  # Stripe forgets keys after 24 h; identifiers last longer
        # Another worker takes the batch once the dead one's lease ran out.
        async with session_of(app) as session:
            lease_over = utcnow() + dt.timedelta(seconds=2 * settings.stripe_timeout_seconds + 31)
            claimed = await metering.claim_reports(session, settings, lease_over)
            await session.commit()
            assert len(claimed) == 2
            await metering.record_sent(session, await metering.send_reports(settings, claimed))
            await session.commit()
    await _task_send(app, settings)
    assert stripe.metered(customer, EMAIL_EVENT) == 3
    assert stripe.metered(customer, "levier_messages_sms") == 2
    assert len(stripe.meter_events) == 2
    assert all(r.status is ReportStatus.REPORTED for r in await _reports(app))


async def test_usage_counted_and_reported_are_readable_for_reconciliation(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stripe: FakeStripe
) -> None:
    world, customer, later = await _subscribed_with_sends(app, client, settings, stripe)
    brand = world.brand_a.id
    since = (await account_of(app, world.agency_a.id)).metering_since
    assert since is not None
    # A send before the subscription started is counted, and bills no one.
    await sent(app, brand, [since - dt.timedelta(minutes=1)])
    await meter(app, brand, settings, later)
    await report(app, settings)
    # Two more, metered but not reported yet.
    await sent(app, brand, [later + dt.timedelta(seconds=1)] * 2)
    after = later + dt.timedelta(seconds=settings.billing_usage_settle_seconds + 60)
    await meter(app, brand, settings, after)
    agency = await client.get(
        agency_url(world.agency_a.id, "/usage"), headers=world.owner_a.headers
    )
    assert agency.status_code == 200, agency.text
    (usage,) = [b for b in agency.json()["brands"] if b["brandId"] == str(brand)]
    metrics = {m["metric"]: m for m in usage["metrics"]}
    assert metrics["messages_email"] == {
        "metric": "messages_email",
        "ledger": None,
        "metered": 6,
        "reported": 3,
        "pending": 2,
        "unbilled": 1,
    }
    assert metrics["messages_sms"]["reported"] == 2
    assert stripe.metered(customer, EMAIL_EVENT) == metrics["messages_email"]["reported"]
    own = await client.get(brand_url(brand, "/usage"), headers=world.owner_a.headers)
    own_metrics = {m["metric"]: m for m in own.json()["brands"][0]["metrics"]}
    assert own_metrics["messages_email"]["ledger"] == 6  # the ledger, read live
    assert own_metrics["messages_sms"]["ledger"] == 2
    await report(app, settings)  # the pending batch goes
    data = await gql_data(
        client,
        "query($b: ID!) { brandBillingUsage(brand: $b) { brands { metrics "
        "{ metric ledger metered reported pending unbilled } } } }",
        world.owner_a,
        {"b": str(brand)},
    )
    graph = {m["metric"]: m for m in data["brandBillingUsage"]["brands"][0]["metrics"]}
    assert graph["messages_email"] == {
        "metric": "messages_email",
        "ledger": 6,
        "metered": 6,
        "reported": 5,
        "pending": 0,
        "unbilled": 1,
    }
    assert stripe.metered(customer, EMAIL_EVENT) == 5


async def test_windows_are_cut_at_month_starts(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stripe: FakeStripe
) -> None:
    world = await make_world(app)
    await sync_plans(app, settings)
    now = utcnow()
    month = dt.datetime(now.year, now.month, 1, tzinfo=dt.UTC)
    await sent(
        app, world.brand_a.id, [month - dt.timedelta(hours=1), month + dt.timedelta(minutes=1)]
    )
    async with session_of(app) as session:
        session.add(
            BrandMeter(
                brand_id=world.brand_a.id, messages_until=month - dt.timedelta(days=1), profiles=0
            )
        )
        await session.commit()
    await meter(app, world.brand_a.id, settings, max(now, month + dt.timedelta(hours=1)))
    rows = await _reports(app)
    assert [(r.window_start, r.window_end, r.value) for r in rows][:1] == [
        (month - dt.timedelta(days=1), month, 1)
    ]
    assert rows[1].window_start == month
    assert rows[1].value == 1
    # No subscription to bill: counted, never sent.
    assert {r.status for r in rows} == {ReportStatus.UNBILLED}
    assert await report(app, settings) == 0
    assert stripe.meter_events == []


async def test_profiles_stored_are_reported_once_a_day(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stripe: FakeStripe
) -> None:
    world = await make_world(app)
    await sync_plans(app, settings)
    subscribed = await subscribe(client, app, settings, stripe, world)
    for n in range(3):
        await make_profile(app, world.brand_a.id, email=f"p{n}@example.com")
    await meter(app, world.brand_a.id, settings)
    day = utcnow().replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=1)
    async with session_of(app) as session:
        assert await metering.report_profiles(session, day) == 1
        await metering.report_profiles(session, day)  # the same day again: the same report
        await session.commit()
    await report(app, settings)
    profile_events = [e for e in stripe.meter_events if e["event_name"] == "levier_profiles"]
    assert len(profile_events) == 1
    assert profile_events[0]["payload"] == {
        "stripe_customer_id": subscribed.customer_id,
        "value": "3",
    }
    assert profile_events[0]["timestamp"] == int(
        (day + dt.timedelta(days=1, seconds=-1)).timestamp()
    )
