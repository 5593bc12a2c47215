"""Single events sent at once by many clients are stored together: each request still gets its
own outcome after the commit, a repeated event id is one event, and a failing shared transaction
is retried event by event so that one event never sinks the others."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.tenancy import TenantId
from backend.events import service
from backend.events.batcher import SingleEventBatcher
from backend.events.schemas import EventIn
from backend.events.service import EventOutcome
from tests.events.helpers import event, events_of, send
from tests.factories import make_world, statements_of


async def test_concurrent_single_events_share_transactions_and_get_their_own_outcomes(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    bodies = [event(f"e-{n}", email=f"p{n % 5}@example.com") for n in range(20)]
    with statements_of(app) as statements:
        responses = await asyncio.gather(*(send(client, world, body) for body in bodies))
    assert [r.status_code for r in responses] == [202] * 20
    answers = [r.json() for r in responses]
    stored = {e["eventId"]: e for e in await events_of(client, world, "?limit=100")}
    assert len(stored) == 20
    for body, answer in zip(bodies, answers, strict=True):
        assert stored[body["eventId"]]["id"] == answer["id"]
        assert stored[body["eventId"]]["profileId"] == answer["profileId"]
    inserts = [s for s in statements if s.startswith("INSERT INTO events")]
    assert 1 <= len(inserts) < 20


async def test_the_same_event_sent_twice_at_once_is_stored_once(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    body = event("e-1", email="ada@example.com")
    first, second = await asyncio.gather(send(client, world, body), send(client, world, body))
    assert sorted([first.status_code, second.status_code]) == [200, 202]
    assert first.json()["id"] == second.json()["id"]
    assert len(await events_of(client, world)) == 1


async def test_a_failing_shared_transaction_is_retried_event_by_event(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    tenant = TenantId(world.brand_a.id)
    batch_sizes: list[int] = []

    async def fails_on_bad(
        session: AsyncSession, tenant: TenantId, events: Sequence[EventIn], source: str
    ) -> list[EventOutcome]:
        batch_sizes.append(len(events))
        outcomes = await service.ingest(session, tenant, events, source=source)
        if any(e.event_id == "bad" for e in events):
            raise RuntimeError("the database refused the transaction")
        return outcomes

    batcher = SingleEventBatcher(
        app.state.session_factory, app.state.relay.wake, ingest=fails_on_bad
    )
    names = ["good-1", "bad", "good-2"]
    results = await asyncio.gather(
        *(
            batcher.submit(
                tenant, EventIn(event_id=n, name="page_viewed", email="a@example.com"),
                actor="test", source="api",
            )
            for n in names
        ),
        return_exceptions=True,
    )  # fmt: skip
    assert batch_sizes == [3, 1, 1, 1]  # shared, then each alone
    good_1, bad, good_2 = results
    assert isinstance(bad, RuntimeError)
    assert isinstance(good_1, EventOutcome)
    assert isinstance(good_2, EventOutcome)
    assert (good_1.outcome.value, good_2.outcome.value) == ("accepted", "accepted")
    assert sorted(e["eventId"] for e in await events_of(client, world)) == ["good-1", "good-2"]


async def test_batches_never_exceed_their_bound(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    tenant = TenantId(world.brand_a.id)
    sizes: list[int] = []

    async def counted(
        session: AsyncSession, tenant: TenantId, events: Sequence[EventIn], source: str
    ) -> list[EventOutcome]:
        sizes.append(len(events))
        return await service.ingest(session, tenant, events, source=source)

    batcher = SingleEventBatcher(
        app.state.session_factory, app.state.relay.wake, max_batch=2, ingest=counted
    )
    await asyncio.gather(
        *(
            batcher.submit(
                tenant, EventIn(event_id=f"e-{n}", name="page_viewed", email="a@example.com"),
                actor="test", source="api",
            )
            for n in range(5)
        )
    )  # fmt: skip
    assert sizes == [2, 2, 1]
    assert len(await events_of(client, world)) == 5
