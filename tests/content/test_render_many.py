"""`render_many`, the batch render of the send pipeline: it gives exactly what one `render_for`
per request gives (a table of requests: locales, money and dates, every context part, coupons,
refusals in the middle of the batch), in a number of queries that does not grow with the batch,
and two batches racing for one coupon pool hand distinct codes (a holder in both gets one)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import httpx
from litestar import Litestar

from backend.content import service
from backend.content.errors import RenderRefused
from backend.content.rendering import RenderedMessage, RenderRequest
from backend.core.db import start_as_writer
from backend.core.ids import new_id
from backend.core.tenancy import TenantId
from tests.content.test_content import pool_with, post, url
from tests.content.test_context import CONTEXT_CASES, _rich_brand
from tests.factories import World, make_world, session_of, statements_of
from tests.segments.helpers import make_profile

# Every context part (the rich profile has them all), money and dates in the profile's locale,
# a coupon, request data.
PARTS = " ".join(text for _, text, _, _ in CONTEXT_CASES)
EMAIL = {
    "en": {
        "subject": "Hi {{ first_name | default('you') }}",
        "body": "<p>{{ money(data.amount | default(1234.5), 'EUR') }} on "
        "{{ date(data.day | default('2026-03-01'), 'long') }}</p>"
        "<a href=\"https://shop.test/c/{{ coupon('WELCOME') }}\">go</a><p>" + PARTS + "</p>",
    },
    "fr": {
        "subject": "Bonjour {{ first_name | default('vous') }}",
        "body": "<p>{{ money(data.amount | default(1234.5), 'EUR') }} le "
        "{{ date(data.day | default('2026-03-01'), 'long') }}</p>"
        "<a href=\"https://shop.test/c/{{ coupon('WELCOME') }}\">go</a>",
    },
}

Result = RenderedMessage | RenderRefused


def _same(result: Result) -> Any:
    """What must match between the two paths (a refusal by its reason and detail)."""
    if isinstance(result, RenderRefused):
        return ("refused", result.reason, result.detail)
    return result


async def _template(client: httpx.AsyncClient, world: World, key: str, channel: str,
                    variants: dict[str, Any]) -> UUID:  # fmt: skip
    created = await post(client, world, "/templates", {
        "key": key, "name": key, "channel": channel, "defaultLocale": "en", "variants": variants,
    })  # fmt: skip
    assert created.status_code == 201, created.text
    return UUID(created.json()["id"])


async def _many(app: Litestar, brand: UUID, requests: Sequence[RenderRequest]) -> list[Result]:
    async with session_of(app, brand) as session:
        await start_as_writer(session, "coupon_codes")
        results = await service.render_many(session, TenantId(brand), app.state.settings, requests)
        await session.commit()
    return results


async def _one_by_one(
    app: Litestar, brand: UUID, requests: Sequence[RenderRequest]
) -> list[Result]:
    results: list[Result] = []
    for request in requests:
        async with session_of(app, brand) as session:
            await start_as_writer(session, "coupon_codes")
            try:
                results.append(await service.render_for(
                    session, TenantId(brand), app.state.settings,
                    template_id=request.template_id, profile_id=request.profile_id,
                    message_id=request.message_id, data=request.data, source=request.source,
                ))  # fmt: skip
            except RenderRefused as exc:
                results.append(exc)
            await session.commit()
    return results


async def test_render_many_gives_what_render_for_gives_request_by_request(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    ada, bob = await _rich_brand(app, client, world)
    cleo = await make_profile(app, brand, email="cleo@example.com", locale="fr-BE")
    await pool_with(client, world, "WELCOME", [f"W-{i}" for i in range(40)])
    await pool_with(client, world, "TINY", ["T-1"])
    email = await _template(client, world, "email", "email", EMAIL)
    named = await _template(client, world, "named", "sms", {"en": {"text": "Hi {{ first_name }}"}})
    tiny = await _template(client, world, "tiny", "sms", {"en": {"text": "{{ coupon('TINY') }}"}})
    data = await _template(
        client, world, "data", "sms", {"en": {"text": "{{ data.n }} {{ source.kind }}"}}
    )
    gone = await _template(client, world, "gone", "sms", {"en": {"text": "x"}})
    deleted = await client.delete(url(world, f"/templates/{gone}"), headers=world.manager_a.headers)
    assert deleted.status_code == 204, deleted.text

    def table() -> list[tuple[UUID, UUID, dict[str, Any] | None, str]]:
        # (template, profile, data, what it gives)
        return [
            (email, ada, None, "en, every part, a coupon"),
            (email, cleo, {"amount": "-9876543.215", "day": "2026-12-24"}, "fr, fr-BE figures"),
            (named, cleo, None, "missing-value, in the middle"),
            (email, bob, None, "en, no parts"),
            (gone, ada, None, "template-archived"),
            (new_id(), ada, None, "template-not-found"),
            (email, new_id(), None, "profile-not-found"),
            (tiny, ada, None, "the pool's one code"),
            (tiny, bob, None, "coupon-pool-empty"),
            (data, bob, {"n": 7}, "request data and source"),
            (email, ada, {"amount": 0.1}, "ada again, another message: another code"),
        ]

    def requests() -> list[RenderRequest]:
        return [
            RenderRequest(template, profile, new_id(), given, {"kind": "test", "key": "k"})
            for template, profile, given, _ in table()
        ]

    # The batch first, then each request again alone (same message ids: same coupons); then
    # fresh requests alone first, replayed as a batch.
    batch = requests()
    many = await _many(app, brand, batch)
    alone = await _one_by_one(app, brand, batch)
    fresh = requests()
    alone_first = await _one_by_one(app, brand, fresh)
    many_after = await _many(app, brand, fresh)
    for case, got_many, got_alone, first, after in zip(
        table(), many, alone, alone_first, many_after, strict=True
    ):
        assert _same(got_many) == _same(got_alone), case[3]
        assert _same(first) == _same(after), case[3]

    reasons = [r.reason if isinstance(r, RenderRefused) else "ok" for r in many]
    assert reasons == [
        "ok", "ok", "missing-value", "ok", "template-archived", "template-not-found",
        "profile-not-found", "ok", "coupon-pool-empty", "ok", "ok",
    ]  # fmt: skip
    assert isinstance(many[0], RenderedMessage)
    assert isinstance(many[1], RenderedMessage)
    ada_mail, cleo_mail = many[0].content, many[1].content
    assert many[0].locale == "en"
    assert many[1].locale == "fr"
    assert "€1,234.50 on March 1, 2026" in getattr(ada_mail, "html", "")
    assert "-9\u202f876\u202f543,22\xa0€ le 24 décembre 2026" in getattr(cleo_mail, "html", "")
    for _, _, for_ada, _ in CONTEXT_CASES:
        assert for_ada.replace("&", "&amp;") in getattr(ada_mail, "html", "")
    codes = [
        link.rsplit("/", 1)[1]
        for result in (*many, *alone_first)
        if isinstance(result, RenderedMessage)
        for link in getattr(result.content, "links", ())
    ]
    assert len(codes) == 8  # four e-mails in each set
    assert len(set(codes)) == 8  # each message its own code
    assert isinstance(many[7], RenderedMessage)
    assert getattr(many[7].content, "text", "") == "T-1"
    assert getattr(many[9].content, "text", "") == "7 test"


async def test_a_batch_costs_the_same_queries_whatever_its_size(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    ada, bob = await _rich_brand(app, client, world)
    cleo = await make_profile(app, brand, email="cleo@example.com", locale="fr-BE")
    await pool_with(client, world, "WELCOME", [f"W-{i}" for i in range(60)])
    email = await _template(client, world, "email", "email", EMAIL)
    tables = ("content_templates", "profiles", "consent", "orders", "linked", "rfm", "segment",
              "coupon", "brands")  # fmt: skip
    counts = []
    for size in (3, 30):
        people = [(ada, bob, cleo)[i % 3] for i in range(size)]
        with statements_of(app) as statements:
            results = await _many(app, brand, [RenderRequest(email, p, new_id()) for p in people])
        assert all(isinstance(r, RenderedMessage) for r in results)
        counts.append(sum(1 for s in statements if any(t in s for t in tables)))
    assert counts[0] == counts[1], counts
    assert counts[0] >= 10, counts  # templates, profiles, five parts, the pool, its claim


async def test_two_batches_racing_for_a_pool_hand_distinct_codes(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    people = [await make_profile(app, brand, email=f"p{i}@example.com") for i in range(3)]
    pool_id = await pool_with(client, world, "RACE", [])
    race = await _template(client, world, "race", "sms", {"en": {"text": "{{ coupon('RACE') }}"}})
    handed: set[str] = set()
    for round_ in range(12):
        # Ten fresh codes for fifteen holders: seven in each batch and one in both.
        codes = [f"R{round_}-{i}" for i in range(10)]
        added = await post(client, world, f"/coupon-pools/{pool_id}/codes", {"codes": codes})
        assert added.json()["added"] == 10
        both = new_id()

        def batch(shared: UUID = both) -> list[RenderRequest]:
            holders = [new_id() for _ in range(7)] + [shared]
            return [RenderRequest(race, people[i % 3], h) for i, h in enumerate(holders)]

        first, second = await asyncio.gather(_many(app, brand, batch()), _many(app, brand, batch()))
        got = [getattr(r.content, "text", "") for r in (*first, *second)
               if isinstance(r, RenderedMessage)]  # fmt: skip
        refused = [r.reason for r in (*first, *second) if isinstance(r, RenderRefused)]
        assert set(refused) <= {"coupon-pool-empty"}
        shared = {getattr(r.content, "text", "") for r in (first[-1], second[-1])
                  if isinstance(r, RenderedMessage)}  # fmt: skip
        assert len(shared) <= 1, shared  # the holder in both batches holds one code
        distinct = [c for c in got if c not in shared] + list(shared)
        assert len(distinct) == len(set(distinct)), got  # single use
        assert set(distinct) <= set(codes)
        assert not handed & set(distinct)
        handed |= set(distinct)
        assert len(distinct) == 10, (round_, got, refused)  # the pool is emptied, nothing lost
