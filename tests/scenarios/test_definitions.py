"""Defining scenarios: graphs validated on save (422 naming the node by JSON pointer, nothing
stored), references to other domains, activation (first sends must render), versions and live
edits (a draft over the live version, the node map), pause/resume/archive, the API entry, brand
isolation on every route, and GraphQL."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import httpx
import pytest
from litestar import Litestar

from tests.conftest import embedded_only
from tests.factories import World, make_world, problem
from tests.scenarios.helpers import EXIT, entry, person, post, scenario, template, url

WAIT = {"kind": "wait", "id": "pause", "duration": {"hours": 1}, "next": "done"}


async def create(client: httpx.AsyncClient, world: World, nodes: Any) -> httpx.Response:
    return await client.post(
        url(world, "/scenarios"),
        json={"name": "Bad", "graph": {"nodes": nodes}},
        headers=world.admin_a.headers,
    )


CASES: list[tuple[str, list[Any], str, str]] = [
    ("no-entry", [EXIT], "/graph/nodes", "exactly one entry"),
    ("two-entries", [entry("done"), {**entry("done"), "id": "again"}, EXIT], "/graph/nodes", "one"),
    ("no-exit", [entry("pause"), {**WAIT, "next": "pause"}], "/graph/nodes", "exit"),
    ("dangling-edge", [entry("nowhere"), EXIT], "/graph/nodes/0/next", "no node 'nowhere'"),
    (
        "unreachable",
        [entry("done"), WAIT, EXIT],
        "/graph/nodes/1",
        "no path from the entry",
    ),
    (
        "instant-loop",
        [
            entry("a"),
            {
                "kind": "split",
                "id": "a",
                "branches": [{"percent": 50, "next": "b"}, {"percent": 50, "next": "done"}],
            },
            {
                "kind": "split",
                "id": "b",
                "branches": [{"percent": 50, "next": "a"}, {"percent": 50, "next": "done"}],
            },
            EXIT,
        ],
        "/graph/nodes/1",
        "has no wait",
    ),
    (
        "trap-loop",
        [
            entry("a"),
            {
                "kind": "split",
                "id": "a",
                "branches": [{"percent": 50, "next": "w"}, {"percent": 50, "next": "done"}],
            },
            {"kind": "wait", "id": "w", "duration": {"days": 1}, "next": "w2"},
            {"kind": "wait", "id": "w2", "duration": {"days": 1}, "next": "w"},
            EXIT,
        ],
        "/graph/nodes/2",
        "no path from this node reaches an exit",
    ),
    (
        "split-not-100",
        [
            entry("a"),
            {
                "kind": "split",
                "id": "a",
                "branches": [{"percent": 30, "next": "done"}, {"percent": 30, "next": "done"}],
            },
            EXIT,
        ],
        "/graph/nodes/1/branches",
        "add up to 60",
    ),
    (
        "two-kinds-of-wait",
        [
            entry("w"),
            {
                "kind": "wait",
                "id": "w",
                "duration": {"days": 1},
                "untilTime": "09:00",
                "next": "done",
            },
            EXIT,
        ],
        "/graph/nodes/1",
        "exactly one of",
    ),
    (
        "bad-time",
        [entry("w"), {"kind": "wait", "id": "w", "untilTime": "25:00", "next": "done"}, EXIT],
        "/graph/nodes/1/untilTime",
        "HH:MM",
    ),
    (
        "unknown-kind",
        [entry("done"), {"kind": "teleport", "id": "t"}, EXIT],
        "/graph/nodes/1/kind",
        "expected one of",
    ),
    (
        "bad-uuid",
        [entry("s"), {"kind": "send", "id": "s", "templateId": "nope", "next": "done"}, EXIT],
        "/graph/nodes/1/templateId",
        "UUID",
    ),
    (
        "unknown-field",
        [entry("done"), {**EXIT, "colour": "red"}],
        "/graph/nodes/1/colour",
        "unknown field",
    ),
    (
        "edge-to-goal",
        [entry("g"), {"kind": "goal", "id": "g", "eventName": "bought"}, EXIT],
        "/graph/nodes/0/next",
        "goal",
    ),
    (
        "after-days-without-days",
        [entry("done", kind="api", reentry={"policy": "after_days"}), EXIT],
        "/graph/nodes/0/reentry/days",
        "after_days",
    ),
    (
        "event-without-name",
        [entry("done", kind="event"), EXIT],
        "/graph/nodes/0/trigger/eventName",
        "needs it",
    ),
    (
        "setting-of-another-kind",
        [entry("done", kind="api", segmentId=str(uuid4())), EXIT],
        "/graph/nodes/0/trigger/segmentId",
        "not a setting",
    ),
]


@embedded_only  # the structure is checked before anything is read
@pytest.mark.parametrize(
    ("nodes", "pointer", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_an_invalid_graph_is_refused_naming_its_node(
    app: Litestar, client: httpx.AsyncClient, nodes: list[Any], pointer: str, message: str
) -> None:
    world = await make_world(app)
    body = problem(await create(client, world, nodes), 422)
    assert body["errors"][0]["pointer"] == pointer, body
    assert message in body["errors"][0]["message"], body
    listed = await client.get(url(world, "/scenarios"), headers=world.viewer_a.headers)
    assert listed.json()["items"] == []  # nothing stored


@embedded_only
async def test_a_loop_through_a_wait_is_accepted(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    nodes = [
        entry("again"),
        {
            "kind": "wait_event",
            "id": "again",
            "eventName": "visited",
            "timeout": {"days": 7},
            "happened": "again",
            "timedOut": "done",
        },
        EXIT,
    ]
    created = await create(client, world, nodes)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "draft"
    assert created.json()["draftVersion"] == 1


async def test_what_a_graph_names_must_exist(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    gone = await template(client, world, "gone")
    deleted = await client.delete(url(world, f"/templates/{gone}"), headers=world.admin_a.headers)
    assert deleted.status_code == 204
    nodes = [
        entry("c", kind="trigger", triggerKey="no_such_trigger"),
        {
            "kind": "condition",
            "id": "c",
            "rule": {"and": [{"segment": str(uuid4())}]},
            "yes": "s",
            "no": "u",
        },
        {"kind": "send", "id": "s", "templateId": gone, "topic": "nope", "next": "done"},
        {
            "kind": "update",
            "id": "u",
            "attributes": {"unknown_attribute": 1},
            "addToList": str(uuid4()),
            "next": "h",
        },
        {"kind": "webhook", "id": "h", "endpointId": str(uuid4()), "next": "done"},
        EXIT,
    ]
    body = problem(await create(client, world, nodes), 422)
    pointers = {e["pointer"] for e in body["errors"]}
    assert {
        "/graph/nodes/0/trigger/triggerKey",
        "/graph/nodes/2/templateId",
        "/graph/nodes/2/topic",
        "/graph/nodes/3/attributes/unknown_attribute",
        "/graph/nodes/3/addToList",
        "/graph/nodes/4/endpointId",
    } <= pointers, body
    assert any(p.startswith("/graph/nodes/1/rule") for p in pointers), body


async def test_activation_refuses_a_first_send_that_cannot_render(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await person(app, world, email="ada@example.com")
    body = {
        "key": "strict",
        "name": "Strict",
        "channel": "email",
        "defaultLocale": "en",
        "variants": {"en": {"subject": "Hi", "body": "<p>{{ data.order_id }}</p>"}},
    }
    strict = (await post(client, world, "/templates", body)).json()["id"]
    scenario_id = await scenario(
        client,
        world,
        [entry("s"), {"kind": "send", "id": "s", "templateId": strict, "next": "done"}, EXIT],
        activate=False,
    )
    refused = problem(
        await client.post(
            url(world, f"/scenarios/{scenario_id}/activate"), headers=world.admin_a.headers
        ),
        422,
    )
    assert refused["errors"][0]["pointer"] == "/graph/nodes/1/templateId"
    assert "cannot render" in refused["errors"][0]["message"]
    got = await client.get(url(world, f"/scenarios/{scenario_id}"), headers=world.viewer_a.headers)
    assert got.json()["status"] == "draft"


async def test_a_template_deleted_after_the_draft_was_saved_stops_its_activation(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    hello = await template(client, world, "hello")
    scenario_id = await scenario(
        client,
        world,
        [entry("s"), {"kind": "send", "id": "s", "templateId": hello, "next": "done"}, EXIT],
        activate=False,
    )
    await client.delete(url(world, f"/templates/{hello}"), headers=world.admin_a.headers)
    refused = await client.post(
        url(world, f"/scenarios/{scenario_id}/activate"), headers=world.admin_a.headers
    )
    assert problem(refused, 422)["errors"][0]["pointer"] == "/graph/nodes/1/templateId"


async def test_versions_freeze_on_activation_and_a_live_edit_is_a_draft(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    nodes = [entry("pause"), WAIT, EXIT]
    scenario_id = await scenario(client, world, nodes)
    path = f"/scenarios/{scenario_id}"
    again = await client.post(url(world, f"{path}/activate"), headers=world.admin_a.headers)
    assert problem(again, 409)["detail"].startswith("the scenario was activated already")
    no_draft = await client.post(
        url(world, f"{path}/publish"), json={"migration": "move"}, headers=world.admin_a.headers
    )
    assert problem(no_draft, 409)["detail"] == "the scenario has no draft to publish"

    edited = [entry("later"), {**WAIT, "id": "later"}, EXIT]  # "pause" removed
    changed = await client.patch(
        url(world, path), json={"graph": {"nodes": edited}}, headers=world.admin_a.headers
    )
    assert (changed.json()["liveVersion"], changed.json()["draftVersion"]) == (1, 2)
    live = await client.get(url(world, f"{path}/versions/1"), headers=world.viewer_a.headers)
    assert [n["id"] for n in live.json()["graph"]["nodes"]] == ["start", "pause", "done"]
    assert live.json()["state"] == "live"

    missing = await client.post(
        url(world, f"{path}/publish"), json={"migration": "move"}, headers=world.admin_a.headers
    )
    body = problem(missing, 422)
    assert body["errors"][0]["pointer"] == "/nodeMap/pause"
    wrong = await client.post(
        url(world, f"{path}/publish"),
        json={"migration": "move", "nodeMap": {"pause": "nowhere"}},
        headers=world.admin_a.headers,
    )
    assert "no node 'nowhere'" in problem(wrong, 422)["errors"][0]["message"]
    published = await post(
        client, world, f"{path}/publish", {"migration": "move", "nodeMap": {"pause": "later"}}
    )
    assert (published.json()["liveVersion"], published.json()["draftVersion"]) == (2, None)
    versions = await client.get(url(world, f"{path}/versions"), headers=world.viewer_a.headers)
    assert [(v["number"], v["state"]) for v in versions.json()["items"]] == [
        (1, "retired"),
        (2, "live"),
    ]


async def test_pause_resume_and_archive_answer_409_out_of_turn(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    draft = await scenario(client, world, [entry("done"), EXIT], activate=False)
    paused_draft = await client.post(
        url(world, f"/scenarios/{draft}/pause"), headers=world.admin_a.headers
    )
    assert problem(paused_draft, 409)["detail"] == "a draft scenario cannot be paused"
    live = await scenario(client, world, [entry("done"), EXIT])
    await post(client, world, f"/scenarios/{live}/pause", None)
    ada = await person(app, world, email="ada@example.com")
    closed = await client.post(
        url(world, f"/scenarios/{live}/entries"),
        json={"profileId": str(ada)},
        headers=world.admin_a.headers,
    )
    assert problem(closed, 409)["detail"] == "a paused scenario takes no entry"
    resumed = await post(client, world, f"/scenarios/{live}/resume", None)
    assert resumed.json()["status"] == "active"
    archived = await post(client, world, f"/scenarios/{live}/archive", None)
    assert archived.json()["status"] == "archived"
    edit = await client.patch(
        url(world, f"/scenarios/{live}"),
        json={"graph": {"nodes": [entry("done"), EXIT]}},
        headers=world.admin_a.headers,
    )
    assert problem(edit, 409)["detail"] == "an archived scenario cannot change"


async def test_an_api_entry_is_idempotent_on_its_key(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    scenario_id = await scenario(
        client, world, [entry("pause", kind="api", reentry={"policy": "always"}), WAIT, EXIT]
    )
    ada = await person(app, world, email="ada@example.com")
    path = url(world, f"/scenarios/{scenario_id}/entries")
    first = await client.post(
        path, json={"profileId": str(ada), "key": "order-1"}, headers=world.admin_a.headers
    )
    again = await client.post(
        path, json={"profileId": str(ada), "key": "order-1"}, headers=world.admin_a.headers
    )
    by_header = [
        await client.post(
            path,
            json={"profileId": str(ada)},
            headers={**world.admin_a.headers, "Idempotency-Key": "k-2"},
        )
        for _ in range(2)
    ]
    assert first.json()["admitted"]
    assert again.json()["admitted"]
    assert first.json()["journey"]["id"] == again.json()["journey"]["id"]
    assert by_header[0].json()["journey"]["id"] == by_header[1].json()["journey"]["id"]
    assert by_header[0].json()["journey"]["id"] != first.json()["journey"]["id"]
    listed = await client.get(
        url(world, f"/scenarios/{scenario_id}/journeys"), headers=world.viewer_a.headers
    )
    assert len(listed.json()["items"]) == 2
    unknown = await client.post(
        path, json={"profileId": str(uuid4())}, headers=world.admin_a.headers
    )
    problem(unknown, 404)
    triggered = await scenario(
        client, world, [entry("done", kind="event", eventName="signed_up"), EXIT]
    )
    not_api = await client.post(
        url(world, f"/scenarios/{triggered}/entries"),
        json={"profileId": str(ada)},
        headers=world.admin_a.headers,
    )
    assert problem(not_api, 409)["errors"][0]["field"] == "entry"


@embedded_only
async def test_another_brands_scenario_is_not_found_on_every_route(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    scenario_id = await scenario(client, world, [entry("pause"), WAIT, EXIT])
    ada = await person(app, world, email="ada@example.com")
    journey = (
        await post(client, world, f"/scenarios/{scenario_id}/entries", {"profileId": str(ada)})
    ).json()["journey"]["id"]
    other = f"/v1/brands/{world.brand_b.id}/scenarios/{scenario_id}"
    calls = [
        ("GET", ""),
        ("PATCH", ""),
        ("POST", "/activate"),
        ("POST", "/publish"),
        ("POST", "/pause"),
        ("POST", "/resume"),
        ("POST", "/archive"),
        ("GET", "/versions"),
        ("GET", "/versions/1"),
        ("POST", "/entries"),
        ("GET", "/journeys"),
        ("GET", f"/journeys/{journey}"),
        ("GET", "/stats"),
    ]
    bodies = {"/publish": {"migration": "finish"}, "/entries": {"profileId": str(ada)}}
    for method, suffix in calls:
        body = bodies.get(suffix, {"name": "x"} if method == "PATCH" else None)
        response = await client.request(
            method, other + suffix, json=body, headers=world.owner_b.headers
        )
        problem(response, 404)
    mine = await client.get(url(world, f"/scenarios/{scenario_id}"), headers=world.viewer_a.headers)
    assert mine.json()["status"] == "active"  # untouched by brand B's calls
    listed = await client.get(
        f"/v1/brands/{world.brand_b.id}/scenarios", headers=world.owner_b.headers
    )
    assert listed.json()["items"] == []


async def test_graphql_defines_enters_and_reads_as_rest_does(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await person(app, world, email="ada@example.com")

    async def gql(query: str, **variables: Any) -> dict[str, Any]:
        answer = await client.post(
            "/graphql",
            json={"query": query, "variables": {"brand": str(world.brand_a.id), **variables}},
            headers=world.admin_a.headers,
        )
        body: dict[str, Any] = answer.json()
        assert "errors" not in body, body
        return body["data"]

    bad = await gql(
        """mutation($brand: ID!, $graph: JSON!) { createScenario(brand: $brand,
        input: {name: "Bad", graph: $graph}) { ... on OperationError { httpStatus fieldErrors {
        pointer } } } }""",
        graph={"nodes": [entry("nowhere"), EXIT]},
    )
    assert bad["createScenario"]["httpStatus"] == 422
    assert bad["createScenario"]["fieldErrors"][0]["pointer"] == "/graph/nodes/0/next"
    made = await gql(
        """mutation($brand: ID!, $graph: JSON!) { createScenario(brand: $brand,
        input: {name: "Welcome", graph: $graph}) { ... on Scenario { id uuid status } } }""",
        graph={"nodes": [entry("pause"), WAIT, EXIT]},
    )
    scenario_id = made["createScenario"]["uuid"]
    activated = await gql(
        """mutation($brand: ID!, $id: ID!) { activateScenario(brand: $brand, input: {id: $id})
        { ... on Scenario { status liveVersion } } }""",
        id=scenario_id,
    )
    assert activated["activateScenario"] == {"status": "ACTIVE", "liveVersion": 1}
    entered = await gql(
        """mutation($brand: ID!, $id: ID!, $profile: ID!) { enterScenario(brand: $brand,
        input: {id: $id, profileId: $profile, key: "k"}) { ... on ScenarioEntry { admitted
        journey { id state nodeId } } } }""",
        id=scenario_id,
        profile=str(ada),
    )
    assert entered["enterScenario"]["admitted"] is True
    listed = await gql(
        """query($brand: ID!, $id: ID!) { scenarioJourneys(brand: $brand, id: $id) {
        totalCount nodes { id profileId } } }""",
        id=scenario_id,
    )
    assert listed["scenarioJourneys"]["totalCount"] == 1
    assert listed["scenarioJourneys"]["nodes"][0]["profileId"] == str(ada)
    rest = await client.get(url(world, f"/scenarios/{scenario_id}"), headers=world.viewer_a.headers)
    assert rest.json()["liveVersion"] == 1


async def test_trigger_entries_are_bound_to_shared_trigger_definitions(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    birthday = entry("done", kind="date_attribute", dateField="birth_date", offsetDays=-3)
    birthday["trigger"].update(localTime="10:00", yearly=True)
    entries = [
        birthday,
        entry("done", kind="rfm_down", rfmKind="engagement"),
        entry("done", kind="form_submitted"),
        entry("done", kind="rfm_down", rfmKind="engagement"),  # the same as the second
    ]
    for node in entries:
        await scenario(client, world, [node, EXIT])
    listed = await client.get(url(world, "/triggers"), headers=world.viewer_a.headers)
    made = sorted(
        (
            t["kind"],
            t.get("eventName"),
            t.get("propertyEquals"),
            t.get("dateField"),
            t.get("offsetDays"),
            t.get("localTime"),
            t.get("yearly"),
        )
        for t in listed.json()["items"]
        if t["key"].startswith("scenario_")
    )
    assert made == [
        ("date_attribute", None, None, "birth_date", -3, "10:00:00", True),
        ("event", "form_submitted", {}, None, None, None, None),
        (
            "event",
            "rfm.segment_changed",
            {"direction": "down", "kind": "engagement"},
            None,
            None,
            None,
            None,
        ),
    ]
    versions = [
        (
            await client.get(
                url(world, f"/scenarios/{s['id']}/versions/1"), headers=world.viewer_a.headers
            )
        ).json()
        for s in (
            await client.get(url(world, "/scenarios"), headers=world.viewer_a.headers)
        ).json()["items"]
    ]
    assert versions[1]["entryType"] == versions[3]["entryType"]  # one definition, shared
