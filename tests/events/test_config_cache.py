"""A brand's event settings, event types and event trigger definitions are read once per process
for a few seconds (they are needed by every ingested event), and a change committed in the
process is seen by the very next event; a session that changed them reads its own writes."""

from __future__ import annotations

import httpx
from litestar import Litestar
from sqlalchemy import update

from backend.core.tenancy import TenantId
from backend.events import service as events_service
from backend.events.models import EventSettings
from backend.events.schemas import EventIn
from backend.triggers import service as triggers_service
from backend.triggers.models import TriggerKind
from backend.triggers.schemas import TriggerCreate
from tests.events.helpers import event as an_event
from tests.events.helpers import send, set_settings
from tests.factories import make_world, session_of, statements_of
from tests.profiles.helpers import brand_url
from tests.triggers.helpers import define_trigger, occurrences

CONFIG_TABLES = (
    "FROM event_settings",
    "FROM event_types",
    "FROM trigger_definitions",
    "FROM segments ",
)


async def test_configuration_is_read_once_for_many_events(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    with statements_of(app) as warm_up:
        response = await send(client, world, an_event("e-0", email="ada@example.com"))
        assert response.status_code == 202, response.text
    with statements_of(app) as statements:
        for n in range(1, 4):
            response = await send(client, world, an_event(f"e-{n}", email="ada@example.com"))
            assert response.status_code == 202, response.text
    for table in CONFIG_TABLES:
        assert any(table in s for s in warm_up), table
        assert not any(table in s for s in statements), table
    # New events of a known profile are not looked up before their insert either.
    assert not any("FROM events" in s for s in statements)


async def test_a_settings_change_committed_here_bites_at_once(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    assert (await send(client, world, an_event("e-1", email="ada@example.com"))).status_code == 202
    await set_settings(client, world, requireDeclaredTypes=True)
    refused = await send(client, world, an_event("e-2", email="ada@example.com"))
    assert refused.status_code == 422, refused.text
    # A change made with a plain statement (no ORM instance) is noticed too.
    async with session_of(app, world.brand_a.id) as session:
        await session.execute(update(EventSettings).values(require_declared_types=False))
        await session.commit()
    assert (await send(client, world, an_event("e-3", email="ada@example.com"))).status_code == 202


async def test_a_declared_type_is_enforced_by_the_next_event(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ok = await send(client, world, an_event("e-1", "signed_up", email="ada@example.com"))
    assert ok.status_code == 202, ok.text
    declared = await client.post(
        brand_url(world, "/event-types"),
        json={
            "name": "signed_up",
            "propertiesSchema": {"type": "object", "required": ["plan"]},
        },
        headers=world.manager_a.headers,
    )
    assert declared.status_code == 201, declared.text
    refused = await send(client, world, an_event("e-2", "signed_up", email="ada@example.com"))
    assert refused.status_code == 422, refused.text


async def test_a_new_trigger_raises_on_the_next_event(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    await send(client, world, an_event("e-1", "sign_up", email="ada@example.com"))
    await define_trigger(
        app, brand, "signed_up", TriggerKind.EVENT, "2026-01-01T00:00:00", event_name="sign_up"
    )
    await send(client, world, an_event("e-2", "sign_up", email="ada@example.com"))
    assert [o.type for o in await occurrences(app, brand)] == ["signed_up"]


async def test_a_session_reads_its_own_uncommitted_definitions(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    tenant = TenantId(brand)
    # Warm the cache with "no event trigger".
    await send(client, world, an_event("e-1", "sign_up", email="ada@example.com"))
    async with session_of(app, brand) as session:
        data = TriggerCreate(
            key="signed_up", label="Signed up", kind=TriggerKind.EVENT, event_name="sign_up"
        )
        await triggers_service.create_definition(session, data)
        [outcome] = await events_service.ingest(
            session,
            tenant,
            [EventIn(event_id="e-2", name="sign_up", email="ada@example.com")],
            source="test",
        )
        await session.commit()
    assert outcome.outcome.value == "accepted"
    assert [o.type for o in await occurrences(app, brand)] == ["signed_up"]
