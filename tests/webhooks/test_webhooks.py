"""Outbound webhooks against a real local HTTP receiver: signed deliveries, retries with
backoff through due work, per-endpoint ordering, the attempt log, redelivery and auto-disable."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from litestar import Litestar
from standardwebhooks import Webhook

from backend.config import Settings
from tests.factories import World, first_scheduler_tick_done, make_world, problem, run_jobs
from tests.profiles.helpers import brand_url, create_profile
from tests.webhooks.receiver import receiver
from workers.scheduler import Scheduler

pytestmark = pytest.mark.worker


@pytest.fixture(autouse=True)
async def _scheduler_settled(app: Litestar, client: httpx.AsyncClient) -> None:
    # Retries fall due at once here: a late first tick of the app's scheduler would send them
    # before a test looks. After it, only the tests' own rounds (retry_due_work) claim them.
    await first_scheduler_tick_done(app)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The receiver listens on loopback over plain http; retries fall due at once.
    return settings.replace(
        webhook_allow_http=True,
        webhook_allow_private_targets=True,
        webhook_retry_base_seconds=0.0,
        webhook_max_attempts=5,
        webhook_disable_after_failures=3,
    )


async def retry_due_work(app: Litestar) -> None:
    """A scheduler round (retries that fell due) and the jobs it queued."""
    await Scheduler(app.state.session_factory, app.state.relay).tick()
    await run_jobs(app)


def _profile_ids(requests: list[Any]) -> list[str]:
    return [httpx.Response(200, content=r.body).json()["data"]["profile"]["id"] for r in requests]


async def create_endpoint(
    client: httpx.AsyncClient, world: World, url: str, *event_types: str
) -> dict[str, Any]:
    response = await client.post(
        brand_url(world, "/webhook-endpoints"),
        json={"url": url, "eventTypes": list(event_types) or ["profile.created"]},
        headers=world.manager_a.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def deliveries(client: httpx.AsyncClient, world: World, endpoint_id: str) -> list[Any]:
    response = await client.get(
        brand_url(world, f"/webhook-endpoints/{endpoint_id}/deliveries"),
        headers=world.viewer_a.headers,
    )
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


async def attempts(
    client: httpx.AsyncClient, world: World, endpoint_id: str, delivery_id: str
) -> list[Any]:
    response = await client.get(
        brand_url(world, f"/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/attempts"),
        headers=world.viewer_a.headers,
    )
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


def verify(secret: str, request: Any) -> Any:
    return Webhook(secret).verify(request.body, request.headers)


async def test_endpoint_secret_is_shown_once_and_never_again(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = await create_endpoint(client, world, "https://crm.example.com/hooks")
    assert created["secret"].startswith("whsec_")
    assert created["secretHint"] == created["secret"][:10] + "…"
    read = await client.get(
        brand_url(world, f"/webhook-endpoints/{created['id']}"), headers=world.viewer_a.headers
    )
    assert read.status_code == 200
    assert "secret" not in read.json()
    assert created["secret"] not in read.text


async def test_failed_deliveries_are_retried_until_the_endpoint_accepts(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    with receiver(500, 503) as target:
        endpoint = await create_endpoint(client, world, target.url, "profile.created")
        profile = await create_profile(client, world, email="ada@example.com")
        await run_jobs(app)
        assert len(target.requests) == 1
        await retry_due_work(app)
        await retry_due_work(app)
    assert len(target.requests) == 3
    # Every attempt is the same message, signed with the endpoint's secret.
    bodies = [verify(endpoint["secret"], r) for r in target.requests]
    assert bodies[0] == bodies[1] == bodies[2]
    assert bodies[0]["type"] == "profile.created"
    assert bodies[0]["data"]["profile"]["id"] == profile["id"]
    assert bodies[0]["data"]["profile"]["email"] == "ada@example.com"
    assert len({r.headers["webhook-id"] for r in target.requests}) == 1

    [delivery] = await deliveries(client, world, endpoint["id"])
    assert delivery["status"] == "succeeded"
    assert delivery["attemptCount"] == 3
    log = await attempts(client, world, endpoint["id"], delivery["id"])
    assert [a["statusCode"] for a in log] == [500, 503, 200]
    assert [a["succeeded"] for a in log] == [False, False, True]
    assert log[0]["responseExcerpt"] == "try again later"
    assert log[0]["error"] == "the endpoint answered 500"
    assert all(a["durationMs"] >= 0 for a in log)


async def test_a_signature_made_with_another_secret_does_not_verify(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    with receiver() as target:
        await create_endpoint(client, world, target.url)
        await create_profile(client, world, email="ada@example.com")
        await run_jobs(app)
    other = await create_endpoint(client, world, "https://other.example.com/hooks")
    with pytest.raises(Exception, match="No matching signature"):
        verify(other["secret"], target.requests[0])


async def test_an_endpoint_receives_its_deliveries_in_order(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    with receiver(500) as target:
        endpoint = await create_endpoint(client, world, target.url, "profile.created")
        first = await create_profile(client, world, email="first@example.com")
        second = await create_profile(client, world, email="second@example.com")
        await run_jobs(app)
        expected = [first["id"], first["id"], second["id"]]
        # Each request follows that order, whatever ran when: the first's sender may run before
        # the second profile exists, and then the second's sender retries the first (retries
        # fall due at once here) before it sends the second.
        assert _profile_ids(target.requests) == expected[: len(target.requests)]
        if len(target.requests) == 1:  # the first failed: the second waits behind it, unsent
            waiting = await deliveries(client, world, endpoint["id"])
            assert [d["status"] for d in waiting] == ["pending", "pending"]
            assert [d["attemptCount"] for d in waiting] == [1, 0]
        await retry_due_work(app)
    assert _profile_ids(target.requests) == expected
    done = await deliveries(client, world, endpoint["id"])
    assert [d["status"] for d in done] == ["succeeded", "succeeded"]


async def test_only_subscribed_event_types_are_delivered(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    with receiver() as target:
        endpoint = await create_endpoint(client, world, target.url, "profile.updated")
        profile = await create_profile(client, world, email="ada@example.com")
        changed = await client.patch(
            brand_url(world, f"/profiles/{profile['id']}"),
            json={"firstName": "Ada"},
            headers=world.manager_a.headers,
        )
        assert changed.status_code == 200, changed.text
        await run_jobs(app)
    [request] = target.requests
    body = verify(endpoint["secret"], request)
    assert body["type"] == "profile.updated"
    assert body["data"]["profile"]["firstName"] == "Ada"


async def test_a_write_that_changes_nothing_publishes_nothing(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    with receiver() as target:
        await create_endpoint(client, world, target.url, "profile.updated")
        profile = await create_profile(client, world, email="ada@example.com")
        url = brand_url(world, f"/profiles/{profile['id']}")
        for name in ("Ada", "Ada"):  # the second write finds nothing to change
            changed = await client.patch(
                url, json={"firstName": name}, headers=world.manager_a.headers
            )
            assert changed.status_code == 200, changed.text
        await run_jobs(app)
    assert len(target.requests) == 1


async def test_consent_changes_are_published(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    with receiver() as target:
        endpoint = await create_endpoint(client, world, target.url, "consent.changed")
        profile = await create_profile(client, world, email="ada@example.com")
        response = await client.post(
            brand_url(world, f"/profiles/{profile['id']}/consents"),
            json={"channel": "email", "state": "granted", "source": "website"},
            headers=world.manager_a.headers,
        )
        assert response.status_code == 201, response.text
        await run_jobs(app)
    [request] = target.requests
    body = verify(endpoint["secret"], request)
    assert body["type"] == "consent.changed"
    assert body["data"]["profileId"] == profile["id"]
    assert body["data"]["channel"] == "email"
    assert body["data"]["state"] == "granted"


async def test_redelivery_sends_the_event_again(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    with receiver() as target:
        endpoint = await create_endpoint(client, world, target.url)
        await create_profile(client, world, email="ada@example.com")
        await run_jobs(app)
        [delivery] = await deliveries(client, world, endpoint["id"])
        response = await client.post(
            brand_url(
                world,
                f"/webhook-endpoints/{endpoint['id']}/deliveries/{delivery['id']}/redeliver",
            ),
            headers=world.manager_a.headers,
        )
        assert response.status_code == 202, response.text
        assert response.json()["eventId"] == delivery["eventId"]
        await run_jobs(app)
    assert len(target.requests) == 2
    assert target.requests[0].body == target.requests[1].body
    assert [d["status"] for d in await deliveries(client, world, endpoint["id"])] == [
        "succeeded",
        "succeeded",
    ]


async def test_an_endpoint_failing_repeatedly_is_disabled_and_says_so(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    with receiver(500, 500, 500, 500) as failing, receiver() as monitor:
        endpoint = await create_endpoint(client, world, failing.url, "profile.created")
        watcher = await create_endpoint(client, world, monitor.url, "webhook_endpoint.disabled")
        await create_profile(client, world, email="ada@example.com")
        await run_jobs(app)
        await retry_due_work(app)
        await retry_due_work(app)
        await retry_due_work(app)  # disabled: nothing more is sent
    assert len(failing.requests) == 3
    read = await client.get(
        brand_url(world, f"/webhook-endpoints/{endpoint['id']}"), headers=world.viewer_a.headers
    )
    assert read.json()["enabled"] is False
    assert read.json()["consecutiveFailures"] == 3
    assert "3 failed attempts in a row" in read.json()["disabledReason"]
    [notice] = monitor.requests
    body = verify(watcher["secret"], notice)
    assert body["type"] == "webhook_endpoint.disabled"
    assert body["data"]["endpointId"] == endpoint["id"]
    [delivery] = await deliveries(client, world, endpoint["id"])
    assert delivery["status"] == "pending"  # kept for when the endpoint is enabled again

    with receiver() as fixed:
        enabled = await client.patch(
            brand_url(world, f"/webhook-endpoints/{endpoint['id']}"),
            json={"url": fixed.url, "enabled": True},
            headers=world.manager_a.headers,
        )
        assert enabled.status_code == 200, enabled.text
        assert enabled.json()["consecutiveFailures"] == 0
        await run_jobs(app)
    assert len(fixed.requests) == 1
    [delivery] = await deliveries(client, world, endpoint["id"])
    assert delivery["status"] == "succeeded"


async def test_endpoint_input_is_checked_field_by_field(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    url = brand_url(world, "/webhook-endpoints")
    headers = world.manager_a.headers
    bad_type = await client.post(
        url, json={"url": "https://a.example/h", "eventTypes": ["nope"]}, headers=headers
    )
    assert "eventTypes" in str(problem(bad_type, 422))
    no_types = await client.post(
        url, json={"url": "https://a.example/h", "eventTypes": []}, headers=headers
    )
    problem(no_types, 422)
    ftp = await client.post(
        url, json={"url": "ftp://a.example/h", "eventTypes": ["profile.created"]}, headers=headers
    )
    assert problem(ftp, 422)["errors"][0]["field"] == "url"
    listed = await client.get(url, headers=headers)
    assert listed.json()["items"] == []


async def test_webhook_routes_need_their_scope_role_and_brand(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    endpoint = await create_endpoint(client, world, "https://crm.example.com/hooks")
    # A viewer reads but does not write.
    viewer = await client.post(
        brand_url(world, "/webhook-endpoints"),
        json={"url": "https://x.example/h", "eventTypes": ["profile.created"]},
        headers=world.viewer_a.headers,
    )
    problem(viewer, 403)
    # Another brand's owner does not see the endpoint, even with its id.
    other = f"/v1/brands/{world.brand_b.id}/webhook-endpoints"
    for method, path in (
        ("GET", f"{other}/{endpoint['id']}"),
        ("PATCH", f"{other}/{endpoint['id']}"),
        ("DELETE", f"{other}/{endpoint['id']}"),
        ("GET", f"{other}/{endpoint['id']}/deliveries"),
    ):
        response = await client.request(method, path, json={}, headers=world.owner_b.headers)
        problem(response, 404)
    listed = await client.get(other, headers=world.owner_b.headers)
    assert listed.json()["items"] == []
    # And brand A's own routes stay closed to brand B's owner.
    response = await client.get(
        brand_url(world, f"/webhook-endpoints/{endpoint['id']}"), headers=world.owner_b.headers
    )
    problem(response, 404)
