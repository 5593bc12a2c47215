"""CSV cells a spreadsheet opens safely: text that would run as a formula (OWASP CSV injection)
is shown as written instead. Every CSV the API hands out (exports, import rejections) uses it."""

from __future__ import annotations

import re

# Leading characters that make a spreadsheet read a cell as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def neutralised(text: str) -> str:
    """Text a spreadsheet shows as written: a cell starting like a formula gets a leading
    single quote (plain signed numbers, such as E.164 phone numbers, run nothing and stay)."""
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text
