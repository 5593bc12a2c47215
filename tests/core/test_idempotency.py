"""``Idempotency-Key`` on POST: replays, mismatches, per-caller scope, and what is not stored."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from litestar import Litestar, post
from litestar.params import JSONBody

from backend.app import create_app
from backend.config import Settings
from tests.factories import make_world, problem, serving


async def agency_names(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    response = await client.get("/v1/agencies", headers=headers)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


async def test_same_key_and_body_replays_the_first_answer(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    headers = {**world.owner_b.headers, "Idempotency-Key": "create-1"}
    first = await client.post("/v1/agencies", json={"name": "Once"}, headers=headers)
    second = await client.post("/v1/agencies", json={"name": "Once"}, headers=headers)
    assert first.status_code == 201, first.text
    assert second.status_code == first.status_code
    assert second.json() == first.json()
    assert second.headers["content-type"] == first.headers["content-type"]
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await agency_names(client, world.owner_b.headers) == ["Agency B", "Once"]


async def test_replay_gets_its_own_request_id(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    headers = {**world.owner_b.headers, "Idempotency-Key": "create-2"}
    first = await client.post("/v1/agencies", json={"name": "Once"}, headers=headers)
    second = await client.post("/v1/agencies", json={"name": "Once"}, headers=headers)
    assert second.headers["idempotent-replayed"] == "true"
    assert len(second.headers.get_list("x-request-id")) == 1
    assert second.headers["x-request-id"] != first.headers["x-request-id"]


async def test_same_key_with_other_body_is_problem_422(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    headers = {**world.owner_b.headers, "Idempotency-Key": "create-3"}
    first = await client.post("/v1/agencies", json={"name": "Once"}, headers=headers)
    assert first.status_code == 201, first.text
    other = await client.post("/v1/agencies", json={"name": "Twice"}, headers=headers)
    body = problem(other, 422)
    assert "Idempotency-Key" in body["detail"]
    assert body["request_id"] == other.headers["x-request-id"]
    assert await agency_names(client, world.owner_b.headers) == ["Agency B", "Once"]


async def test_same_key_on_another_path_is_problem_422(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    headers = {**world.owner_a.headers, "Idempotency-Key": "shared"}
    first = await client.post("/v1/agencies", json={"name": "X"}, headers=headers)
    assert first.status_code == 201, first.text
    other = await client.post(
        f"/v1/agencies/{world.agency_a.id}/brands", json={"name": "X"}, headers=headers
    )
    problem(other, 422)


async def test_same_key_from_another_caller_is_independent(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    key = {"Idempotency-Key": "same-key"}
    by_a = await client.post(
        "/v1/agencies", json={"name": "Shared"}, headers={**world.owner_a.headers, **key}
    )
    by_b = await client.post(
        "/v1/agencies", json={"name": "Shared"}, headers={**world.owner_b.headers, **key}
    )
    assert by_a.status_code == by_b.status_code == 201, (by_a.text, by_b.text)
    assert "idempotent-replayed" not in by_b.headers
    assert by_a.json()["id"] != by_b.json()["id"]
    assert await agency_names(client, world.owner_a.headers) == ["Agency A", "Shared"]
    assert await agency_names(client, world.owner_b.headers) == ["Agency B", "Shared"]


async def test_client_error_answer_is_stored_and_replayed(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    headers = {**world.owner_b.headers, "Idempotency-Key": "bad-body"}
    first = await client.post("/v1/agencies", json={"name": ""}, headers=headers)
    second = await client.post("/v1/agencies", json={"name": ""}, headers=headers)
    problem(first, 422)
    problem(second, 422)
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()


async def test_without_key_each_post_creates(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    for _ in range(2):
        response = await client.post(
            "/v1/agencies", json={"name": "Again"}, headers=world.owner_b.headers
        )
        assert response.status_code == 201, response.text
        assert "idempotent-replayed" not in response.headers
    assert await agency_names(client, world.owner_b.headers) == ["Agency B", "Again", "Again"]


async def test_key_longer_than_255_is_problem_400(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await client.post(
        "/v1/agencies",
        json={"name": "Long"},
        headers={**world.owner_b.headers, "Idempotency-Key": "k" * 256},
    )
    body = problem(response, 400)
    assert "255" in body["detail"]
    assert await agency_names(client, world.owner_b.headers) == ["Agency B"]


async def test_key_of_255_characters_is_accepted(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    headers = {**world.owner_b.headers, "Idempotency-Key": "k" * 255}
    first = await client.post("/v1/agencies", json={"name": "Edge"}, headers=headers)
    second = await client.post("/v1/agencies", json={"name": "Edge"}, headers=headers)
    assert first.status_code == 201, first.text
    assert second.headers["idempotent-replayed"] == "true"


async def test_blank_key_is_problem_400(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await client.post(
        "/v1/agencies",
        json={"name": "Blank"},
        headers={**world.owner_b.headers, "Idempotency-Key": "  "},
    )
    problem(response, 400)


async def test_oversized_body_with_key_is_problem_413(settings: Settings) -> None:
    app = create_app(settings.replace(max_body_bytes=1000))
    async with serving(app) as client:
        world = await make_world(app)
        response = await client.post(
            "/v1/agencies",
            json={"name": "x" * 5000},
            headers={**world.owner_b.headers, "Idempotency-Key": "big"},
        )
        problem(response, 413)
        assert await agency_names(client, world.owner_b.headers) == ["Agency B"]


def flaky_route() -> tuple[Any, list[str]]:
    calls: list[str] = []

    @post("/test/flaky", status_code=201, sync_to_thread=False)
    def flaky(data: JSONBody[dict[str, str]]) -> dict[str, int]:
        calls.append(data["value"])
        if len(calls) == 1:
            raise RuntimeError("first attempt fails")
        return {"call": len(calls)}

    return flaky, calls


async def test_server_error_is_not_stored_so_a_retry_runs(settings: Settings) -> None:
    handler, calls = flaky_route()
    app = create_app(settings)
    app.register(handler)
    async with serving(app) as client:
        headers = {"Idempotency-Key": "retry-me"}
        first = await client.post("/test/flaky", json={"value": "v"}, headers=headers)
        second = await client.post("/test/flaky", json={"value": "v"}, headers=headers)
        third = await client.post("/test/flaky", json={"value": "v"}, headers=headers)
    problem(first, 500)
    assert second.status_code == 201, second.text
    assert second.json() == {"call": 2}
    assert "idempotent-replayed" not in second.headers
    assert third.json() == {"call": 2}
    assert third.headers["idempotent-replayed"] == "true"
    assert calls == ["v", "v"]


async def test_same_key_while_first_runs_is_problem_409(settings: Settings) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    @post("/test/slow", status_code=201)
    async def slow() -> dict[str, str]:
        entered.set()
        await release.wait()
        return {"done": "yes"}

    app = create_app(settings)
    app.register(slow)
    async with serving(app) as client:
        headers = {"Idempotency-Key": "slow-1"}
        first = asyncio.create_task(client.post("/test/slow", json={}, headers=headers))
        await asyncio.wait_for(entered.wait(), timeout=30)
        concurrent = await client.post("/test/slow", json={}, headers=headers)
        release.set()
        finished = await first
        replay = await client.post("/test/slow", json={}, headers=headers)
    body = problem(concurrent, 409)
    assert "still running" in body["detail"]
    assert finished.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == {"done": "yes"}


async def test_key_is_ignored_on_get(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    headers = {**world.owner_b.headers, "Idempotency-Key": "read"}
    await client.get("/v1/agencies", headers=headers)
    created = await client.post("/v1/agencies", json={"name": "New"}, headers=world.owner_b.headers)
    assert created.status_code == 201
    again = await client.get("/v1/agencies", headers=headers)
    assert "idempotent-replayed" not in again.headers
    assert [a["name"] for a in again.json()["items"]] == ["Agency B", "New"]
