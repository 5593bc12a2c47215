"""Tokens and link instrumentation: no database, no stack."""

from __future__ import annotations

import base64
import re
from uuid import uuid4

import pytest

from backend.content.rendered import RenderedEmail
from backend.messaging.tracking import links, tokens
from backend.messaging.tracking.tokens import BadToken, TokenKind, TrackedChannel
from tests.conftest import test_settings as settings_for

SETTINGS = settings_for(secret_key="k" * 40, public_url="https://levier.example")
KEYS = tokens.keys_of(SETTINGS)
TENANT, MESSAGE, PROFILE = uuid4(), uuid4(), uuid4()


def _flip(token: str, at: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[at] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


def test_a_token_verifies_as_signed_and_for_its_kind_only() -> None:
    click = tokens.click_token(
        KEYS, TrackedChannel.EMAIL, TENANT, MESSAGE, 3, "https://a.example/x"
    )
    found = tokens.verify(KEYS, click, TokenKind.CLICK)
    assert (found.tenant_id, found.message_id, found.link_index, found.url) == (
        TENANT,
        MESSAGE,
        3,
        "https://a.example/x",
    )
    with pytest.raises(BadToken):
        tokens.verify(KEYS, click, TokenKind.OPEN)  # a click token is no open token
    unsubscribe = tokens.unsubscribe_token(
        KEYS, TrackedChannel.EMAIL, TENANT, MESSAGE, PROFILE, "news"
    )
    found = tokens.verify(KEYS, unsubscribe, TokenKind.UNSUBSCRIBE)
    assert (found.profile_id, found.topic) == (PROFILE, "news")


def test_every_altered_byte_is_refused() -> None:
    token = tokens.click_token(KEYS, TrackedChannel.EMAIL, TENANT, MESSAGE, 0, "https://a.example")
    length = len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    for at in range(length):
        with pytest.raises(BadToken):
            tokens.verify(KEYS, _flip(token, at), TokenKind.CLICK)
    for bad in ("", "x", "!!!!", token[:-2], token + "AA", "A" * 5000):
        with pytest.raises(BadToken):
            tokens.verify(KEYS, bad, TokenKind.CLICK)


def test_a_rotated_key_keeps_old_links_working_while_listed() -> None:
    old = tokens.open_token(KEYS, TrackedChannel.EMAIL, TENANT, MESSAGE)
    rotated = SETTINGS.replace(secret_key="n" * 40)
    with pytest.raises(BadToken):
        tokens.verify(tokens.keys_of(rotated), old, TokenKind.OPEN)
    keeping = rotated.replace(previous_secret_keys=("k" * 40,))
    assert tokens.verify(tokens.keys_of(keeping), old, TokenKind.OPEN).message_id == MESSAGE
    fresh = tokens.open_token(tokens.keys_of(keeping), TrackedChannel.EMAIL, TENANT, MESSAGE)
    assert fresh[:2] != old[:2] or fresh != old  # signed with the new key (its own key id)


HTML = (
    "<html><body>"
    '<a href="https://shop.example/a?x=1&amp;y=2">A</a>'
    "<a href='https://shop.example/b'>B</a>"
    '<a href="https://shop.example/a?x=1&amp;y=2">A again</a>'
    '<a href="https://elsewhere.example/not-declared">?</a>'
    '<a href="mailto:help@shop.example">mail</a>'
    '<a href="levier:preferences">Preferences</a>'
    "</body></html>"
)
RENDERED = RenderedEmail(
    subject="Hi",
    preheader=None,
    html=HTML,
    text="Hi",
    links=("https://shop.example/a?x=1&y=2", "https://shop.example/b"),
)


def test_instrumenting_rewrites_declared_links_adds_a_pixel_and_the_rfc_8058_headers() -> None:
    out = links.instrument_email(
        RENDERED, SETTINGS, tenant_id=TENANT, message_id=MESSAGE, profile_id=PROFILE, topic="news"
    )
    clicks = re.findall(r"https://levier\.example/t/c/([A-Za-z0-9_-]+)", out.html)
    assert len(clicks) == 3
    assert clicks[0] == clicks[2]  # the same link, the same token
    targets = [tokens.verify(KEYS, c, TokenKind.CLICK) for c in clicks]
    assert [(t.link_index, t.url) for t in targets] == [
        (0, "https://shop.example/a?x=1&y=2"),
        (1, "https://shop.example/b"),
        (0, "https://shop.example/a?x=1&y=2"),
    ]
    # Undeclared and non-http links are left alone (never signed: nothing to redirect to).
    assert 'href="https://elsewhere.example/not-declared"' in out.html
    assert 'href="mailto:help@shop.example"' in out.html
    assert out.html.count(out.unsubscribe_url) == 1
    pixel = re.search(r'<img src="https://levier\.example/t/o/([^"]+)"', out.html)
    assert pixel is not None
    assert out.html.index(pixel.group(0)) < out.html.index("</body>")
    assert tokens.verify(KEYS, pixel.group(1), TokenKind.OPEN).message_id == MESSAGE
    assert out.headers == {
        "List-Unsubscribe": f"<{out.unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    with_mailto = links.instrument_email(
        RENDERED,
        SETTINGS.replace(unsubscribe_mailto="unsubscribe@shop.example"),
        tenant_id=TENANT,
        message_id=MESSAGE,
        profile_id=PROFILE,
        topic=None,
        track=False,
    )
    assert with_mailto.headers["List-Unsubscribe"].endswith(
        ", <mailto:unsubscribe@shop.example?subject=unsubscribe>"
    )
    assert "/t/c/" not in with_mailto.html
    assert "/t/o/" not in with_mailto.html
    assert with_mailto.unsubscribe_url in with_mailto.html


def test_a_push_carries_its_open_url() -> None:
    data = links.push_open_data(SETTINGS, tenant_id=TENANT, message_id=MESSAGE)
    url = data[links.PUSH_OPEN_DATA_KEY]
    assert url.startswith("https://levier.example/t/p/")
    token = url.rsplit("/", 1)[1]
    assert tokens.verify(KEYS, token, TokenKind.PUSH_OPEN).channel is TrackedChannel.PUSH
