"""Live blocks in templates: ``live(...)`` and ``live_url(...)``, filled at send time with a
signed per-recipient URL whose content is drawn at open time.

``{{ live("countdown", ends_at=offer.ends_at, label="Ends in") }}`` renders an ``<img>``;
``{{ live("attribute", name="loyalty_points", label="{value} points", fallback="—") }}`` too;
``{{ live_url("attribute", format="html", name="loyalty_points") }}`` is the URL of the short
HTML fragment (for AMP or a web view). The parameters are checked here, at send time, so that a
mistake fails that one render with a clear reason instead of sending a broken image.

The recipient (brand, message, profile) reaches the globals through the render context under
:data:`CONTEXT_KEY`, put there by :func:`live_context`: a key no template name can spell, so a
template can neither print it nor sign blocks for someone else.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from jinja2 import Environment, pass_context
from jinja2.exceptions import TemplateRuntimeError
from jinja2.runtime import Context
from markupsafe import Markup

from backend.config import Settings
from backend.content.live import tokens
from backend.content.live.tokens import LiveBlock, Param

CONTEXT_KEY = "levier:live"
COUNTDOWN, ATTRIBUTE = "countdown", "attribute"
FORMATS = ("png", "html")
MAX_TEXT = 100  # characters of any text parameter
MIN_WIDTH, MAX_WIDTH, DEFAULT_WIDTH = 40, 600, 300
MIN_HEIGHT, MAX_HEIGHT, DEFAULT_HEIGHT = 16, 200, 60
DEFAULT_COLOR, DEFAULT_BACKGROUND = "#111111", "#ffffff"
TRANSPARENT = "transparent"

_STYLE = frozenset({"color", "background", "width", "height"})
_ALLOWED = {
    COUNTDOWN: frozenset({"ends_at", "label", "expired"}) | _STYLE,
    ATTRIBUTE: frozenset({"name", "table", "column", "row", "label", "fallback", "yes", "no"})
    | _STYLE,
}
_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_TEXTS = frozenset({"label", "expired", "fallback", "yes", "no", "row"})


class LiveBlockError(TemplateRuntimeError):
    """A live block's parameters are wrong: the render of that one message fails with it."""


@dataclass(frozen=True)
class Recipient:
    """Whom the blocks of one render are for, and how to sign their URLs."""

    key: bytes
    base_url: str
    brand_id: UUID
    message_id: UUID | None
    profile_id: UUID


def live_context(
    settings: Settings, brand_id: UUID, *, profile_id: UUID, message_id: UUID | None
) -> dict[str, Any]:
    """What a render for one recipient adds to its template context so that live blocks can
    sign their URLs (``message_id`` is None in a preview)."""
    recipient = Recipient(
        key=tokens.signing_key(settings.secret_key),
        base_url=settings.public_url.rstrip("/"),
        brand_id=brand_id,
        message_id=message_id,
        profile_id=profile_id,
    )
    return {CONTEXT_KEY: recipient}


def register(env: Environment) -> None:
    """Add the live-block globals to a template environment."""
    env.globals["live"] = live
    env.globals["live_url"] = live_url


# Parameters -------------------------------------------------------------------------------------


def _text(name: str, value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:
        raise LiveBlockError(f"live block: '{name}' contains a NUL character")
    if len(text) > MAX_TEXT:
        raise LiveBlockError(f"live block: '{name}' is longer than {MAX_TEXT} characters")
    return text


def _key(name: str, value: Any) -> str:
    if not isinstance(value, str) or not _KEY.fullmatch(value):
        raise LiveBlockError(
            f"live block: '{name}' must be a key (lowercase letters, digits, underscores)"
        )
    return value


def _size(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise LiveBlockError(f"live block: '{name}' must be a whole number from {low} to {high}")
    return value


def _color(name: str, value: Any) -> str:
    if value == TRANSPARENT and name == "background":
        return TRANSPARENT
    if not isinstance(value, str) or not _COLOR.fullmatch(value):
        raise LiveBlockError(f"live block: '{name}' must be a colour like #1a2b3c")
    return value.lower()


def _instant(value: Any) -> int:
    """``ends_at`` as seconds since the epoch: a datetime with its zone, an ISO 8601 string with
    its offset, or a number of seconds."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(_text("ends_at", value))
        except ValueError:
            raise LiveBlockError("live block: 'ends_at' is not an ISO 8601 date and time") from None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise LiveBlockError("live block: 'ends_at' needs a time zone (an offset or Z)")
        return int(value.timestamp())
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**40:
        return value
    raise LiveBlockError("live block: 'ends_at' must be a date and time with its time zone")


def checked_params(kind: str, params: Mapping[str, Any]) -> dict[str, Param]:
    """The block's parameters as its token carries them (only those given: defaults are applied
    when drawing); LiveBlockError names the first wrong one."""
    allowed = _ALLOWED.get(kind)
    if allowed is None:
        raise LiveBlockError(f"live block: unknown kind {kind!r} (countdown or attribute)")
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise LiveBlockError(f"live block: unknown parameter {unknown[0]!r} for {kind}")
    checked: dict[str, Param] = {}
    for name, value in params.items():
        if value is None:
            continue
        if name == "ends_at":
            checked[name] = _instant(value)
        elif name in ("name", "table", "column"):
            checked[name] = _key(name, value)
        elif name in ("color", "background"):
            checked[name] = _color(name, value)
        elif name == "width":
            checked[name] = _size(name, value, MIN_WIDTH, MAX_WIDTH)
        elif name == "height":
            checked[name] = _size(name, value, MIN_HEIGHT, MAX_HEIGHT)
        else:
            checked[name] = _text(name, value)
    if kind == COUNTDOWN and "ends_at" not in checked:
        raise LiveBlockError("live block: a countdown needs 'ends_at'")
    if kind == ATTRIBUTE:
        if ("name" in checked) == ("table" in checked):
            raise LiveBlockError("live block: give an attribute 'name' or a linked 'table'")
        if ("table" in checked) != ("column" in checked):
            raise LiveBlockError("live block: a linked 'table' needs its 'column'")
        if "row" in checked and "table" not in checked:
            raise LiveBlockError("live block: 'row' names a row of a linked 'table'")
    return checked


# Template globals -------------------------------------------------------------------------------


def _url(context: Context, kind: str, params: Mapping[str, Any], fmt: str) -> str | None:
    checked = checked_params(kind, params)
    recipient = context.get(CONTEXT_KEY)
    if not isinstance(recipient, Recipient):
        # Outside a recipient's render (a check at save time): nothing to point at.
        return None
    block = LiveBlock(
        brand_id=recipient.brand_id,
        message_id=recipient.message_id,
        profile_id=recipient.profile_id,
        kind=kind,
        params=checked,
    )
    try:
        token = tokens.sign(recipient.key, block)
    except tokens.TokenTooLarge as exc:
        raise LiveBlockError(f"live block: {exc}") from None
    return f"{recipient.base_url}/l/{token}.{fmt}"


@pass_context
def live(context: Context, kind: str, alt: str | None = None, **params: Any) -> Markup:
    """An ``<img>`` of the block, drawn when the message is opened, at the block's size."""
    url = _url(context, kind, params, "png")
    if url is None:
        return Markup("")
    width = params.get("width") or DEFAULT_WIDTH
    height = params.get("height") or DEFAULT_HEIGHT
    if alt is None:
        # The label without its value: the value shown at send time would be stale at open.
        alt = str(params.get("label") or "").replace("{value}", "").strip()
    text = _text("alt", alt)
    return Markup(
        '<img src="{}" width="{}" height="{}" alt="{}" style="display:block;border:0">'
    ).format(url, width, height, text)


@pass_context
def live_url(context: Context, kind: str, format: str = "png", **params: Any) -> str:
    """The block's URL: its image (``png``) or its short HTML fragment (``html``)."""
    if format not in FORMATS:
        raise LiveBlockError("live block: format must be png or html")
    return _url(context, kind, params, format) or ""


__all__ = ["CONTEXT_KEY", "LiveBlockError", "live", "live_context", "live_url", "register"]
