"""The template context read from the other domains (consents, orders with lines, linked rows,
RFM scores, segments: `profiles.orders.recent_orders`, `profiles.linked.service.rows_by_table`,
`segments.service.segments_of`), request `data` and a forced `locale` in previews, and push
templates rendered field by field. One rich profile and one bare one per stack; a table of
templates previewed for each."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
from litestar import Litestar

from backend.content import service
from backend.content.rendered import RenderedPush
from backend.core.db import utcnow
from backend.core.ids import new_id
from backend.core.tenancy import TenantId
from backend.profiles.linked.schemas import LinkedColumn
from backend.profiles.models import AttributeType, Channel, ConsentState
from backend.segments import membership
from backend.segments import service as segment_service
from backend.segments.models import SegmentKind
from backend.segments.schemas import MembersUpload, SegmentCreate
from tests.conftest import embedded_only
from tests.content.test_content import post
from tests.factories import World, make_world, problem, session_of
from tests.profiles.helpers import define_topic
from tests.segments.helpers import (
    add_order,
    consent,
    days_ago,
    linked_row,
    linked_table,
    make_profile,
    rfm_run,
)

# (name, SMS text, what the rich profile gets, what the bare profile gets)
CONTEXT_CASES: list[tuple[str, str, str, str]] = [
    (
        "consents",
        "{{ consents.email | default('none') }}/{{ consents.topics.news | default('none') }}",
        "granted/unsubscribed",
        "none/none",
    ),
    (
        "orders",
        "{% for o in orders %}{{ o.order_id }}={{ o.amount | int }}:"
        "{{ o.lines | map(attribute='product') | sort | join(',') }};{% endfor %}"
        "{{ orders | length }}",
        "A-2=15:p-hat,p-socks;A-1=10:p-shoes;2",
        "0",
    ),
    (
        "linked",
        "{% for r in linked.loyalty %}{{ r.tier }}={{ r.points | int }};{% endfor %}"
        "{{ linked.loyalty | length }}",
        "gold=120;silver=40;2",
        "0",
    ),
    (
        "rfm",
        "{% if rfm.purchase is defined %}{{ rfm.purchase.segment }} {{ rfm.purchase.r }}"
        "{{ rfm.purchase.f }}{{ rfm.purchase.m }}{% else %}unscored{% endif %}",
        "Champions 543",
        "unscored",
    ),
    (
        "segments",
        "{{ segments | sort | join(',') }}|{{ segment_names | sort | join(',') }}"
        "|{{ segments | length }}",
        "fans,vip|Fans,VIP|2",
        "||0",
    ),
]


async def _rich_brand(app: Litestar, client: httpx.AsyncClient, world: World) -> tuple[UUID, UUID]:
    """Ada with consents, two orders with lines, two loyalty rows, an RFM score and two
    segments; Bob with nothing of the sort."""
    brand = world.brand_a.id
    ada = await make_profile(app, brand, email="ada@example.com", first_name="Ada", locale="en")
    bob = await make_profile(app, brand, email="bob@example.com", first_name="Bob", locale="en")
    await define_topic(client, world, "news")
    await consent(app, brand, ada, ConsentState.GRANTED, days_ago(5, utcnow()))
    await consent(
        app, brand, ada, ConsentState.UNSUBSCRIBED, days_ago(1, utcnow()), Channel.EMAIL, "news"
    )
    await add_order(app, brand, ada, "A-1", days_ago(30, utcnow()), "10", categories=("shoes",))
    await add_order(
        app, brand, ada, "A-2", days_ago(2, utcnow()), "15", categories=("socks", "hat")
    )
    await linked_table(
        app,
        brand,
        "loyalty",
        [
            LinkedColumn(key="tier", label="Tier", type=AttributeType.TEXT),
            LinkedColumn(key="points", label="Points", type=AttributeType.NUMBER),
        ],
    )
    await linked_row(app, brand, "loyalty", ada, tier="gold", points=120)
    await linked_row(app, brand, "loyalty", ada, tier="silver", points=40)
    await rfm_run(app, brand, {ada: (5, 4, 3, "Champions")}, utcnow())
    for key, name in (("vip", "VIP"), ("fans", "Fans")):
        async with session_of(app, brand) as session:
            segment = await segment_service.create_segment(
                session,
                TenantId(brand),
                SegmentCreate(key=key, name=name, kind=SegmentKind.STATIC, definition=None),
            )
            await membership.upload_members(
                session, TenantId(brand), segment.id, MembersUpload(profile_ids=[ada]),
                replace=False,
            )  # fmt: skip
            await session.commit()
    return ada, bob


async def _sms(client: httpx.AsyncClient, world: World, key: str, variants: Any) -> str:
    created = await post(client, world, "/templates", {
        "key": key, "name": key, "channel": "sms", "defaultLocale": "en", "variants": variants,
    })  # fmt: skip
    assert created.status_code == 201, created.text
    template_id: str = created.json()["id"]
    return template_id


async def _preview(
    client: httpx.AsyncClient, world: World, template_id: str, **body: Any
) -> httpx.Response:
    body["profileId"] = str(body["profileId"])
    return await post(client, world, f"/templates/{template_id}/preview", body)


async def test_the_context_holds_consents_orders_linked_rows_rfm_and_segments(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada, bob = await _rich_brand(app, client, world)
    checked = 0
    for name, text, for_ada, for_bob in CONTEXT_CASES:
        template_id = await _sms(client, world, name, {"en": {"text": text}})
        for profile, expected in ((ada, for_ada), (bob, for_bob)):
            preview = await _preview(client, world, template_id, profileId=profile)
            assert preview.status_code == 200, (name, preview.text)
            assert preview.json()["text"] == expected, (name, profile)
            checked += 1
        # render_for, the sender's path, reads the same context.
        async with session_of(app, world.brand_a.id) as session:
            rendered = await service.render_for(
                session, TenantId(world.brand_a.id), app.state.settings,
                template_id=UUID(template_id), profile_id=ada, message_id=new_id(),
            )  # fmt: skip
        assert getattr(rendered.content, "text", None) == for_ada, name
    assert checked == 2 * len(CONTEXT_CASES)


async def test_preview_takes_request_data_and_a_forced_locale(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await make_profile(app, world.brand_a.id, email="a@example.com", locale="en-GB")
    template_id = await _sms(client, world, "order", {
        "en": {"text": "EN {{ data.order.number }} {{ locale }}"},
        "fr": {"text": "FR {{ data.order.number }} {{ locale }}"},
    })  # fmt: skip
    data = {"order": {"number": "A-7"}}
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"data": data}, 200, "EN A-7 en"),  # en-GB falls back to its language
        ({"data": data, "locale": "fr"}, 200, "FR A-7 fr"),
        ({"data": data, "locale": "fr-CA"}, 200, "FR A-7 fr"),
        ({"data": data, "locale": "de"}, 200, "EN A-7 en"),  # no variant: the default
        ({}, 422, "data.order"),  # printed without a default: refused, naming it
        ({"data": data, "locale": "french"}, 422, "locale"),
        ({"data": data, "version": 9}, 404, ""),
    ]
    for extra, status, expected in cases:
        preview = await _preview(client, world, template_id, profileId=ada, **extra)
        assert preview.status_code == status, (extra, preview.text)
        if status == 200:
            assert preview.json()["text"] == expected, extra
            assert preview.json()["encoding"] == "gsm-7"
        elif expected:
            assert expected in str(problem(preview, status)), extra


async def test_push_templates_render_title_body_image_deep_link_and_data(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    ada = await make_profile(app, brand, email="a@example.com", first_name="Ada", locale="en")
    variant = {
        "title": "Hi {{ first_name }}",
        "body": "{{ data.item }} is back",
        "image": "https://cdn.example.com/{{ data.sku }}.png",
        "deepLink": "shop://product/{{ data.sku }}",
        "data": {"sku": "{{ data.sku }}", "who": "{{ profile.id }}", "fixed": "1"},
    }
    created = await post(client, world, "/templates", {
        "key": "back", "name": "Back", "channel": "push", "variants": {"en": variant},
        "defaultLocale": "en",
    })  # fmt: skip
    assert created.status_code == 201, created.text
    template_id = created.json()["id"]
    data = {"item": "Red shoes", "sku": "RS-1"}
    async with session_of(app, brand) as session:
        rendered = await service.render_for(
            session, TenantId(brand), app.state.settings, template_id=UUID(template_id),
            profile_id=ada, message_id=new_id(), data=data,
        )  # fmt: skip
    expected = RenderedPush(
        title="Hi Ada",
        body="Red shoes is back",
        image="https://cdn.example.com/RS-1.png",
        deep_link="shop://product/RS-1",
        data={"sku": "RS-1", "who": str(ada), "fixed": "1"},
    )
    assert rendered.content == expected
    preview = await _preview(client, world, template_id, profileId=ada, data=data)
    assert preview.status_code == 200, preview.text
    shown = preview.json()
    assert (shown["title"], shown["body"], shown["image"], shown["deepLink"], shown["data"]) == (
        expected.title, expected.body, expected.image, expected.deep_link, expected.data,
    )  # fmt: skip
    # A push variant without a title is refused at save, naming the field.
    refused = await post(client, world, f"/templates/{template_id}/versions", {
        "variants": {"en": {"body": "x"}},
    })  # fmt: skip
    assert refused.status_code == 422, refused.text
    assert any("title" in e["pointer"] for e in problem(refused, 422)["errors"])


@embedded_only
async def test_a_loop_between_the_rows_of_an_mjml_table_stays_in_the_table(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await make_profile(app, world.brand_a.id, email="a@example.com", locale="en")
    body = (
        "<mjml><mj-body><mj-section><mj-column><mj-table>"
        "{% for item in data.lines %}<tr><td>{{ item }}</td></tr>{% endfor %}"
        '</mj-table><mj-button href="https://shop.test/{{ data.lines | first }}">Go</mj-button>'
        "</mj-column></mj-section></mj-body></mjml>"
    )
    created = await post(client, world, "/templates", {
        "key": "rows", "name": "Rows", "channel": "email", "defaultLocale": "en",
        "variants": {"en": {"subject": "s", "body": body, "format": "mjml"}},
    })  # fmt: skip
    assert created.status_code == 201, created.text
    preview = await _preview(
        client, world, created.json()["id"], profileId=ada, data={"lines": ["alpha", "beta"]}
    )
    assert preview.status_code == 200, preview.text
    html = preview.json()["html"]  # left as text, the loop would leave the table, emptied
    assert ">alpha</td>" in html
    assert ">beta</td>" in html
    assert preview.json()["links"] == ["https://shop.test/alpha"]
