"""The render's fast path keeps its answers: `money` gives babel's `format_currency` output over
many locales, currencies and amounts; the context's dicts are read key first (`data.items` is
the key, not the dict's method) without opening the sandbox; a cold process renders a money
and date template within a tiny budget (locale data is loaded before the budget starts)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from babel import Locale
from babel.numbers import format_currency

from backend.content.errors import RenderRefused
from backend.content.formatting import helpers, money_format
from backend.content.render import Bag, Renderer, compile_template

ROOT = Path(__file__).resolve().parents[2]
LOCALES = (
    "en", "en_US", "en_IN", "fr", "fr_BE", "fr_CH", "de", "de_CH", "nl_BE", "it", "es", "es_CO",
    "pt_BR", "sv", "pl", "cs", "ru", "ja", "zh_Hant", "ar_EG", "he", "hi", "fa", "tr", "de_AT",
    "nb", "fi", "hu", "ko", "th",
)  # fmt: skip
CURRENCIES = ("EUR", "USD", "JPY", "CHF", "BHD", "INR", "XYZ")
AMOUNTS = (
    "0", "-0", "0.005", "0.015", "1", "-1", "12.5", "999.995", "1000", "-1234.5", "1234567.891",
    "12345678901234.5", "0.1", "100000", "7",
)  # fmt: skip


def test_money_gives_babels_output() -> None:
    checked = 0
    for tag in LOCALES:
        for currency in CURRENCIES:
            formatter = money_format(tag, currency)
            for amount in AMOUNTS:
                number = Decimal(amount)
                expected = format_currency(number, currency, locale=Locale.parse(tag))
                assert formatter(number) == expected, (tag, currency, amount)
                checked += 1
    assert checked == len(LOCALES) * len(CURRENCIES) * len(AMOUNTS)
    # And through the helper a template calls (floats and strings as templates pass them).
    money = helpers("fr-BE", "Europe/Brussels")["money"]
    assert money(1234.5, "eur") == format_currency(Decimal("1234.5"), "EUR", locale="fr_BE")
    assert money("-0.5", "USD") == format_currency(Decimal("-0.5"), "USD", locale="fr_BE")


def _render(source: str, context: dict[str, Any]) -> str:
    with Renderer(seconds=1.0, max_chars=10_000) as renderer:
        return renderer.render(compile_template(source, html=False), context)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ data.items }}/{{ data.keys }}/{{ data.values }}", "3/k/v"),
        ("{{ data.get }}", "g"),
        ("{% for x in data.list %}{{ x.items }}{% endfor %}", "ab"),
        ("{{ data.absent | default('none') }}", "none"),
        ("{{ other.get('x', 'fallback') }}", "fallback"),  # no such key: the method, read-only
        ("{{ data.__class__ }}", "str"),  # a key, not the dict's class
    ],
)
def test_context_dicts_are_read_key_first(source: str, expected: str) -> None:
    data = Bag(
        "data",
        {
            "items": 3, "keys": "k", "values": "v", "get": "g", "__class__": "str",
            "list": [Bag("row", {"items": "a"}), Bag("row", {"items": "b"})],
        },
    )  # fmt: skip
    assert _render(source, {"data": data, "other": Bag("other", {})}) == expected


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{{ other.update({'x': 1}) }}", "render-error"),  # the immutable sandbox still rules
        ("{{ other.__class__.__mro__ }}", "render-error"),
        ("{{ other.missing }}", "missing-value"),
    ],
)
def test_the_sandbox_still_guards_context_dicts(source: str, reason: str) -> None:
    with pytest.raises(RenderRefused) as refused:
        _render(source, {"other": Bag("other", {})})
    assert refused.value.reason == reason
    if reason == "missing-value":
        assert "other.missing" in refused.value.detail


COLD = textwrap.dedent(
    """
    import backend.models  # noqa: F401  (every mapper)
    from backend.config import Settings
    from backend.content.context import ContextParts
    from backend.content.models import TemplateChannel, TemplateVersion
    from backend.content.rendering import build_context, render_version
    from backend.core.ids import new_id
    from backend.profiles.models import Profile

    text = (
        "{{ money(attributes.balance, 'EUR') }} {{ money(3, 'JPY') }} {{ date(now, 'full') }} "
        "{{ datetime(now, 'long') }} {{ date('2026-05-01') }}"
    )
    names = ["attributes", "money", "date", "datetime", "now"]
    version = TemplateVersion(
        id=new_id(), compiled={"fr": {"text": text}}, names=names, pools=[], default_locale="fr"
    )
    profile = Profile(id=new_id(), locale="fr-CA", time_zone="America/Montreal",
                      attributes={"balance": 1234.5})
    settings = Settings(database_url="sqlite+aiosqlite://", render_time_budget_seconds=0.02)
    context = build_context(ContextParts(), profile, names, "fr", ("fr-CA", "America/Montreal"))
    print(render_version(settings, version, TemplateChannel.SMS, "fr", context).text)
    """
)


def test_a_cold_process_renders_money_and_dates_within_a_tiny_budget() -> None:
    # A fresh interpreter: fr-CA's CLDR data (tens of milliseconds to load, more on a loaded
    # machine) is not loaded yet. The render's budget is 20 ms: the data must be loaded
    # before it starts, when the context is built.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(  # noqa: S603  (our interpreter, fixed arguments)
        [sys.executable, "-c", COLD], capture_output=True, text=True, env=env, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("1\xa0234,50\xa0€ 3\xa0¥ "), done.stdout
