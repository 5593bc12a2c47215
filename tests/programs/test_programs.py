"""Programs over REST: create, read, list (filters, pages), change, delete (or archive while
something names the program), status changes, validation (a 422 naming the field, nothing
stored), idempotent creation, the owner and audience checks, and brand isolation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from litestar import Litestar

from backend.core.errors import Conflict, NotFound
from backend.core.signals import Signals
from backend.core.tenancy import TenantId
from backend.programs import service
from backend.programs.models import Program
from backend.programs.schemas import ProgramCreate
from backend.programs.service import ProgramUsage
from backend.programs.vocabulary import LifecycleStage
from tests.factories import World, make_world, problem, session_of
from tests.programs.helpers import (
    KPI,
    change_status,
    create_program,
    program_body,
    programs_url,
)
from tests.segments.helpers import create_segment


async def test_program_is_created_read_listed_changed_and_deleted(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    segment = await create_segment(app, world.brand_a.id, "buyers", {"contactable": "email"})
    created = await create_program(
        client,
        world,
        ownerId=str(world.manager_a.id),
        startDate="2027-01-01",
        endDate="2027-12-31",
        audienceSegmentId=str(segment.id),
        kpis=[KPI, {"name": "Revenue", "metric": "revenue", "target": 25000, "unit": "EUR"}],
        momentsOfTruth=["signup", "first_purchase"],
    )
    assert created["status"] == "draft"
    assert created["statusChangedAt"] is None
    assert created["templateKey"] is None
    assert created["archivedAt"] is None
    assert created["kpis"][1] == {
        "name": "Revenue", "metric": "revenue", "target": 25000.0, "unit": "EUR",
    }  # fmt: skip
    headers = world.viewer_a.headers
    url = programs_url(world.brand_a.id, f"/{created['id']}")
    read = await client.get(url, headers=headers)
    assert read.json() == created
    listed = await client.get(programs_url(world.brand_a.id), headers=headers)
    assert [p["id"] for p in listed.json()["items"]] == [created["id"]]

    changed = await client.patch(
        url,
        json={"name": "Welcome 2027", "stage": "convert", "endDate": None, "ownerId": None},
        headers=world.manager_a.headers,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["name"], body["stage"], body["endDate"], body["ownerId"]) == (
        "Welcome 2027", "convert", None, None,
    )  # fmt: skip
    assert body["startDate"] == "2027-01-01"  # untouched
    assert body["momentsOfTruth"] == ["signup", "first_purchase"]

    deleted = await client.delete(url, headers=world.manager_a.headers)
    assert deleted.status_code == 204, deleted.text
    problem(await client.get(url, headers=headers), 404)
    listed = await client.get(programs_url(world.brand_a.id), headers=headers)
    assert listed.json()["items"] == []


async def test_lists_filter_by_stage_and_status_and_page(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ids = [
        (await create_program(client, world, name=f"P{i}", stage=stage))["id"]
        for i, stage in enumerate(["engage", "engage", "retain"])
    ]
    await change_status(client, world, ids[1], "activate")
    headers = world.viewer_a.headers

    async def listed(query: str) -> list[str]:
        response = await client.get(programs_url(world.brand_a.id, query), headers=headers)
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["items"]]

    assert await listed("?stage=engage") == ids[:2]
    assert await listed("?status=active") == [ids[1]]
    assert await listed("?stage=retain&status=active") == []
    first = await client.get(programs_url(world.brand_a.id, "?limit=2"), headers=headers)
    assert [p["id"] for p in first.json()["items"]] == ids[:2]
    cursor = first.json()["nextCursor"]
    assert await listed(f"?limit=2&cursor={cursor}") == [ids[2]]
    wrong = await client.get(programs_url(world.brand_a.id, "?stage=hibernate"), headers=headers)
    assert problem(wrong, 422)["errors"][0]["field"] == "stage"


# Each case: a change to a valid body, the status, and where the answer points (the start of a
# JSON pointer, or the field the NUL check names).
Body = dict[str, Any]
INVALID: list[tuple[str, Callable[[World], Body], int, str | None]] = [
    ("unknown stage", lambda w: {"stage": "hibernate"}, 422, "stage"),
    ("no stage", lambda w: {"stage": None}, 422, "stage"),
    ("end before start", lambda w: {"startDate": "2027-02-01", "endDate": "2027-01-31"}, 422,
     "endDate"),
    ("not a date", lambda w: {"startDate": "2027-02-30"}, 422, "startDate"),
    ("unknown owner", lambda w: {"ownerId": str(uuid4())}, 422, "ownerId"),
    ("owner of another agency", lambda w: {"ownerId": str(w.owner_b.id)}, 422, "ownerId"),
    ("owner without a role on the brand", lambda w: {"ownerId": str(w.member_a.id)}, 422,
     "ownerId"),
    ("unknown audience", lambda w: {"audienceSegmentId": str(uuid4())}, 422,
     "audienceSegmentId"),
    ("unknown metric", lambda w: {"kpis": [{**KPI, "metric": "happiness"}]}, 422, "kpis"),
    ("rate above 100 %", lambda w: {"kpis": [{**KPI, "target": 150}]}, 422, "kpis"),
    ("rate as a ratio above 1", lambda w: {"kpis": [{**KPI, "target": 2, "unit": "ratio"}]},
     422, "kpis"),
    ("rate counted", lambda w: {"kpis": [{**KPI, "unit": "count"}]}, 422, "kpis"),
    ("count not whole",
     lambda w: {"kpis": [{"name": "N", "metric": "orders", "target": 2.5, "unit": "count"}]},
     422, "kpis"),
    ("unknown currency",
     lambda w: {"kpis": [{"name": "R", "metric": "revenue", "target": 9, "unit": "EURO"}]},
     422, "kpis"),
    ("negative amount",
     lambda w: {"kpis": [{"name": "R", "metric": "revenue", "target": -1, "unit": "EUR"}]},
     422, "kpis"),
    ("nps out of range",
     lambda w: {"kpis": [{"name": "N", "metric": "nps", "target": 120, "unit": "points"}]},
     422, "kpis"),
    ("KPI without a target", lambda w: {"kpis": [{"name": "x", "metric": "open_rate",
                                                  "unit": "percent"}]}, 422, "kpis"),
    ("two KPIs of one name", lambda w: {"kpis": [KPI, KPI]}, 422, "kpis"),
    ("too many KPIs", lambda w: {"kpis": [{**KPI, "name": f"k{i}"} for i in range(21)]}, 422,
     "kpis"),
    ("unknown moment", lambda w: {"momentsOfTruth": ["first_date"]}, 422, "momentsOfTruth"),
    ("moment twice", lambda w: {"momentsOfTruth": ["signup", "signup"]}, 422,
     "momentsOfTruth"),
    ("empty name", lambda w: {"name": ""}, 422, "name"),
    ("objective too long", lambda w: {"objective": "x" * 2001}, 422, "objective"),
    ("NUL in the name", lambda w: {"name": "Wel\u0000come"}, 422, "name"),
    ("NUL in a KPI", lambda w: {"kpis": [{**KPI, "name": "O\u0000pens"}]}, 422, "kpis[0].name"),
    ("a status", lambda w: {"status": "active"}, 422, "status"),
    ("a template key", lambda w: {"templateKey": "welcome"}, 422, "templateKey"),
    ("huge body", lambda w: {"objective": "x" * (11 * 1024 * 1024)}, 413, None),
]  # fmt: skip


async def test_invalid_programs_are_refused_naming_the_field_and_nothing_is_stored(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    url = programs_url(world.brand_a.id)
    for case, change, status, field in INVALID:
        response = await client.post(
            url, json=program_body(**change(world)), headers=world.manager_a.headers
        )
        assert response.status_code == status, (case, response.text)
        body = problem(response, status)
        if field is not None:
            pointers = [e.get("pointer") or "" for e in body["errors"]]
            fields = [e.get("field") for e in body["errors"]]
            pointed = any(p.startswith(f"/{field}") for p in pointers)
            assert pointed or field in fields, (case, body)
    assert (await client.get(url, headers=world.manager_a.headers)).json()["items"] == []


async def test_invalid_changes_are_refused_and_leave_the_program_as_it_was(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = await create_program(client, world, startDate="2027-01-01")
    url = programs_url(world.brand_a.id, f"/{created['id']}")
    for change, field in [
        ({"endDate": "2026-12-31"}, "endDate"),  # before the stored start
        ({"ownerId": str(world.owner_b.id)}, "ownerId"),
        ({"kpis": [{**KPI, "target": -5}]}, "kpis"),
        ({"stage": "later"}, "stage"),
        ({"name": None}, "name"),
        ({"momentsOfTruth": ["signup", "signup"]}, "momentsOfTruth"),
    ]:
        response = await client.patch(url, json=change, headers=world.manager_a.headers)
        errors = problem(response, 422)["errors"]
        assert field in [e.get("field") for e in errors], (change, errors)
    assert (await client.get(url, headers=world.manager_a.headers)).json() == created


async def test_the_owner_is_any_user_who_may_reach_the_brand(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    for person in (world.owner_a, world.admin_a, world.manager_a, world.viewer_a):
        created = await create_program(client, world, ownerId=str(person.id))
        assert created["ownerId"] == str(person.id)


# (status reached by these actions, action) → answer.
TRANSITIONS: list[tuple[list[str], str, int, str | None]] = [
    ([], "activate", 200, "active"),
    ([], "pause", 409, None),
    ([], "end", 409, None),
    (["activate"], "activate", 409, None),
    (["activate"], "pause", 200, "paused"),
    (["activate"], "end", 200, "ended"),
    (["activate", "pause"], "activate", 200, "active"),
    (["activate", "pause"], "pause", 409, None),
    (["activate", "pause"], "end", 200, "ended"),
    (["activate", "end"], "activate", 409, None),
    (["activate", "end"], "pause", 409, None),
    (["activate", "end"], "end", 409, None),
]


async def test_status_changes_follow_draft_active_paused_ended(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    for before, action, status, reached in TRANSITIONS:
        program = await create_program(client, world)
        for step in before:
            assert (await change_status(client, world, program["id"], step)).status_code == 200
        response = await change_status(client, world, program["id"], action)
        case = (before, action, response.text)
        assert response.status_code == status, case
        if reached is None:
            assert problem(response, 409)["type"].endswith(":program-status-change"), case
        else:
            assert response.json()["status"] == reached, case
            assert response.json()["statusChangedAt"] is not None


async def test_a_program_past_its_end_date_cannot_become_active(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    program = await create_program(client, world, startDate="2020-01-01", endDate="2020-12-31")
    refused = problem(await change_status(client, world, program["id"], "activate"), 409)
    assert "2020-12-31" in refused["detail"]
    url = programs_url(world.brand_a.id, f"/{program['id']}")
    moved = await client.patch(url, json={"endDate": None}, headers=world.manager_a.headers)
    assert moved.status_code == 200, moved.text
    activated = await change_status(client, world, program["id"], "activate")
    assert activated.json()["status"] == "active"


async def test_creating_with_an_idempotency_key_twice_creates_one_program(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    headers = {**world.manager_a.headers, "Idempotency-Key": "program-1"}
    url = programs_url(world.brand_a.id)
    first = await client.post(url, json=program_body(), headers=headers)
    again = await client.post(url, json=program_body(), headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    problem(await client.post(url, json=program_body(name="Other"), headers=headers), 422)
    listed = await client.get(url, headers=world.manager_a.headers)
    assert [p["id"] for p in listed.json()["items"]] == [first.json()["id"]]


@pytest.fixture
def usage_of(monkeypatch: pytest.MonkeyPatch) -> set[UUID]:
    """Programs "named by campaigns": a registry whose PROGRAM_DELETING receiver reports a
    campaign for each program in the returned set (the campaigns domain's part, played here)."""
    named: set[UUID] = set()

    async def campaigns(_session: Any, program: Program, usage: ProgramUsage) -> None:
        usage.add("campaigns", 2 if program.id in named else 0)

    registry = Signals()
    registry.connect(service.PROGRAM_DELETING, campaigns)
    registry.mark_wired()
    monkeypatch.setattr(service, "signals", registry)
    return named


async def test_a_program_something_names_is_archived_not_deleted(
    app: Litestar, client: httpx.AsyncClient, usage_of: set[UUID]
) -> None:
    world = await make_world(app)
    grouped = await create_program(client, world, name="Grouped")
    alone = await create_program(client, world, name="Alone")
    usage_of.add(UUID(grouped["id"]))
    await change_status(client, world, grouped["id"], "activate")
    headers = world.manager_a.headers
    url = programs_url(world.brand_a.id, f"/{grouped['id']}")
    assert (await client.delete(url, headers=headers)).status_code == 204
    archived = (await client.get(url, headers=headers)).json()
    assert archived["archivedAt"] is not None
    assert archived["status"] == "ended"  # it was running: it ends with its archiving
    listed = await client.get(programs_url(world.brand_a.id), headers=headers)
    assert [p["id"] for p in listed.json()["items"]] == [alone["id"]]
    refused = problem(await client.patch(url, json={"name": "x"}, headers=headers), 409)
    assert refused["type"].endswith(":program-archived")
    problem(await change_status(client, world, grouped["id"], "activate"), 409)
    assert (await client.delete(url, headers=headers)).status_code == 204  # stays archived
    assert (await client.get(url, headers=headers)).json()["archivedAt"] == archived["archivedAt"]

    alone_url = programs_url(world.brand_a.id, f"/{alone['id']}")
    assert (await client.delete(alone_url, headers=headers)).status_code == 204
    problem(await client.get(alone_url, headers=headers), 404)


async def test_require_program_answers_for_the_sessions_brand_only(
    app: Litestar, client: httpx.AsyncClient, usage_of: set[UUID]
) -> None:
    world = await make_world(app)
    program = await create_program(client, world)
    program_id = UUID(program["id"])
    async with session_of(app, world.brand_a.id) as session:
        assert (await service.require_program(session, program_id)).name == "Welcome"
    async with session_of(app, world.brand_b.id) as session:
        with pytest.raises(NotFound):
            await service.require_program(session, program_id)
    usage_of.add(program_id)
    async with session_of(app, world.brand_a.id) as session:
        assert await service.delete_program(session, program_id) is not None
        await session.commit()
    async with session_of(app, world.brand_a.id) as session:
        with pytest.raises(Conflict):
            await service.require_program(session, program_id)
        found = await service.require_program(session, program_id, allow_archived=True)
        assert found.archived_at is not None


async def test_a_segment_that_is_a_live_programs_audience_is_kept(
    app: Litestar, client: httpx.AsyncClient, usage_of: set[UUID]
) -> None:
    world = await make_world(app)
    segment = await create_segment(app, world.brand_a.id, "buyers", {"contactable": "email"})
    live = await create_program(client, world, name="Live", audienceSegmentId=str(segment.id))
    gone = await create_program(client, world, name="Gone", audienceSegmentId=str(segment.id))
    usage_of.add(UUID(gone["id"]))
    headers = world.manager_a.headers
    await client.delete(programs_url(world.brand_a.id, f"/{gone['id']}"), headers=headers)
    segment_url = f"/v1/brands/{world.brand_a.id}/segments/{segment.id}"
    kept = problem(await client.delete(segment_url, headers=headers), 409)
    assert "'Live'" in kept["detail"]
    assert "'Gone'" not in kept["detail"]  # archived: it lets go
    live_url = programs_url(world.brand_a.id, f"/{live['id']}")
    await client.patch(live_url, json={"audienceSegmentId": None}, headers=headers)
    assert (await client.delete(segment_url, headers=headers)).status_code == 204
    gone_now = await client.get(programs_url(world.brand_a.id, f"/{gone['id']}"), headers=headers)
    assert gone_now.json()["audienceSegmentId"] is None


ACTIONS = [
    ("GET", ""),
    ("PATCH", ""),
    ("DELETE", ""),
    ("POST", "/activate"),
    ("POST", "/pause"),
    ("POST", "/end"),
]


async def test_another_brands_program_is_not_found_on_any_route(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    theirs = await client.post(
        programs_url(world.brand_b.id), json=program_body(), headers=world.owner_b.headers
    )
    assert theirs.status_code == 201, theirs.text
    their_id = theirs.json()["id"]
    their_segment = await create_segment(app, world.brand_b.id, "theirs", {"contactable": "sms"})
    for method, suffix in ACTIONS:
        response = await client.request(
            method,
            programs_url(world.brand_a.id, f"/{their_id}{suffix}"),
            json={"name": "Taken"} if method == "PATCH" else None,
            headers=world.owner_a.headers,
        )
        assert problem(response, 404)["detail"] == "program not found", (method, suffix)
    mine = await client.post(
        programs_url(world.brand_a.id),
        json=program_body(audienceSegmentId=str(their_segment.id)),
        headers=world.owner_a.headers,
    )
    assert problem(mine, 422)["errors"][0]["field"] == "audienceSegmentId"
    listed = await client.get(programs_url(world.brand_a.id), headers=world.owner_a.headers)
    assert listed.json()["items"] == []
    still = await client.get(
        programs_url(world.brand_b.id, f"/{their_id}"), headers=world.owner_b.headers
    )
    assert still.json()["name"] == "Welcome"
    assert still.json()["status"] == "draft"


async def test_the_session_scoped_service_never_sees_another_brand(app: Litestar) -> None:
    world = await make_world(app)
    async with session_of(app, world.brand_b.id) as session:
        data = ProgramCreate(name="B", objective="B", stage=LifecycleStage.GROW)
        program = await service.create_program(session, TenantId(world.brand_b.id), data)
        await session.commit()
    async with session_of(app, world.brand_a.id) as session:
        assert await service.count_programs(session) == 0
        with pytest.raises(NotFound):
            await service.get_program(session, program.id)


async def test_concurrent_status_changes_never_undo_an_end(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    """`pause` and `end` sent together, again and again: each reads the status it moves from
    under the program's lock, so a pause never lands after the end (the program stays ended)."""
    world = await make_world(app)
    for _ in range(8):
        program = await create_program(client, world)
        await change_status(client, world, program["id"], "activate")
        paused, ended = await asyncio.gather(
            change_status(client, world, program["id"], "pause"),
            change_status(client, world, program["id"], "end"),
        )
        assert ended.status_code == 200, ended.text  # from active or paused alike
        assert paused.status_code in (200, 409), paused.text
        url = programs_url(world.brand_a.id, f"/{program['id']}")
        final = await client.get(url, headers=world.manager_a.headers)
        assert final.json()["status"] == "ended"


async def test_a_brand_with_programs_and_their_audiences_can_be_deleted(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    segment = await create_segment(app, world.brand_a.id, "buyers", {"contactable": "email"})
    await create_program(client, world, audienceSegmentId=str(segment.id))
    deleted = await client.delete(f"/v1/brands/{world.brand_a.id}", headers=world.owner_a.headers)
    assert deleted.status_code == 204, deleted.text
    async with session_of(app) as session:
        assert await session.get(type(world.brand_a), world.brand_a.id) is None
