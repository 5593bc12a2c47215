"""Event ingestion: idempotent on eventId, per-event outcomes in batches, profile resolution by
id or identity keys, bad input refused with its reason and nothing half-stored."""

from __future__ import annotations

import datetime as dt

import httpx
from litestar import Litestar

from tests.events.helpers import event, events_of, send, send_batch, set_settings
from tests.factories import make_world, problem
from tests.profiles.helpers import (
    UNKNOWN_ID,
    brand_url,
    create_profile,
    fields_of,
)


async def test_single_event_is_accepted_and_creates_its_profile_from_an_unknown_email(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await send(
        client,
        world,
        event("e-1", "signed_up", email="Ada@Example.com", properties={"plan": "gold"}),
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["outcome"] == "accepted"
    [stored] = await events_of(client, world)
    assert stored["id"] == body["id"]
    assert (stored["eventId"], stored["name"], stored["properties"]) == (
        "e-1",
        "signed_up",
        {"plan": "gold"},
    )
    assert stored["source"] == "api"
    profiles = await client.get(
        brand_url(world, "/profiles?email=ada@example.com"), headers=world.viewer_a.headers
    )
    [profile] = profiles.json()["items"]
    assert profile["id"] == body["profileId"] == stored["profileId"]


async def test_resent_event_is_acknowledged_as_duplicate_and_stored_once(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    first = await send(client, world, event("e-1", email="a@example.com"))
    again = await send(client, world, event("e-1", email="a@example.com"))
    assert first.status_code == 202
    assert again.status_code == 200, again.text
    assert again.json()["outcome"] == "duplicate"
    assert again.json()["id"] == first.json()["id"]
    batch = await send_batch(client, world, [event("e-1", email="a@example.com")])
    assert batch["results"][0]["outcome"] == "duplicate"
    assert batch["results"][0]["id"] == first.json()["id"]
    assert len(await events_of(client, world)) == 1


async def test_resent_event_is_a_duplicate_even_if_it_would_now_be_refused(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    first = await send(client, world, event("e-1", "signed_up", email="a@example.com"))
    assert first.status_code == 202, first.text
    declared = await client.post(
        brand_url(world, "/event-types"),
        json={"name": "signed_up", "propertiesSchema": {"type": "object", "required": ["plan"]}},
        headers=world.manager_a.headers,
    )
    assert declared.status_code == 201, declared.text
    again = await send(client, world, event("e-1", "signed_up", email="a@example.com"))
    assert again.status_code == 200, again.text
    assert (again.json()["outcome"], again.json()["id"]) == ("duplicate", first.json()["id"])


async def test_resent_event_creates_no_profile_when_its_keys_moved_away(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    first = await send(client, world, event("e-1", email="old@example.com"))
    profile_id = first.json()["profileId"]
    moved = await client.patch(
        brand_url(world, f"/profiles/{profile_id}"),
        json={"email": "new@example.com"},
        headers=world.manager_a.headers,
    )
    assert moved.status_code == 200, moved.text
    again = await send(client, world, event("e-1", email="old@example.com"))
    assert (again.json()["outcome"], again.json()["profileId"]) == ("duplicate", profile_id)
    listed = await client.get(brand_url(world, "/profiles"), headers=world.viewer_a.headers)
    assert [p["id"] for p in listed.json()["items"]] == [profile_id]


async def test_batch_reports_each_event_and_a_bad_event_never_sinks_the_good_ones(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profile = await create_profile(client, world, email="known@example.com")
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()
    events = [
        event("good-1", profileId=profile["id"]),
        {"eventId": "malformed", "email": "known@example.com"},  # no name
        event("future", email="known@example.com", occurredAt=future),
        event("ghost", profileId=UNKNOWN_ID),
        event("good-1", profileId=profile["id"]),  # repeated within the batch
        event("bad-email", email="not-an-address"),
        event("no-profile"),
        event("good-2", email="known@example.com", occurredAt="2026-11-20T10:00:00+01:00"),
    ]
    body = await send_batch(client, world, events)
    results = body["results"]
    assert [r["index"] for r in results] == list(range(8))
    assert [r["outcome"] for r in results] == [
        "accepted",
        "rejected",
        "rejected",
        "rejected",
        "duplicate",
        "rejected",
        "rejected",
        "accepted",
    ]
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 1, 5)
    assert results[1]["eventId"] == "malformed"
    assert [e["field"] for e in results[1]["errors"]] == ["name"]
    assert [e["field"] for e in results[2]["errors"]] == ["occurredAt"]
    assert results[3]["reason"] == "no profile has this id"
    assert results[4]["id"] == results[0]["id"]
    assert [e["field"] for e in results[5]["errors"]] == ["email"]
    assert [e["field"] for e in results[6]["errors"]] == ["profileId"]
    stored = await events_of(client, world)
    assert sorted(e["eventId"] for e in stored) == ["good-1", "good-2"]
    assert {e["profileId"] for e in stored} == {profile["id"]}
    # No profile was made for the rejected events.
    listed = await client.get(brand_url(world, "/profiles"), headers=world.viewer_a.headers)
    assert [p["id"] for p in listed.json()["items"]] == [profile["id"]]


async def test_batch_over_a_thousand_events_answers_413_and_stores_nothing(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    events = [event(f"e-{i}", email="a@example.com") for i in range(1001)]
    response = await client.post(
        brand_url(world, "/events/batch"), json={"events": events}, headers=world.manager_a.headers
    )
    body = problem(response, 413)
    assert fields_of(body) == ["events"]
    assert await events_of(client, world) == []


async def test_malformed_bodies_answer_problems_and_store_nothing(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    headers = {**world.manager_a.headers, "content-type": "application/json"}
    for path in ("/events", "/events/batch"):
        response = await client.post(brand_url(world, path), content=b"{not json", headers=headers)
        assert 400 <= response.status_code < 500
        problem(response, response.status_code)
    single = await send(client, world, {"eventId": "x", "name": "a b c", "email": "a@example.com"})
    assert "name" in fields_of(problem(single, 422))
    batch = await client.post(
        brand_url(world, "/events/batch"), json={"events": "nope"}, headers=world.manager_a.headers
    )
    problem(batch, 422)
    assert await events_of(client, world) == []


async def test_single_rejected_event_answers_422_with_its_reason(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)).isoformat()
    body = problem(await send(client, world, event("e", email="a@x.com", occurredAt=future)), 422)
    assert fields_of(body) == ["occurredAt"]
    assert await events_of(client, world) == []


async def test_future_skew_is_a_brand_setting(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).isoformat()
    assert (
        await send(client, world, event("a", email="a@x.com", occurredAt=soon))
    ).status_code == 202
    await set_settings(client, world, maxFutureSkewSeconds=60)
    problem(await send(client, world, event("b", email="a@x.com", occurredAt=soon)), 422)
    assert [e["eventId"] for e in await events_of(client, world)] == ["a"]


async def test_unknown_keys_are_rejected_when_the_brand_does_not_create_profiles(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    known = await create_profile(client, world, email="known@example.com")
    await set_settings(client, world, createUnknownProfiles=False)
    body = await send_batch(
        client,
        world,
        [event("a", email="stranger@example.com"), event("b", email="known@example.com")],
    )
    assert [r["outcome"] for r in body["results"]] == ["rejected", "accepted"]
    assert "does not create profiles" in body["results"][0]["reason"]
    assert body["results"][1]["profileId"] == known["id"]
    listed = await client.get(brand_url(world, "/profiles"), headers=world.viewer_a.headers)
    assert [p["id"] for p in listed.json()["items"]] == [known["id"]]


async def test_identity_keys_resolve_by_phone_and_external_id(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profile = await create_profile(
        client,
        world,
        phone="+32470123456",
        externalIds=[{"source": "erp", "id": "C-1"}],
    )
    body = await send_batch(
        client,
        world,
        [
            event("a", phone="+32 470 12 34 56"),
            event("b", externalId={"source": "erp", "id": "C-1"}),
        ],
    )
    assert [r["profileId"] for r in body["results"]] == [profile["id"], profile["id"]]


async def test_merged_profile_id_resolves_to_the_survivor_and_events_follow_merges(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    older = await create_profile(client, world, email="old@example.com")
    newer = await create_profile(client, world, email="new@example.com")
    assert (await send(client, world, event("before", profileId=newer["id"]))).status_code == 202
    merged = await client.post(
        brand_url(world, f"/profiles/{older['id']}/merge"),
        json={"otherId": newer["id"]},
        headers=world.manager_a.headers,
    )
    assert merged.status_code == 200, merged.text
    after = await send(client, world, event("after", profileId=newer["id"]))
    assert after.status_code == 202
    assert after.json()["profileId"] == older["id"]
    assert {e["profileId"] for e in await events_of(client, world)} == {older["id"]}


async def test_events_go_with_their_erased_profile(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    gone = await create_profile(client, world, email="gone@example.com")
    kept = await create_profile(client, world, email="kept@example.com")
    await send_batch(
        client,
        world,
        [
            event("a", profileId=gone["id"]),
            event("b", profileId=kept["id"]),
            event("c", "cart_updated", profileId=gone["id"], properties={"items": []}),
        ],
    )
    deleted = await client.delete(
        brand_url(world, f"/profiles/{gone['id']}"), headers=world.manager_a.headers
    )
    assert deleted.status_code == 204, deleted.text
    assert [e["eventId"] for e in await events_of(client, world)] == ["b"]


async def test_another_brand_neither_receives_nor_reveals_events(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    mine = await create_profile(client, world, email="a@example.com")
    assert (await send(client, world, event("a", profileId=mine["id"]))).status_code == 202
    # Brand B's owner cannot send to brand A, nor read it.
    problem(await send(client, world, event("b", email="x@x.com"), world.owner_b), 404)
    other = await client.get(brand_url(world, "/events"), headers=world.owner_b.headers)
    problem(other, 404)
    # Brand B sees none of A's events, and A's profile id is unknown in brand B.
    b_events = f"/v1/brands/{world.brand_b.id}/events"
    listed = await client.get(b_events, headers=world.owner_b.headers)
    assert listed.json()["items"] == []
    response = await client.post(
        b_events, json=event("a", profileId=mine["id"]), headers=world.owner_b.headers
    )
    assert fields_of(problem(response, 422)) == ["profileId"]
    # The same event id in brand B is a different event.
    response = await client.post(
        b_events, json=event("a", email="b@example.com"), headers=world.owner_b.headers
    )
    assert response.status_code == 202
    assert [e["profileId"] for e in await events_of(client, world)] == [mine["id"]]
