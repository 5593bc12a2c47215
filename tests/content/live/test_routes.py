"""Live blocks opened through the public URL: the profile's data at open time, on both stacks."""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
from typing import Any
from uuid import UUID, uuid4

import httpx
import redis
from litestar import Litestar
from PIL import Image

from backend.config import Settings
from backend.content import service as content_service
from backend.content.live import blocks, tokens
from backend.content.live.drawing import Drawing, draw, draw_cached, neutral_png
from backend.content.live.tokens import LiveBlock
from backend.content.render import Renderer, compile_template
from backend.content.rendered import RenderedEmail
from backend.core.tenancy import TenantId
from tests.conftest import embedded_only
from tests.factories import World, make_world, problem, session_of
from tests.profiles.helpers import add_row, create_profile, define_attribute, define_table

URL = re.compile(r'src="http://127\.0\.0\.1:8000(/l/[A-Za-z0-9_-]+\.png)"')
POINTS = '{{ live("attribute", name="loyalty_points", label="{value} points", fallback="none") }}'


def send(app: Litestar, brand_id: UUID, profile_id: str, source: str, **data: Any) -> str:
    """The path of the first live image in ``source`` rendered for the profile ("send time")."""
    settings: Settings = app.state.settings
    context = blocks.live_context(
        settings, brand_id, profile_id=UUID(profile_id), message_id=uuid4()
    )
    with Renderer(seconds=1.0, max_chars=100_000) as renderer:
        html = renderer.render(compile_template(source, html=True), {**data, **context})
    match = URL.search(html)
    assert match
    return match.group(1)


def html_of(path: str) -> str:
    return path.removesuffix(".png") + ".html"


async def set_points(client: httpx.AsyncClient, world: World, profile_id: str, points: int) -> None:
    response = await client.patch(
        f"/v1/brands/{world.brand_a.id}/profiles/{profile_id}",
        json={"attributes": {"loyalty_points": points}},
        headers=world.manager_a.headers,
    )
    assert response.status_code == 200, response.text


async def points_profile(
    client: httpx.AsyncClient, world: World, points: int, **body: Any
) -> dict[str, Any]:
    return await create_profile(client, world, attributes={"loyalty_points": points}, **body)


def png_size(response: httpx.Response) -> tuple[int, int]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG"
    return image.size


async def test_an_attribute_block_shows_the_value_at_open_not_at_send(
    app: Litestar, client: httpx.AsyncClient, settings: Settings
) -> None:
    world = await make_world(app)
    await define_attribute(client, world, key="loyalty_points", type="number")
    ada = await points_profile(client, world, 100, email="ada@example.com")
    path = send(app, world.brand_a.id, ada["id"], POINTS)
    await set_points(client, world, ada["id"], 1250)

    fragment = await client.get(html_of(path))
    assert fragment.status_code == 200
    assert fragment.headers["content-type"].startswith("text/html")
    assert fragment.text == '<span class="levier-live levier-live-attribute">1250 points</span>'
    assert fragment.headers["cache-control"] == "private, max-age=300"

    image = await client.get(path)
    assert png_size(image) == (300, 60)
    drawn = Drawing("1250 points", 300, 60, blocks.DEFAULT_COLOR, blocks.DEFAULT_BACKGROUND)
    assert image.content == draw(drawn)
    assert image.headers["cache-control"] == "private, max-age=300"
    if settings.redis_url is not None:
        # Cached under what is drawn, shared by every process; no profile id in the key.
        store = redis.Redis.from_url(settings.redis_url)
        key = app.state.live_images.key_of(drawn)
        assert store.get(key) == image.content
        assert ada["id"] not in key
    else:
        hits = draw_cached.cache_info().hits
        assert (await client.get(path)).content == image.content
        assert draw_cached.cache_info().hits == hits + 1

    await set_points(client, world, ada["id"], 1300)
    again = await client.get(html_of(path))
    assert ">1300 points<" in again.text


async def test_a_missing_value_shows_the_fallback_and_a_value_is_escaped(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await define_attribute(client, world, key="nickname", type="text")
    ada = await create_profile(client, world, email="ada@example.com")
    source = '{{ live("attribute", name="nickname", label="Hi {value}", fallback="Hi there") }}'
    path = send(app, world.brand_a.id, ada["id"], source)
    assert ">Hi there<" in (await client.get(html_of(path))).text
    response = await client.patch(
        f"/v1/brands/{world.brand_a.id}/profiles/{ada['id']}",
        json={"attributes": {"nickname": "<script>alert(1)</script>"}},
        headers=world.manager_a.headers,
    )
    assert response.status_code == 200, response.text
    assert ">Hi &lt;script&gt;alert(1)&lt;/script&gt;<" in (await client.get(html_of(path))).text


async def test_a_countdown_counts_down_from_the_time_of_opening(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await create_profile(client, world, email="ada@example.com")
    source = (
        '{{ live("countdown", ends_at=ends, label="Ends in", expired="Offer over", '
        'width=420, height=90, color="#ffffff", background="#c0392b") }}'
    )
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=1, hours=2, seconds=30)
    path = send(app, world.brand_a.id, ada["id"], source, ends=soon)
    fragment = await client.get(html_of(path))
    assert ">Ends in 1d 02h 01m<" in fragment.text
    assert fragment.headers["cache-control"] == "private, max-age=30"
    image = await client.get(path)
    assert png_size(image) == (420, 90)
    assert image.content == draw(Drawing("Ends in 1d 02h 01m", 420, 90, "#ffffff", "#c0392b"))

    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ended = send(app, world.brand_a.id, ada["id"], source, ends=past)
    assert ">Offer over<" in (await client.get(html_of(ended))).text

    # Even a signed block asking for a huge image (the globals refuse one) is drawn bounded.
    huge = LiveBlock(
        world.brand_a.id,
        None,
        UUID(ada["id"]),
        "countdown",
        {"ends_at": int(soon.timestamp()), "width": 10**9, "height": 10**9, "label": "x" * 400},
    )
    token = tokens.sign(tokens.signing_key(app.state.settings.secret_key), huge)
    assert png_size(await client.get(f"/l/{token}.png")) == (600, 200)


async def test_an_in_stock_block_reads_the_profiles_linked_row_at_open(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await create_profile(client, world, email="ada@example.com")
    await define_table(
        client, world, key="offers", columns=[{"key": "in_stock", "type": "boolean"}]
    )
    row = await add_row(
        client, world, "offers", profileId=ada["id"], key="SUMMER", values={"in_stock": True}
    )
    source = (
        '{{ live("attribute", table="offers", column="in_stock", row="SUMMER", '
        'yes="Still in stock", no="Sold out") }}'
    )
    path = send(app, world.brand_a.id, ada["id"], source)
    assert ">Still in stock<" in (await client.get(html_of(path))).text
    response = await client.patch(
        f"/v1/brands/{world.brand_a.id}/linked-tables/offers/rows/{row['id']}",
        json={"values": {"in_stock": False}},
        headers=world.manager_a.headers,
    )
    assert response.status_code == 200, response.text
    assert ">Sold out<" in (await client.get(html_of(path))).text


async def test_a_merged_profile_shows_its_survivor_and_an_erased_one_shows_nothing(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await define_attribute(client, world, key="loyalty_points", type="number")
    older = await points_profile(client, world, 10, email="ada@example.com")
    newer = await points_profile(client, world, 20, phone="+32470123456")
    path = send(app, world.brand_a.id, newer["id"], POINTS)
    merged = await client.post(
        f"/v1/brands/{world.brand_a.id}/profiles/{older['id']}/merge",
        json={"otherId": newer["id"]},
        headers=world.manager_a.headers,
    )
    assert merged.status_code == 200, merged.text
    await set_points(client, world, older["id"], 777)
    assert ">777 points<" in (await client.get(html_of(path))).text

    erased = await client.post(
        f"/v1/brands/{world.brand_a.id}/profiles/{older['id']}/erase",
        json={"reason": "request by email"},
        headers=world.manager_a.headers,
    )
    assert erased.status_code == 200, erased.text
    image = await client.get(path)
    assert png_size(image) == (1, 1)
    assert image.content == neutral_png()
    assert image.headers["cache-control"] == "no-store"
    fragment = await client.get(html_of(path))
    assert (fragment.status_code, fragment.text) == (200, "")


async def test_a_token_of_one_brand_never_reads_another_brands_profile(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await define_attribute(client, world, key="loyalty_points", type="number")
    response = await client.post(
        f"/v1/brands/{world.brand_b.id}/profile-attributes",
        json={"key": "loyalty_points", "label": "Points", "type": "number"},
        headers=world.owner_b.headers,
    )
    assert response.status_code == 201, response.text
    response = await client.post(
        f"/v1/brands/{world.brand_b.id}/profiles",
        json={"email": "bob@example.com", "attributes": {"loyalty_points": 999}},
        headers=world.owner_b.headers,
    )
    assert response.status_code == 201, response.text
    bob = response.json()
    # Brand A's block naming brand B's profile (as a template of brand A could only produce
    # by rendering for an id it was handed): the brand A session finds nobody.
    path = send(app, world.brand_a.id, bob["id"], POINTS)
    assert (await client.get(html_of(path))).text == ""
    assert (await client.get(path)).content == neutral_png()
    # The same block for brand B reads its own profile.
    own = send(app, world.brand_b.id, bob["id"], POINTS)
    assert ">999 points<" in (await client.get(html_of(own))).text


def _tampered(token: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[3] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


@embedded_only
async def test_bad_live_urls_answer_the_same_bare_404(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    brand, profile = uuid4(), uuid4()
    block = LiveBlock(brand, None, profile, "attribute", {"name": "loyalty_points"})
    good = tokens.sign(tokens.signing_key(app.state.settings.secret_key), block)
    foreign = tokens.sign(tokens.signing_key("x" * 40), block)
    answers = []
    for path in (
        f"/l/{_tampered(good)}.png",
        f"/l/{foreign}.png",
        f"/l/{good}.gif",
        f"/l/{good}",
        f"/l/{good[:-1]}.html",
        f"/l/{'A' * 20_000}.png",
        f"/l/{good}%00.png",
        "/l/..%2F..%2Fetc%2Fpasswd.png",
    ):
        response = await client.get(path)
        assert 400 <= response.status_code < 500, (path, response.status_code)
        body = problem(response, response.status_code)
        answers.append((response.status_code, body.get("detail")))
    # A signed token for a brand that does not exist: the neutral image, never an error.
    assert (await client.get(f"/l/{good}.png")).content == neutral_png()
    assert set(answers[:6]) == {(404, "no live content here")}


async def test_a_template_sent_with_render_for_carries_a_live_block_filled_at_open(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    await define_attribute(client, world, key="loyalty_points", type="number")
    ada = await points_profile(client, world, 5, email="ada@example.com")
    body = {
        "key": "points",
        "name": "Points",
        "channel": "email",
        "defaultLocale": "en",
        "variants": {"en": {"subject": "Your points", "body": f"<p>{POINTS}</p>"}},
    }
    created = await client.post(
        f"/v1/brands/{brand}/templates", json=body, headers=world.manager_a.headers
    )
    assert created.status_code == 201, created.text
    template_id = UUID(created.json()["id"])
    message_id = uuid4()
    async with session_of(app, brand) as session:
        rendered = await content_service.render_for(
            session,
            TenantId(brand),
            app.state.settings,
            template_id=template_id,
            profile_id=UUID(ada["id"]),
            message_id=message_id,
        )
        await session.commit()
    assert isinstance(rendered.content, RenderedEmail)
    match = URL.search(rendered.content.html)
    assert match, rendered.content.html
    key = tokens.signing_key(app.state.settings.secret_key)
    block = tokens.verify(key, match.group(1).removeprefix("/l/").removesuffix(".png"))
    assert block is not None
    assert (block.brand_id, block.message_id, str(block.profile_id)) == (
        brand,
        message_id,
        ada["id"],
    )
    await set_points(client, world, ada["id"], 42)
    assert ">42 points<" in (await client.get(html_of(match.group(1)))).text

    preview = await client.post(
        f"/v1/brands/{brand}/templates/{template_id}/preview",
        json={"profileId": ada["id"]},
        headers=world.manager_a.headers,
    )
    assert preview.status_code == 200, preview.text
    shown = URL.search(preview.json()["html"])
    assert shown
    previewed = tokens.verify(key, shown.group(1).removeprefix("/l/").removesuffix(".png"))
    assert previewed is not None
    assert previewed.message_id is None
