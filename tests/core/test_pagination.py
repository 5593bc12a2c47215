"""Keyset pagination: cursors, limits, and a walk through a real listing."""

from __future__ import annotations

import base64
from typing import Any
from uuid import UUID

import httpx
import pytest
from litestar import Litestar

from backend.core.errors import InvalidInput
from backend.core.ids import new_id
from backend.core.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    PageRequest,
    decode_cursor,
    encode_cursor,
)
from tests.factories import Person, make_agency, make_person, problem, session_of

# Cursors --------------------------------------------------------------------------------------


def test_cursor_round_trips_an_id() -> None:
    after = new_id()
    assert decode_cursor(encode_cursor(after)) == after


def test_cursor_is_url_safe_without_padding() -> None:
    for _ in range(50):
        cursor = encode_cursor(new_id())
        assert "=" not in cursor
        assert "+" not in cursor
        assert "/" not in cursor


def test_cursors_of_different_ids_differ() -> None:
    assert encode_cursor(new_id()) != encode_cursor(new_id())


@pytest.mark.parametrize(
    "garbage",
    [
        "garbage",
        "!!!!",
        "é",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b'{"after": "not-a-uuid"}').decode(),
        base64.urlsafe_b64encode(b'{"before": "00000000-0000-0000-0000-000000000000"}').decode(),
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
    ],
    ids=["word", "symbols", "non-ascii", "not-json", "not-uuid", "wrong-field", "array"],
)
def test_garbage_cursor_is_invalid_input(garbage: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_cursor(garbage)
    assert caught.value.errors == [{"field": "cursor"}]


# Limits ---------------------------------------------------------------------------------------


def test_no_limit_means_the_default() -> None:
    page = PageRequest.parse(None, None)
    assert page.limit == DEFAULT_LIMIT
    assert page.after is None


@pytest.mark.parametrize("limit", [1, MAX_LIMIT])
def test_limits_at_the_bounds_are_accepted(limit: int) -> None:
    assert PageRequest.parse(limit, None).limit == limit


@pytest.mark.parametrize("limit", [0, -1, MAX_LIMIT + 1])
def test_limits_out_of_bounds_are_invalid_input(limit: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        PageRequest.parse(limit, None)
    assert caught.value.errors == [{"field": "limit"}]


def test_parse_reads_the_cursor() -> None:
    after = new_id()
    assert PageRequest.parse(10, encode_cursor(after)) == PageRequest(limit=10, after=after)


def test_parse_refuses_a_garbage_cursor() -> None:
    with pytest.raises(InvalidInput):
        PageRequest.parse(10, "garbage")


# A listing, walked ----------------------------------------------------------------------------


async def owner_of_agencies(app: Litestar, count: int) -> tuple[Person, list[UUID]]:
    async with session_of(app) as session:
        owner = await make_person(session, "pager@agency.test")
        ids = [(await make_agency(session, f"Agency {i}", owner)).id for i in range(count)]
        await session.commit()
    return owner, ids


async def walk(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], limit: int
) -> list[dict[str, Any]]:
    """Every page of a listing, following ``nextCursor`` until it is null."""
    pages: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        response = await client.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        cursor = pages[-1]["nextCursor"]
        if cursor is None:
            return pages
        assert len(pages) < 20, "the listing never ends"


async def test_walking_agencies_gives_full_pages_then_the_rest(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    owner, _ = await owner_of_agencies(app, 5)
    pages = await walk(client, "/v1/agencies", owner.headers, limit=2)
    assert [len(page["items"]) for page in pages] == [2, 2, 1]
    assert [page["nextCursor"] is None for page in pages] == [False, False, True]


async def test_walking_agencies_visits_each_once_in_creation_order(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    owner, ids = await owner_of_agencies(app, 5)
    pages = await walk(client, "/v1/agencies", owner.headers, limit=2)
    seen = [item["id"] for page in pages for item in page["items"]]
    assert seen == [str(i) for i in ids]


async def test_walking_twice_gives_the_same_pages(app: Litestar, client: httpx.AsyncClient) -> None:
    owner, _ = await owner_of_agencies(app, 5)
    first = await walk(client, "/v1/agencies", owner.headers, limit=2)
    second = await walk(client, "/v1/agencies", owner.headers, limit=2)
    assert first == second


async def test_exact_multiple_of_limit_ends_without_an_empty_page(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    owner, _ = await owner_of_agencies(app, 4)
    pages = await walk(client, "/v1/agencies", owner.headers, limit=2)
    assert [len(page["items"]) for page in pages] == [2, 2]


async def test_rows_added_during_a_walk_appear_once_at_its_end(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    owner, ids = await owner_of_agencies(app, 3)
    first = await client.get("/v1/agencies", params={"limit": 2}, headers=owner.headers)
    async with session_of(app) as session:
        late = await make_agency(session, "Late", owner)
        await session.commit()
    rest = await client.get(
        "/v1/agencies",
        params={"limit": 2, "cursor": first.json()["nextCursor"]},
        headers=owner.headers,
    )
    seen = [item["id"] for item in first.json()["items"] + rest.json()["items"]]
    assert seen == [str(i) for i in [*ids, late.id]]
    assert rest.json()["nextCursor"] is None


async def test_bad_cursor_is_problem_422(app: Litestar, client: httpx.AsyncClient) -> None:
    owner, _ = await owner_of_agencies(app, 1)
    response = await client.get("/v1/agencies", params={"cursor": "garbage"}, headers=owner.headers)
    body = problem(response, 422)
    assert body["type"] == "urn:levier:problem:invalid-input"


async def test_limit_above_maximum_is_problem_422(app: Litestar, client: httpx.AsyncClient) -> None:
    owner, _ = await owner_of_agencies(app, 1)
    response = await client.get(
        "/v1/agencies", params={"limit": MAX_LIMIT + 1}, headers=owner.headers
    )
    problem(response, 422)
