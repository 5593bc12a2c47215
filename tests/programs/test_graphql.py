"""GraphQL of programs, through the same services as REST: create (a bad KPI is an
`OperationError` 422 naming it), list with filters, read by id and by `node`, change, status
changes (a refused one is a 409 `OperationError`), delete, the catalog, instantiation with its
audience, the coverage map; another brand's program is null, or not found to change."""

from __future__ import annotations

from typing import Any

import httpx
from litestar import Litestar

from backend.programs import catalog
from tests.factories import Person, make_world
from tests.test_graphql import gql, gql_data

RESULT = """__typename
  ... on OperationError { problemType httpStatus detail fieldErrors { field pointer message } }"""
FIELDS = """id uuid name objective stage status statusChangedAt momentsOfTruth templateKey
  audienceSegmentId ownerId startDate endDate archivedAt kpis { name metric target unit }"""
CREATE = f"""mutation($brand: ID!, $input: CreateProgramInput!) {{
  createProgram(brand: $brand, input: $input) {{ {RESULT} ... on Program {{ {FIELDS} }} }} }}"""
UPDATE = f"""mutation($brand: ID!, $input: UpdateProgramInput!) {{
  updateProgram(brand: $brand, input: $input) {{ {RESULT} ... on Program {{ {FIELDS} }} }} }}"""
INSTANTIATE = f"""mutation($brand: ID!, $input: InstantiateProgramInput!) {{
  instantiateProgram(brand: $brand, input: $input) {{ {RESULT}
    ... on Program {{ {FIELDS} }} }} }}"""
DELETE = f"""mutation($brand: ID!, $input: ProgramIdInput!) {{
  deleteProgram(brand: $brand, input: $input) {{ {RESULT} ... on Deleted {{ id }}
    ... on Program {{ archivedAt }} }} }}"""
READ = """query($brand: ID!, $id: ID!) {
  all: programs(brand: $brand) { totalCount nodes { uuid name } }
  active: programs(brand: $brand, status: ACTIVE) { totalCount nodes { uuid } }
  engaging: programs(brand: $brand, stage: ENGAGE, first: 1) {
    totalCount pageInfo { hasNextPage } nodes { uuid } }
  program(brand: $brand, id: $id) { uuid name status }
  node(brand: $brand, id: $id) { __typename ... on Program { name } }
}"""
TEMPLATES = """query($brand: ID!) {
  all: programTemplates(brand: $brand) { key name stage programCount momentsOfTruth
    audienceRule skeleton kpis { metric target unit } }
  winBack: programTemplates(brand: $brand, stage: WIN_BACK) { key }
  serving: programTemplates(brand: $brand, moment: CHURN_RISK) { key }
  one: programTemplate(brand: $brand, key: "newsletter") { key skeleton }
  none: programTemplate(brand: $brand, key: "nope") { key }
}"""
COVERAGE = """query($brand: ID!) { programCoverage(brand: $brand) { asOf gaps
  stages { stage covered programs { name templateKey } suggestedTemplates { key } }
  moments { moment label covered programs { name } suggestedTemplates { key name } } } }"""
KPI = {"name": "Opens", "metric": "OPEN_RATE", "target": 40, "unit": "percent"}


def status_change(action: str) -> str:
    return f"""mutation($brand: ID!, $input: ProgramIdInput!) {{
  {action}Program(brand: $brand, input: $input) {{ {RESULT} ... on Program {{ status }} }} }}"""


async def test_programs_over_graphql(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    manager = world.manager_a

    async def call(document: str, input: dict[str, Any], person: Person = manager) -> Any:
        data = await gql_data(client, document, person, {"brand": brand, "input": input})
        return next(iter(data.values()))

    refused = await call(
        CREATE,
        {"name": "W", "objective": "o", "stage": "ENGAGE", "kpis": [{**KPI, "target": 140}]},
    )
    assert (refused["__typename"], refused["httpStatus"]) == ("OperationError", 422)
    assert refused["fieldErrors"][0]["pointer"] == "/kpis/0"
    no_owner = await call(
        CREATE,
        {"name": "W", "objective": "o", "stage": "ENGAGE", "ownerId": str(world.owner_b.id)},
    )
    assert no_owner["fieldErrors"][0]["field"] == "ownerId"

    created = await call(
        CREATE,
        {
            "name": "Welcome",
            "objective": "Welcome each sign-up.",
            "stage": "ENGAGE",
            "kpis": [KPI],
            "momentsOfTruth": ["SIGNUP"],
            "ownerId": str(world.manager_a.id),
            "startDate": "2027-01-01",
        },
    )
    assert created["__typename"] == "Program", created
    assert (created["status"], created["stage"], created["momentsOfTruth"]) == (
        "DRAFT", "ENGAGE", ["SIGNUP"],
    )  # fmt: skip
    assert created["kpis"] == [{**KPI, "target": 40.0}]
    assert (created["ownerId"], created["startDate"]) == (str(world.manager_a.id), "2027-01-01")
    other = await call(CREATE, {"name": "Churn", "objective": "o", "stage": "RETAIN"})
    activated = await call(status_change("activate"), {"id": created["id"]})
    assert activated == {"__typename": "Program", "status": "ACTIVE"}

    read = await gql_data(client, READ, world.viewer_a, {"brand": brand, "id": created["id"]})
    assert read["all"]["totalCount"] == 2
    assert [n["uuid"] for n in read["all"]["nodes"]] == [created["uuid"], other["uuid"]]
    assert read["active"] == {"totalCount": 1, "nodes": [{"uuid": created["uuid"]}]}
    assert read["engaging"]["totalCount"] == 1
    assert read["program"] == {"uuid": created["uuid"], "name": "Welcome", "status": "ACTIVE"}
    assert read["node"] == {"__typename": "Program", "name": "Welcome"}

    changed = await call(UPDATE, {"id": created["uuid"], "name": "Welcome 2027", "endDate": None})
    assert (changed["name"], changed["startDate"]) == ("Welcome 2027", "2027-01-01")
    reversed_dates = await call(UPDATE, {"id": created["id"], "endDate": "2026-01-01"})
    assert reversed_dates["fieldErrors"][0]["field"] == "endDate"
    again = await call(status_change("activate"), {"id": created["id"]})
    assert (again["httpStatus"], again["problemType"]) == (
        409, "urn:levier:problem:program-status-change",
    )  # fmt: skip
    assert (await call(status_change("pause"), {"id": created["id"]}))["status"] == "PAUSED"
    assert (await call(status_change("end"), {"id": created["id"]}))["status"] == "ENDED"

    deleted = await call(DELETE, {"id": other["id"]})
    assert deleted == {"__typename": "Deleted", "id": other["id"]}
    gone = await gql_data(client, READ, manager, {"brand": brand, "id": other["id"]})
    assert gone["program"] is None
    assert gone["node"] is None


async def test_templates_instantiation_and_coverage_over_graphql(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    manager = world.manager_a
    made = await gql_data(
        client,
        INSTANTIATE,
        manager,
        {
            "brand": brand,
            "input": {
                "templateKey": "anti_churn",
                "overrides": {"name": "Keep them", "momentsOfTruth": ["CHURN_RISK", "INACTIVITY"]},
                "createAudience": True,
            },
        },
    )
    program = made["instantiateProgram"]
    assert program["__typename"] == "Program", program
    assert (program["templateKey"], program["name"], program["stage"]) == (
        "anti_churn", "Keep them", "RETAIN",
    )  # fmt: skip
    assert program["audienceSegmentId"] is not None
    segment = await gql_data(
        client,
        "query($brand: ID!, $id: ID!) { segment(brand: $brand, id: $id) { key definition } }",
        manager,
        {"brand": brand, "id": program["audienceSegmentId"]},
    )
    assert segment["segment"] == {
        "key": "program_anti_churn",
        "definition": catalog.BY_KEY["anti_churn"].audience_rule,
    }
    unknown = await gql_data(
        client, INSTANTIATE, manager, {"brand": brand, "input": {"templateKey": "nope"}}
    )
    assert unknown["instantiateProgram"]["fieldErrors"][0]["field"] == "templateKey"

    templates = await gql_data(client, TEMPLATES, world.viewer_a, {"brand": brand})
    assert [t["key"] for t in templates["all"]] == [t.key for t in catalog.TEMPLATES]
    counts = {t["key"]: t["programCount"] for t in templates["all"] if t["programCount"]}
    assert counts == {"anti_churn": 1}
    assert [t["key"] for t in templates["winBack"]] == ["reactivation", "resubscription"]
    assert [t["key"] for t in templates["serving"]] == ["anti_churn"]
    assert templates["one"]["skeleton"]["kind"] == "campaign"
    assert templates["none"] is None
    anti_churn = next(t for t in templates["all"] if t["key"] == "anti_churn")
    assert anti_churn["audienceRule"] == catalog.BY_KEY["anti_churn"].audience_rule
    assert anti_churn["skeleton"]["trigger"] == {
        "kind": "rfm_segment_dropped",
        "rfmKind": "purchase",
    }

    await gql_data(
        client, status_change("activate"), manager, {"brand": brand, "input": {"id": program["id"]}}
    )
    coverage = (await gql_data(client, COVERAGE, world.viewer_a, {"brand": brand}))[
        "programCoverage"
    ]
    retain = next(s for s in coverage["stages"] if s["stage"] == "RETAIN")
    assert retain == {
        "stage": "RETAIN", "covered": True,
        "programs": [{"name": "Keep them", "templateKey": "anti_churn"}], "suggestedTemplates": [],
    }  # fmt: skip
    win_back = next(s for s in coverage["stages"] if s["stage"] == "WIN_BACK")
    assert [t["key"] for t in win_back["suggestedTemplates"]] == ["reactivation", "resubscription"]
    covered = {m["moment"] for m in coverage["moments"] if m["covered"]}
    assert covered == {"CHURN_RISK", "INACTIVITY"}
    assert coverage["gaps"] == 5 + 17


async def test_another_brands_program_is_null_and_cannot_be_changed(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    theirs = await gql_data(
        client,
        CREATE,
        world.owner_b,
        {
            "brand": str(world.brand_b.id),
            "input": {"name": "B", "objective": "o", "stage": "GROW"},
        },
    )
    their_id = theirs["createProgram"]["id"]
    mine = {"brand": str(world.brand_a.id), "id": their_id}
    read = await gql_data(client, READ, world.owner_a, mine)
    assert (read["program"], read["node"], read["all"]["totalCount"]) == (None, None, 0)
    for document, input in [
        (UPDATE, {"id": their_id, "name": "Taken"}),
        (DELETE, {"id": their_id}),
        (status_change("activate"), {"id": their_id}),
        (status_change("pause"), {"id": their_id}),
        (status_change("end"), {"id": their_id}),
    ]:
        data = await gql_data(
            client, document, world.owner_a, {"brand": str(world.brand_a.id), "input": input}
        )
        answer = next(iter(data.values()))
        assert (answer["__typename"], answer["httpStatus"]) == ("OperationError", 404), document
    # Out of reach entirely: the brand itself is not found.
    body = await gql(client, READ, world.owner_a, {"brand": str(world.brand_b.id), "id": their_id})
    assert body["errors"][0]["extensions"]["status"] == 404
    still = await gql_data(
        client, READ, world.owner_b, {"brand": str(world.brand_b.id), "id": their_id}
    )
    assert still["program"]["name"] == "B"
