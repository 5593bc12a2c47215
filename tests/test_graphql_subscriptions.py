"""GraphQL subscriptions over a real websocket (``graphql-transport-ws``, the ``websockets``
client against the app served by uvicorn): authentication in ``connection_init``, the token's
life, brand and scope checks as a query's, an import's and an export's progress streamed to
their end, and the connection's limits."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select, update
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from backend.app import create_app
from backend.auth import service as auth_service
from backend.auth.models import AccessToken
from backend.config import Settings
from backend.core.db import utcnow
from backend.core.security import hash_secret
from backend.core.tenancy import TenantId
from backend.imports import service as imports_service
from backend.imports.models import ImportJob
from backend.profiles.exports import service as exports_service
from tests.factories import Person, World, make_world, served, session_of
from tests.imports.helpers import upload
from tests.profiles.helpers import brand_url

PROTOCOL = "graphql-transport-ws"
ORIGIN = "https://app.example"
WAIT = 30.0  # the bound on any single wait for a message (a condition, never a pause)
IMPORT_PROGRESS = """subscription($brand: ID!, $id: ID!) {
  importProgress(brand: $brand, id: $id) {
    done total ratePerSecond estimatedEndAt finished
    import { uuid status rowsProcessed linesProcessed totalLines created }
  }
}"""
EXPORT_PROGRESS = """subscription($brand: ID!, $id: ID!) {
  exportProgress(brand: $brand, id: $id) {
    done total finished estimatedEndAt export { uuid status rowCount totalRows }
  }
}"""
CSV_HEADER = "email,first_name\n"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Quick polls, small import batches and tight limits, so each is seen in a test."""
    return settings.replace(
        live_poll_seconds=0.05,
        import_batch_rows=3,
        graphql_ws_max_subscriptions=3,
        graphql_ws_max_message_bytes=4096,
        cors_origins=(ORIGIN,),
    )


@pytest.fixture
async def base_url(app: Litestar, client: httpx.AsyncClient) -> AsyncIterator[str]:
    async with served(app) as url:
        yield url


@contextlib.asynccontextmanager
async def socket(
    base_url: str, *, origin: str | None = None, subprotocol: str = PROTOCOL
) -> AsyncIterator[ClientConnection]:
    url = base_url.replace("http://", "ws://", 1) + "/graphql"
    headers = {"Origin": origin} if origin else None
    async with connect(
        url,
        subprotocols=[subprotocol],
        additional_headers=headers,
        open_timeout=WAIT,  # type: ignore[list-item]
    ) as ws:
        yield ws


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(json.dumps(message))


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
    return message


async def closed(ws: ClientConnection) -> tuple[int | None, str | None]:
    """The close code and reason, once the server closed the connection."""
    with contextlib.suppress(ConnectionClosed):
        while True:  # what was sent before the close, then the close
            await asyncio.wait_for(ws.recv(), WAIT)
    return ws.close_code, ws.close_reason


async def authenticated(ws: ClientConnection, token: str) -> None:
    await send(ws, {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    assert await receive(ws) == {"type": "connection_ack"}


async def subscribe(
    ws: ClientConnection, op_id: str, query: str, variables: dict[str, Any]
) -> None:
    await send(
        ws, {"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables}}
    )


async def stream(ws: ClientConnection, op_id: str) -> list[dict[str, Any]]:
    """Every `next` payload of one operation, until its `complete` (or `error`)."""
    payloads = []
    while True:
        message = await receive(ws)
        assert message.get("id") == op_id, message
        if message["type"] == "complete":
            return payloads
        if message["type"] == "error":
            return [{"errors": message["payload"]}]
        payloads.append(message["payload"])


async def token_for(
    app: Litestar,
    person: Person,
    *,
    ttl: dt.timedelta = dt.timedelta(hours=1),
    scopes: str | None = None,
) -> str:
    async with session_of(app) as session:
        token, _ = await auth_service.issue_access_token(session, person.id, ttl=ttl, scopes=scopes)
        await session.commit()
    return token


async def queued_import(client: httpx.AsyncClient, world: World, rows: int) -> str:
    body = CSV_HEADER + "".join(f"p{i}@example.com,P{i}\n" for i in range(rows))
    response = await upload(client, world, body)
    assert response.status_code == 202, response.text
    import_id: str = response.json()["id"]
    return import_id


# Authentication ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {},
        {"authorization": "Basic YWxhZGRpbjpvcGVuc2VzYW1l"},
        {"authorization": "Bearer lvr_at_not-a-token"},
        "expired",
    ],
)
async def test_a_connection_without_a_valid_token_is_closed_4403(
    app: Litestar, base_url: str, payload: Any
) -> None:
    world = await make_world(app)
    if payload == "expired":
        token = await token_for(app, world.owner_a, ttl=dt.timedelta(seconds=-1))
        payload = {"authorization": f"Bearer {token}"}
    async with socket(base_url) as ws:
        await send(
            ws, {"type": "connection_init", **({"payload": payload} if payload is not None else {})}
        )
        assert await closed(ws) == (4403, "Forbidden")


async def test_a_subscribe_before_connection_init_is_closed_4401(
    app: Litestar, base_url: str
) -> None:
    world = await make_world(app)
    async with socket(base_url) as ws:
        await subscribe(
            ws, "1", IMPORT_PROGRESS, {"brand": str(world.brand_a.id), "id": str(uuid4())}
        )
        assert (await closed(ws))[0] == 4401


async def test_the_connection_closes_4401_when_its_token_expires(
    app: Litestar, client: httpx.AsyncClient, base_url: str
) -> None:
    world = await make_world(app)
    import_id = await queued_import(client, world, 2)  # never runs here: the stream stays open
    token = await token_for(app, world.owner_a, ttl=dt.timedelta(seconds=2))
    async with socket(base_url) as ws:
        await authenticated(ws, token)
        await subscribe(ws, "1", IMPORT_PROGRESS, {"brand": str(world.brand_a.id), "id": import_id})
        first = await receive(ws)
        assert first["payload"]["data"]["importProgress"]["finished"] is False
        assert await closed(ws) == (4401, "the token expired")


async def test_a_revoked_token_ends_the_subscription(
    app: Litestar, client: httpx.AsyncClient, base_url: str
) -> None:
    world = await make_world(app)
    import_id = await queued_import(client, world, 2)
    token = await token_for(app, world.owner_a)
    async with socket(base_url) as ws:
        await authenticated(ws, token)
        await subscribe(ws, "1", IMPORT_PROGRESS, {"brand": str(world.brand_a.id), "id": import_id})
        assert (await receive(ws))["type"] == "next"
        async with session_of(app) as session:
            await session.execute(
                update(AccessToken)
                .where(AccessToken.token_hash == hash_secret(token))
                .values(revoked_at=utcnow())
            )
            await session.commit()
        payloads = await stream(ws, "1")
        assert payloads[-1]["errors"][0]["extensions"]["code"] == "unauthenticated", payloads


# Brands and scopes, as a query's ---------------------------------------------------------------


async def test_another_brands_import_is_not_found_as_a_query_answers(
    app: Litestar, client: httpx.AsyncClient, base_url: str
) -> None:
    world = await make_world(app)
    import_id = await queued_import(client, world, 2)
    variables = {"brand": str(world.brand_a.id), "id": import_id}
    query = "query($brand: ID!, $id: ID!) { import(brand: $brand, id: $id) { uuid } }"
    answered = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=world.owner_b.headers
    )
    query_error = answered.json()["errors"][0]
    assert query_error["extensions"]["code"] == "not-found"
    async with socket(base_url) as ws:
        await authenticated(ws, await token_for(app, world.owner_b))
        await subscribe(ws, "1", IMPORT_PROGRESS, variables)
        payloads = await stream(ws, "1")
    assert len(payloads) == 1, payloads
    assert payloads[0].get("data") is None
    error = payloads[0]["errors"][0]
    assert (error["message"], error["extensions"]) == (
        query_error["message"],
        query_error["extensions"],
    )


@pytest.mark.parametrize(
    ("who", "scopes", "code"),
    [
        ("viewer_a", None, None),  # a viewer follows the brand's imports
        ("viewer_a", "segments:read", "insufficient-scope"),
        ("member_a", None, "not-found"),  # in the agency, without the brand
    ],
)
async def test_the_subscriptions_scope_and_role_are_checked(
    app: Litestar,
    client: httpx.AsyncClient,
    base_url: str,
    who: str,
    scopes: str | None,
    code: str | None,
) -> None:
    world = await make_world(app)
    import_id = await queued_import(client, world, 2)
    async with socket(base_url) as ws:
        await authenticated(ws, await token_for(app, getattr(world, who), scopes=scopes))
        await subscribe(ws, "1", IMPORT_PROGRESS, {"brand": str(world.brand_a.id), "id": import_id})
        payload = (await receive(ws))["payload"]
    if code is None:
        assert payload["data"]["importProgress"]["import"]["uuid"] == import_id
    else:
        assert payload["errors"][0]["extensions"]["code"] == code, payload


# Progress --------------------------------------------------------------------------------------


async def test_an_imports_progress_is_streamed_to_its_end(
    app: Litestar, client: httpx.AsyncClient, base_url: str
) -> None:
    """The job is run here, batch by batch as the worker runs it: each committed batch is seen
    before the next is written."""
    world = await make_world(app)
    import_id = await queued_import(client, world, 10)  # 11 lines: 4 batches of 3 rows
    tenant = TenantId(world.brand_a.id)
    async with socket(base_url) as ws:
        await authenticated(ws, world.viewer_a.token)
        await subscribe(ws, "p", IMPORT_PROGRESS, {"brand": str(tenant), "id": import_id})
        seen = [(await receive(ws))["payload"]["data"]["importProgress"]]
        assert (seen[0]["done"], seen[0]["total"], seen[0]["finished"]) == (0, 11, False)
        assert seen[0]["import"]["status"] == "QUEUED"

        async def observed() -> dict[str, Any]:
            message = await receive(ws)
            assert message["type"] == "next", message
            progress: dict[str, Any] = message["payload"]["data"]["importProgress"]
            seen.append(progress)
            return progress

        async with session_of(app, tenant) as session:
            assert await imports_service.start(session, UUID(import_id))
            await session.commit()
            while (await observed())["import"]["status"] != "RUNNING":
                pass
            batches = imports_service.run_batches(
                session, tenant, UUID(import_id), batch_size=app.state.settings.import_batch_rows
            )
            async for _ in batches:
                await session.commit()
                done = await session.scalar(
                    select(ImportJob.lines_done).where(ImportJob.id == UUID(import_id))
                )
                assert done is not None
                while seen[-1]["done"] < done and not seen[-1]["finished"]:
                    await observed()
        payloads = await stream(ws, "p")  # what is left, then `complete`
    seen += [p["data"]["importProgress"] for p in payloads]
    last = seen[-1]
    assert last["finished"] is True
    assert last["import"]["status"] == "SUCCEEDED"
    assert (last["done"], last["total"], last["import"]["created"]) == (11, 11, 10)
    dones = [p["done"] for p in seen]
    assert dones == sorted(dones), dones
    assert len(set(dones)) >= 4, dones  # 0, then each batch: 4, 7, 10, 11
    assert all(not p["finished"] for p in seen[:-1])
    assert last["estimatedEndAt"] is not None
    assert last["ratePerSecond"] > 0


@pytest.mark.worker
async def test_the_workers_import_and_export_are_followed_to_their_end(
    app: Litestar, client: httpx.AsyncClient, base_url: str
) -> None:
    """The real job system runs both (the embedded worker; on PostgreSQL fed through Redis)."""
    world = await make_world(app)
    brand = str(world.brand_a.id)
    async with socket(base_url) as ws:
        await authenticated(ws, world.manager_a.token)
        import_id = await queued_import(client, world, 7)
        await subscribe(ws, "i", IMPORT_PROGRESS, {"brand": brand, "id": import_id})
        imported = [p["data"]["importProgress"] for p in await stream(ws, "i")]
        assert imported[-1]["finished"]
        assert imported[-1]["import"]["status"] == "SUCCEEDED"
        assert imported[-1]["done"] == imported[-1]["total"] == 8

        created = await client.post(
            brand_url(world, "/exports/profiles"),
            json={"format": "csv"},
            headers=world.manager_a.headers,
        )
        assert created.status_code == 202, created.text
        await subscribe(ws, "e", EXPORT_PROGRESS, {"brand": brand, "id": created.json()["id"]})
        exported = [p["data"]["exportProgress"] for p in await stream(ws, "e")]
    last = exported[-1]
    assert last["finished"], exported
    assert last["export"]["status"] == "SUCCEEDED"
    assert last["done"] == last["total"] == last["export"]["rowCount"] == 7
    assert all(not p["finished"] for p in exported[:-1])


async def test_an_exports_progress_counts_against_the_profiles_its_filter_keeps(
    app: Litestar, client: httpx.AsyncClient, base_url: str
) -> None:
    world = await make_world(app)
    tenant = TenantId(world.brand_a.id)
    for i in range(5):
        response = await client.post(
            brand_url(world, "/profiles"),
            json={"email": f"e{i}@example.com", "country": "BE" if i < 3 else "FR"},
            headers=world.manager_a.headers,
        )
        assert response.status_code == 201, response.text
    created = await client.post(
        brand_url(world, "/exports/profiles"),
        json={"format": "ndjson", "filter": {"country": "BE"}},
        headers=world.manager_a.headers,
    )
    export_id = created.json()["id"]
    async with socket(base_url) as ws:
        await authenticated(ws, world.viewer_a.token)
        await subscribe(ws, "e", EXPORT_PROGRESS, {"brand": str(tenant), "id": export_id})
        first = (await receive(ws))["payload"]["data"]["exportProgress"]
        assert (first["done"], first["total"], first["finished"]) == (0, None, False)
        async with session_of(app, tenant) as session:

            async def commit() -> None:
                await session.commit()

            await exports_service.run_export(session, UUID(export_id), commit)
            await session.commit()
        payloads = await stream(ws, "e")
    last = payloads[-1]["data"]["exportProgress"]
    assert (last["done"], last["total"], last["finished"]) == (3, 3, True)
    assert last["export"]["totalRows"] == 3


# Limits ----------------------------------------------------------------------------------------


async def test_a_connection_runs_a_bounded_number_of_subscriptions(
    app: Litestar, client: httpx.AsyncClient, base_url: str
) -> None:
    world = await make_world(app)
    import_id = await queued_import(client, world, 2)
    variables = {"brand": str(world.brand_a.id), "id": import_id}
    async with socket(base_url) as ws:
        await authenticated(ws, world.owner_a.token)
        for n in range(3):
            await subscribe(ws, f"s{n}", IMPORT_PROGRESS, variables)
            assert (await receive(ws))["id"] == f"s{n}"
        await subscribe(ws, "s3", IMPORT_PROGRESS, variables)
        refused = await receive(ws)
        assert (refused["id"], refused["type"]) == ("s3", "error")
        assert refused["payload"][0]["message"] == "Subscription limit reached"
        await send(ws, {"id": "s0", "type": "complete"})  # one ends: room for another
        await subscribe(ws, "s4", IMPORT_PROGRESS, variables)
        while (message := await receive(ws))["id"] != "s4":
            pass
        assert message["type"] == "next"


@pytest.mark.parametrize(
    ("message", "close"),
    [
        (
            {"type": "ping", "payload": {"pad": "x" * 5000}},
            (1009, "a message holds at most 4096 bytes"),
        ),
        ({"type": "ping", "payload": {"deep": json.loads("[" * 70 + "]" * 70)}}, 4400),
        ({"type": "ping", "payload": {"nul": "a\u0000b"}}, 4400),
    ],
)
async def test_oversized_deep_or_nul_messages_close_the_connection(
    app: Litestar, base_url: str, message: dict[str, Any], close: Any
) -> None:
    world = await make_world(app)
    async with socket(base_url) as ws:
        await authenticated(ws, world.owner_a.token)
        await send(ws, message)
        code, reason = await closed(ws)
    assert (code, reason) == close if isinstance(close, tuple) else code == close


async def test_a_query_is_refused_over_the_socket(app: Litestar, base_url: str) -> None:
    world = await make_world(app)
    async with socket(base_url) as ws:
        await authenticated(ws, world.owner_a.token)
        await subscribe(ws, "1", "query { viewer { email } }", {})
        answer = await stream(ws, "1")
    error = answer[0]["errors"][0]
    assert error["message"] == "queries are not allowed", answer
    assert error["extensions"] == {"code": "operation-not-allowed"}


async def test_a_subscription_deeper_than_queries_may_be_is_refused(
    app: Litestar, settings: Settings, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    shallow = create_app(settings.replace(graphql_max_depth=1))  # the same database
    try:
        async with served(shallow) as url, socket(url) as ws:
            await authenticated(ws, world.owner_a.token)
            variables = {"brand": str(world.brand_a.id), "id": str(uuid4())}
            await subscribe(ws, "1", IMPORT_PROGRESS, variables)  # import { uuid … }: depth 2
            answer = await stream(ws, "1")
    finally:
        await shallow.state.engine.dispose()
    assert "exceeds maximum operation depth of 1" in json.dumps(answer), answer


async def test_a_subscription_over_http_is_refused(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.post(
        "/graphql",
        json={
            "query": IMPORT_PROGRESS,
            "variables": {"brand": str(world.brand_a.id), "id": str(uuid4())},
        },
        headers=world.owner_a.headers,
    )
    assert response.status_code == 400, response.text
    assert "not allowed" in response.text


async def test_only_known_origins_open_a_socket(app: Litestar, base_url: str) -> None:
    world = await make_world(app)
    with pytest.raises(InvalidStatus) as refused:
        async with socket(base_url, origin="https://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    async with socket(base_url, origin=ORIGIN) as ws:
        await authenticated(ws, world.owner_a.token)
    async with socket(base_url, subprotocol="graphql-ws") as ws:  # the legacy protocol: no
        assert (await closed(ws))[0] == 4406
