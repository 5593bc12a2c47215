"""Inbound partner connectors: signatures (bad, missing, stale, good), Qualifio participations
upserting profiles with consents, redelivery changing nothing, failed mapping then replay, and
brand isolation."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import Any
from uuid import uuid4

import httpx
import pytest
from litestar import Litestar
from standardwebhooks import Webhook

from tests.factories import World, make_world, problem, run_jobs
from tests.profiles.helpers import brand_url, define_topic

pytestmark = pytest.mark.worker

QUALIFIO_SECRET = "qualifio-shared-secret-0123456789"


def participation(participation_id: str = "9f1c2b7e-part-0001", **overrides: Any) -> dict[str, Any]:
    """A Qualifio Webhook 2.0 participation (schema 2.3.0)."""
    body: dict[str, Any] = {
        "id": participation_id,
        "ip": "5e884898da28047151d0e56f8dc62927",
        "url": "https://contests.example.com/summer",
        "startedAt": "2026-11-20T10:00:00+00:00",
        "completedAt": "2026-11-20T10:03:00+00:00",
        "state": "completed",
        "browser": {"device": "mobile", "userAgent": "Mozilla/5.0"},
        "campaign": {
            "id": 4242,
            "name": "Summer contest",
            "themes": [{"code": "SUMMER", "description": "Summer"}],
            "type": "contest",
            "channel": {
                "uuid": "c0ffee00-0000-4000-8000-000000000001",
                "publishType": "minisite",
                "dateStart": "2026-11-01",
                "dateEnd": "2026-12-01",
                "website": {"id": 7, "name": "Brand", "domain": "brand.example", "country": "BE"},
            },
        },
        "form": [
            {
                "id": 1,
                "label": "E-mail",
                "type": "EMAIL",
                "variable": "email",
                "responses": [{"value": "Ada@Example.com", "label": None, "file": None}],
            },
            {
                "id": 2,
                "label": "First name",
                "type": "FIRSTNAME",
                "variable": "firstname",
                "responses": [{"value": "Ada", "label": None, "file": None}],
            },
            {
                "id": 3,
                "label": "Favourite store",
                "type": "TEXT",
                "variable": "store",
                "responses": [{"value": "Namur", "label": None, "file": None}],
            },
        ],
        "optins": [
            {
                "id": 11,
                "label": "Newsletter",
                "description": "I want the weekly offers by email",
                "response": True,
                "variable": "optin_newsletter",
                "categories": [],
            },
        ],
        "questionnaire": [
            {
                "id": 21,
                "label": "Best season?",
                "type": "QCM",
                "score": 1,
                "maxScore": 1,
                "variable": "season",
                "responses": [{"value": "summer", "score": 1, "isCorrect": True}],
            },
        ],
    }
    body.update(overrides)
    return body


def qualifio_signature(body: bytes, secret: str = QUALIFIO_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def create_connector(client: httpx.AsyncClient, world: World, **body: Any) -> dict[str, Any]:
    response = await client.post(
        brand_url(world, "/connectors"), json=body, headers=world.manager_a.headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def qualifio_connector(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    await define_topic(client, world, "newsletter")
    response = await client.post(
        brand_url(world, "/profile-attributes"),
        json={"key": "favourite_store", "label": "Store", "type": "text"},
        headers=world.manager_a.headers,
    )
    assert response.status_code == 201, response.text
    return await create_connector(
        client,
        world,
        type="qualifio",
        name="Summer contest",
        secret=QUALIFIO_SECRET,
        mapping={
            "fields": {"store": "attributes.favourite_store"},
            "optins": {"optin_newsletter": {"channel": "email", "topic": "newsletter"}},
        },
    )


async def post_qualifio(
    client: httpx.AsyncClient, connector: dict[str, Any], body: bytes, signature: str | None
) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["x-qualifio-signature"] = signature
    return await client.post(connector["hookPath"], content=body, headers=headers)


async def deliveries(client: httpx.AsyncClient, world: World, connector_id: str) -> list[Any]:
    response = await client.get(
        brand_url(world, f"/connectors/{connector_id}/deliveries"), headers=world.viewer_a.headers
    )
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


async def profiles_by_email(client: httpx.AsyncClient, world: World, email: str) -> list[Any]:
    response = await client.get(
        brand_url(world, "/profiles"), params={"email": email}, headers=world.viewer_a.headers
    )
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


async def test_qualifio_participation_upserts_the_profile_with_consents_and_an_event(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    connector = await qualifio_connector(client, world)
    body = json.dumps(participation()).encode()
    response = await post_qualifio(client, connector, body, qualifio_signature(body))
    assert response.status_code == 202, response.text
    assert response.json()["duplicate"] is False
    await run_jobs(app)

    [profile] = await profiles_by_email(client, world, "ada@example.com")
    assert profile["firstName"] == "Ada"
    assert profile["attributes"] == {"favourite_store": "Namur"}
    consents = await client.get(
        brand_url(world, f"/profiles/{profile['id']}/consents/history"),
        headers=world.viewer_a.headers,
    )
    assert consents.status_code == 200, consents.text
    [consent] = consents.json()["items"]
    assert (consent["channel"], consent["topic"], consent["state"]) == (
        "email",
        "newsletter",
        "granted",
    )
    assert consent["source"] == "qualifio"
    assert consent["proof"]["participationId"] == "9f1c2b7e-part-0001"
    assert consent["proof"]["optin"]["description"] == "I want the weekly offers by email"

    [delivery] = await deliveries(client, world, connector["id"])
    assert delivery["status"] == "processed"
    event = delivery["result"]["event"]
    assert event["name"] == "form_submitted"
    assert event["eventId"].endswith(":9f1c2b7e-part-0001")
    assert event["profileId"] == profile["id"]
    assert event["occurredAt"].startswith("2026-11-20T10:03:00")
    assert event["properties"]["answers"] == {
        "email": "Ada@Example.com",
        "firstname": "Ada",
        "store": "Namur",
        "season": "summer",
    }
    assert event["properties"]["campaign"] == {"id": 4242, "name": "Summer contest"}
    # The event is ingested like any other: on the profile's timeline, with the answers.
    timeline = await client.get(
        brand_url(world, f"/profiles/{profile['id']}/events"), headers=world.viewer_a.headers
    )
    assert timeline.status_code == 200, timeline.text
    [stored] = timeline.json()["items"]
    assert (stored["id"], stored["eventId"]) == (event["id"], event["eventId"])
    assert (stored["name"], stored["source"]) == ("form_submitted", "qualifio")
    assert stored["properties"]["answers"]["season"] == "summer"


async def test_a_redelivered_participation_changes_nothing(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    connector = await qualifio_connector(client, world)
    body = json.dumps(participation()).encode()
    first = await post_qualifio(client, connector, body, qualifio_signature(body))
    await run_jobs(app)
    [profile] = await profiles_by_email(client, world, "ada@example.com")
    again = await post_qualifio(client, connector, body, qualifio_signature(body))
    assert again.status_code == 202
    assert again.json() == {"deliveryId": first.json()["deliveryId"], "duplicate": True}
    await run_jobs(app)
    [same] = await profiles_by_email(client, world, "ada@example.com")
    assert same["updatedAt"] == profile["updatedAt"]
    history = await client.get(
        brand_url(world, f"/profiles/{profile['id']}/consents/history"),
        headers=world.viewer_a.headers,
    )
    assert len(history.json()["items"]) == 1
    assert len(await deliveries(client, world, connector["id"])) == 1
    timeline = await client.get(
        brand_url(world, f"/profiles/{profile['id']}/events"), headers=world.viewer_a.headers
    )
    assert len(timeline.json()["items"]) == 1


@pytest.mark.parametrize(
    "signature",
    [None, "sha256=" + "0" * 64, "deadbeef", "sha256="],
    ids=["missing", "wrong", "unprefixed", "empty"],
)
async def test_a_bad_or_missing_qualifio_signature_is_refused_and_nothing_stored(
    app: Litestar, client: httpx.AsyncClient, signature: str | None
) -> None:
    world = await make_world(app)
    connector = await qualifio_connector(client, world)
    body = json.dumps(participation()).encode()
    problem(await post_qualifio(client, connector, body, signature), 401)
    # Signed with another secret: refused too.
    other = qualifio_signature(body, "another-secret-of-some-length")
    problem(await post_qualifio(client, connector, body, other), 401)
    assert await deliveries(client, world, connector["id"]) == []


async def test_the_previous_qualifio_secret_verifies_during_the_grace_period(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    connector = await qualifio_connector(client, world)
    rotated = await client.patch(
        brand_url(world, f"/connectors/{connector['id']}"),
        json={"rotateSecret": True},
        headers=world.manager_a.headers,
    )
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    for number, secret in enumerate((QUALIFIO_SECRET, new_secret)):
        body = json.dumps(participation(f"part-{number}")).encode()
        response = await post_qualifio(client, connector, body, qualifio_signature(body, secret))
        assert response.status_code == 202, response.text


def standard_headers(
    secret: str, body: bytes, *, message_id: str | None = None, at: dt.datetime | None = None
) -> dict[str, str]:
    message_id = message_id or f"msg_{uuid4().hex}"
    at = at or dt.datetime.now(dt.UTC)
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body.decode()),
    }


async def generic_connector(
    client: httpx.AsyncClient, world: World, email_pointer: str = "/contact/email"
) -> dict[str, Any]:
    return await create_connector(
        client,
        world,
        type="standard_webhooks",
        name="Pop-ups",
        eventName="popup_submitted",
        mapping={
            "fields": {"email": email_pointer, "firstName": "/contact/first_name"},
            "consents": [{"channel": "email", "pointer": "/contact/optin"}],
            "properties": {"popup": "/popup/name"},
            "occurredAt": "/submitted_at",
        },
    )


GENERIC_PAYLOAD = {
    "contact": {"email": "grace@example.com", "first_name": "Grace", "optin": True},
    "popup": {"name": "exit-intent"},
    "submitted_at": "2026-11-21T08:00:00Z",
}


async def test_standard_webhooks_signatures_bad_missing_stale_and_good(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    connector = await generic_connector(client, world)
    secret = connector["secret"]
    assert secret.startswith("whsec_")
    body = json.dumps(GENERIC_PAYLOAD).encode()
    url = connector["hookPath"]

    missing = {"content-type": "application/json"}
    problem(await client.post(url, content=body, headers=missing), 401)
    wrong = standard_headers("whsec_" + "B" * 44, body)
    problem(await client.post(url, content=body, headers=wrong), 401)
    tampered = standard_headers(secret, body)
    problem(await client.post(url, content=body + b" ", headers=tampered), 401)
    stale_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    stale = standard_headers(secret, body, at=stale_at)
    problem(await client.post(url, content=body, headers=stale), 401)
    garbled = {**standard_headers(secret, body), "webhook-signature": "not-a-signature"}
    problem(await client.post(url, content=body, headers=garbled), 401)
    assert await deliveries(client, world, connector["id"]) == []

    good = await client.post(url, content=body, headers=standard_headers(secret, body))
    assert good.status_code == 202, good.text
    await run_jobs(app)
    [profile] = await profiles_by_email(client, world, "grace@example.com")
    assert profile["firstName"] == "Grace"
    [delivery] = await deliveries(client, world, connector["id"])
    assert delivery["status"] == "processed"
    assert delivery["result"]["event"]["name"] == "popup_submitted"
    assert delivery["result"]["event"]["properties"] == {"popup": "exit-intent"}
    assert delivery["result"]["event"]["occurredAt"].startswith("2026-11-21T08:00:00")


async def test_a_delivery_failing_its_mapping_is_kept_and_replayed_after_the_fix(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    connector = await generic_connector(client, world, email_pointer="/contact/mail")
    body = json.dumps(GENERIC_PAYLOAD).encode()
    headers = standard_headers(connector["secret"], body, message_id="msg_fixed_1")
    response = await client.post(connector["hookPath"], content=body, headers=headers)
    assert response.status_code == 202, response.text
    await run_jobs(app)
    [failed] = await deliveries(client, world, connector["id"])
    assert failed["status"] == "failed"
    assert "/contact/mail" in failed["error"]
    assert await profiles_by_email(client, world, "grace@example.com") == []

    # Replaying before the fix fails the same way; replaying a processed one is refused.
    fixed = await client.patch(
        brand_url(world, f"/connectors/{connector['id']}"),
        json={
            "mapping": {
                "fields": {"email": "/contact/email"},
                "consents": [{"channel": "email", "pointer": "/contact/optin"}],
            }
        },
        headers=world.manager_a.headers,
    )
    assert fixed.status_code == 200, fixed.text
    replay_url = brand_url(world, f"/connectors/{connector['id']}/deliveries/{failed['id']}/replay")
    replayed = await client.post(replay_url, headers=world.manager_a.headers)
    assert replayed.status_code == 202, replayed.text
    await run_jobs(app)
    [done] = await deliveries(client, world, connector["id"])
    assert done["status"] == "processed"
    assert done["error"] is None
    assert done["attempts"] == 2
    [profile] = await profiles_by_email(client, world, "grace@example.com")
    assert done["result"]["profileId"] == profile["id"]
    problem(await client.post(replay_url, headers=world.manager_a.headers), 422)


async def test_connector_input_is_checked_field_by_field(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    url = brand_url(world, "/connectors")
    headers = world.manager_a.headers
    bad_target = await client.post(
        url,
        json={"type": "qualifio", "name": "Q", "mapping": {"fields": {"x": "shoeSize"}}},
        headers=headers,
    )
    assert problem(bad_target, 422)["errors"][0]["field"] == "mapping.fields.x"
    bad_pointer = await client.post(
        url,
        json={
            "type": "standard_webhooks",
            "name": "G",
            "mapping": {"fields": {"email": "no-slash"}},
        },
        headers=headers,
    )
    assert problem(bad_pointer, 422)["errors"][0]["field"] == "mapping"
    bad_secret = await client.post(
        url,
        json={"type": "standard_webhooks", "name": "G", "secret": "not-a-whsec-secret!!"},
        headers=headers,
    )
    assert problem(bad_secret, 422)["errors"][0]["field"] == "secret"
    bad_type = await client.post(url, json={"type": "stripe", "name": "S"}, headers=headers)
    problem(bad_type, 422)
    listed = await client.get(url, headers=headers)
    assert listed.json()["items"] == []


async def test_a_signed_body_that_is_not_a_participation_is_refused_unstored(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    connector = await qualifio_connector(client, world)
    for body in (b"{not json", b'{"no": "id"}'):
        response = await post_qualifio(client, connector, body, qualifio_signature(body))
        problem(response, 422)
    assert await deliveries(client, world, connector["id"]) == []


async def test_connectors_and_hooks_are_isolated_per_brand(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    connector = await qualifio_connector(client, world)
    other = f"/v1/brands/{world.brand_b.id}/connectors"
    for method, path in (
        ("GET", f"{other}/{connector['id']}"),
        ("PATCH", f"{other}/{connector['id']}"),
        ("DELETE", f"{other}/{connector['id']}"),
        ("GET", f"{other}/{connector['id']}/deliveries"),
    ):
        problem(await client.request(method, path, json={}, headers=world.owner_b.headers), 404)
    assert (await client.get(other, headers=world.owner_b.headers)).json()["items"] == []
    problem(
        await client.get(
            brand_url(world, f"/connectors/{connector['id']}"), headers=world.owner_b.headers
        ),
        404,
    )
    # The hook of an unknown connector answers 404 without a token or a brand.
    body = json.dumps(participation()).encode()
    unknown = await client.post(
        f"/v1/hooks/{uuid4()}", content=body, headers={"x-qualifio-signature": "sha256=00"}
    )
    problem(unknown, 404)
    # A viewer reads connectors but cannot create one.
    problem(
        await client.post(
            brand_url(world, "/connectors"),
            json={"type": "qualifio", "name": "V"},
            headers=world.viewer_a.headers,
        ),
        403,
    )
