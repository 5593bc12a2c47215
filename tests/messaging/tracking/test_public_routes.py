"""The public routes on both stacks: pixel, click, push open, one-click and the preference
form, bad tokens, brand isolation, once-only recording under parallel requests."""

from __future__ import annotations

import asyncio
import datetime as dt
from uuid import UUID

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select

from backend.messaging import gate
from backend.messaging.models import MessageChannel, MessagePriority
from backend.messaging.tracking import links, tokens
from backend.messaging.tracking.tokens import TrackedChannel
from backend.profiles import service as profiles_service
from backend.profiles.models import ConsentChange
from tests.factories import make_world, problem, session_of
from tests.messaging.tracking.helpers import (
    BROWSER_UA,
    events_named,
    ledger_state,
    make_message,
    make_recipient,
    sightings,
    subscribe_webhooks,
    webhook_types,
)
from tests.messaging.tracking.helpers import consent_states as consents_of

HUMAN = {"User-Agent": BROWSER_UA}


def _path(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[1].join(("/", ""))


def _open_url(app: Litestar, tenant: UUID, message: UUID) -> str:
    keys = tokens.keys_of(app.state.settings)
    return "/t/o/" + tokens.open_token(keys, TrackedChannel.EMAIL, tenant, message)


def _click_url(app: Litestar, tenant: UUID, message: UUID, url: str, index: int = 0) -> str:
    keys = tokens.keys_of(app.state.settings)
    return "/t/c/" + tokens.click_token(keys, TrackedChannel.EMAIL, tenant, message, index, url)


def _unsubscribe_url(app: Litestar, tenant: UUID, message: UUID, profile: UUID) -> str:
    url = links.unsubscribe_url(
        app.state.settings,
        channel=TrackedChannel.EMAIL,
        tenant_id=tenant,
        message_id=message,
        profile_id=profile,
        topic="news",
    )
    return _path(url)


async def test_the_first_open_by_a_person_is_recorded_once_and_machines_apart(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await subscribe_webhooks(client, world)
    ada = await make_recipient(app, world.brand_a.id, "ada@example.com")
    message = await make_message(app, ada)
    pixel = _open_url(app, ada.tenant, message)

    apple = await client.get(pixel, headers={"User-Agent": "Mozilla/5.0"})
    assert apple.status_code == 200
    assert (apple.headers["content-type"], apple.headers["cache-control"]) == (
        "image/gif",
        "no-store, max-age=0",
    )
    assert apple.content.startswith(b"GIF89a")
    assert len(apple.content) == 42
    assert (await ledger_state(app, ada.tenant, message))[0] == "sent"  # a machine: no status

    for _ in range(3):
        assert (await client.get(pixel, headers=HUMAN)).status_code == 200
    status, timeline = await ledger_state(app, ada.tenant, message)
    assert status == "opened"
    assert timeline == [("opened", "machine (apple-mpp)"), ("opened", None)]
    assert await sightings(app, ada.tenant, message) == {"opened:machine": 1, "opened": 3}
    assert (await events_named(app, ada.tenant, ada.profile_id)).get("email_opened") == 1
    assert (await webhook_types(app, ada.tenant)).count("message.opened") == 1


async def test_an_open_within_seconds_of_the_send_is_a_prefetch(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await make_recipient(app, world.brand_a.id, "ada@example.com")
    message = await make_message(app, ada, sent_ago=dt.timedelta(seconds=1))
    assert (await client.get(_open_url(app, ada.tenant, message), headers=HUMAN)).is_success
    assert await sightings(app, ada.tenant, message) == {"opened:machine": 1}
    assert "email_opened" not in await events_named(app, ada.tenant, ada.profile_id)


async def test_a_click_redirects_to_its_signed_link_and_counts_each_link_once(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await subscribe_webhooks(client, world)
    ada = await make_recipient(app, world.brand_a.id, "ada@example.com")
    message = await make_message(app, ada)
    link = "https://shop.example/offers?utm_source=levier&x=1"
    click = _click_url(app, ada.tenant, message, link)
    for _ in range(2):
        answer = await client.get(click, headers=HUMAN)
        assert (answer.status_code, answer.headers["location"]) == (302, link)
    assert (
        await client.get(_click_url(app, ada.tenant, message, link + "#2", 1), headers=HUMAN)
    ).status_code == 302
    status, timeline = await ledger_state(app, ada.tenant, message)
    assert status == "clicked"
    assert [k for k, _ in timeline] == ["clicked", "opened", "clicked"]  # a click implies an open
    assert await sightings(app, ada.tenant, message) == {
        "clicked:0": 2,
        "clicked:1": 1,
        "opened": 3,  # each click by a person counts as an open too
    }
    named = await events_named(app, ada.tenant, ada.profile_id)
    assert (named["email_clicked"], named["email_opened"]) == (2, 1)
    assert (await webhook_types(app, ada.tenant)).count("message.clicked") == 2


async def test_no_open_redirect_and_no_hint_for_a_bad_token(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await make_recipient(app, world.brand_a.id, "ada@example.com")
    message = await make_message(app, ada)
    good = _click_url(app, ada.tenant, message, "https://shop.example/")
    token = good.rsplit("/", 1)[1]
    # The link is inside the signature: a token naming another link does not verify.
    forged = tokens.click_token(
        tokens.keys_of(app.state.settings.replace(secret_key="x" * 40)),
        TrackedChannel.EMAIL,
        ada.tenant,
        message,
        0,
        "https://evil.example/",
    )
    swapped = token[:-30] + forged[-30:]
    for path in (
        f"/t/c/{forged}",
        f"/t/c/{swapped}",
        "/t/c/nonsense",
        f"/t/o/{token}",  # a click token is not an open token
        f"/u/{token}",
        "/t/o/" + "A" * 5000,
    ):
        answer = await client.get(path, headers=HUMAN)
        body = problem(answer, 404)
        assert "location" not in answer.headers
        assert body["detail"] in (None, "not found")
    assert (await client.post(f"/t/p/{token}")).status_code == 404
    assert (
        await client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    ).status_code == 404
    assert await sightings(app, ada.tenant, message) == {}


async def test_a_token_reaches_its_own_brand_only(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    ada = await make_recipient(app, world.brand_a.id, "ada@example.com")
    bob = await make_recipient(app, world.brand_b.id, "bob@example.com")
    bobs = await make_message(app, bob)
    # Signed for brand A, naming brand B's message: the session is brand A's, so nothing of B's
    # is found, read or counted (the redirect still goes to the link signed here).
    assert (await client.get(_open_url(app, ada.tenant, bobs), headers=HUMAN)).status_code == 200
    click = _click_url(app, ada.tenant, bobs, "https://shop.example/")
    assert (await client.get(click, headers=HUMAN)).status_code == 302
    one_click = _unsubscribe_url(app, ada.tenant, bobs, bob.profile_id)
    assert (await client.post(one_click, data={"List-Unsubscribe": "One-Click"})).status_code == 200
    assert await sightings(app, bob.tenant, bobs) == {}
    assert (await ledger_state(app, bob.tenant, bobs)) == ("sent", [])
    async with session_of(app, bob.tenant) as session:
        changes = await session.scalars(
            select(ConsentChange.state).where(ConsentChange.profile_id == bob.profile_id)
        )
        assert "unsubscribed" not in list(changes)


@pytest.mark.parametrize("encoding", ["form", "multipart"])
async def test_one_click_unsubscribes_once_however_often_posted_in_parallel(
    app: Litestar, client: httpx.AsyncClient, encoding: str
) -> None:
    world = await make_world(app)
    await subscribe_webhooks(client, world)
    ada = await make_recipient(app, world.brand_a.id, "ada@example.com")
    message = await make_message(app, ada)
    url = _unsubscribe_url(app, ada.tenant, message, ada.profile_id)
    body = {"List-Unsubscribe": "One-Click"}

    async def post() -> httpx.Response:
        if encoding == "form":
            return await client.post(url, data=body)
        return await client.post(url, files={"List-Unsubscribe": (None, b"One-Click")})

    answers = await asyncio.gather(*(post() for _ in range(10)))
    assert [a.status_code for a in answers] == [200] * 10
    states = await consents_of(client, world, ada.profile_id)
    assert states[("email", "news")] == "unsubscribed"
    assert states[("email", "offers")] == "granted"
    assert states[("email", None)] == "granted"
    async with session_of(app, ada.tenant) as session:
        sources = list(
            await session.scalars(
                select(ConsentChange.source).where(
                    ConsentChange.profile_id == ada.profile_id,
                    ConsentChange.state == "unsubscribed",
                )
            )
        )
    assert sources == ["one-click-unsubscribe"]
    async with session_of(app, ada.tenant) as session:  # the gate refuses the topic now
        profile = await profiles_service.get_profile(session, ada.profile_id)
        campaign = MessagePriority.CAMPAIGN
        assert await gate.contactable(session, profile, MessageChannel.EMAIL, campaign, "news")
        assert not await gate.contactable(
            session, profile, MessageChannel.EMAIL, campaign, "offers"
        )
    assert (await ledger_state(app, ada.tenant, message))[0] == "unsubscribed"
    assert await sightings(app, ada.tenant, message) == {"unsubscribed": 10}
    assert (await events_named(app, ada.tenant, ada.profile_id))["message_unsubscribed"] == 1
    assert (await webhook_types(app, ada.tenant)).count("message.unsubscribed") == 1


async def test_the_preference_form_changes_topics_and_refuses_cross_site_posts(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await make_recipient(app, world.brand_a.id, "ada@example.com")
    message = await make_message(app, ada)
    url = _unsubscribe_url(app, ada.tenant, message, ada.profile_id)
    page = await client.get(url)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert 'value="news"' in page.text
    assert "Newsletter" in page.text
    assert "<script" not in page.text

    refused = await client.post(
        url,
        data={"form": "preferences", "topic": "offers"},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    problem(refused, 403)
    assert (await consents_of(client, world, ada.profile_id))[("email", "news")] == "granted"

    saved = await client.post(url, data={"form": "preferences", "topic": "offers"})
    assert saved.status_code == 200
    assert "preferences are saved" in saved.text
    states = await consents_of(client, world, ada.profile_id)
    assert (states[("email", "news")], states[("email", "offers")]) == ("unsubscribed", "granted")
    assert (await ledger_state(app, ada.tenant, message))[0] == "unsubscribed"

    again = await client.post(
        url, data={"form": "preferences", "topic": ["news", "offers"], "channel": "off"}
    )
    assert again.status_code == 200
    states = await consents_of(client, world, ada.profile_id)
    assert (states[("email", "news")], states[("email", None)]) == ("granted", "unsubscribed")


async def test_an_app_reports_a_push_open(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    ada = await make_recipient(app, world.brand_a.id, "ada@example.com")
    message = await make_message(app, ada, channel=MessageChannel.PUSH, topic=None)
    data = links.push_open_data(app.state.settings, tenant_id=ada.tenant, message_id=message)
    url = _path(data[links.PUSH_OPEN_DATA_KEY])
    for _ in range(2):
        assert (await client.post(url)).status_code == 204
    assert (await events_named(app, ada.tenant, ada.profile_id)).get("push_opened") == 1
    assert (await ledger_state(app, ada.tenant, message))[0] == "opened"


async def test_a_click_on_an_sms_link_is_an_sms_click(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await make_recipient(app, world.brand_a.id, "ada@example.com")
    message = await make_message(app, ada, channel=MessageChannel.SMS, topic=None)
    url = links.click_url(
        app.state.settings,
        channel=TrackedChannel.SMS,
        tenant_id=ada.tenant,
        message_id=message,
        index=0,
        url="https://shop.example/s",
    )
    answer = await client.get(_path(url), headers=HUMAN)
    assert (answer.status_code, answer.headers["location"]) == (302, "https://shop.example/s")
    assert await events_named(app, ada.tenant, ada.profile_id) == {"sms_clicked": 1}
    # An email token naming an SMS message reaches nothing (the token names its channel).
    email_click = _click_url(app, ada.tenant, message, "https://shop.example/s")
    assert (await client.get(email_click, headers=HUMAN)).status_code == 302
    assert await sightings(app, ada.tenant, message) == {"clicked:0": 1}
