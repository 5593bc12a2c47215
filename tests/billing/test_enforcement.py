"""Usage against entitlements where work starts: a brand beyond the plan, an import beyond its
profiles, a campaign beyond the month's messages (through `check_messages_allowance`, which the
campaigns domain calls), the send gate (transactional messages up to the grace margin), the
80/100 % warnings; and the subscription's state: past due → grace → sends paused → paid →
resumed, canceled → read-only with exports still allowed."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select, update

from backend.billing import metering, service
from backend.billing.models import BillingAccount, UsageWarning
from backend.config import Settings
from backend.core.db import utcnow
from backend.core.errors import LevierError
from backend.core.outbox import OutboxMessage
from backend.core.tenancy import TenantId
from backend.messaging import delivery
from backend.messaging import service as messaging_service
from backend.messaging.models import (
    Message,
    MessageChannel,
    MessagePriority,
    MessageStatus,
    SourceKind,
)
from backend.messaging.schemas import PressurePolicyUpdate
from backend.profiles.models import Channel
from backend.tenancy.models import Brand
from tests.billing.helpers import (
    CANCEL,
    agency_url,
    apply_events,
    brand_url,
    checkout,
    deliver,
    subscribe,
    sync_plans,
)
from tests.billing.stripe_server import FakeStripe
from tests.billing.usage import meter, sent
from tests.campaigns.helpers import make_profiles, static_segment
from tests.factories import World, make_brand, make_world, problem, run_jobs, session_of
from tests.messaging.test_ledger import make_profile
from tests.test_graphql import gql_data


async def _brands(app: Litestar, agency_id: UUID) -> int:
    async with session_of(app) as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(Brand).where(Brand.agency_id == agency_id)
            )
            or 0
        )


async def _check(app: Litestar, brand: UUID, settings: Settings, channel: str, count: int) -> None:
    async with session_of(app, brand) as session:
        await service.check_messages_allowance(
            session, TenantId(brand), settings, channel=channel, count=count
        )


async def test_a_brand_beyond_the_plan_is_refused_naming_the_limit(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stripe: FakeStripe
) -> None:
    world = await make_world(app)
    await sync_plans(app, settings)
    # Plans exist, the agency never subscribed, no default plan: nothing is allowed.
    refused = await client.post(
        f"/v1/agencies/{world.agency_a.id}/brands",
        json={"name": "Early"},
        headers=world.owner_a.headers,
    )
    assert problem(refused, 402)["type"].endswith(":subscription-required")
    await subscribe(client, app, settings, stripe, world, "levier_starter")  # 2 brands
    second = await client.post(
        f"/v1/agencies/{world.agency_a.id}/brands",
        json={"name": "Second"},
        headers=world.owner_a.headers,
    )
    assert second.status_code == 201, second.text
    third = await client.post(
        f"/v1/agencies/{world.agency_a.id}/brands",
        json={"name": "Third"},
        headers=world.owner_a.headers,
    )
    body = problem(third, 402)
    assert body["type"].endswith(":plan-limit-reached")
    assert "levier_starter" in body["detail"]
    assert body["errors"][0] == {
        "field": "brands",
        "limit": 2,
        "used": 2,
        "remaining": 0,
        "requested": 1,
        "message": "the plan's limit of 2",
    }
    assert await _brands(app, world.agency_a.id) == 2
    # A brand billed on its own leaves room on the agency's plan.
    brand_id = second.json()["id"]
    await client.put(brand_url(brand_id), json={"mode": "customer"}, headers=world.owner_a.headers)
    await subscribe(client, app, settings, stripe, world, "levier_starter", brand_id=UUID(brand_id))
    data = await gql_data(
        client,
        'mutation($a: ID!) { createBrand(agency: $a, input: {name: "Third"}) '
        "{ ... on Brand { name } ... on OperationError { problemType } } }",
        world.owner_a,
        {"a": str(world.agency_a.id)},
    )
    assert data["createBrand"] == {"name": "Third"}


async def test_an_import_once_the_plans_profiles_are_stored_is_refused(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stripe: FakeStripe
) -> None:
    world = await make_world(app)
    await sync_plans(app, settings)
    await subscribe(client, app, settings, stripe, world, "levier_starter")  # 5 profiles
    for n in range(4):
        await make_profile(app, world.brand_a.id, email=f"p{n}@example.com")
    url = f"/v1/brands/{world.brand_a.id}/imports/profiles"
    headers = {**world.manager_a.headers, "content-type": "text/csv"}
    accepted = await client.post(url, content=b"email\nnew@example.com\n", headers=headers)
    assert accepted.status_code == 202, accepted.text
    await make_profile(app, world.brand_a.id, email="fifth@example.com")
    refused = await client.post(url, content=b"email\nmore@example.com\n", headers=headers)
    body = problem(refused, 402)
    assert body["errors"][0]["field"] == "profiles"
    assert body["errors"][0]["limit"] == 5
    assert body["errors"][0]["used"] == 5


async def test_a_campaign_beyond_the_months_remaining_messages_is_refused(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stripe: FakeStripe
) -> None:
    world = await make_world(app)
    await sync_plans(app, settings)
    await subscribe(client, app, settings, stripe, world, "levier_starter")  # 10 emails a month
    other = await make_brand(app, world.agency_a.id, "Brand A2")
    now = utcnow()
    await sent(app, world.brand_a.id, [now - dt.timedelta(minutes=1)] * 5)  # counted live
    await sent(app, other.id, [now - dt.timedelta(minutes=10)] * 3)
    await meter(app, other.id, settings)  # the other brand's sends, as last metered
    await _check(app, world.brand_a.id, settings, "email", 2)
    await _check(app, world.brand_a.id, settings, "push", 100_000)  # unlimited on this plan
    with pytest.raises(LevierError) as refused:
        await _check(app, world.brand_a.id, settings, "email", 3)
    assert refused.value.status == 402
    assert refused.value.slug == "plan-limit-reached"
    assert refused.value.errors == [
        {
            "field": "messages.email",
            "limit": 10,
            "used": 8,
            "remaining": 2,
            "requested": 3,
            "message": "the plan's limit of 10",
        }
    ]
    assert "10 messages email a month" in (refused.value.detail or "")
    with pytest.raises(LevierError) as unknown:
        await _check(app, world.brand_a.id, settings, "fax", 1)
    assert unknown.value.status == 422
    # Through the campaigns API: scheduling a campaign to 3 profiles (2 emails left) is refused,
    # and the campaign stays a draft.
    brand = world.brand_a.id
    members = await make_profiles(app, brand, 3)
    segment = await static_segment(app, brand, "three", members)
    template = await _template(client, world, brand)
    body = {
        "name": "Too big",
        "audience": {"include": [segment]},
        "channel": "email",
        "templateId": str(template),
    }
    created = await client.post(
        f"/v1/brands/{brand}/campaigns", json=body, headers=world.owner_a.headers
    )
    assert created.status_code == 201, created.text
    campaign_url = f"/v1/brands/{brand}/campaigns/{created.json()['id']}"
    scheduled = await client.post(f"{campaign_url}/schedule", headers=world.owner_a.headers)
    limit = problem(scheduled, 402)
    assert limit["errors"][0]["field"] == "messages.email"
    assert limit["errors"][0]["requested"] == 3
    after = await client.get(campaign_url, headers=world.owner_a.headers)
    assert after.json()["status"] == "draft"


async def _template(client: httpx.AsyncClient, world: World, brand: UUID) -> UUID:
    response = await client.post(
        f"/v1/brands/{brand}/templates",
        json={
            "key": "hello",
            "name": "Hello",
            "channel": "email",
            "defaultLocale": "en",
            "variants": {"en": {"subject": "Hi", "body": "<p>Hello</p>"}},
        },
        headers=world.owner_a.headers,
    )
    assert response.status_code == 201, response.text
    return UUID(response.json()["id"])


async def _record(
    app: Litestar, brand: UUID, template: UUID, profile: UUID, campaign: bool
) -> UUID:
    async with session_of(app, brand) as session:
        message, _ = await messaging_service.record(
            session,
            TenantId(brand),
            source_kind=SourceKind.CAMPAIGN if campaign else SourceKind.TRANSACTIONAL,
            source_key=f"{'c' if campaign else 't'}-{utcnow().timestamp()}",
            profile_id=profile,
            channel=MessageChannel.EMAIL,
            template_id=template,
            priority=MessagePriority.CAMPAIGN if campaign else MessagePriority.TRANSACTIONAL,
        )
        await session.commit()
    return message.id


async def _deliver(app: Litestar, brand: UUID, settings: Settings, ids: list[UUID]) -> None:
    """What the `messaging.deliver_batch` task does for these messages."""
    async with session_of(app, brand) as session:
        _, prepared = await delivery.prepare_batch(
            session, TenantId(brand), settings, message_ids=ids, limit=50
        )
        await session.commit()
        await delivery.record_outcomes(session, TenantId(brand), await delivery.hand_over(prepared))
        await session.commit()


async def _message(app: Litestar, brand: UUID, message_id: UUID) -> Message:
    async with session_of(app, brand) as session:
        return await messaging_service.get_message(session, message_id)


async def test_the_gate_lets_transactional_messages_past_the_allowance_up_to_the_grace_margin(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stripe: FakeStripe
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    await sync_plans(app, settings)
    await subscribe(client, app, settings, stripe, world, "levier_starter")  # 10 emails, +10 %
    template = await _template(client, world, brand)
    profile = await make_profile(app, brand, email="ada@example.com", consent=[Channel.EMAIL])
    await _no_quiet_hours(app, brand)
    await sent(app, brand, [utcnow() - dt.timedelta(minutes=1)] * 10)  # the allowance is spent
    campaign = await _record(app, brand, template, profile, campaign=True)
    first = await _record(app, brand, template, profile, campaign=False)
    second = await _record(app, brand, template, profile, campaign=False)
    await _deliver(app, brand, settings, [campaign, first, second])
    held = await _message(app, brand, campaign)
    assert held.status is MessageStatus.DEFERRED
    assert held.status_reason == "billing-allowance-email"
    assert (await _message(app, brand, first)).status is MessageStatus.SENT  # the 11th: grace
    beyond = await _message(app, brand, second)
    assert beyond.status is MessageStatus.REFUSED
    assert beyond.status_reason == "billing-allowance-email"


async def test_usage_warnings_at_80_and_100_percent_are_told_once(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stripe: FakeStripe
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    await sync_plans(app, settings)
    await subscribe(client, app, settings, stripe, world, "levier_starter")
    endpoint = await client.post(
        f"/v1/brands/{brand}/webhook-endpoints",
        json={"url": "https://crm.example.com/hooks", "eventTypes": ["billing.usage_warning"]},
        headers=world.manager_a.headers,
    )
    assert endpoint.status_code == 201, endpoint.text
    now = utcnow()
    await sent(app, brand, [now - dt.timedelta(minutes=10)] * 8)
    counted = await meter(app, brand, settings)
    assert counted.warnings == 1
    await sent(app, brand, [now - dt.timedelta(minutes=1)] * 2)  # after the meter's cursor
    await meter(app, brand, settings, now + dt.timedelta(minutes=2))
    await meter(app, brand, settings, now + dt.timedelta(minutes=3))  # nothing new to tell
    async with session_of(app) as session:
        warnings = (await session.scalars(select(UsageWarning))).all()
        tasks = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.task_name == "billing.tell_warning")
            )
        ).all()
    assert sorted((w.metric, w.threshold) for w in warnings) == [
        ("messages_email", 80),
        ("messages_email", 100),
    ]
    for task in [*tasks, *tasks]:  # each told twice: the task runs at least once
        async with session_of(app, brand) as session:
            await metering.tell_warning(session, TenantId(brand), UUID(task.kwargs["warning_id"]))
            await session.commit()
    deliveries = await client.get(
        f"/v1/brands/{brand}/webhook-endpoints/{endpoint.json()['id']}/deliveries",
        headers=world.manager_a.headers,
    )
    payloads = []
    for item in deliveries.json()["items"]:
        one = await client.get(
            f"/v1/brands/{brand}/webhook-endpoints/{endpoint.json()['id']}/deliveries/{item['id']}",
            headers=world.manager_a.headers,
        )
        payloads.append(one.json()["payload"])
    assert sorted(p["threshold"] for p in payloads) == [80, 100]
    assert all(p["metric"] == "messages_email" and p["limit"] == 10 for p in payloads)
    billing = (await client.get(brand_url(brand), headers=world.owner_a.headers)).json()
    assert [(w["metric"], w["threshold"]) for w in billing["warnings"]] == [
        ("messages_email", 80),
        ("messages_email", 100),
    ]
    usage = {u["metric"]: u for u in billing["usage"]}
    assert usage["messages_email"]["remaining"] == 0
    assert usage["messages_email"]["percent"] == 100.0


@pytest.mark.worker
async def test_past_due_then_sends_paused_then_paid_then_resumed(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stripe: FakeStripe
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    await sync_plans(app, settings)
    subscribed = await subscribe(client, app, settings, stripe, world)
    await _no_quiet_hours(app, brand)
    template = await _template(client, world, brand)
    profile = await make_profile(app, brand, email="ada@example.com", consent=[Channel.EMAIL])
    await deliver(client, stripe.invoice(subscribed.subscription_id, paid=False))
    await deliver(client, stripe.update_subscription(subscribed.subscription_id, status="past_due"))
    await run_jobs(app)
    grace = (await client.get(agency_url(world.agency_a.id), headers=world.owner_a.headers)).json()
    assert grace["state"] == "grace"
    assert grace["sendsHeld"] is False
    await _check(app, brand, settings, "email", 1)  # within the grace period, work goes on
    # The grace period ran out.
    async with session_of(app) as session:
        await session.execute(
            update(BillingAccount)
            .where(BillingAccount.agency_id == world.agency_a.id)
            .values(
                past_due_since=utcnow()
                - dt.timedelta(days=settings.billing_past_due_grace_days, minutes=1)
            )
        )
        await session.commit()
    paused = (await client.get(agency_url(world.agency_a.id), headers=world.owner_a.headers)).json()
    assert paused["state"] == "paused"
    assert paused["sendsHeld"] is True
    with pytest.raises(LevierError) as refused:
        await _check(app, brand, settings, "email", 1)
    assert refused.value.slug == "billing-sends-paused"
    campaign = await _record(app, brand, template, profile, campaign=True)
    receipt = await _record(app, brand, template, profile, campaign=False)
    await _deliver(app, brand, settings, [campaign, receipt])
    held = await _message(app, brand, campaign)
    assert held.status is MessageStatus.DEFERRED  # held, not dropped
    assert held.status_reason == "billing-sends-paused"
    assert held.due_at is not None
    assert held.due_at > utcnow() + dt.timedelta(minutes=10)
    assert (await _message(app, brand, receipt)).status is MessageStatus.SENT
    # The invoice is paid: the account is active again and what was held goes now.
    await deliver(client, stripe.invoice(subscribed.subscription_id, paid=True))
    await run_jobs(app)
    resumed = await _message(app, brand, campaign)
    assert resumed.status is MessageStatus.SENT
    active = (await client.get(agency_url(world.agency_a.id), headers=world.owner_a.headers)).json()
    assert active["state"] == "active"
    assert active["pastDueSince"] is None


async def test_a_canceled_subscription_makes_the_brand_read_only_with_exports_allowed(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stripe: FakeStripe
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    await sync_plans(app, settings)
    subscribed = await subscribe(client, app, settings, stripe, world)
    await deliver(client, stripe.update_subscription(subscribed.subscription_id, status="canceled"))
    await apply_events(app, settings)
    base = f"/v1/brands/{brand}"
    writes: list[tuple[str, str, Any]] = [
        ("PATCH", "/settings", {"senderName": "New name"}),
        ("POST", "/profiles", {"email": "late@example.com"}),
        (
            "POST",
            "/messages",
            {"profileId": str(brand), "channel": "email", "templateId": str(brand)},
        ),
    ]
    for method, path, body in writes:
        response = await client.request(
            method, base + path, json=body, headers=world.owner_a.headers
        )
        assert problem(response, 402)["type"].endswith(":billing-read-only"), (method, path)
    assert (await client.get(base + "/settings", headers=world.viewer_a.headers)).status_code == 200
    export = await client.post(
        base + "/exports/profiles", json={"format": "csv"}, headers=world.manager_a.headers
    )
    assert export.status_code in (201, 202), export.text
    data = await gql_data(
        client,
        'mutation($b: ID!) { createSegment(brand: $b, input: {key: "vip", name: "VIP", '
        "kind: STATIC}) { ... on OperationError { problemType httpStatus } } }",
        world.manager_a,
        {"b": str(brand)},
    )
    assert data["createSegment"] == {
        "problemType": "urn:levier:problem:billing-read-only",
        "httpStatus": 402,
    }
    billing = (await client.get(brand_url(brand), headers=world.owner_a.headers)).json()
    assert billing["readOnly"] is True
    assert billing["state"] == "read_only"
    # Creating a brand is refused too; subscribing again (a billing write) is not.
    refused = await client.post(
        f"/v1/agencies/{world.agency_a.id}/brands",
        json={"name": "New"},
        headers=world.owner_a.headers,
    )
    assert problem(refused, 402)["type"].endswith(":billing-read-only")
    again = await checkout(
        client, agency_url(world.agency_a.id, "/checkout-sessions"), world.owner_a, "levier_growth"
    )
    assert again.status_code == 201, again.text
    portal = await client.post(
        agency_url(world.agency_a.id, "/portal-sessions"),
        json={"returnUrl": CANCEL},
        headers=world.owner_a.headers,
    )
    assert portal.status_code == 201, portal.text


async def _no_quiet_hours(app: Litestar, brand: UUID) -> None:
    """No caps nor quiet hours: what holds a message back here is billing, at any hour."""
    async with session_of(app, brand) as session:
        await messaging_service.update_policy(
            session,
            TenantId(brand),
            PressurePolicyUpdate(
                per_day=None,
                per_week=None,
                per_month=None,
                quiet_hours_start=None,
                quiet_hours_end=None,
            ),
        )
        await session.commit()
