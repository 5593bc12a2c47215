"""Filling a live block at open time from the profile's current data.

The request's session is scoped to the brand the token names, so a block reads that brand's
profiles only: a token naming another brand's profile finds nobody. A merged profile is followed
to its survivor; an erased or deleted one (and a brand that no longer exists) shows a neutral
image, with no data.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy.ext.asyncio import AsyncSession

from backend.content.live import blocks
from backend.content.live.drawing import Drawing, ImageCache, neutral_png
from backend.content.live.tokens import LiveBlock
from backend.profiles import lookup
from backend.profiles import service as profiles
from backend.profiles.linked import service as linked

# How long a mail client or proxy may keep what it fetched: a countdown changes every minute,
# an attribute may change at any time (a personalised image must not linger in shared caches).
COUNTDOWN_MAX_AGE = 30
ATTRIBUTE_MAX_AGE = 300
# How long the shared cache keeps a drawn image: a running countdown's text lasts a minute.
RUNNING_COUNTDOWN_TTL = 120
STEADY_TTL = 24 * 3600
MAX_VALUE_CHARS = 120
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class Filled:
    """What a block shows now: its text (None: nothing, the neutral image), how long clients
    may keep it and how long the image cache may."""

    text: str | None
    max_age: int
    cache_ttl: int

    @property
    def cache_control(self) -> str:
        if self.text is None:
            return "no-store"
        return f"private, max-age={self.max_age}"


def _clean(value: str) -> str:
    # One line of printable text: control characters (newlines included) become spaces.
    return " ".join(_CONTROL.sub(" ", value).split())[:MAX_VALUE_CHARS]


def _labelled(label: str, value: str) -> str:
    if "{value}" in label:
        return label.replace("{value}", value)
    return f"{label} {value}".strip()


def countdown_text(block: LiveBlock, now: dt.datetime) -> tuple[str, bool]:
    """The countdown's text at ``now`` (minutes resolution) and whether it still runs."""
    params = block.params
    ends_at = int(params["ends_at"])
    left = ends_at - int(now.timestamp())
    if left <= 0:
        return _clean(str(params.get("expired", "Ended"))), False
    minutes = -(-left // 60)  # rounded up: "1m" until the very end
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    value = f"{days}d {hours:02d}h {minutes:02d}m" if days else f"{hours:02d}h {minutes:02d}m"
    return _clean(_labelled(str(params.get("label", "")), value)), True


def _shown(value: Any, block: LiveBlock) -> str | None:
    """An attribute or column value as text (booleans through ``yes``/``no``)."""
    params = block.params
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, bool):
        return str(params.get("yes" if value else "no", "yes" if value else "no"))
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


async def _attribute_value(session: AsyncSession, block: LiveBlock, profile_id: Any) -> Any:
    params = block.params
    if "name" in params:
        profile = await profiles.get_profile(session, profile_id)
        return (profile.attributes or {}).get(str(params["name"]))
    rows = (await linked.rows_of_profiles(session, str(params["table"]), [profile_id]))[profile_id]
    wanted = params.get("row")
    if wanted is not None:
        rows = [r for r in rows if r.key == wanted]
    # Rows come oldest first (time-ordered ids): without a row key, the newest counts.
    return rows[-1].values.get(str(params["column"])) if rows else None


async def fill(session: AsyncSession, block: LiveBlock, now: dt.datetime) -> Filled:
    """The block's text now, from the profile's current data."""
    current = (await lookup.current_ids(session, [block.profile_id])).get(block.profile_id)
    if current is None:
        # Erased, deleted, never of this brand: nothing about anybody.
        return Filled(None, 0, 0)
    if block.kind == blocks.COUNTDOWN:
        text, running = countdown_text(block, now)
        ttl = RUNNING_COUNTDOWN_TTL if running else STEADY_TTL
        return Filled(text, COUNTDOWN_MAX_AGE, ttl)
    if block.kind == blocks.ATTRIBUTE:
        shown = _shown(await _attribute_value(session, block, current), block)
        if shown is None:
            text = str(block.params.get("fallback", ""))
        else:
            text = _labelled(str(block.params.get("label", "")), _clean(shown))
        return Filled(_clean(text), ATTRIBUTE_MAX_AGE, STEADY_TTL)
    return Filled(None, 0, 0)


def drawing_of(block: LiveBlock, text: str) -> Drawing:
    """What the image of ``text`` looks like with the block's style (within the limits)."""
    params = block.params

    def bounded(name: str, low: int, high: int, default: int) -> int:
        value = params.get(name, default)
        return min(high, max(low, value)) if isinstance(value, int) else default

    return Drawing(
        text=text,
        width=bounded("width", blocks.MIN_WIDTH, blocks.MAX_WIDTH, blocks.DEFAULT_WIDTH),
        height=bounded("height", blocks.MIN_HEIGHT, blocks.MAX_HEIGHT, blocks.DEFAULT_HEIGHT),
        color=str(params.get("color", blocks.DEFAULT_COLOR)),
        background=str(params.get("background", blocks.DEFAULT_BACKGROUND)),
    )


async def image(
    session: AsyncSession, cache: ImageCache, block: LiveBlock, now: dt.datetime
) -> tuple[bytes, str]:
    """The block's PNG now and its Cache-Control."""
    filled = await fill(session, block, now)
    if filled.text is None:
        return neutral_png(), filled.cache_control
    png = await cache.png(drawing_of(block, filled.text), filled.cache_ttl)
    return png, filled.cache_control


async def fragment(session: AsyncSession, block: LiveBlock, now: dt.datetime) -> tuple[str, str]:
    """The block's short HTML fragment now (its text escaped) and its Cache-Control."""
    filled = await fill(session, block, now)
    if filled.text is None:
        return "", filled.cache_control
    html = Markup('<span class="levier-live levier-live-{}">{}</span>').format(
        block.kind, escape(filled.text)
    )
    return str(html), filled.cache_control
