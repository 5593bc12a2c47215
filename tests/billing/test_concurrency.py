"""Billing's jobs running at the same time, for real (separate sessions, gathered): meters of one
brand count each window once, senders send each report once, appliers of one subscription apply
each event once — the row locks (PostgreSQL) and the one writer (SQLite) decide."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select

from backend.billing import events, metering
from backend.billing.models import BrandMeter, MeterReport, ReportStatus, StripeEvent
from backend.config import Settings
from backend.core.tenancy import TenantId
from tests.billing.helpers import account_of, deliver_all, subscribe, sync_plans
from tests.billing.stripe_server import FakeStripe
from tests.billing.usage import sent
from tests.factories import make_world, session_of


async def _meter(app: Litestar, brand: TenantId, settings: Settings, now: dt.datetime) -> int:
    async with session_of(app, brand) as session:
        counted = await metering.meter_brand(session, brand, settings, now)
        await session.commit()
    return counted.windows


async def _send(app: Litestar, settings: Settings) -> int:
    async with session_of(app) as session:
        claimed = await metering.claim_reports(session, settings)
        await session.commit()
        reported = await metering.record_sent(
            session, await metering.send_reports(settings, claimed)
        )
        await session.commit()
    return reported


async def _apply(app: Litestar, settings: Settings, key: str) -> int:
    async with session_of(app) as session:
        applied = await events.apply_waiting(session, settings, key)
        await session.commit()
    return applied.count


@pytest.mark.parametrize("round_", range(3))  # run several times: races vary
async def test_parallel_meters_senders_and_appliers_act_once(
    app: Litestar,
    client: httpx.AsyncClient,
    settings: Settings,
    stripe: FakeStripe,
    round_: int,
) -> None:
    world = await make_world(app)
    await sync_plans(app, settings)
    subscribed = await subscribe(client, app, settings, stripe, world)
    brand = TenantId(world.brand_a.id)
    since = (await account_of(app, world.agency_a.id)).metering_since
    assert since is not None
    await sent(app, brand, [since + dt.timedelta(seconds=10 + n) for n in range(7)])
    later = since + dt.timedelta(seconds=settings.billing_usage_settle_seconds + 120)
    windows = await asyncio.gather(*(_meter(app, brand, settings, later) for _ in range(4)))
    assert sorted(windows) == [0, 0, 0, 1]  # one meter counted the window, the others nothing
    async with session_of(app) as session:
        reports = (await session.scalars(select(MeterReport))).all()
        meter = await session.get(BrandMeter, brand)
    assert [(r.metric, r.value) for r in reports] == [("messages_email", 7)]
    assert meter is not None
    assert meter.messages_until == later - dt.timedelta(
        seconds=settings.billing_usage_settle_seconds
    )

    reported = await asyncio.gather(*(_send(app, settings) for _ in range(3)))
    assert sum(reported) == 1
    assert len(stripe.meter_events) == 1
    assert stripe.metered(subscribed.customer_id, "levier_messages_email") == 7
    async with session_of(app) as session:
        statuses = (await session.scalars(select(MeterReport.status))).all()
    assert statuses == [ReportStatus.REPORTED]

    history = [
        stripe.update_subscription(subscribed.subscription_id, status="past_due"),
        stripe.invoice(subscribed.subscription_id, paid=True),
        stripe.update_subscription(subscribed.subscription_id, status="active"),
    ]
    await deliver_all(client, history)
    key = subscribed.subscription_id
    applied = await asyncio.gather(*(_apply(app, settings, key) for _ in range(3)))
    assert sum(applied) == len(history)  # each event applied by exactly one applier
    async with session_of(app) as session:
        stored = (
            await session.scalars(select(StripeEvent).where(StripeEvent.ordering_key == key))
        ).all()
    assert all(e.processed_at is not None for e in stored)
    account = await account_of(app, world.agency_a.id)
    assert account.status.value == "active"
    assert account.past_due_since is None
