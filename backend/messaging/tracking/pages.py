"""The HTML pages of tracking: the preference page (a recipient's) and the development outbox.
Rendered with an autoescaping Jinja2 environment of their own; no external resource, no script,
a strict Content-Security-Policy each."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from jinja2 import Environment, FileSystemLoader, select_autoescape

from backend.messaging.tracking.unsubscribing import Preferences

_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)

# Nothing may load but the page's own inline style; the form posts only back here.
PREFERENCES_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# Each email is shown in a sandboxed srcdoc frame (no script, no form, no navigation of the
# page): it inherits this policy, so it loads https images only, never a script or a font.
OUTBOX_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
    "frame-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
_LABELS = {"email": "emails", "sms": "text messages", "push": "notifications"}


def preferences_page(prefs: Preferences | None, channel: str, action: str, saved: bool) -> str:
    return _ENV.get_template("preferences.html").render(
        prefs=prefs, channel_label=_LABELS.get(channel, channel), action=action, saved=saved
    )


@dataclass(frozen=True, slots=True)
class OutboxItem:
    message_id: UUID
    brand: str
    subject: str
    recipient: str
    sender: str
    at: dt.datetime
    html: str
    text: str


def outbox_page(items: list[OutboxItem]) -> str:
    return _ENV.get_template("outbox.html").render(items=items)
