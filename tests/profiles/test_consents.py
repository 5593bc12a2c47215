"""Consents: an append-only history whose latest change is the current state, brand topics,
global unsubscribe, and contactability per channel."""

from __future__ import annotations

from typing import Any

import httpx
from litestar import Litestar

from tests.factories import World, make_world, problem
from tests.profiles.helpers import (
    brand_url,
    create_profile,
    define_topic,
    fields_of,
    record_consent,
)


async def consents_of(client: httpx.AsyncClient, world: World, profile_id: str) -> dict[str, Any]:
    response = await client.get(
        brand_url(world, f"/profiles/{profile_id}/consents"), headers=world.viewer_a.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def history_of(
    client: httpx.AsyncClient, world: World, profile_id: str
) -> list[dict[str, Any]]:
    response = await client.get(
        brand_url(world, f"/profiles/{profile_id}/consents/history"),
        headers=world.viewer_a.headers,
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def contactable(body: dict[str, Any]) -> dict[str, list[str]]:
    """Channel -> reasons it is not contactable (empty when it is)."""
    answer = {c["channel"]: c["reasons"] for c in body["contactability"]}
    assert all(c["contactable"] == (not c["reasons"]) for c in body["contactability"])
    return answer


async def test_changes_are_appended_and_never_overwritten(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profile = await create_profile(client, world, email="a@example.com")
    await record_consent(
        client,
        world,
        profile["id"],
        channel="email",
        state="granted",
        source="qualifio",
        proof={"ip": "192.0.2.1", "form": "contest-7", "partner": "qualifio"},
    )
    await record_consent(client, world, profile["id"], channel="email", state="unsubscribed")
    history = await history_of(client, world, profile["id"])
    assert [(c["state"], c["source"]) for c in history] == [
        ("granted", "qualifio"),
        ("unsubscribed", "test"),
    ]
    assert history[0]["proof"] == {"ip": "192.0.2.1", "form": "contest-7", "partner": "qualifio"}
    [current] = (await consents_of(client, world, profile["id"]))["items"]
    assert current["state"] == "unsubscribed"


async def test_current_state_is_the_latest_change_by_when_it_occurred(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profile = await create_profile(client, world, email="a@example.com")
    await record_consent(client, world, profile["id"], channel="email", state="granted")
    # A late-arriving change that happened long ago does not override the newer one.
    await record_consent(
        client,
        world,
        profile["id"],
        channel="email",
        state="denied",
        occurredAt="2020-01-01T00:00:00Z",
    )
    [current] = (await consents_of(client, world, profile["id"]))["items"]
    assert current["state"] == "granted"
    assert len(await history_of(client, world, profile["id"])) == 2


async def test_topic_subscription_is_tracked_apart_from_its_channel(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await define_topic(client, world, "newsletter")
    profile = await create_profile(client, world, email="a@example.com")
    await record_consent(client, world, profile["id"], channel="email", state="granted")
    await record_consent(
        client, world, profile["id"], channel="email", topic="newsletter", state="unsubscribed"
    )
    items = (await consents_of(client, world, profile["id"]))["items"]
    assert {(c["topic"], c["state"]) for c in items} == {
        (None, "granted"),
        ("newsletter", "unsubscribed"),
    }


async def test_contactable_with_address_and_granted_consent(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profile = await create_profile(client, world, email="a@example.com")
    await record_consent(client, world, profile["id"], channel="email", state="granted")
    reasons = contactable(await consents_of(client, world, profile["id"]))
    assert reasons["email"] == []
    assert reasons["sms"] == ["no-address", "no-consent"]


async def test_bounced_or_suppressed_channel_is_not_contactable(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profile = await create_profile(client, world, email="a@example.com", phone="+32470123456")
    for channel in ("email", "sms"):
        await record_consent(client, world, profile["id"], channel=channel, state="granted")
    response = await client.patch(
        brand_url(world, f"/profiles/{profile['id']}"),
        json={"bounced": ["email"], "suppressed": ["sms"]},
        headers=world.manager_a.headers,
    )
    assert response.status_code == 200, response.text
    reasons = contactable(await consents_of(client, world, profile["id"]))
    assert (reasons["email"], reasons["sms"]) == (["bounced"], ["suppressed"])


async def test_sms_to_a_fixed_line_is_not_contactable(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profile = await create_profile(client, world, phone="+3222123456")  # a Brussels landline
    for channel in ("sms", "phone"):
        await record_consent(client, world, profile["id"], channel=channel, state="granted")
    reasons = contactable(await consents_of(client, world, profile["id"]))
    assert (reasons["sms"], reasons["phone"]) == (["invalid-address"], [])


async def test_global_unsubscribe_blocks_every_channel_until_a_later_grant(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profile = await create_profile(client, world, email="a@example.com", phone="+32470123456")
    for channel in ("email", "sms"):
        await record_consent(client, world, profile["id"], channel=channel, state="granted")
    await record_consent(client, world, profile["id"], state="unsubscribed")
    reasons = contactable(await consents_of(client, world, profile["id"]))
    assert (reasons["email"], reasons["sms"]) == (
        ["globally-unsubscribed"],
        ["globally-unsubscribed"],
    )
    await record_consent(client, world, profile["id"], channel="email", state="granted")
    reasons = contactable(await consents_of(client, world, profile["id"]))
    assert (reasons["email"], reasons["sms"]) == ([], ["globally-unsubscribed"])


async def test_unknown_topic_is_refused_naming_it_and_nothing_is_recorded(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profile = await create_profile(client, world, email="a@example.com")
    response = await client.post(
        brand_url(world, f"/profiles/{profile['id']}/consents"),
        json={"channel": "email", "topic": "nope", "state": "granted", "source": "x"},
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 422)) == ["topic"]
    assert await history_of(client, world, profile["id"]) == []


async def test_unknown_channel_is_refused_naming_it(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profile = await create_profile(client, world, email="a@example.com")
    response = await client.post(
        brand_url(world, f"/profiles/{profile['id']}/consents"),
        json={"channel": "fax", "state": "granted", "source": "x"},
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 422)) == ["channel"]


async def test_topic_without_a_channel_is_refused(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    await define_topic(client, world, "offers")
    profile = await create_profile(client, world, email="a@example.com")
    response = await client.post(
        brand_url(world, f"/profiles/{profile['id']}/consents"),
        json={"topic": "offers", "state": "granted", "source": "x"},
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 422)) == ["channel"]


async def test_consent_dated_in_the_future_is_refused(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profile = await create_profile(client, world, email="a@example.com")
    response = await client.post(
        brand_url(world, f"/profiles/{profile['id']}/consents"),
        json={
            "channel": "email",
            "state": "granted",
            "source": "x",
            "occurredAt": "2999-01-01T00:00:00Z",
        },
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 422)) == ["occurredAt"]


async def test_topics_are_created_listed_renamed_and_deleted(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    topic = await define_topic(client, world, "offers")
    url = brand_url(world, f"/consent-topics/{topic['id']}")
    renamed = await client.patch(url, json={"label": "Offers"}, headers=world.manager_a.headers)
    assert renamed.json()["label"] == "Offers"
    listed = await client.get(brand_url(world, "/consent-topics"), headers=world.viewer_a.headers)
    assert [t["key"] for t in listed.json()["items"]] == ["offers"]
    assert (await client.delete(url, headers=world.manager_a.headers)).status_code == 204
    problem(await client.get(url, headers=world.viewer_a.headers), 404)


async def test_topic_with_history_cannot_be_deleted(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    topic = await define_topic(client, world, "offers")
    profile = await create_profile(client, world, email="a@example.com")
    await record_consent(
        client, world, profile["id"], channel="email", topic="offers", state="granted"
    )
    response = await client.delete(
        brand_url(world, f"/consent-topics/{topic['id']}"), headers=world.manager_a.headers
    )
    problem(response, 409)
