"""Locale-aware formatting for templates (``money``, ``date``, ``datetime``), fast on the send
path: babel's answers, with its per-call overhead paid once per (locale, currency) or per
(locale, format, day) instead of once per printed value.

- ``money``: babel's ``format_currency`` re-reads the locale's symbols through its lazy data
  dicts and evaluates the currency's plural name on every call (even for patterns without
  ``¤¤¤``). A :class:`MoneyFormat` reads them once per (locale, currency) and applies the same
  steps as ``NumberPattern.apply`` (sign, quantize to the currency's digits, group, decimal
  symbol, prefix and suffix); patterns it does not cover (scientific, significant digits,
  scaled, ``¤¤¤``, quotes) and non-finite amounts go to babel itself. tests/content check it
  gives babel's output over many locales, currencies and amounts.
- ``date``: a day's text depends on (locale, format, day) only, and sends repeat few days
  (today, order dates, birthdays): a bounded LRU of babel's answers.
- Locale data is loaded and warmed when a context is built (:func:`formatters`), outside the
  render's time budget: the first render of a cold process must not pay for unpickling CLDR.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.dates import format_date, format_datetime
from babel.numbers import (
    format_currency,
    get_currency_precision,
    get_currency_symbol,
    get_decimal_quantum,
    get_decimal_symbol,
    get_group_symbol,
)

from backend.content.render import SafeHelper

_QUOTED = re.compile(r"'([^']*)'")


@functools.lru_cache(maxsize=256)
def babel_locale(tag: str) -> Locale | None:
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return None


@functools.lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


class MoneyFormat:
    """``format_currency(amount, currency, locale=where)`` with the locale's data read once."""

    __slots__ = (
        "currency",
        "decimal",
        "digits",
        "fast",
        "group",
        "grouping",
        "int_min",
        "prefix",
        "quantum",
        "suffix",
        "table",
        "where",
    )

    def __init__(self, where: Locale, currency: str) -> None:
        self.where = where
        self.currency = currency
        pattern = where.currency_formats["standard"]
        symbol = get_currency_symbol(currency, where)
        self.group = get_group_symbol(where, numbering_system="latn")
        self.decimal = get_decimal_symbol(where, numbering_system="latn")
        # Babel strips quotes from its whole output (pattern quoting), symbols included: a
        # locale grouping with an apostrophe (fr-CH) gets babel's own answer.
        affixes = (*pattern.prefix, *pattern.suffix, symbol, self.group, self.decimal)
        self.fast = not (
            pattern.exp_prec
            or pattern.scale
            or "@" in pattern.pattern
            or pattern.number_pattern == ""
            or any("¤¤¤" in a or "'" in a for a in affixes)
        )

        def affix(text: str) -> str:
            return text.replace("¤¤", currency.upper()).replace("¤", symbol)

        self.prefix = tuple(affix(p) for p in pattern.prefix)
        self.suffix = tuple(affix(s) for s in pattern.suffix)
        self.digits = get_currency_precision(currency)
        self.quantum = get_decimal_quantum(self.digits)
        self.int_min = pattern.int_prec[0]
        self.grouping = pattern.grouping
        self.table: dict[int, str] | None = None
        if self.grouping == (3, 3) and self.int_min == 1:
            self.table = {ord(","): self.group, ord("."): self.decimal}

    def babel(self, number: Decimal) -> str:
        return str(format_currency(number, self.currency, locale=self.where))

    def __call__(self, number: Decimal) -> str:
        if not self.fast or not number.is_finite():
            return self.babel(number)
        negative = int(number.is_signed())
        rounded = abs(number).normalize().quantize(self.quantum)
        if self.table is not None:  # groups of three, as Python's format groups: in C
            text = format(rounded, ",f").translate(self.table)
            return self.prefix[negative] + text + self.suffix[negative]
        whole, _, fraction = f"{rounded:f}".partition(".")
        if len(whole) < self.int_min:
            whole = "0" * (self.int_min - len(whole)) + whole
        size, grouped = self.grouping[0], ""
        while len(whole) > size:
            grouped = self.group + whole[-size:] + grouped
            whole = whole[:-size]
            size = self.grouping[1]
        text = whole + grouped
        if self.digits:
            text += self.decimal + fraction.ljust(self.digits, "0")
        return self.prefix[negative] + text + self.suffix[negative]


@functools.lru_cache(maxsize=1024)
def money_format(tag: str, currency: str) -> MoneyFormat:
    return MoneyFormat(babel_locale(tag) or _ENGLISH, currency)


@functools.lru_cache(maxsize=16384)
def day_text(tag: str, format: str, day: dt.date) -> str:
    """A day as the locale writes it (``format``: short, medium, long, full or a pattern)."""
    return str(format_date(day, format, locale=babel_locale(tag) or _ENGLISH))


def as_datetime(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    raise ValueError(f"not a date or time: {value!r}")


def _day_of(value: Any, tz: dt.tzinfo) -> dt.date:
    if isinstance(value, str) and len(value) == 10:
        return dt.date.fromisoformat(value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    return as_datetime(value).astimezone(tz).date()


@functools.lru_cache(maxsize=512)
def formatters(locale: str, time_zone: str) -> tuple[tuple[str, SafeHelper], ...]:
    """``money``, ``date`` and ``datetime`` for a locale and time zone, built (and their locale
    data loaded) once per pair: a context build calls this before the render's budget starts."""
    where = babel_locale(locale) or _ENGLISH
    tag = str(where)
    tz: dt.tzinfo = zone(time_zone) or dt.UTC

    def money(amount: Any, currency: str) -> str:
        try:
            number = amount if isinstance(amount, Decimal) else Decimal(str(amount))
        except InvalidOperation:
            raise ValueError(f"money() needs an amount, got {amount!r}") from None
        return money_format(tag, str(currency).upper())(number)

    def date(value: Any, format: str = "medium") -> str:
        return day_text(tag, format, _day_of(value, tz))

    def datetime(value: Any, format: str = "medium") -> str:
        return str(format_datetime(as_datetime(value), format, tzinfo=tz, locale=where))

    _warm(where, tz)
    return (
        ("money", SafeHelper(money)),
        ("date", SafeHelper(date)),
        ("datetime", SafeHelper(datetime)),
    )


def _warm(where: Locale, tz: dt.tzinfo) -> None:
    """Load what babel loads lazily at a locale's first use (its CLDR data, number symbols,
    currency names and formats, date and time patterns, month and day names)."""
    moment = dt.datetime(2026, 1, 31, 12, 0, tzinfo=dt.UTC)
    format_currency(Decimal("1234.5"), "EUR", locale=where)
    for style in ("short", "medium", "long", "full"):
        format_date(moment.date(), style, locale=where)
        format_datetime(moment, style, tzinfo=tz, locale=where)


def helpers(locale: str, time_zone: str) -> dict[str, Callable[..., str]]:
    """``money``, ``date`` and ``datetime`` formatted for the locale and time zone."""
    return dict(formatters(locale, time_zone))


# Process-wide data babel loads on first use, and the fallback locale: loaded at import.
get_global("currency_fractions")
_ENGLISH = Locale.parse("en")
_warm(_ENGLISH, dt.UTC)
