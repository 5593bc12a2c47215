"""Live blocks without the app: tokens, parameters, the template globals and the drawing."""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
from typing import Any
from uuid import UUID, uuid4

import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment
from PIL import Image

from backend.content.errors import RenderRefused
from backend.content.live import blocks, tokens
from backend.content.live.blocks import LiveBlockError, checked_params, live_context
from backend.content.live.drawing import Drawing, ImageCache, draw, neutral_png
from backend.content.live.service import countdown_text
from backend.content.live.tokens import LiveBlock
from backend.content.render import Renderer, compile_template
from tests.conftest import test_settings as settings_for

SETTINGS = settings_for(public_url="https://levier.example.com/")
KEY = tokens.signing_key(SETTINGS.secret_key)
BRAND, PROFILE, MESSAGE = uuid4(), uuid4(), uuid4()
URL = re.compile(r"https://levier\.example\.com/l/([A-Za-z0-9_-]+)\.(png|html)")


def render(source: str, *, message_id: UUID | None = MESSAGE, **data: Any) -> str:
    """``source`` rendered as an HTML field in the content sandbox, for PROFILE."""
    context = {**data, **live_context(SETTINGS, BRAND, profile_id=PROFILE, message_id=message_id)}
    with Renderer(seconds=1.0, max_chars=100_000) as renderer:
        return renderer.render(compile_template(source, html=True), context)


def block_in(html: str) -> tuple[LiveBlock, str]:
    match = URL.search(html)
    assert match, html
    block = tokens.verify(KEY, match.group(1))
    assert block is not None
    return block, match.group(2)


def test_an_image_block_points_at_a_signed_url_naming_the_recipient_and_the_block() -> None:
    ends = dt.datetime(2030, 1, 1, 12, tzinfo=dt.UTC)
    html = render('{{ live("countdown", ends_at=ends, label="Ends in", width=400) }}', ends=ends)
    block, fmt = block_in(html)
    assert fmt == "png"
    assert (block.brand_id, block.message_id, block.profile_id) == (BRAND, MESSAGE, PROFILE)
    assert block.kind == "countdown"
    assert block.params == {"ends_at": int(ends.timestamp()), "label": "Ends in", "width": 400}
    assert 'width="400" height="60" alt="Ends in"' in html
    token = URL.search(html).group(1)  # type: ignore[union-attr]
    assert len(token) < 160  # short enough for any mail client


def test_the_fragment_url_and_a_preview_without_a_message() -> None:
    html = render(
        '{{ live_url("attribute", format="html", name="loyalty_points", fallback="0") }}',
        message_id=None,
    )
    block, fmt = block_in(html)
    assert fmt == "html"
    assert block.message_id is None
    assert block.params == {"name": "loyalty_points", "fallback": "0"}


def test_a_label_is_escaped_in_the_alt_text() -> None:
    html = render('{{ live("attribute", name="points", label="<b>{value}</b> pts") }}')
    assert 'alt="&lt;b&gt;&lt;/b&gt; pts"' in html


def test_outside_a_recipient_render_the_block_is_empty_but_still_checked() -> None:
    env = ImmutableSandboxedEnvironment(autoescape=True)
    blocks.register(env)
    assert env.from_string('{{ live("attribute", name="points") }}').render() == ""
    with pytest.raises(LiveBlockError):
        env.from_string('{{ live("attribute", name="Bad Key") }}').render()


def test_a_wrong_block_refuses_that_one_render_with_a_reason() -> None:
    with pytest.raises(RenderRefused) as refused:
        render('{{ live("countdown", ends_at="soon") }}')
    assert refused.value.reason == "render-error"
    assert "ends_at" in refused.value.detail


@pytest.mark.parametrize(
    "source",
    [
        "{{ self.__dict__ }}",
        "{{ live.__globals__ }}",
        "{{ context }}",
        "{{ self._TemplateReference__context }}",
        "{{ live_url.__closure__ }}",
    ],
)
def test_a_template_cannot_reach_the_signing_context(source: str) -> None:
    # The context key is no valid name and the sandbox refuses private attributes.
    try:
        html = render(source)
    except RenderRefused:
        return
    assert "key" not in html
    assert "levier:live" not in html


FUTURE = "2030-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("banner", {}, "unknown kind"),
        ("countdown", {}, "needs 'ends_at'"),
        ("countdown", {"ends_at": "2030-01-01T00:00:00"}, "time zone"),
        ("countdown", {"ends_at": "tomorrow"}, "ISO 8601"),
        ("countdown", {"ends_at": True}, "time zone"),
        ("countdown", {"ends_at": FUTURE, "label": "x" * 101}, "longer than 100"),
        ("countdown", {"ends_at": FUTURE, "label": "a\x00b"}, "NUL"),
        ("countdown", {"ends_at": FUTURE, "width": 100_000}, "from 40 to 600"),
        ("countdown", {"ends_at": FUTURE, "height": 0}, "from 16 to 200"),
        ("countdown", {"ends_at": FUTURE, "color": "red"}, "colour"),
        ("countdown", {"ends_at": FUTURE, "color": "transparent"}, "colour"),
        ("countdown", {"ends_at": FUTURE, "onerror": "x"}, "unknown parameter 'onerror'"),
        ("attribute", {}, "'name' or a linked 'table'"),
        ("attribute", {"name": "a", "table": "b", "column": "c"}, "'name' or a linked"),
        ("attribute", {"name": "points\x00"}, "must be a key"),
        ("attribute", {"name": "../x"}, "must be a key"),
        ("attribute", {"table": "offers"}, "needs its 'column'"),
        ("attribute", {"name": "a", "row": "r"}, "'row' names a row"),
    ],
)
def test_wrong_parameters_fail_the_render_with_a_reason(
    kind: str, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(LiveBlockError, match=re.escape(message)):
        checked_params(kind, params)


def test_transparent_background_and_short_colours_are_accepted() -> None:
    params = {"ends_at": 1, "background": "transparent", "color": "#FA0"}
    assert checked_params("countdown", params) == {
        "ends_at": 1,
        "background": "transparent",
        "color": "#fa0",
    }


def _block(**params: tokens.Param) -> LiveBlock:
    return LiveBlock(BRAND, MESSAGE, PROFILE, "attribute", {"name": "points", **params})


def test_a_token_verifies_with_its_key_only() -> None:
    token = tokens.sign(KEY, _block())
    assert tokens.verify(KEY, token) == _block()
    assert tokens.verify(tokens.signing_key("another-deployment-secret"), token) is None


def _flipped(token: str, index: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[index] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


@pytest.mark.parametrize("index", [0, 1, 5, 20, -17, -1])
def test_any_changed_byte_breaks_the_token(index: int) -> None:
    assert tokens.verify(KEY, _flipped(tokens.sign(KEY, _block()), index)) is None


@pytest.mark.parametrize(
    "token",
    ["", "a", "A" * 801, "abc\x00def", "abc/def", "abc def", "abc=", "é" * 10, "AAAA" * 10],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    assert tokens.verify(KEY, token) is None


def test_a_token_naming_another_profile_cannot_be_made_without_the_key() -> None:
    # Re-encoding the block with another profile keeps the old tag: it no longer matches.
    token = tokens.sign(KEY, _block())
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    other = LiveBlock(BRAND, MESSAGE, uuid4(), "attribute", {"name": "points"})
    forged_payload = tokens.VERSION + tokens._encoder.encode(other)
    forged = base64.urlsafe_b64encode(forged_payload + raw[-tokens.TAG_BYTES :])
    assert tokens.verify(KEY, forged.rstrip(b"=").decode()) is None


def test_parameters_too_long_for_a_url_are_refused() -> None:
    too_many = {f"p{i}": "x" * 100 for i in range(6)}
    with pytest.raises(tokens.TokenTooLarge):
        tokens.sign(KEY, _block(**too_many))


NOW = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("seconds_left", "text"),
    [
        (2 * 86400 + 3 * 3600 + 14 * 60, "Ends in 2d 03h 14m"),
        (3600, "Ends in 01h 00m"),
        (59, "Ends in 00h 01m"),
        (0, "Over"),
        (-86400, "Over"),
    ],
)
def test_a_countdown_counts_from_now(seconds_left: int, text: str) -> None:
    ends_at = int(NOW.timestamp()) + seconds_left
    block = LiveBlock(
        BRAND,
        None,
        PROFILE,
        "countdown",
        {"ends_at": ends_at, "label": "Ends in", "expired": "Over"},
    )
    assert countdown_text(block, NOW)[0] == text


def test_a_drawing_is_a_png_of_its_size_and_the_same_text_draws_the_same_bytes() -> None:
    drawing = Drawing("1 250 points", 320, 80, "#112233", "#ffffff")
    png = draw(drawing)
    image = Image.open(io.BytesIO(png))
    assert (image.format, image.size, image.mode) == ("PNG", (320, 80), "RGB")
    assert draw(drawing) == png
    assert draw(Drawing("1 251 points", 320, 80, "#112233", "#ffffff")) != png
    # Text actually drawn: the box is not uniform.
    assert any(low != high for low, high in image.getextrema())


def test_text_too_long_for_the_box_is_shortened_and_transparent_stays_transparent() -> None:
    image = Image.open(io.BytesIO(draw(Drawing("W" * 300, 40, 16, "#000000", "transparent"))))
    assert (image.size, image.mode) == ((40, 16), "RGBA")
    neutral = Image.open(io.BytesIO(neutral_png()))
    assert (neutral.format, neutral.size) == ("PNG", (1, 1))


async def test_an_unreachable_redis_never_fails_an_open() -> None:
    # Nothing listens on port 1: the image is drawn without the cache.
    cache = ImageCache(settings_for(redis_url="redis://127.0.0.1:1/0"))
    drawing = Drawing("42 points", 100, 30, "#000000", "#ffffff")
    try:
        assert await cache.png(drawing, ttl_seconds=60) == draw(drawing)
    finally:
        await cache.aclose()
