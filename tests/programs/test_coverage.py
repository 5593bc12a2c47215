"""The coverage map: every lifecycle stage and moment of truth, the programs running today that
cover it, and for each gap the templates that would fill it. Only active programs within their
dates count; drafts, paused and ended programs, and other brands' programs, do not."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from litestar import Litestar

from backend.programs import catalog
from backend.programs.vocabulary import LifecycleStage, MomentOfTruth
from tests.factories import World, make_world
from tests.programs.helpers import change_status, create_program, program_body, programs_url


async def coverage_of(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    response = await client.get(
        programs_url(world.brand_a.id, "/coverage"), headers=world.viewer_a.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def covering(coverage: dict[str, Any]) -> dict[str, list[str]]:
    """Each covered stage or moment → the names of the programs covering it."""
    found = {s["stage"]: [p["name"] for p in s["programs"]] for s in coverage["stages"]}
    found |= {m["moment"]: [p["name"] for p in m["programs"]] for m in coverage["moments"]}
    return {key: names for key, names in found.items() if names}


async def test_a_brand_without_programs_has_only_gaps_each_with_its_templates(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    coverage = await coverage_of(client, world)
    # The brand's date (the factories' brands are in Brussels), read around the request.
    before = coverage["asOf"]
    assert before == dt.datetime.now(ZoneInfo("Europe/Brussels")).date().isoformat() or (
        before == (await coverage_of(client, world))["asOf"]
    )
    assert coverage["gaps"] == len(LifecycleStage) + len(MomentOfTruth)
    assert [s["stage"] for s in coverage["stages"]] == [s.value for s in LifecycleStage]
    assert [m["moment"] for m in coverage["moments"]] == [m.value for m in MomentOfTruth]
    for entry in coverage["stages"]:
        expected = [t.key for t in catalog.serving(stage=LifecycleStage(entry["stage"]))]
        assert not entry["covered"]
        assert [t["key"] for t in entry["suggestedTemplates"]] == expected
    for entry in coverage["moments"]:
        expected = [t.key for t in catalog.serving(moment=MomentOfTruth(entry["moment"]))]
        assert entry["description"].endswith(".")
        assert [t["key"] for t in entry["suggestedTemplates"]] == expected
    churn = next(m for m in coverage["moments"] if m["moment"] == "churn_risk")
    assert churn["suggestedTemplates"] == [{"key": "anti_churn", "name": "Anti-churn"}]


async def test_gaps_vanish_while_a_program_is_active_only(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    program = await create_program(
        client,
        world,
        name="Win back",
        stage="win_back",
        momentsOfTruth=["inactivity", "churn_risk"],
    )
    full = len(LifecycleStage) + len(MomentOfTruth)
    assert (await coverage_of(client, world))["gaps"] == full  # a draft counts for nothing
    for action, counts in [
        ("activate", True),
        ("pause", False),
        ("activate", True),
        ("end", False),
    ]:
        assert (await change_status(client, world, program["id"], action)).status_code == 200
        coverage = await coverage_of(client, world)
        if counts:
            assert covering(coverage) == {
                "win_back": ["Win back"], "inactivity": ["Win back"], "churn_risk": ["Win back"],
            }, action  # fmt: skip
            assert coverage["gaps"] == full - 3
            stage = next(s for s in coverage["stages"] if s["stage"] == "win_back")
            assert stage["covered"] is True
            assert stage["suggestedTemplates"] == []
            assert stage["programs"] == [
                {"id": program["id"], "name": "Win back", "templateKey": None}
            ]
        else:
            assert covering(coverage) == {}, action
            assert coverage["gaps"] == full


async def test_only_programs_within_their_dates_cover(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    today = dt.date.fromisoformat((await coverage_of(client, world))["asOf"])
    day = dt.timedelta(days=1)
    dated = {
        "Starts tomorrow": {"startDate": (today + day).isoformat()},
        "Ended yesterday": {"endDate": (today - day).isoformat()},
        "Today only": {"startDate": today.isoformat(), "endDate": today.isoformat()},
        "Open ended": {"startDate": (today - 30 * day).isoformat()},
    }
    headers = world.manager_a.headers
    for name, dates in dated.items():
        program = await create_program(client, world, name=name, stage="retain")
        assert (await change_status(client, world, program["id"], "activate")).status_code == 200
        # Dates set once active: a program whose end has passed cannot be activated.
        url = programs_url(world.brand_a.id, f"/{program['id']}")
        assert (await client.patch(url, json=dates, headers=headers)).status_code == 200
    coverage = await coverage_of(client, world)
    assert covering(coverage)["retain"] == ["Today only", "Open ended"]


async def test_another_brands_programs_do_not_cover_this_one(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    theirs = await client.post(
        programs_url(world.brand_b.id),
        json=program_body(stage="attract", momentsOfTruth=["advocacy"]),
        headers=world.owner_b.headers,
    )
    assert theirs.status_code == 201, theirs.text
    activated = await client.post(
        programs_url(world.brand_b.id, f"/{theirs.json()['id']}/activate"),
        headers=world.owner_b.headers,
    )
    assert activated.status_code == 200, activated.text
    assert covering(await coverage_of(client, world)) == {}
    their_coverage = await client.get(
        programs_url(world.brand_b.id, "/coverage"), headers=world.owner_b.headers
    )
    assert covering(their_coverage.json()) == {"attract": ["Welcome"], "advocacy": ["Welcome"]}
