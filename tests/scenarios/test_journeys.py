"""Journeys end to end on the real parts, with the worker running: entries → `scenarios.advance`
→ conditions on the segment compiler, splits, waits with the clock moved forward, sends through
the messaging pipeline to a real SMTP server (aiosmtpd) and a local Twilio → the messages'
outcomes releasing the journeys → statistics per node, in REST and GraphQL."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select, update

from backend.config import Settings
from backend.messaging.models import Message
from backend.scenarios.models import JourneyState
from tests.factories import make_world, run_jobs, session_of
from tests.messaging.servers.smtp import SmtpSink, smtp_sink
from tests.messaging.servers.twilio import LocalTwilio, local_twilio
from tests.scenarios.helpers import (
    EXIT,
    advance_clock,
    enter,
    entry,
    journeys,
    open_the_gate,
    person,
    post,
    scenario,
    steps,
    template,
    url,
)

pytestmark = pytest.mark.worker


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The provider counterparts listen on loopback over plain http.
    return settings.replace(webhook_allow_http=True, webhook_allow_private_targets=True)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with smtp_sink(security="none") as server:
        yield server


@pytest.fixture
def twilio() -> Iterator[LocalTwilio]:
    with local_twilio() as server:
        yield server


async def providers(
    client: httpx.AsyncClient, world: Any, sink: SmtpSink, twilio: LocalTwilio
) -> None:
    await post(
        client,
        world,
        "/provider-accounts",
        {
            "kind": "smtp",
            "name": "Relay",
            "settings": {"host": "127.0.0.1", "port": sink.port, "security": "none"},
        },
    )
    await post(
        client,
        world,
        "/provider-accounts",
        {
            "kind": "twilio",
            "name": "Twilio",
            "settings": {"baseUrl": twilio.base_url},
            "credentials": {"accountSid": twilio.account_sid, "authToken": twilio.auth_token},
        },
    )


async def test_welcome_journey_sends_email_or_sms_waits_a_day_and_reminds(
    app: Litestar, client: httpx.AsyncClient, sink: SmtpSink, twilio: LocalTwilio
) -> None:
    """Match's welcome: contactable by e-mail → welcome e-mail, a day later a Drive invitation
    by e-mail; not → an SMS asking for an address. Then everyone exits."""
    world = await make_world(app)
    await open_the_gate(client, world)
    await providers(client, world, sink, twilio)
    welcome = await template(client, world, "welcome", text="Welcome to Match")
    drive = await template(client, world, "drive", text="Try the Drive")
    ask = await template(client, world, "ask_email", channel="sms", text="Your e-mail?")
    scenario_id = await scenario(
        client,
        world,
        [
            entry("reachable"),
            {
                "kind": "condition",
                "id": "reachable",
                "rule": {"contactable": "email"},
                "yes": "welcome",
                "no": "ask",
            },
            {"kind": "send", "id": "welcome", "templateId": welcome, "next": "day"},
            {"kind": "wait", "id": "day", "duration": {"days": 1}, "next": "drive"},
            {"kind": "send", "id": "drive", "templateId": drive, "next": "done"},
            {"kind": "send", "id": "ask", "templateId": ask, "next": "done"},
            EXIT,
        ],
    )
    ada = await person(app, world, email="ada@example.com", firstName="Ada")
    bob = await person(app, world, phone="+32470123456", firstName="Bob", channels=("sms",))
    for profile in (ada, bob):
        answer = await enter(client, world, scenario_id, profile)
        assert answer["admitted"] is True, answer
    await run_jobs(app, rounds=20)

    assert [m.rcpt_tos for m in sink.messages] == [["ada@example.com"]]
    assert "Welcome to Match Ada" in sink.messages[0].content.decode()
    assert [m["To"] for m in twilio.messages] == ["+32470123456"]
    assert "Your e-mail?: hello Bob" in twilio.messages[0]["Body"]
    by_profile = {j.profile_id: j for j in await journeys(app, world, scenario_id)}
    assert by_profile[bob].state is JourneyState.COMPLETED
    waiting = by_profile[ada]
    assert (waiting.state, waiting.node_id) == (JourneyState.WAITING, "day")
    assert waiting.due_at is not None
    assert dt.timedelta(hours=23) < waiting.due_at - waiting.entered_at <= dt.timedelta(hours=25)

    assert await advance_clock(app, world, dt.timedelta(hours=1)) == 0  # not due yet
    assert len(sink.messages) == 1
    assert await advance_clock(app, world, dt.timedelta(days=1, minutes=1)) == 1
    assert len(sink.messages) == 2
    assert "Try the Drive" in sink.messages[1].content.decode()
    ada_journey = by_profile[ada]
    assert await steps(app, world, ada_journey.id) == [
        ("start", "entered"),
        ("reachable", "yes"),
        ("welcome", "sent"),
        ("day", "passed"),
        ("drive", "sent"),
        ("done", "completed"),
    ]
    assert await advance_clock(app, world, dt.timedelta(days=3)) == 0  # nothing runs twice
    assert len(sink.messages) == 2
    assert len(twilio.messages) == 1

    stats = (
        await client.get(
            url(world, f"/scenarios/{scenario_id}/stats"), headers=world.viewer_a.headers
        )
    ).json()
    nodes = {n["nodeId"]: n for n in stats["nodes"]}
    assert nodes["start"]["entered"] == 2
    assert nodes["reachable"]["outcomes"] == {"no": 1, "yes": 1}
    assert nodes["welcome"]["messages"] == {
        "sent": 1,
        "refused": 0,
        "failed": 0,
        "pending": 0,
        "deferred": 0,
    }
    assert nodes["ask"]["messages"]["sent"] == 1
    assert (nodes["day"]["entered"], nodes["day"]["passed"], nodes["day"]["waiting"]) == (1, 1, 0)
    assert nodes["done"]["exited"] == 2
    query = """query($brand: ID!, $id: ID!) { scenarioStats(brand: $brand, id: $id) {
        version nodes { nodeId entered exited messages { sent } } } }"""
    graphql = await client.post(
        "/graphql",
        json={"query": query, "variables": {"brand": str(world.brand_a.id), "id": scenario_id}},
        headers=world.viewer_a.headers,
    )
    body = graphql.json()
    assert "errors" not in body, body
    gnodes = {n["nodeId"]: n for n in body["data"]["scenarioStats"]["nodes"]}
    assert gnodes["done"]["exited"] == 2
    assert gnodes["welcome"]["messages"] == {"sent": 1}


async def test_a_deferred_message_holds_the_profile_until_it_is_sent(
    app: Litestar, client: httpx.AsyncClient, sink: SmtpSink, twilio: LocalTwilio
) -> None:
    world = await make_world(app)
    await open_the_gate(client, world)
    await providers(client, world, sink, twilio)
    hello = await template(client, world, "hello")
    after = await template(client, world, "after")
    scenario_id = await scenario(
        client,
        world,
        [
            entry("hello"),
            {"kind": "send", "id": "hello", "templateId": hello, "next": "after"},
            {"kind": "send", "id": "after", "templateId": after, "next": "done"},
            EXIT,
        ],
    )
    ada = await person(app, world, email="ada@example.com")
    sink.replies.append("451 4.3.0 Try again later")
    await enter(client, world, scenario_id, ada)
    await run_jobs(app, rounds=20)
    (journey,) = await journeys(app, world, scenario_id)
    assert (journey.state, journey.node_id) == (JourneyState.WAITING, "hello")
    assert sink.messages == []
    stats = (
        await client.get(
            url(world, f"/scenarios/{scenario_id}/stats"), headers=world.viewer_a.headers
        )
    ).json()
    hello_stats = next(n for n in stats["nodes"] if n["nodeId"] == "hello")
    assert hello_stats["messages"]["deferred"] == 1
    assert hello_stats["messages"]["pending"] == 1

    # The retry falls due (the provider's backoff passed): the scheduler hands it to a worker.
    async with session_of(app, world.brand_a.id) as session:
        await session.execute(update(Message).values(due_at=dt.datetime.now(dt.UTC)))
        await session.commit()
    from workers.scheduler import Scheduler

    scheduler = Scheduler(app.state.session_factory, app.state.relay)
    await scheduler.tick(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5))
    await run_jobs(app, rounds=20)
    assert [m.rcpt_tos for m in sink.messages] == [["ada@example.com"]] * 2
    (journey,) = await journeys(app, world, scenario_id)
    assert journey.state is JourneyState.COMPLETED
    assert [outcome for _, outcome in await steps(app, world, journey.id)] == [
        "entered",
        "sent",
        "sent",
        "completed",
    ]
    async with session_of(app, world.brand_a.id) as session:
        keys = (await session.scalars(select(Message.source_key))).all()
    assert Counter(k.split(":")[1] for k in keys) == Counter({"2": 1, "3": 1})
