"""Drawing a live block's text as a PNG, and the cache of drawn images.

An image is cached under the hash of what is drawn (text, size, colours), never under whom it
is for: two recipients with 1,250 points share one image, and the cache holds no profile id.
With Redis configured the cache is shared by every API process (keys under
``<namespace>:live:``, each with its own time to live); otherwise it is an LRU in this process.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
from dataclasses import dataclass

import msgspec
import redis.asyncio
import structlog
from PIL import Image, ImageDraw, ImageFont
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from backend.config import Settings

log = structlog.get_logger("levier.content.live")

PADDING = 8
MIN_FONT, MAX_FONT = 8, 64
LRU_IMAGES = 512
# Redis is close: answer fast, or draw without the cache.
REDIS_TIMEOUT_SECONDS = 0.5
ELLIPSIS = "…"


@dataclass(frozen=True)
class Drawing:
    """Everything that decides the pixels of one image (hashable: the LRU keys on it)."""

    text: str
    width: int
    height: int
    color: str
    background: str  # "#rrggbb" or "transparent"

    def cache_key(self) -> str:
        encoded = msgspec.json.encode(
            [self.text, self.width, self.height, self.color, self.background]
        )
        return hashlib.sha256(encoded).hexdigest()


@functools.lru_cache(maxsize=MAX_FONT + 1)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's bundled font (no system font needed); FreeType is in Pillow's wheels.
    return ImageFont.load_default(size=size)


def _fit(draw: ImageDraw.ImageDraw, text: str, width: int, height: int) -> tuple[str, int]:
    """The text and the largest font size at which it fits the box (shortened with an ellipsis
    when even the smallest size is too wide)."""
    room = max(1, width - 2 * PADDING)
    size = max(MIN_FONT, min(MAX_FONT, int(height * 0.55)))
    while size > MIN_FONT and draw.textlength(text, font=_font(size)) > room:
        size -= 1
    while len(text) > 1 and draw.textlength(text, font=_font(size)) > room:
        text = text[:-2] + ELLIPSIS
    return text, size


def draw(drawing: Drawing) -> bytes:
    """The PNG of the text centred in a box of the drawing's size."""
    transparent = drawing.background == "transparent"
    background = (255, 255, 255, 0) if transparent else drawing.background
    image = Image.new("RGBA" if transparent else "RGB", (drawing.width, drawing.height), background)
    pen = ImageDraw.Draw(image)
    text, size = _fit(pen, drawing.text, drawing.width, drawing.height)
    pen.text(
        (drawing.width / 2, drawing.height / 2),
        text,
        fill=drawing.color,
        font=_font(size),
        anchor="mm",
    )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


# Embedded mode: drawn images kept in this process, the least recently used dropped first.
draw_cached = functools.lru_cache(maxsize=LRU_IMAGES)(draw)


@functools.cache
def neutral_png() -> bytes:
    """A 1x1 transparent PNG: what an erased or unknown recipient's block shows."""
    out = io.BytesIO()
    Image.new("RGBA", (1, 1), (0, 0, 0, 0)).save(out, format="PNG")
    return out.getvalue()


class ImageCache:
    """Drawn images by :meth:`Drawing.cache_key`: in Redis when configured, else an LRU here.

    Redis failing (down, slow) never fails an open: the image is drawn without the cache."""

    def __init__(self, settings: Settings) -> None:
        self._prefix = f"{settings.redis_namespace}:live:png:"
        self._redis: redis.asyncio.Redis | None = None
        if settings.redis_url is not None:
            self._redis = redis.asyncio.Redis.from_url(
                settings.redis_url,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                retry=Retry(NoBackoff(), 1),
            )

    def key_of(self, drawing: Drawing) -> str:
        """The Redis key of a drawing (the same for every recipient it is drawn for)."""
        return self._prefix + drawing.cache_key()

    async def png(self, drawing: Drawing, ttl_seconds: int) -> bytes:
        """The drawing's PNG, from the cache or drawn (off the event loop) and cached."""
        if self._redis is None:
            return draw_cached(drawing)
        key = self.key_of(drawing)
        try:
            cached = await self._redis.get(key)
        except RedisError as exc:
            log.warning("live_cache_unavailable", error=repr(exc))
            return await asyncio.to_thread(draw, drawing)
        if isinstance(cached, bytes):
            return cached
        png = await asyncio.to_thread(draw, drawing)
        try:
            await self._redis.set(key, png, ex=ttl_seconds)
        except RedisError as exc:
            log.warning("live_cache_unavailable", error=repr(exc))
        return png

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
