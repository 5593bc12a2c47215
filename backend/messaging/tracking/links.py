"""Instrumenting a message at send: links rewritten to signed click URLs, an open pixel, the
RFC 8058 unsubscribe headers, and the push-open URL an app reports to.

The send pipeline calls :func:`instrument_email` for every email (thousands per second per
worker): one regular-expression pass over the HTML and one HMAC per link, no database access.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass
from uuid import UUID

from backend.config import Settings
from backend.content.rendered import RenderedEmail
from backend.messaging.tracking import tokens
from backend.messaging.tracking.tokens import TrackedChannel

# An href a template writes where the recipient's unsubscribe / preference page must go (the
# content engine renders it before the message has a token).
PREFERENCES_HREFS = frozenset({"levier:preferences", "levier:unsubscribe"})
PUSH_OPEN_DATA_KEY = "levierOpenUrl"

OPEN_PATH = "/t/o/"
CLICK_PATH = "/t/c/"
PUSH_OPEN_PATH = "/t/p/"
UNSUBSCRIBE_PATH = "/u/"

_HREF = re.compile(
    r"""(<(?:a|area)\b[^>]*?\shref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL
)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
_TRACKABLE = ("http://", "https://")


@dataclass(frozen=True, slots=True)
class InstrumentedEmail:
    html: str
    headers: dict[str, str]  # List-Unsubscribe and List-Unsubscribe-Post
    unsubscribe_url: str


def _base(settings: Settings) -> str:
    return settings.public_url.rstrip("/")


def unsubscribe_url(
    settings: Settings,
    *,
    channel: TrackedChannel,
    tenant_id: UUID,
    message_id: UUID,
    profile_id: UUID,
    topic: str | None,
) -> str:
    """The one-click / preference page URL of one message."""
    keys = tokens.keys_of(settings)
    token = tokens.unsubscribe_token(keys, channel, tenant_id, message_id, profile_id, topic)
    return _base(settings) + UNSUBSCRIBE_PATH + token


def instrument_email(
    rendered: RenderedEmail,
    settings: Settings,
    *,
    tenant_id: UUID,
    message_id: UUID,
    profile_id: UUID,
    topic: str | None,
    track: bool = True,
) -> InstrumentedEmail:
    """The email's HTML with each link of ``rendered.links`` (http and https) rewritten to a
    signed click URL, ``levier:preferences`` hrefs pointing at the preference page, and an open
    pixel before ``</body>``; plus the RFC 8058 headers (sign them with DKIM: the SMTP adapter
    signs every header it is given). ``track=False`` keeps links and adds no pixel (the headers
    and preference links stay: unsubscribing is never optional)."""
    keys = tokens.keys_of(settings)
    base = _base(settings)
    email = TrackedChannel.EMAIL
    unsubscribe = unsubscribe_url(
        settings,
        channel=email,
        tenant_id=tenant_id,
        message_id=message_id,
        profile_id=profile_id,
        topic=topic,
    )
    allowed = {link: index for index, link in reversed(list(enumerate(rendered.links)))}
    signer = tokens.MessageSigner(keys, email, tenant_id, message_id)
    done: dict[str, str] = {}  # a link repeated in the message is signed once

    def rewrite(match: re.Match[str]) -> str:
        raw = match.group(3)
        target = done.get(raw)
        if target is None:
            target = done[raw] = _target(raw)
        if not target:
            return match.group(0)
        quote = match.group(2)
        return f"{match.group(1)}{quote}{target}{quote}"

    def _target(raw: str) -> str:
        href = html_lib.unescape(raw) if "&" in raw else raw
        stripped = href.strip()
        if stripped in PREFERENCES_HREFS:
            return unsubscribe
        if not track or not stripped.lower().startswith(_TRACKABLE):
            return ""
        index = allowed.get(href, allowed.get(stripped))
        if index is None:  # not a link the content declared: left as it is, untracked
            return ""
        return base + CLICK_PATH + signer.click(index, stripped)

    html = _HREF.sub(rewrite, rendered.html)
    if track:
        pixel_url = base + OPEN_PATH + tokens.open_token(keys, email, tenant_id, message_id)
        pixel = (
            f'<img src="{pixel_url}" width="1" height="1" alt="" '
            'style="display:block;border:0;width:1px;height:1px;overflow:hidden">'
        )
        at = _last_body_end(html)
        html = html + pixel if at is None else html[:at] + pixel + html[at:]
    list_unsubscribe = f"<{unsubscribe}>"
    if settings.unsubscribe_mailto:
        list_unsubscribe += f", <mailto:{settings.unsubscribe_mailto}?subject=unsubscribe>"
    headers = {
        "List-Unsubscribe": list_unsubscribe,
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    return InstrumentedEmail(html=html, headers=headers, unsubscribe_url=unsubscribe)


def _last_body_end(html: str) -> int | None:
    """Where the last ``</body>`` starts (any case, spaces before ``>``), or None. The tag as
    written nearly always is looked up from the end first, and only what follows it is scanned
    for another; the whole document only when it is written otherwise."""
    at = max(html.rfind("</body"), html.rfind("</BODY"))
    if at >= 0 and _BODY_END.match(html, at) and not _BODY_END.search(html, at + 1):
        return at
    ends = list(_BODY_END.finditer(html))
    return ends[-1].start() if ends else None


def push_open_data(settings: Settings, *, tenant_id: UUID, message_id: UUID) -> dict[str, str]:
    """What to add to a push's ``data``: the URL the app POSTs to when the push is opened
    (``levierOpenUrl``; no credentials in the app: the signed URL is the capability)."""
    token = tokens.push_open_token(tokens.keys_of(settings), tenant_id, message_id)
    return {PUSH_OPEN_DATA_KEY: _base(settings) + PUSH_OPEN_PATH + token}


def click_url(
    settings: Settings,
    *,
    channel: TrackedChannel,
    tenant_id: UUID,
    message_id: UUID,
    index: int,
    url: str,
) -> str:
    """A signed click URL for one link of an SMS or a push deep link (email: see above)."""
    token = tokens.click_token(tokens.keys_of(settings), channel, tenant_id, message_id, index, url)
    return _base(settings) + CLICK_PATH + token
