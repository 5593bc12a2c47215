"""The compiled statement, one condition kind at a time, against hand-computed expectations on
both stacks (a fixed "now": 2026-06-15 12:00 UTC unless said otherwise)."""

from __future__ import annotations

import datetime as dt

from litestar import Litestar

from backend.profiles.linked.schemas import LinkedColumn
from backend.profiles.models import AttributeType, Channel, ConsentState
from backend.rfm.models import RfmKind
from tests.factories import make_world
from tests.segments.helpers import (
    NOW,
    add_event,
    add_order,
    consent,
    create_segment,
    days_ago,
    define_attribute,
    evaluate,
    linked_row,
    linked_table,
    make_profile,
    matching,
    rfm_run,
)

UTC = dt.UTC


async def test_profile_fields_and_attributes(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    await define_attribute(app, brand, "tier", AttributeType.ENUM, ["gold", "silver"])
    await define_attribute(app, brand, "points", AttributeType.NUMBER)
    await define_attribute(app, brand, "vip", AttributeType.BOOLEAN)
    ada = await make_profile(
        app, brand, email="ada@example.com", country="FR",
        attributes={"tier": "gold", "points": 120, "vip": True},
    )  # fmt: skip
    bob = await make_profile(
        app, brand, email="bob@shop.test", country="BE",
        attributes={"tier": "silver", "points": 40.5, "vip": False},
    )  # fmt: skip
    cyd = await make_profile(app, brand, phone="+32470123456", country="DE")

    assert await matching(app, brand, {"field": "country", "op": "in", "value": ["FR", "BE"]}) == {
        ada,
        bob,
    }
    assert await matching(app, brand, {"attribute": "tier", "op": "eq", "value": "gold"}) == {ada}
    # A missing value is "not gold" too, plainly and under NOT.
    assert await matching(app, brand, {"attribute": "tier", "op": "neq", "value": "gold"}) == {
        bob,
        cyd,
    }
    assert await matching(
        app, brand, {"not": {"attribute": "tier", "op": "eq", "value": "gold"}}
    ) == {bob, cyd}
    assert await matching(app, brand, {"attribute": "points", "op": "gte", "value": 40.5}) == {
        ada,
        bob,
    }
    assert await matching(
        app, brand, {"attribute": "points", "op": "between", "value": [0, 100]}
    ) == {bob}
    assert await matching(app, brand, {"attribute": "vip", "op": "eq", "value": True}) == {ada}
    assert await matching(app, brand, {"attribute": "points", "op": "exists"}) == {ada, bob}
    assert await matching(app, brand, {"field": "email", "op": "exists", "value": False}) == {cyd}
    assert await matching(app, brand, {"field": "email", "op": "contains", "value": "SHOP"}) == {
        bob
    }
    assert await matching(app, brand, {"field": "email", "op": "starts_with", "value": "ad"}) == {
        ada
    }
    either = {
        "or": [
            {"field": "country", "op": "eq", "value": "DE"},
            {"and": [{"attribute": "vip", "op": "eq", "value": True},
                     {"field": "phone", "op": "exists"}]},
        ]
    }  # fmt: skip
    assert await matching(app, brand, either) == {cyd}


async def test_birthdays_in_the_profiles_time_zone(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id  # Europe/Brussels
    at = dt.datetime(2026, 6, 15, 5, 0, tzinfo=UTC)  # 07:00 in Brussels, 22:00 the 14th in LA
    today = await make_profile(app, brand, birth_date=dt.date(1990, 6, 15))
    in_seven = await make_profile(app, brand, birth_date=dt.date(1985, 6, 22))
    in_eight = await make_profile(app, brand, birth_date=dt.date(1985, 6, 23))
    la_yesterday = await make_profile(
        app, brand, birth_date=dt.date(2000, 6, 14), time_zone="America/Los_Angeles"
    )
    paris_yesterday = await make_profile(
        app, brand, birth_date=dt.date(2000, 6, 14), time_zone="Europe/Paris"
    )
    kiritimati_eight = await make_profile(  # UTC+14: already the 15th at 19:00, 23rd is day 8
        app, brand, birth_date=dt.date(2000, 6, 23), time_zone="Pacific/Kiritimati"
    )
    rule = {"field": "birthDate", "op": "birthday_in_days", "value": 7}
    assert await matching(app, brand, rule, at) == {today, in_seven, la_yesterday}
    assert paris_yesterday not in await matching(app, brand, rule, at)
    assert kiritimati_eight not in await matching(app, brand, rule, at)
    later = dt.datetime(2026, 6, 15, 11, 0, tzinfo=UTC)  # Kiritimati: 01:00 on the 16th
    assert kiritimati_eight in await matching(app, brand, rule, later)
    assert in_eight not in await matching(app, brand, rule, later)


async def test_a_29_february_birthday_falls_on_28_february_in_common_years(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    leapling = await make_profile(app, brand, birth_date=dt.date(2000, 2, 29))
    march = await make_profile(app, brand, birth_date=dt.date(2000, 3, 1))
    rule = {"field": "birth_date", "op": "birthday_in_days", "value": 0}
    common = dt.datetime(2027, 2, 28, 12, 0, tzinfo=UTC)
    leap = dt.datetime(2028, 2, 28, 12, 0, tzinfo=UTC)
    assert await matching(app, brand, rule, common) == {leapling}
    assert await matching(app, brand, rule, leap) == set()
    assert await matching(app, brand, rule, leap + dt.timedelta(days=1)) == {leapling}
    two_days = {"field": "birth_date", "op": "birthday_in_days", "value": 2}
    assert await matching(app, brand, two_days, dt.datetime(2027, 2, 27, 12, tzinfo=UTC)) == {
        leapling,
        march,
    }


async def test_relative_dates_on_attributes(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    await define_attribute(app, brand, "joined_on", AttributeType.DATE)
    await define_attribute(app, brand, "seen_at", AttributeType.DATETIME)
    recent = await make_profile(
        app, brand, attributes={"joined_on": "2026-06-01", "seen_at": "2026-06-15T10:00:00Z"}
    )
    edge = await make_profile(
        app, brand, attributes={"joined_on": "2026-05-16", "seen_at": "2026-06-14T11:00:00Z"}
    )
    old = await make_profile(
        app, brand, attributes={"joined_on": "2026-05-15", "seen_at": "2026-06-01T00:00:00Z"}
    )
    soon = await make_profile(app, brand, attributes={"joined_on": "2026-06-20"})
    assert await matching(
        app, brand, {"attribute": "joined_on", "op": "within_last_days", "value": 30}
    ) == {recent, edge}
    assert await matching(
        app, brand, {"attribute": "joined_on", "op": "within_next_days", "value": 5}
    ) == {soon}
    assert await matching(app, brand, {"attribute": "joined_on", "op": "in_days", "value": 5}) == {
        soon
    }
    assert await matching(
        app, brand, {"attribute": "seen_at", "op": "within_last_days", "value": 1}
    ) == {recent}
    assert await matching(
        app, brand, {"attribute": "joined_on", "op": "lt", "value": "2026-05-16"}
    ) == {old}
    assert await matching(
        app, brand, {"attribute": "seen_at", "op": "gte", "value": "2026-06-14T12:00:00+01:00"}
    ) == {recent, edge}


async def test_order_aggregates_over_a_window(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    loyal = await make_profile(app, brand, email="loyal@example.com")
    once = await make_profile(app, brand, email="once@example.com")
    lapsed = await make_profile(app, brand, email="lapsed@example.com")
    never = await make_profile(app, brand, email="never@example.com")
    for n, ago in enumerate((5, 30, 80)):
        await add_order(app, brand, loyal, f"L{n}", days_ago(ago), "20", store="Lyon")
    await add_order(
        app, brand, once, "O1", days_ago(10), "100", store="Paris", categories=("wine",)
    )
    await add_order(app, brand, lapsed, "X1", days_ago(200), "50", store="Lyon")

    def orders(op: str, value: object, **spec: object) -> dict[str, object]:
        return {"orders": {"windowDays": 90, **spec}, "op": op, "value": value}

    assert await matching(app, brand, orders("gte", 3)) == {loyal}
    assert await matching(app, brand, orders("gte", 1, store="Lyon")) == {loyal}
    assert await matching(app, brand, orders("gte", 1, category="wine")) == {once}
    # Zero orders in the window holds for those with none there (and none at all).
    assert await matching(app, brand, orders("eq", 0)) == {lapsed, never}
    assert await matching(app, brand, orders("lt", 2)) == {once, lapsed, never}
    assert await matching(app, brand, orders("gte", 60, aggregate="sum")) == {loyal, once}
    assert await matching(app, brand, orders("lt", 50, aggregate="sum")) == {lapsed, never}
    assert await matching(app, brand, orders("gt", 50, aggregate="avg")) == {once}
    assert await matching(app, brand, orders("eq", 100, aggregate="max")) == {once}
    last = {"orders": {"aggregate": "last_date"}, "op": "within_last_days", "value": 7}
    assert await matching(app, brand, last) == {loyal}
    assert await matching(app, brand, {"not": last}) == {once, lapsed, never}
    before = {"orders": {"aggregate": "last_date"}, "op": "lt", "value": "2026-01-01T00:00:00Z"}
    assert await matching(app, brand, before) == {lapsed}


async def test_events_at_least_n_times_with_property_filters(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    clicker = await make_profile(app, brand, email="c@example.com")
    other = await make_profile(app, brand, email="o@example.com")
    idle = await make_profile(app, brand, email="i@example.com")
    await add_event(app, brand, clicker, "email_clicked", days_ago(1), campaign="x", n=1)
    await add_event(app, brand, clicker, "email_clicked", days_ago(2), campaign="x")
    await add_event(app, brand, other, "email_clicked", days_ago(3), campaign="y")
    await add_event(app, brand, other, "email_clicked", days_ago(40), campaign="x")
    campaign_x = [{"property": "campaign", "op": "eq", "value": "x"}]
    twice = {
        "event": {"name": "email_clicked", "windowDays": 30, "where": campaign_x},
        "op": "gte",
        "value": 2,
    }
    assert await matching(app, brand, twice) == {clicker}
    assert await matching(app, brand, {"event": {"name": "email_clicked", "windowDays": 30}}) == {
        clicker,
        other,
    }
    did_not = {"event": {"name": "email_clicked", "windowDays": 30}, "op": "eq", "value": 0}
    assert await matching(app, brand, did_not) == {idle}
    numeric = {
        "event": {"name": "email_clicked", "where": [{"property": "n", "op": "gte", "value": 1}]}
    }
    assert await matching(app, brand, numeric) == {clicker}


async def test_linked_tables_coupons_and_points(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    await linked_table(
        app,
        brand,
        "coupons",
        [
            LinkedColumn(key="code", label="Code", type=AttributeType.TEXT),
            LinkedColumn(key="used", label="Used", type=AttributeType.BOOLEAN),
        ],
    )
    await linked_table(
        app, brand, "points", [LinkedColumn(key="balance", label="B", type=AttributeType.NUMBER)]
    )
    unused = await make_profile(app, brand, email="u@example.com")
    used = await make_profile(app, brand, email="x@example.com")
    rich = await make_profile(app, brand, email="r@example.com")
    await linked_row(app, brand, "coupons", unused, code="A", used=False)
    await linked_row(app, brand, "coupons", used, code="B", used=True)
    await linked_row(app, brand, "points", rich, balance=300)
    await linked_row(app, brand, "points", rich, balance=250)
    await linked_row(app, brand, "points", used, balance=100)
    not_used = {
        "linked": {"table": "coupons", "where": [{"column": "used", "op": "eq", "value": False}]},
        "op": "exists",
    }
    assert await matching(app, brand, not_used) == {unused}
    assert await matching(app, brand, {**not_used, "value": False}) == {used, rich}
    balance = {
        "linked": {"table": "points", "aggregate": "sum", "column": "balance"},
        "op": "gte",
        "value": 500,
    }
    assert await matching(app, brand, balance) == {rich}
    assert await matching(app, brand, {**balance, "op": "lt"}) == {unused, used}


async def test_current_consent_and_contactability(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    yes = await make_profile(app, brand, email="yes@example.com")
    changed = await make_profile(app, brand, email="changed@example.com")
    opted_out = await make_profile(app, brand, email="out@example.com")
    no_email = await make_profile(app, brand, phone="+32470123456")
    silent = await make_profile(app, brand, email="silent@example.com")
    for who in (yes, changed, opted_out, no_email):
        await consent(app, brand, who, ConsentState.GRANTED, days_ago(10))
    await consent(app, brand, changed, ConsentState.UNSUBSCRIBED, days_ago(5))
    await consent(app, brand, opted_out, ConsentState.DENIED, days_ago(2), channel=None)
    await consent(app, brand, no_email, ConsentState.GRANTED, days_ago(10), channel=Channel.SMS)

    granted = {"consent": {"channel": "email"}, "op": "granted"}
    assert await matching(app, brand, granted) == {yes, opted_out, no_email}
    assert await matching(app, brand, {"consent": {"channel": "email"}, "op": "unsubscribed"}) == {
        changed
    }
    assert await matching(app, brand, {"consent": {"channel": "email"}, "op": "none"}) == {silent}
    assert await matching(app, brand, {"consent": {}, "op": "denied"}) == {opted_out}
    assert await matching(app, brand, {"contactable": "email"}) == {yes}
    assert await matching(app, brand, {"contactable": "sms"}) == {no_email}
    assert await matching(app, brand, {"not": {"contactable": "email"}}) == {
        changed,
        opted_out,
        no_email,
        silent,
    }


async def test_rfm_scores_and_named_segments_of_the_current_run(app: Litestar) -> None:
    world = await make_world(app)
    brand, other_brand = world.brand_a.id, world.brand_b.id
    champion = await make_profile(app, brand, email="c@example.com")
    at_risk = await make_profile(app, brand, email="r@example.com")
    unscored = await make_profile(app, brand, email="u@example.com")
    stranger = await make_profile(app, other_brand, email="s@example.com")
    await rfm_run(app, brand, {champion: (1, 1, 1, "Lost"), at_risk: (5, 5, 5, "Champions")},
                  days_ago(40))  # fmt: skip
    await rfm_run(app, brand, {champion: (5, 5, 5, "Champions"), at_risk: (2, 3, 3, "At risk")},
                  days_ago(10))  # fmt: skip
    # Another brand's later run changes nothing here.
    await rfm_run(app, other_brand, {stranger: (1, 1, 1, "Lost")}, days_ago(1))
    low_r = {"rfm": {"kind": "purchase", "score": "r"}, "op": "lte", "value": 2}
    assert await matching(app, brand, low_r) == {at_risk}
    named = {"rfm": {"kind": "purchase", "segment": True}, "op": "in", "value": ["At risk"]}
    assert await matching(app, brand, named) == {at_risk}
    assert await matching(app, brand, {"not": named}) == {champion, unscored}
    engagement = {"rfm": {"kind": RfmKind.ENGAGEMENT.value, "score": "f"}, "op": "gte", "value": 1}
    assert await matching(app, brand, engagement) == set()


async def test_membership_of_another_segment(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    fr = await make_profile(app, brand, country="FR", email="fr@example.com")
    be = await make_profile(app, brand, country="BE", email="be@example.com")
    french = await create_segment(
        app, brand, "french", {"field": "country", "op": "eq", "value": "FR"}
    )
    await evaluate(app, brand, french.id, NOW)
    assert await matching(app, brand, {"segment": str(french.id)}) == {fr}
    assert await matching(app, brand, {"not": {"segment": str(french.id)}}) == {be}
