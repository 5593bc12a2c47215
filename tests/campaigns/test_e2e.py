"""Campaigns end to end with the worker running: a campaign to a segment's members through a
real SMTP server (aiosmtpd), each member receiving exactly one message, a sender variant's From;
the same through GraphQL with a test send to a seed list; a recurring campaign whose
occurrences are each sent once across a scheduler restart."""

from __future__ import annotations

import datetime as dt
from email import message_from_bytes
from email.utils import parseaddr
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select

from backend.campaigns import fanout
from backend.campaigns.assignment import Split
from backend.campaigns.models import CampaignOccurrence, OccurrenceKind, RecipientState
from backend.config import Settings
from backend.core.db import utcnow
from backend.core.jobs import enqueue
from backend.core.tenancy import TenantId
from backend.messaging.models import Message
from tests.campaigns.helpers import (
    Brand,
    captured_to,
    covering,
    create,
    progress,
    ready_brand,
    schedule,
    until,
)
from tests.factories import run_jobs, session_of
from tests.messaging.servers.smtp import SmtpSink, smtp_sink
from tests.test_graphql import gql_data
from workers.scheduler import Scheduler

pytestmark = pytest.mark.worker


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The SMTP server listens on loopback.
    return settings.replace(webhook_allow_http=True, webhook_allow_private_targets=True)


async def _post(client: httpx.AsyncClient, brand: Brand, path: str, body: Any) -> dict[str, Any]:
    response = await client.post(brand.url(path), json=body, headers=brand.headers)
    assert response.status_code in (200, 201, 202), response.text
    found: dict[str, Any] = response.json()
    return found


async def _settle(app: Litestar, client: httpx.AsyncClient, brand: Brand, campaign: str) -> None:
    """Run the scheduler's due work (a settling check planned for later) until the campaign's
    occurrence is done."""
    scheduler = Scheduler(app.state.session_factory, app.state.relay)
    step = 0

    async def done() -> bool:
        nonlocal step
        step += 1
        await scheduler.tick(utcnow() + dt.timedelta(minutes=step))
        await run_jobs(app, rounds=10)
        return (await progress(client, brand, campaign))["occurrenceStatus"] == "sent"

    await until(done, "the occurrence settled")


async def test_a_campaign_reaches_each_member_once_through_smtp(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    brand = await ready_brand(app, client, members=0)
    sink: SmtpSink
    with smtp_sink(security="none") as sink:
        await _post(
            client,
            brand,
            "/sender-identities",
            {"name": "News", "fromName": "Brand A", "fromAddress": "news@brand.test"},
        )
        offers = await _post(
            client,
            brand,
            "/sender-identities",
            {"name": "Offers", "fromName": "Brand A offers", "fromAddress": "offers@brand.test"},
        )
        await _post(
            client,
            brand,
            "/provider-accounts",
            {
                "kind": "smtp",
                "name": "Relay",
                "settings": {"host": "127.0.0.1", "port": sink.port, "security": "none"},
            },
        )
        created = await create(
            client,
            brand,
            variants=[
                {"key": "a", "weight": 50},
                {"key": "b", "weight": 50, "senderIdentityId": offers["id"]},
            ],
        )
        split = Split(holdout=0.0, test=None, weights=[("a", 50), ("b", 50)])
        parts = {(RecipientState.WAITING, "a"), (RecipientState.WAITING, "b")}
        profiles = await covering(app, brand, created["id"], split, parts, at_least=12)
        scheduled = await schedule(client, brand, created["id"])
        assert scheduled["status"] == "scheduled"

        async def all_received() -> bool:
            return len(sink.messages) >= len(profiles)

        await until(all_received, "every member's email")
        await _settle(app, client, brand, created["id"])
    received = sorted(r for m in sink.messages for r in m.rcpt_tos)
    assert received == sorted(f"p{n}@example.com" for n in range(len(profiles)))  # once each
    senders: dict[str, str] = {}
    for mail in sink.messages:
        parsed = message_from_bytes(mail.content)
        senders[mail.rcpt_tos[0]] = parseaddr(str(parsed["From"]))[1]
    async with session_of(app, brand.id) as session:
        rows = (await session.execute(select(Message.source_key, Message.profile_id))).all()
    variant_of = {profile: key.rsplit(":", 1)[1] for key, profile in rows}
    for profile_id, variant in variant_of.items():
        address = f"p{profiles.index(profile_id)}@example.com"
        expected = "offers@brand.test" if variant == "b" else "news@brand.test"
        assert senders[address] == expected
    assert {"a", "b"} == set(variant_of.values())

    state = await progress(client, brand, created["id"])
    total = len(profiles)
    assert (state["targeted"], state["sent"], state["failed"], state["queued"]) == (
        total,
        total,
        0,
        0,
    )
    assert state["campaignStatus"] == "sent"
    answer = await gql_data(
        client,
        """query($brand: ID!, $id: ID!) {
          campaignProgress(brand: $brand, id: $id) {
            campaignStatus targeted sent excluded variants { key sent } } }""",
        brand.world.viewer_a,
        {"brand": str(brand.id), "id": created["id"]},
    )
    graph = answer["campaignProgress"]
    assert (graph["campaignStatus"], graph["targeted"], graph["sent"]) == ("SENT", total, total)
    assert sum(v["sent"] for v in graph["variants"]) == total


MUTATION = """mutation($brand: ID!, $input: %s!) {
  %s(brand: $brand, input: $input) {
    __typename
    ... on %s
    ... on OperationError { httpStatus problemType detail fieldErrors { field pointer message } }
  } }"""
SHAPES = {
    "sendCampaignTest": "CampaignOccurrence { id kind occurrenceStatus: status targeted }",
}
CAMPAIGN = "Campaign { id uuid status nextRunAt variants { key weight } }"


async def _mutate(
    client: httpx.AsyncClient, brand: Brand, name: str, kind: str, payload: dict[str, Any]
) -> dict[str, Any]:
    data = await gql_data(
        client,
        MUTATION % (kind, name, SHAPES.get(name, CAMPAIGN)),
        brand.world.admin_a,
        {"brand": str(brand.id), "input": payload},
    )
    found: dict[str, Any] = data[name]
    return found


async def test_graphql_writes_schedules_tests_and_steers_a_campaign(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    brand = await ready_brand(app, client, members=3)
    refused = await _mutate(
        client,
        brand,
        "createCampaign",
        "CreateCampaignInput",
        {
            "name": "Split",
            "audience": {"include": [brand.segment_id]},
            "channel": "EMAIL",
            "templateId": brand.template_id,
            "variants": [{"key": "a", "weight": 70}, {"key": "b", "weight": 40}],
        },
    )
    assert (refused["__typename"], refused["httpStatus"]) == ("OperationError", 422)
    assert refused["problemType"].endswith(":invalid-split")
    start = (utcnow() + dt.timedelta(days=2)).replace(microsecond=0)
    created = await _mutate(
        client,
        brand,
        "createCampaign",
        "CreateCampaignInput",
        {
            "name": "Later",
            "audience": {"include": [brand.segment_id]},
            "channel": "EMAIL",
            "templateId": brand.template_id,
            "schedule": {"kind": "AT", "sendAt": start.isoformat()},
        },
    )
    assert (created["__typename"], created["status"]) == ("Campaign", "DRAFT")
    scheduled = await _mutate(
        client, brand, "scheduleCampaign", "CampaignIdInput", {"id": created["id"]}
    )
    assert scheduled["status"] == "SCHEDULED"
    assert dt.datetime.fromisoformat(scheduled["nextRunAt"]) == start
    # Editable until it starts: a new time is planned again.
    moved = await _mutate(
        client,
        brand,
        "updateCampaign",
        "UpdateCampaignInput",
        {
            "id": created["id"],
            "schedule": {"kind": "AT", "sendAt": (start + dt.timedelta(hours=1)).isoformat()},
        },
    )
    assert dt.datetime.fromisoformat(moved["nextRunAt"]) == start + dt.timedelta(hours=1)
    tested = await _mutate(
        client,
        brand,
        "sendCampaignTest",
        "SendCampaignTestInput",
        {"id": created["id"], "profileIds": [str(brand.profiles[0])]},
    )
    assert (tested["kind"], tested["targeted"]) == ("TEST", 1)
    await run_jobs(app, rounds=10)
    assert await captured_to(app, brand.id) == {"p0@example.com": 1}
    for name, status in (
        ("pauseCampaign", "PAUSED"),
        ("resumeCampaign", "SCHEDULED"),
        ("cancelCampaign", "CANCELLED"),
    ):
        steered = await _mutate(client, brand, name, "CampaignIdInput", {"id": created["id"]})
        assert steered["status"] == status, steered
    again = await _mutate(client, brand, "cancelCampaign", "CampaignIdInput", {"id": created["id"]})
    assert (again["__typename"], again["httpStatus"]) == ("OperationError", 409)
    listed = await gql_data(
        client,
        """query($brand: ID!, $id: ID!) {
          campaigns(brand: $brand) { totalCount nodes { uuid status } }
          campaignOccurrences(brand: $brand, id: $id) { nodes { kind status } } }""",
        brand.world.viewer_a,
        {"brand": str(brand.id), "id": created["id"]},
    )
    assert listed["campaigns"]["totalCount"] == 1
    assert [o["kind"] for o in listed["campaignOccurrences"]["nodes"]] == ["TEST"]


async def test_recurring_occurrences_are_each_sent_once_across_a_scheduler_restart(
    app: Litestar, client: httpx.AsyncClient, settings: Settings
) -> None:
    brand = await ready_brand(app, client, members=3)
    brussels = ZoneInfo("Europe/Brussels")
    tomorrow = (utcnow().astimezone(brussels) + dt.timedelta(days=1)).date()
    walls = [dt.datetime.combine(tomorrow + dt.timedelta(days=n), dt.time(9)) for n in range(3)]
    dates = [w.replace(tzinfo=brussels).astimezone(dt.UTC) for w in walls]
    created = await create(
        client,
        brand,
        schedule={
            "kind": "recurring",
            "rrule": "FREQ=DAILY;COUNT=3",
            "startsAt": dates[0].isoformat(),
        },
    )
    campaign = await schedule(client, brand, created["id"])
    assert dt.datetime.fromisoformat(campaign["nextRunAt"]) == dates[0]

    async def occurrences() -> list[dt.datetime]:
        async with session_of(app, brand.id) as session:
            found = await session.scalars(
                select(CampaignOccurrence.planned_at)
                .where(CampaignOccurrence.kind == OccurrenceKind.SCHEDULED)
                .order_by(CampaignOccurrence.planned_at)
            )
            return list(found)

    first = Scheduler(app.state.session_factory, app.state.relay)
    await first.tick(dates[0] + dt.timedelta(seconds=1))
    await run_jobs(app, rounds=10)
    assert await occurrences() == dates[:1]
    # A restarted scheduler ticks at the same moment again: the start was claimed once.
    restarted = Scheduler(app.state.session_factory, app.state.relay)
    await restarted.tick(dates[0] + dt.timedelta(seconds=2))
    # And the start task delivered twice (a redelivery) starts nothing more.
    async with session_of(app, brand.id) as session:
        await enqueue(
            session,
            fanout.START_TASK,
            tenant=TenantId(brand.id),
            campaign_id=created["id"],
            planned_at=dates[0].isoformat(),
        )
        await session.commit()
    await run_jobs(app, rounds=10)
    assert await occurrences() == dates[:1]
    for date in dates[1:]:
        await restarted.tick(date + dt.timedelta(seconds=1))
        await run_jobs(app, rounds=10)
    await restarted.tick(dates[-1] + dt.timedelta(days=2))  # nothing after the third
    await run_jobs(app, rounds=10)
    assert await occurrences() == dates
    assert await captured_to(app, brand.id) == {f"p{n}@example.com": 3 for n in range(3)}
    async with session_of(app, brand.id) as session:
        per_source = dict(
            (
                await session.execute(
                    select(Message.source_key, func.count()).group_by(Message.source_key)
                )
            ).all()
        )
    assert sorted(per_source.values()) == [3, 3, 3]  # three members in each occurrence
    await _settle(app, client, brand, created["id"])
    final = await client.get(brand.url(f"/campaigns/{created['id']}"), headers=brand.headers)
    assert (final.json()["status"], final.json()["nextRunAt"]) == ("sent", None)
