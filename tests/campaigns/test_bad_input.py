"""Bad input, refused with a clear 4xx and nothing stored: what is wrong when a campaign is
written (its split, test settings, schedule fields, what it names), and what a schedule checks
(an empty audience, content that does not render for a sample profile — named with the reason
—, a moment in the past, an RRULE that never fires)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from litestar import Litestar

from tests.campaigns.helpers import Brand, campaign_body, ready_brand, static_segment
from tests.factories import problem

FAR = "2031-01-01T09:00:00+00:00"
PAST = "2020-01-01T09:00:00+00:00"
WINNER = {"mode": "winner", "testPercent": 30, "winnerMetric": "opens", "decideAfterMinutes": 60}
TWO = [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}]

# When written: (case, body changes, problem type, the field named).
ON_WRITE: list[tuple[str, dict[str, Any], str, str]] = [
    ("split over 100 %", {"variants": [{"key": "a", "weight": 60}, {"key": "b", "weight": 50}]},
     "invalid-split", "weight"),
    ("split under 100 %", {"variants": [{"key": "a", "weight": 30}, {"key": "b", "weight": 50}]},
     "invalid-split", "weight"),
    ("one variant short of 100 %", {"variants": [{"key": "a", "weight": 90}]},
     "invalid-split", "weight"),
    ("a key twice", {"variants": [{"key": "a", "weight": 50}, {"key": "a", "weight": 50}]},
     "invalid-split", "key"),
    ("nine variants", {"variants": [{"key": f"v{n}", "weight": 10} for n in range(9)]},
     "invalid-input", "variants"),
    ("winner without its metric", {"variants": TWO, "test": {"mode": "winner", "testPercent": 20}},
     "invalid-split", "winnerMetric"),
    ("test cell and holdout over 100 %",
     {"variants": TWO, "test": {**WINNER, "testPercent": 80, "holdoutPercent": 30}},
     "invalid-split", "testPercent"),
    ("a goal for opens", {"variants": TWO, "test": {**WINNER, "goalEvent": "purchased"}},
     "invalid-split", "goalEvent"),
    ("`at` without its moment", {"schedule": {"kind": "at"}}, "invalid-input", "sendAt"),
    ("`local` without its time", {"schedule": {"kind": "local"}}, "invalid-input", "localTime"),
    ("an RRULE every second",
     {"schedule": {"kind": "recurring", "rrule": "FREQ=SECONDLY;INTERVAL=1"}},
     "invalid-input", "rrule"),
    ("an RRULE with its own DTSTART",
     {"schedule": {"kind": "recurring", "rrule": "DTSTART:20300101T090000\nRRULE:FREQ=DAILY"}},
     "invalid-input", "rrule"),
    ("not an RRULE", {"schedule": {"kind": "recurring", "rrule": "FREQ=DAILY;BYDAY=XX"}},
     "invalid-input", "rrule"),
    ("an unknown zone",
     {"schedule": {"kind": "recurring", "rrule": "FREQ=DAILY", "timeZone": "Mars/Olympus"}},
     "invalid-input", "timeZone"),
    ("optimised local times",
     {"schedule": {"kind": "local", "localTime": "2031-01-01T09:00"},
      "sendTimeOptimization": True},
     "invalid-input", "sendTimeOptimization"),
    ("an unknown segment",
     {"audience": {"include": ["01939000-0000-7000-8000-000000000000"]}},
     "invalid-input", "include"),
    ("an unknown template", {"templateId": "01939000-0000-7000-8000-000000000001"},
     "invalid-input", "templateId"),
    ("a template of another channel", {"channel": "sms"}, "invalid-input", "templateId"),
    ("an SMS variant without an SMS template", {"variants": [{"key": "a", "channel": "sms"}]},
     "invalid-input", "templateId"),
    ("an unknown version", {"variants": [{"key": "a", "templateVersion": 9}]},
     "invalid-input", "templateVersion"),
    ("an unknown topic", {"topic": "gossip"}, "invalid-input", "topic"),
    ("the fallback on the same channel",
     {"fallback": {"channel": "email", "templateId": "01939000-0000-7000-8000-000000000001"}},
     "invalid-input", "channel"),
]  # fmt: skip


@pytest.fixture
async def brand(app: Litestar, client: httpx.AsyncClient) -> Brand:
    return await ready_brand(app, client, members=2)


async def test_a_bad_campaign_is_refused_and_not_stored(
    client: httpx.AsyncClient, brand: Brand
) -> None:
    """Every case of the table against one brand (a world each would cost more than the
    cases): each refused 422 with its type and field, nothing stored."""
    for case, changes, kind, field in ON_WRITE:
        response = await client.post(
            brand.url("/campaigns"), json=campaign_body(brand, **changes), headers=brand.headers
        )
        body = problem(response, 422)
        assert body["type"].endswith(f":{kind}"), (case, body)
        assert field in {e.get("field") for e in body.get("errors") or []}, (case, body)
    listed = await client.get(brand.url("/campaigns"), headers=brand.headers)
    assert listed.json()["items"] == []


async def _refused_schedule(
    client: httpx.AsyncClient, brand: Brand, body: dict[str, Any]
) -> dict[str, Any]:
    created = await client.post(brand.url("/campaigns"), json=body, headers=brand.headers)
    assert created.status_code == 201, created.text
    campaign_id = created.json()["id"]
    refused = await client.post(
        brand.url(f"/campaigns/{campaign_id}/schedule"), headers=brand.headers
    )
    found = problem(refused, 422)
    kept = await client.get(brand.url(f"/campaigns/{campaign_id}"), headers=brand.headers)
    assert (kept.json()["status"], kept.json()["nextRunAt"]) == ("draft", None)
    return found


AT_SCHEDULE: list[tuple[str, dict[str, Any], str]] = [
    ("a moment in the past", {"kind": "at", "sendAt": PAST}, "schedule-in-past"),
    ("a local time past", {"kind": "local", "localTime": "2020-01-01T09:00"},
     "schedule-in-past"),
    ("February 30th", {"kind": "recurring", "rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"},
     "rrule-never-fires"),
    ("a count used up", {"kind": "recurring", "rrule": "FREQ=DAILY;COUNT=2", "startsAt": PAST},
     "rrule-never-fires"),
    ("an end gone by", {"kind": "recurring", "rrule": "FREQ=WEEKLY;UNTIL=20200301T000000Z",
                        "startsAt": PAST}, "rrule-never-fires"),
]  # fmt: skip


async def test_a_schedule_that_cannot_happen_is_refused(
    client: httpx.AsyncClient, brand: Brand
) -> None:
    for case, schedule, kind in AT_SCHEDULE:
        body = await _refused_schedule(client, brand, campaign_body(brand, schedule=schedule))
        assert body["type"].endswith(f":{kind}"), (case, body)


async def test_an_empty_audience_is_refused_at_scheduling(
    app: Litestar, client: httpx.AsyncClient, brand: Brand
) -> None:
    empty = await static_segment(app, brand.id, "nobody", [])
    excluded_all = campaign_body(
        brand, audience={"include": [brand.segment_id], "exclude": [brand.segment_id]}
    )
    for body in (campaign_body(brand, audience={"include": [empty]}), excluded_all):
        refused = await _refused_schedule(client, brand, body)
        assert refused["type"].endswith(":empty-audience"), refused
        assert refused["errors"][0]["pointer"] == "/audience/include"


async def test_content_that_does_not_render_names_the_profile_and_the_reason(
    app: Litestar, client: httpx.AsyncClient, brand: Brand
) -> None:
    strict = {
        "key": "strict",
        "name": "Strict",
        "channel": "email",
        "defaultLocale": "en",
        "variants": {"en": {"subject": "Hi {{ last_name }}", "body": "<p>{{ last_name }}</p>"}},
    }
    created = await client.post(brand.url("/templates"), json=strict, headers=brand.headers)
    assert created.status_code == 201, created.text
    body = campaign_body(
        brand,
        variants=[
            {"key": "a", "weight": 50},
            {"key": "b", "weight": 50, "templateId": created.json()["id"]},
        ],
    )
    refused = await _refused_schedule(client, brand, body)
    assert refused["type"].endswith(":campaign-not-renderable"), refused
    error = refused["errors"][0]
    assert error["pointer"] == "/variants/1/templateId"
    assert error["reason"] == "missing-value"
    assert error["profileId"] == str(min(brand.profiles))  # the audience's first profile
    assert "last_name" in refused["detail"]
    assert str(min(brand.profiles)) in refused["detail"]


async def test_a_campaign_under_way_is_not_changed_and_a_finished_one_not_steered(
    client: httpx.AsyncClient, brand: Brand
) -> None:
    created = await client.post(
        brand.url("/campaigns"),
        json=campaign_body(brand, schedule={"kind": "at", "sendAt": FAR}),
        headers=brand.headers,
    )
    campaign = f"/campaigns/{created.json()['id']}"
    for path in ("/pause", "/resume"):  # a draft is neither paused nor resumed
        problem(await client.post(brand.url(campaign + path), headers=brand.headers), 409)
    scheduled = await client.post(brand.url(campaign + "/schedule"), headers=brand.headers)
    assert scheduled.json()["nextRunAt"] == FAR.replace("+00:00", "Z")
    # Scheduled: still editable, and checked again (a past moment is refused, nothing changed).
    past = {"schedule": {"kind": "at", "sendAt": PAST}}
    refused = await client.patch(brand.url(campaign), json=past, headers=brand.headers)
    assert problem(refused, 422)["type"].endswith(":schedule-in-past")
    kept = await client.get(brand.url(campaign), headers=brand.headers)
    assert kept.json()["schedule"]["sendAt"] == FAR.replace("+00:00", "Z")
    renamed = await client.patch(
        brand.url(campaign), json={"name": "Renamed"}, headers=brand.headers
    )
    assert renamed.json()["name"] == "Renamed"
    later = (dt.datetime.fromisoformat(FAR) + dt.timedelta(days=1)).isoformat()
    moved = await client.patch(
        brand.url(campaign),
        json={"schedule": {"kind": "at", "sendAt": later}},
        headers=brand.headers,
    )
    assert moved.json()["nextRunAt"] == later.replace("+00:00", "Z")
    await client.post(brand.url(campaign + "/cancel"), headers=brand.headers)
    for method, path in (
        ("PATCH", ""),
        ("POST", "/pause"),
        ("POST", "/schedule"),
        ("POST", "/cancel"),
    ):
        answer = await client.request(
            method, brand.url(campaign + path), json={"name": "x"} if method == "PATCH" else None,
            headers=brand.headers,
        )  # fmt: skip
        assert problem(answer, 409)["type"].endswith(":campaign-state")
    gone = await client.delete(brand.url(campaign), headers=brand.headers)
    assert gone.status_code == 204
