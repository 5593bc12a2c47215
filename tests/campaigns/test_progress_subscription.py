"""`campaignProgress` over the GraphQL websocket: a campaign's send followed from its start to its
end, `done` settling recipients out of the `total` targeted, the stream completing once sent."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

import httpx
import pytest
from litestar import Litestar

from backend.campaigns import fanout
from backend.config import Settings
from backend.core.tenancy import TenantId
from tests.campaigns.helpers import create, deliver, ready_brand, run_task, schedule
from tests.factories import served, session_of
from tests.test_graphql_subscriptions import authenticated, receive, socket, stream, subscribe

CAMPAIGN_PROGRESS = """subscription($brand: ID!, $id: ID!) {
  campaignProgress(brand: $brand, id: $id) {
    done total finished ratePerSecond estimatedEndAt
    progress { targeted sent occurrenceStatus }
  }
}"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(live_poll_seconds=0.05)


async def test_a_campaigns_send_is_streamed_to_its_end(
    app: Litestar, client: httpx.AsyncClient, settings: Settings
) -> None:
    brand = await ready_brand(app, client, members=4)
    campaign = await schedule(client, brand, (await create(client, brand))["id"])
    async with served(app) as base_url, socket(base_url) as ws:
        await authenticated(ws, brand.world.viewer_a.token)
        variables = {"brand": str(brand.id), "id": campaign["id"]}
        await subscribe(ws, "c", CAMPAIGN_PROGRESS, variables)
        first = (await receive(ws))["payload"]["data"]["campaignProgress"]
        assert (first["done"], first["finished"]) == (0, False)

        async with session_of(app, brand.id) as session:
            occurrence = await fanout.start(
                session,
                TenantId(brand.id),
                UUID(campaign["id"]),
                dt.datetime.fromisoformat(str(campaign["nextRunAt"])),
            )
            await session.commit()
        assert occurrence is not None
        for task in (fanout.SNAPSHOT_TASK, fanout.RELEASE_TASK):
            await run_task(app, settings, brand.id, task, occurrence_id=str(occurrence))
        await deliver(app, settings, brand.id)
        await run_task(app, settings, brand.id, fanout.SETTLE_TASK, occurrence_id=str(occurrence))
        payloads: list[dict[str, Any]] = await stream(ws, "c")
    seen = [first] + [p["data"]["campaignProgress"] for p in payloads]
    last = seen[-1]
    assert last["finished"] is True
    assert last["progress"]["occurrenceStatus"] == "SENT"
    assert (last["done"], last["total"], last["progress"]["sent"]) == (4, 4, 4)
    assert all(not p["finished"] for p in seen[:-1])
    dones = [p["done"] for p in seen]
    assert dones == sorted(dones), dones
    assert last["estimatedEndAt"] is not None
