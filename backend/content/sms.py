"""SMS encoding and segment count (3GPP TS 23.038): GSM-7 when every character is in the basic
set or its extension table (extension characters take two septets), UCS-2 otherwise. One
segment holds 160 septets (GSM-7) or 70 UTF-16 code units (UCS-2); a concatenated message
spends a header per segment, leaving 153 and 67."""

from __future__ import annotations

import msgspec

from backend.content.rendered import SmsEncoding

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


class SmsInfo(msgspec.Struct, kw_only=True, frozen=True, rename="camel"):
    """How a text travels: its encoding, its length in that encoding's units, its segments."""

    encoding: SmsEncoding
    units: int
    segments: int


def measure(text: str) -> SmsInfo:
    """The encoding, length (septets or UTF-16 units) and segment count of ``text``."""
    septets = 0
    for char in text:
        if char in GSM7_BASIC:
            septets += 1
        elif char in GSM7_EXTENSION:
            septets += 2
        else:
            units = len(text.encode("utf-16-le")) // 2
            return SmsInfo(
                encoding=SmsEncoding.UCS2, units=units, segments=_segments(units, 70, 67)
            )
    return SmsInfo(encoding=SmsEncoding.GSM7, units=septets, segments=_segments(septets, 160, 153))


def _segments(units: int, single: int, concatenated: int) -> int:
    if units == 0:
        return 0
    if units <= single:
        return 1
    return -(-units // concatenated)
