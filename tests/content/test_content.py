"""Content end to end: templates saved and compiled (MJML, CSS inlined, text part), 422s with
line and column, previews, render_for (locale fallback, missing values, budgets), coupon pools
claimed truly in parallel, and brand isolation."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import httpx
import pytest
from litestar import Litestar

from backend.content import service
from backend.content.coupons import service as coupons
from backend.content.errors import RenderRefused
from backend.content.rendered import RenderedEmail, RenderedSms, SmsEncoding
from backend.content.sms import measure
from backend.core.db import start_as_writer
from backend.core.ids import new_id
from backend.core.tenancy import TenantId
from tests.conftest import embedded_only
from tests.factories import World, make_world, problem, session_of
from tests.segments.helpers import make_profile

MJML = """<mjml><mj-head><mj-style inline="inline">.lead { color: #c00; }</mj-style></mj-head>
<mj-body><mj-section><mj-column>
<mj-text css-class="lead">Hello {{ first_name | default("friend") }}</mj-text>
<mj-button href="https://shop.test/c/{{ coupon('WELCOME') }}">Shop</mj-button>
</mj-column></mj-section></mj-body></mjml>"""


def url(world: World, path: str, brand: Any = None) -> str:
    return f"/v1/brands/{brand or world.brand_a.id}{path}"


async def post(client: httpx.AsyncClient, world: World, path: str, body: Any) -> httpx.Response:
    return await client.post(url(world, path), json=body, headers=world.manager_a.headers)


async def pool_with(client: httpx.AsyncClient, world: World, key: str, codes: list[str]) -> str:
    created = await post(client, world, "/coupon-pools", {"key": key, "name": key})
    assert created.status_code == 201, created.text
    pool_id: str = created.json()["id"]
    added = await post(client, world, f"/coupon-pools/{pool_id}/codes", {"codes": codes})
    assert added.status_code == 200, added.text
    return pool_id


async def test_email_template_compiles_previews_and_renders_for_a_profile(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await pool_with(client, world, "WELCOME", ["W-1", "W-2"])
    footer = await post(
        client, world, "/snippets", {"key": "footer", "name": "Footer", "body": "<p>Bye</p>"}
    )
    assert footer.status_code == 201, footer.text
    body = {
        "key": "welcome",
        "name": "Welcome",
        "channel": "email",
        "defaultLocale": "en",
        "variants": {
            "en": {"subject": "Hi {{ first_name }}", "body": MJML, "format": "mjml"},
            "fr": {
                "subject": "Bonjour {{ first_name }}",
                "body": '<p class="x">Total {{ money(12.5, "EUR") }}</p>'
                '<a href="https://shop.test/fr?a=1&amp;b=2">x</a>{% include "snippet:footer" %}',
            },
        },
    }
    created = await post(client, world, "/templates", body)
    assert created.status_code == 201, created.text
    template = created.json()
    assert template["currentVersion"] == 1
    version = (await client.get(
        url(world, f"/templates/{template['id']}/versions/1"), headers=world.viewer_a.headers
    )).json()  # fmt: skip
    assert version["pools"] == ["WELCOME"]
    assert version["snippets"] == ["footer"]
    # The snippet changes: version 1 keeps the body it copied.
    await client.patch(
        url(world, f"/snippets/{footer.json()['id']}"),
        json={"body": "<p>Changed</p>"},
        headers=world.manager_a.headers,
    )
    brand = world.brand_a.id
    ada = await make_profile(app, brand, email="ada@example.com", first_name="Ada", locale="fr-BE")
    bob = await make_profile(app, brand, email="bob@example.com", locale="nl-BE")

    preview = await post(
        client, world, f"/templates/{template['id']}/preview", {"profileId": str(bob)}
    )
    assert preview.status_code == 422  # bob has no first name and the subject gives no default
    assert "first_name" in problem(preview, 422)["detail"]

    message_id = new_id()
    async with session_of(app, brand) as session:
        rendered = await service.render_for(
            session, TenantId(brand), app.state.settings,
            template_id=UUID(template["id"]), profile_id=ada, message_id=message_id,
        )  # fmt: skip
        await session.commit()
    assert rendered.locale == "fr"  # fr-BE falls back to its language
    content = rendered.content
    assert isinstance(content, RenderedEmail)
    assert content.subject == "Bonjour Ada"
    assert "12,50" in content.html
    assert "€" in content.html
    assert "<p>Bye</p>" in content.html
    assert content.links == ("https://shop.test/fr?a=1&b=2",)
    assert "Bye" in content.text

    # A profile with no variant of its own gets the default; the coupon is claimed once.
    cyd = await make_profile(app, brand, email="c@example.com", first_name="Cyd", locale="de")
    async with session_of(app, brand) as session:
        first = await service.render_for(
            session, TenantId(brand), app.state.settings,
            template_id=UUID(template["id"]), profile_id=cyd, message_id=message_id,
        )  # fmt: skip
        again = await service.render_for(
            session, TenantId(brand), app.state.settings,
            template_id=UUID(template["id"]), profile_id=cyd, message_id=message_id,
        )  # fmt: skip
        await session.commit()
    assert first.locale == "en"
    assert isinstance(first.content, RenderedEmail)
    assert isinstance(again.content, RenderedEmail)
    assert "color: #c00" in first.content.html or "color:#c00" in first.content.html
    assert first.content.links == again.content.links
    assert first.content.links[0] in ("https://shop.test/c/W-1", "https://shop.test/c/W-2")
    pools = (await client.get(url(world, "/coupon-pools"), headers=world.viewer_a.headers)).json()
    assert pools["items"][0] | {"id": None, "createdAt": None} == {
        "id": None, "key": "WELCOME", "name": "WELCOME", "total": 2, "claimed": 1, "left": 1,
        "createdAt": None,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("variant", "pointer", "line", "message"),
    [
        ({"text": "Hi\n{% if %}"}, "/variants/en/text", 2, "Expected an expression"),
        ({"text": "Hi {{ nickname }}"}, "/variants/en/text", 1, "unknown name 'nickname'"),
        ({"text": 'Code {{ coupon("NOPE") }}'}, "/variants", None, "unknown coupon pool"),
        ({"text": '{% include "snippet:nope" %}'}, "/variants", None, "unknown snippet"),
        ({"text": "a\x00b"}, None, None, ""),  # refused at the edge or by the check
        ({"text": "x", "subject": "y"}, "/variants/en/subject", None, "has no `subject`"),
    ],
)
@embedded_only
async def test_bad_templates_answer_422_naming_the_place_and_store_nothing(
    app: Litestar,
    client: httpx.AsyncClient,
    variant: dict[str, str],
    pointer: str | None,
    line: int | None,
    message: str,
) -> None:
    world = await make_world(app)
    body = {"key": "t", "name": "T", "channel": "sms", "defaultLocale": "en",
            "variants": {"en": variant}}  # fmt: skip
    response = await post(client, world, "/templates", body)
    assert 400 <= response.status_code < 500
    errors = response.json().get("errors") or []
    if pointer is not None:
        assert any(e["pointer"] == pointer and message in e["message"] for e in errors), errors
    if line is not None:
        assert errors[0]["line"] == line
        assert errors[0]["column"] >= 1
    listed = await client.get(url(world, "/templates"), headers=world.viewer_a.headers)
    assert listed.json()["items"] == []


@embedded_only
async def test_render_budget_stops_endless_loops_and_huge_output(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    ada = await make_profile(app, brand, email="ada@example.com")
    cases = {
        "loop": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "big": "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
    }
    for key, text in cases.items():
        created = await post(client, world, "/templates", {
            "key": key, "name": key, "channel": "sms", "defaultLocale": "en",
            "variants": {"en": {"text": text}},
        })  # fmt: skip
        assert created.status_code == 201, created.text
        async with session_of(app, brand) as session:
            with pytest.raises(RenderRefused) as refused:
                await service.render_for(
                    session, TenantId(brand), app.state.settings.replace(
                        render_time_budget_seconds=0.2, render_max_output_chars=100_000
                    ),
                    template_id=UUID(created.json()["id"]), profile_id=ada, message_id=new_id(),
                )  # fmt: skip
        assert refused.value.reason == "render-budget"


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("a" * 160, SmsEncoding.GSM7, 1),
        ("a" * 161, SmsEncoding.GSM7, 2),
        ("€" * 81, SmsEncoding.GSM7, 2),  # extension characters count double
        ("é" * 160, SmsEncoding.GSM7, 1),
        ("ł" * 70, SmsEncoding.UCS2, 1),
        ("ł" * 71, SmsEncoding.UCS2, 2),
        ("😀" * 35, SmsEncoding.UCS2, 1),  # two UTF-16 units each
    ],
)
def test_sms_encoding_and_segments(text: str, encoding: SmsEncoding, segments: int) -> None:
    info = measure(text)
    assert (info.encoding, info.segments) == (encoding, segments)


async def test_coupons_claimed_in_parallel_are_distinct_and_single_use_per_holder(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    tenant = TenantId(brand)
    await pool_with(client, world, "P", [f"C-{i}" for i in range(5)])
    dupes = await post(client, world, "/coupon-pools", {"key": "Q", "name": "Q"})
    upload = await post(
        client, world, f"/coupon-pools/{dupes.json()['id']}/codes", {"csv": "code\nA\nB\nA\n"}
    )
    assert upload.json()["added"] == 2
    assert upload.json()["duplicates"] == 1

    async def claim(holder: UUID) -> str | None:
        async with session_of(app, brand) as session:
            await start_as_writer(session, "coupon_codes")
            try:
                codes = await coupons.claim_codes(session, tenant, ["P"], holder)
            except RenderRefused as exc:
                assert exc.reason == "coupon-pool-empty"  # noqa: PT017
                return None
            await session.commit()
            return codes["P"]

    for _ in range(3):
        # Eight holders race for what is left: distinct codes, the rest refused.
        got = await asyncio.gather(*(claim(new_id()) for _ in range(8)))
        codes = [c for c in got if c is not None]
        assert len(codes) == len(set(codes))
        # One holder racing itself gets one code.
        same = new_id()
        mine = await asyncio.gather(*(claim(same) for _ in range(4)))
        assert len({c for c in mine if c is not None}) <= 1
    stats = await client.get(url(world, "/coupon-pools"), headers=world.viewer_a.headers)
    assert stats.json()["items"][0]["left"] == 0


async def test_a_batch_claim_hands_held_codes_again_and_fresh_ones_to_the_others(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    """A batch's claim tries every holder at once: holders holding a code of the pool already
    (a retried render) get theirs again, even once the pool is dry, and the others fresh ones;
    a holder the pool cannot serve is refused alone."""
    world = await make_world(app)
    brand = world.brand_a.id
    tenant = TenantId(brand)
    await pool_with(client, world, "M", [f"M-{i}" for i in range(6)])

    async def claim(holders: list[UUID]) -> dict[UUID, dict[str, str] | RenderRefused]:
        async with session_of(app, brand) as session:
            await start_as_writer(session, "coupon_codes")
            got = await coupons.claim_for_many(session, tenant, {h: ["M"] for h in holders})
            await session.commit()
        return got

    def code(got: dict[str, str] | RenderRefused) -> str:
        assert isinstance(got, dict), got
        return got["M"]

    old = [new_id(), new_id()]
    first = await claim(old)
    new = [new_id(), new_id()]
    mixed = await claim([old[0], new[0], old[1], new[1]])  # holders in any order
    assert [code(mixed[h]) for h in old] == [code(first[h]) for h in old]
    fresh = {code(mixed[h]) for h in new}
    assert len(fresh) == 2
    assert not fresh & {code(first[h]) for h in old}
    # Two codes left for three new holders: one is refused, the holder of a code keeps it.
    last = [new_id(), new_id(), new_id()]
    tight = await claim([*last, old[0]])
    assert code(tight[old[0]]) == code(first[old[0]])
    refused = [h for h in last if isinstance(tight[h], RenderRefused)]
    assert len(refused) == 1
    assert isinstance(tight[refused[0]], RenderRefused)
    assert tight[refused[0]].reason == "coupon-pool-empty"  # type: ignore[union-attr]
    handed = [code(first[h]) for h in old] + list(fresh)
    handed += [code(tight[h]) for h in last if h not in refused]
    assert sorted(handed) == [f"M-{i}" for i in range(6)]  # each code once
    # The pool is dry: a retried render of every holder still gets its own code.
    again = await claim([*old, *new])
    assert [code(again[h]) for h in [*old, *new]] == [code(first[h]) for h in old] + [
        code(mixed[h]) for h in new
    ]
    stats = await client.get(url(world, "/coupon-pools"), headers=world.viewer_a.headers)
    assert stats.json()["items"][0]["left"] == 0


async def test_another_brand_sees_none_of_it(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    created = await post(client, world, "/templates", {
        "key": "s", "name": "S", "channel": "sms", "variants": {"en": {"text": "Hi"}},
    })  # fmt: skip
    template_id = created.json()["id"]
    pool_id = await pool_with(client, world, "P", ["x"])
    snippet = await post(client, world, "/snippets", {"key": "f", "name": "F", "body": "x"})
    theirs = world.owner_b.headers
    for path in (
        f"/templates/{template_id}",
        f"/templates/{template_id}/versions/1",
        f"/coupon-pools/{pool_id}",
        f"/snippets/{snippet.json()['id']}",
    ):
        other = await client.get(url(world, path, world.brand_b.id), headers=theirs)
        assert other.status_code == 404, path
        mine = await client.get(url(world, path), headers=theirs)
        assert mine.status_code == 404, path  # brand A is out of B's reach
    async with session_of(app, world.brand_b.id) as session:
        with pytest.raises(RenderRefused):
            await service.render_for(
                session, TenantId(world.brand_b.id), app.state.settings,
                template_id=UUID(template_id), profile_id=new_id(), message_id=new_id(),
            )  # fmt: skip
    sms = await client.get(url(world, f"/templates/{template_id}/versions/1"),
                           headers=world.viewer_a.headers)  # fmt: skip
    assert sms.json()["sms"]["en"] == {"encoding": "gsm-7", "units": 2, "segments": 1}
    assert isinstance(RenderedSms, type)
