"""The batch path of delivery on both stacks, through the functions the `messaging.deliver_batch`
task calls (claim → set-based gate → render → capture provider → set-based outcomes): a batch
mixing every outcome gives each message its own, and two batches racing over the same profiles
never exceed a pressure cap."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from uuid import UUID

import httpx
from litestar import Litestar
from sqlalchemy import select

from backend.config import Settings
from backend.core.db import utcnow
from backend.core.tenancy import TenantId
from backend.events.models import Event
from backend.messaging import delivery, gate, service
from backend.messaging.models import (
    Message,
    MessageChannel,
    MessageEvent,
    MessagePriority,
    MessageStatus,
    SourceKind,
)
from backend.messaging.providers.models import CapturedMessage
from backend.profiles.models import Channel
from tests.factories import World, make_world, session_of
from tests.messaging.test_ledger import make_profile


def _template(key: str, body: str) -> dict[str, Any]:
    return {
        "key": key,
        "name": key,
        "channel": "email",
        "defaultLocale": "en",
        "variants": {"en": {"subject": "Hi {{ email }}", "body": body}},
    }


async def _create(client: httpx.AsyncClient, world: World, path: str, body: Any) -> UUID:
    response = await client.post(
        f"/v1/brands/{world.brand_a.id}{path}", json=body, headers=world.admin_a.headers
    )
    assert response.status_code == 201, response.text
    return UUID(response.json()["id"])


async def _record(
    session: Any, tenant: TenantId, key: str, profile: UUID, template: UUID, campaign: bool
) -> UUID:
    message, _ = await service.record(
        session,
        tenant,
        source_kind=SourceKind.CAMPAIGN if campaign else SourceKind.TRANSACTIONAL,
        source_key=key,
        profile_id=profile,
        channel=MessageChannel.EMAIL,
        template_id=template,
        priority=MessagePriority.CAMPAIGN if campaign else MessagePriority.TRANSACTIONAL,
    )
    return message.id


async def _run_batch(
    app: Litestar, brand: UUID, settings: Settings, ids: list[UUID] | None = None
) -> int:
    """What the task does: prepare — commit — hand over — record — commit."""
    tenant = TenantId(brand)
    async with session_of(app, brand) as session:
        claimed, prepared = await delivery.prepare_batch(
            session, tenant, settings, message_ids=ids, limit=50
        )
        await session.commit()
        handed = await delivery.hand_over(prepared)
        await delivery.record_outcomes(session, tenant, handed)
        await session.commit()
    return claimed


async def test_a_batch_gives_each_message_its_own_outcome(
    app: Litestar, client: httpx.AsyncClient, settings: Settings
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    tenant = TenantId(brand)
    plain = await _create(client, world, "/templates", _template("plain", "<p>Hello</p>"))
    await _create(client, world, "/coupon-pools", {"key": "EMPTY", "name": "Empty"})
    coupon = await _create(
        client, world, "/templates", _template("coupon", "<p>{{ coupon('EMPTY') }}</p>")
    )
    reachable = await make_profile(app, brand, email="a@example.com", consent=[Channel.EMAIL])
    capped = await make_profile(app, brand, email="b@example.com", consent=[Channel.EMAIL])
    unreachable = await make_profile(app, brand, phone="+32470000001")
    async with session_of(app, brand) as session:
        policy = await gate.policy_of(session, tenant)
        policy.per_day, policy.per_week, policy.per_month = 1, None, None
        policy.quiet_hours_start = policy.quiet_hours_end = None
        earlier = await service.get_message(
            session, await _record(session, tenant, "earlier", capped, plain, True)
        )
        earlier.status = MessageStatus.SENT
        earlier.counted_at = utcnow() - dt.timedelta(hours=1)
        expected = {
            await _record(session, tenant, "sent", reachable, plain, True): ("sent", None),
            # The second of the profile in the same batch: the first took the day's slot.
            await _record(session, tenant, "second", reachable, plain, True): (
                "deferred",
                "pressure-cap",
            ),
            await _record(session, tenant, "capped", capped, plain, True): (
                "deferred",
                "pressure-cap",
            ),
            await _record(session, tenant, "no-address", unreachable, plain, False): (
                "refused",
                "no-address",
            ),
            await _record(session, tenant, "no-coupon", capped, coupon, False): ("failed", None),
        }
        await session.commit()
    assert await _run_batch(app, brand, settings) == len(expected)
    async with session_of(app, brand) as session:
        messages = {
            m.id: m for m in await session.scalars(select(Message).where(Message.id.in_(expected)))
        }
        timeline = (await session.scalars(select(MessageEvent))).all()
        captured = (await session.scalars(select(CapturedMessage.message_id))).all()
        events = (await session.scalars(select(Event))).all()
    got = {i: (m.status.value, m.status_reason) for i, m in messages.items()}
    for message_id, (status, reason) in expected.items():
        assert got[message_id][0] == status, (message_id, got[message_id])
        if reason is not None:
            assert got[message_id][1] == reason
    failed = next(i for i, (s, _) in expected.items() if s == "failed")
    assert "coupon" in (got[failed][1] or "").lower()
    sent = next(i for i, (s, _) in expected.items() if s == "sent")
    assert captured == [sent]
    assert messages[sent].template_version == 1
    assert messages[sent].counted_at is not None
    deferred = [i for i, (s, _) in expected.items() if s == "deferred"]
    assert all((messages[i].due_at or utcnow()) > utcnow() for i in deferred)
    names = {"sent": "message_sent", "deferred": "message_deferred"}
    names |= {"refused": "message_refused", "failed": "message_failed"}
    for message_id, (status, _) in expected.items():
        kinds = [e.kind.value for e in timeline if e.message_id == message_id]
        assert kinds == ["queued", status], (status, kinds)
        told = [e.name for e in events if e.properties.get("messageId") == str(message_id)]
        assert told == [names[status]]
    # Run again: nothing is claimed twice (the deferred ones are not due yet).
    assert await _run_batch(app, brand, settings) == 0


PROFILES = 12


async def test_two_batches_racing_over_the_same_profiles_never_exceed_the_cap(
    app: Litestar, client: httpx.AsyncClient, settings: Settings
) -> None:
    """Per profile, a cap of one a day and two campaign messages, one in each of two batches run
    at once in two transactions: one message takes the slot, the other is deferred — never
    both sent. Several rounds, each on fresh profiles."""
    world = await make_world(app)
    brand = world.brand_a.id
    tenant = TenantId(brand)
    plain = await _create(client, world, "/templates", _template("plain", "<p>Hello</p>"))
    async with session_of(app, brand) as session:
        policy = await gate.policy_of(session, tenant)
        policy.per_day, policy.per_week, policy.per_month = 1, None, None
        policy.quiet_hours_start = policy.quiet_hours_end = None
        await session.commit()
    for round_ in range(3):
        firsts: list[UUID] = []
        seconds: list[UUID] = []
        profiles = [
            await make_profile(
                app, brand, email=f"r{round_}-{n}@example.com", consent=[Channel.EMAIL]
            )
            for n in range(PROFILES)
        ]
        async with session_of(app, brand) as session:
            for n, profile in enumerate(profiles):
                firsts.append(
                    await _record(session, tenant, f"a{round_}-{n}", profile, plain, True)
                )
                seconds.append(
                    await _record(session, tenant, f"b{round_}-{n}", profile, plain, True)
                )
            await session.commit()
        # Both lock the same profiles: in one stable order, so they queue, never deadlock.
        claimed = await asyncio.gather(
            _run_batch(app, brand, settings, firsts), _run_batch(app, brand, settings, seconds)
        )
        assert sum(claimed) == 2 * PROFILES
        async with session_of(app, brand) as session:
            rows = (
                await session.execute(
                    select(Message.profile_id, Message.status).where(
                        Message.id.in_(firsts + seconds)
                    )
                )
            ).all()
        by_profile: dict[UUID, list[str]] = {p: [] for p in profiles}
        for profile_id, status in rows:
            by_profile[profile_id].append(status.value)
        for statuses in by_profile.values():
            assert sorted(statuses) == ["deferred", "sent"], by_profile


async def test_a_refused_channel_in_a_batch_falls_back_and_the_fallback_is_sent(
    app: Litestar, client: httpx.AsyncClient, settings: Settings
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    tenant = TenantId(brand)
    plain = await _create(client, world, "/templates", _template("plain", "<p>Hello</p>"))
    sms = {"text": "Hello from the shop"}
    sms_body = {"key": "sms", "name": "SMS", "channel": "sms", "defaultLocale": "en"}
    text = await _create(client, world, "/templates", sms_body | {"variants": {"en": sms}})
    profile = await make_profile(app, brand, phone="+32470000002")
    async with session_of(app, brand) as session:
        first, _ = await service.record(
            session,
            tenant,
            source_kind=SourceKind.TRANSACTIONAL,
            source_key="fallback",
            profile_id=profile,
            channel=MessageChannel.EMAIL,
            template_id=plain,
            priority=MessagePriority.TRANSACTIONAL,
            fallback={"channel": "sms", "template_id": str(text)},
        )
        await session.commit()
    assert await _run_batch(app, brand, settings, [first.id]) == 1
    assert await _run_batch(app, brand, settings) == 1  # the fallback message, queued by it
    async with session_of(app, brand) as session:
        messages = (await session.scalars(select(Message).order_by(Message.id))).all()
    assert [(m.channel.value, m.status.value) for m in messages] == [
        ("email", "refused"),
        ("sms", "sent"),
    ]
    assert (messages[0].status_reason or "").startswith("no-address; fallback to sms")
    assert messages[1].fallback_of == first.id
