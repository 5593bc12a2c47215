"""What rendering a template for one recipient produces, per channel: the send pipeline hands
these to the providers and keeps the subject in the ledger."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec


class SmsEncoding(StrEnum):
    GSM7 = "gsm-7"
    UCS2 = "ucs-2"


class RenderedEmail(msgspec.Struct, kw_only=True, frozen=True):
    subject: str
    preheader: str | None
    html: str  # CSS inlined; links not yet rewritten for tracking
    text: str
    links: tuple[str, ...]  # every href of the html, in order (click tracking allows these only)


class RenderedSms(msgspec.Struct, kw_only=True, frozen=True):
    text: str
    encoding: SmsEncoding
    segments: int


class RenderedPush(msgspec.Struct, kw_only=True, frozen=True):
    title: str
    body: str
    image: str | None
    deep_link: str | None
    data: dict[str, Any]


Rendered = RenderedEmail | RenderedSms | RenderedPush
