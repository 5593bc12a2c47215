"""The ledger's API and gate on both stacks: a transactional send recorded once per key (also
when the same request comes many times at once), the gate's refusals and the channel fallback,
reads with timelines, the pressure policy, and brand isolation on every route."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select

from backend.core.db import utcnow
from backend.core.outbox import OutboxMessage
from backend.core.tenancy import TenantId
from backend.messaging import gate, service
from backend.messaging.models import (
    Message,
    MessageChannel,
    MessageKey,
    MessagePriority,
    SourceKind,
)
from backend.profiles import consents
from backend.profiles import service as profile_service
from backend.profiles.models import Channel, ConsentState
from backend.profiles.schemas import ConsentChangeIn, ProfileCreate
from tests.factories import World, make_world, problem, session_of

TEMPLATE = str(uuid4())


def url(world: World, path: str = "", brand: Any = None) -> str:
    return f"/v1/brands/{brand or world.brand_a.id}/messages{path}"


async def make_profile(
    app: Litestar,
    brand_id: UUID,
    *,
    consent: list[Channel] = (),
    **fields: Any,  # type: ignore[assignment]
) -> UUID:
    bounced = fields.pop("_bounced", [])
    async with session_of(app, brand_id) as session:
        profile, _ = await profile_service.create_profile(
            session, TenantId(brand_id), ProfileCreate(**fields)
        )
        for channel in consent:
            await consents.record_change(
                session,
                profile.id,
                ConsentChangeIn(state=ConsentState.GRANTED, source="test", channel=channel),
            )
        profile.bounced = list(bounced)
        await session.commit()
    return profile.id


async def send(
    client: httpx.AsyncClient, world: World, body: dict[str, Any], key: str | None = None
) -> httpx.Response:
    headers = dict(world.manager_a.headers)
    if key:
        headers["Idempotency-Key"] = key
    return await client.post(url(world), json=body, headers=headers)


async def test_send_records_a_queued_message_with_its_timeline(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profile_id = await make_profile(app, world.brand_a.id, email="ada@example.com")
    response = await send(
        client, world, {"templateId": TEMPLATE, "profileId": str(profile_id), "data": {"x": 1}}
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued"
    assert body["priority"] == "transactional"
    detail = await client.get(url(world, f"/{body['id']}"), headers=world.viewer_a.headers)
    assert detail.status_code == 200, detail.text
    assert [e["kind"] for e in detail.json()["timeline"]] == ["queued"]
    # The delivery task was written in the same transaction (the outbox).
    async with session_of(app) as session:
        tasks = (await session.scalars(select(OutboxMessage.kwargs))).all()
    assert any(t.get("message_id") == body["id"] for t in tasks)
    listed = await client.get(
        url(world), params={"status": "queued"}, headers=world.viewer_a.headers
    )
    assert [m["id"] for m in listed.json()["items"]] == [body["id"]]
    of_profile = await client.get(
        f"/v1/brands/{world.brand_a.id}/profiles/{profile_id}/messages",
        headers=world.viewer_a.headers,
    )
    assert [m["id"] for m in of_profile.json()["items"]] == [body["id"]]


async def test_the_same_request_sent_ten_times_at_once_is_one_message(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await make_profile(app, world.brand_a.id, email="bob@example.com")
    body = {"templateId": TEMPLATE, "identity": {"kind": "email", "value": "bob@example.com"}}
    answers = await asyncio.gather(*(send(client, world, body, key="order-42") for _ in range(10)))
    assert {a.status_code for a in answers} == {202}, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    async with session_of(app, world.brand_a.id) as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == 1
        assert await session.scalar(select(func.count()).select_from(MessageKey)) == 1


@pytest.mark.parametrize(
    ("fields", "body", "status", "reason"),
    [
        ({}, {}, "refused", "no-address"),
        ({"email": "c@example.com", "_bounced": ["email"]}, {}, "refused", "bounced"),
        # Transactional messages need no consent.
        ({"email": "d@example.com"}, {}, "queued", None),
        ({"phone": "+32470123456"}, {"fallback": {"channel": "sms"}}, "queued", None),
    ],
    ids=["no-address", "bounced", "transactional-without-consent", "fallback-used"],
)
async def test_the_gate_refuses_what_cannot_be_reached(
    app: Litestar,
    client: httpx.AsyncClient,
    fields: dict[str, Any],
    body: dict[str, Any],
    status: str,
    reason: str | None,
) -> None:
    world = await make_world(app)
    profile_id = await make_profile(app, world.brand_a.id, **fields)
    if "fallback" in body:
        body = {"fallback": {**body["fallback"], "templateId": TEMPLATE}}
    response = await send(
        client, world, {"templateId": TEMPLATE, "profileId": str(profile_id), **body}
    )
    assert response.status_code == 202, response.text
    answer = response.json()
    assert (answer["status"], answer["statusReason"]) == (status, reason)
    if "fallback" in body:
        assert answer["channel"] == "sms"
        first = await client.get(
            url(world, f"/{answer['fallbackOf']}"), headers=world.viewer_a.headers
        )
        assert first.json()["status"] == "refused"
        assert first.json()["statusReason"].startswith("no-address; fallback to sms")


async def test_suppressed_and_consent_refusals_for_a_campaign_message(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    granted = await make_profile(app, brand, email="e@example.com", consent=[Channel.EMAIL])
    silent = await make_profile(app, brand, email="f@example.com")
    async with session_of(app, brand) as session:
        tenant = TenantId(brand)
        outcomes = {}
        for name, pid, topic in [
            ("granted", granted, None),
            ("no-consent", silent, None),
            ("no-topic-consent", granted, "offers"),
        ]:
            message, _ = await service.record(
                session,
                tenant,
                source_kind=SourceKind.CAMPAIGN,
                source_key=f"c-{name}",
                profile_id=pid,
                channel=MessageChannel.EMAIL,
                template_id=uuid4(),
                priority=MessagePriority.CAMPAIGN,
                topic=topic,
            )
            profile = await profile_service.get_profile(session, pid)
            profile.suppressed = []
            outcomes[name] = await gate.contactable(
                session, profile, message.channel, message.priority, message.topic
            )
        profile = await profile_service.get_profile(session, granted)
        profile.suppressed = ["email"]
        outcomes["suppressed"] = await gate.contactable(
            session, profile, MessageChannel.EMAIL, MessagePriority.TRANSACTIONAL, None
        )
    assert outcomes == {
        "granted": None,
        "no-consent": "no-consent",
        "no-topic-consent": "no-topic-consent",
        "suppressed": "suppressed",
    }


async def test_pressure_policy_starts_from_the_brand_settings_and_changes(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    path = f"/v1/brands/{world.brand_a.id}/pressure-policy"
    first = await client.get(path, headers=world.viewer_a.headers)
    assert first.status_code == 200, first.text
    assert first.json()["perWeek"] == 3
    assert first.json()["quietHoursStart"] == "21:00"
    changed = await client.patch(
        path,
        json={
            "perDay": 1,
            "channelCaps": {"sms": {"week": 1}},
            "quietHoursStart": None,
            "quietHoursEnd": None,
        },
        headers=world.manager_a.headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["perDay"] == 1
    assert changed.json()["channelCaps"]["sms"]["week"] == 1
    bad = await client.patch(path, json={"quietHoursEnd": "25:00"}, headers=world.manager_a.headers)
    problem(bad, 422)


async def test_a_capped_campaign_message_is_deferred_to_the_next_free_slot(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    tenant = TenantId(brand)
    pid = await make_profile(
        app, brand, email="g@example.com", consent=[Channel.EMAIL], time_zone="Europe/Brussels"
    )
    now = dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.UTC)  # 12:00 in Brussels
    async with session_of(app, brand) as session:
        policy = await gate.policy_of(session, tenant)
        policy.per_day = 1
        policy.per_week = None
        earlier, _ = await service.record(
            session,
            tenant,
            source_kind=SourceKind.CAMPAIGN,
            source_key="one",
            profile_id=pid,
            channel=MessageChannel.EMAIL,
            template_id=uuid4(),
            priority=MessagePriority.CAMPAIGN,
        )
        earlier.counted_at = now - dt.timedelta(hours=2)
        second, _ = await service.record(
            session,
            tenant,
            source_kind=SourceKind.CAMPAIGN,
            source_key="two",
            profile_id=pid,
            channel=MessageChannel.EMAIL,
            template_id=uuid4(),
            priority=MessagePriority.CAMPAIGN,
        )
        await session.flush()
        profile = await profile_service.get_profile(session, pid)
        decision = await gate.decide(session, tenant, second, profile, now)
        assert decision.outcome == "defer"
        assert decision.reason == "pressure-cap"
        # Free at 08:00 UTC next day (= 10:00 Brussels, after the quiet hours).
        assert decision.until == now + dt.timedelta(hours=22)
        second.deferrable = False
        skipped = await gate.decide(session, tenant, second, profile, now)
        assert (skipped.outcome, skipped.reason) == ("refuse", "pressure-cap")
        await session.rollback()


async def test_every_message_route_is_closed_to_another_brand(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profile_id = await make_profile(app, world.brand_a.id, email="h@example.com")
    sent = await send(client, world, {"templateId": TEMPLATE, "profileId": str(profile_id)})
    message_id = sent.json()["id"]
    other = world.owner_b.headers
    b = world.brand_b.id
    # Brand B's owner reaching brand A's routes: 404.
    for method, path in [
        ("GET", url(world)),
        ("GET", url(world, f"/{message_id}")),
        ("POST", url(world)),
        ("GET", f"/v1/brands/{world.brand_a.id}/pressure-policy"),
        ("GET", f"/v1/brands/{world.brand_a.id}/profiles/{profile_id}/messages"),
    ]:
        response = await client.request(
            method, path, headers=other, json={"templateId": TEMPLATE} if method == "POST" else None
        )
        problem(response, 404)
    # On its own brand, brand A's message and profile do not exist.
    problem(await client.get(url(world, f"/{message_id}", brand=b), headers=other), 404)
    assert (await client.get(url(world, brand=b), headers=other)).json()["items"] == []
    missing = await client.post(
        url(world, brand=b),
        json={"templateId": TEMPLATE, "profileId": str(profile_id)},
        headers=other,
    )
    problem(missing, 404)
    bad = await client.post(
        url(world, brand=b),
        json={"templateId": "nope", "profileId": str(profile_id)},
        headers=other,
    )
    problem(bad, 422)
    async with session_of(app, b) as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == 0
    assert utcnow()
