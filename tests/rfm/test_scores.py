"""Purchase RFM scores against hand-computed expectations, on both dialects: quintile cut points
by linear interpolation (ties, values exactly at a cut point), the window's edges, whole days,
fixed thresholds, and a brand without orders."""

from __future__ import annotations

from decimal import Decimal

import pytest
from litestar import Litestar

from backend.rfm.models import RfmMethod, RfmRunStatus
from tests.factories import make_world
from tests.rfm.helpers import (
    AS_OF,
    DAY,
    add_orders,
    make_profile,
    run_rfm,
    scores_of,
    set_settings,
    triple,
)

HOUR = DAY / 24


async def test_quintiles_score_ties_and_values_at_cut_points(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    a, b, c, d, e, f = [await make_profile(app, brand, f"{n}@example.test") for n in "abcdef"]
    # Six profiles: 0.2 * (6 - 1) = 1, so every cut point is exactly one of the values.
    await add_orders(
        app, brand, a, *[(AS_OF - i * DAY, "100") for i in range(5)]
    )  # last order at as_of itself (the window includes it): recency 0, F 5, M 500
    await add_orders(
        app,
        brand,
        b,
        (AS_OF - 12 * DAY, "100"),
        (AS_OF - 10 * DAY - HOUR, "150"),
        (AS_OF - 11 * DAY, "50"),
    )  # recency 10 (10 days 1 hour), F 3, M 300
    await add_orders(
        app, brand, c, (AS_OF - 20 * DAY, "20"), (AS_OF - 15 * DAY, "40"), (AS_OF - 10 * DAY, "60")
    )  # recency 10, F 3, M 120
    await add_orders(
        app, brand, d, (AS_OF - 31 * DAY, "60"), (AS_OF - 31 * DAY + HOUR, "60")
    )  # recency 30 (30 days 23 h), F 2, M 120
    await add_orders(app, brand, e, (AS_OF - 200 * DAY, "50"))  # recency 200, F 1, M 50
    # One second inside the window: 364 days; the order exactly 365 days back is outside it.
    await add_orders(
        app, brand, f, (AS_OF - 365 * DAY + dt_second(), "20"), (AS_OF - 365 * DAY, "999")
    )
    g = await make_profile(app, brand, "g@example.test")
    await add_orders(app, brand, g, (AS_OF - 365 * DAY, "10"), (AS_OF + HOUR, "10"))  # outside

    run = await run_rfm(app, brand)
    assert run.status is RfmRunStatus.SUCCEEDED
    assert run.method is RfmMethod.QUINTILES
    assert run.cut_points == {
        "recency": [10.0, 10.0, 30.0, 200.0],
        "frequency": [1.0, 2.0, 3.0, 3.0],
        "monetary": [50.0, 120.0, 120.0, 300.0],
    }
    assert (run.scored_count, run.changed_count) == (6, 0)
    scores = await scores_of(app, brand, run.id)
    assert {p: (s.recency_days, s.frequency, s.monetary) for p, s in scores.items()} == {
        a: (0, 5, Decimal("500")),
        b: (10, 3, Decimal("300")),
        c: (10, 3, Decimal("120")),
        d: (30, 2, Decimal("120")),
        e: (200, 1, Decimal("50")),
        f: (364, 1, Decimal("20")),
    }
    assert {p: triple(s) for p, s in scores.items()} == {
        a: (5, 5, 5, "Champions"),
        b: (3, 3, 4, "Need attention"),  # R: only 30 and 200 are above 10
        c: (3, 3, 2, "Need attention"),  # M 120 equals two cut points: only 50 is below
        d: (2, 2, 2, "Hibernating"),
        e: (1, 1, 1, "Lost"),
        f: (1, 1, 1, "Lost"),
    }
    assert all(s.previous_segment is None and s.direction is None for s in scores.values())


def dt_second():  # type: ignore[no-untyped-def]
    import datetime as dt

    return dt.timedelta(seconds=1)


async def test_quintiles_interpolate_between_values(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    recency = [1, 2, 4, 8, 16]
    amounts = ["10", "20", "30", "40", "1000"]
    profiles = []
    for i, (days, amount) in enumerate(zip(recency, amounts, strict=True)):
        profile = await make_profile(app, brand, f"p{i}@example.test")
        # Frequency i + 1, the last order `days` ago.
        orders = [(AS_OF - (days + k) * DAY, "0") for k in range(1, i + 1)]
        await add_orders(app, brand, profile, (AS_OF - days * DAY, amount), *orders)
        profiles.append(profile)
    run = await run_rfm(app, brand)
    # Five values: positions 0.8, 1.6, 2.4 and 3.2 between the sorted values.
    assert run.cut_points is not None
    assert run.cut_points["recency"] == pytest.approx([1.8, 3.2, 5.6, 9.6])
    assert run.cut_points["frequency"] == pytest.approx([1.8, 2.6, 3.4, 4.2])
    assert run.cut_points["monetary"] == pytest.approx([18.0, 26.0, 34.0, 232.0])
    scores = await scores_of(app, brand, run.id)
    assert [triple(scores[p]) for p in profiles] == [
        (5, 1, 1, "New"),
        (4, 2, 2, "Potential loyalists"),
        (3, 3, 3, "Need attention"),
        (2, 4, 4, "At risk"),
        (1, 5, 5, "Can't lose"),
    ]


async def test_fixed_thresholds_replace_the_quintiles(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    await set_settings(
        app,
        brand,
        thresholds={
            "purchase": {
                "recency": [7, 30, 90, 180],
                "frequency": [1, 2, 3, 4],
                "monetary": [50, 100, 200, 400],
            }
        },
    )
    at_cuts = await make_profile(app, brand, "cuts@example.test")
    await add_orders(app, brand, at_cuts, (AS_OF - 40 * DAY, "40"), (AS_OF - 30 * DAY, "60"))
    above = await make_profile(app, brand, "above@example.test")
    await add_orders(app, brand, above, *[(AS_OF - i * DAY - HOUR, "100") for i in range(5)])
    run = await run_rfm(app, brand)
    assert run.method is RfmMethod.THRESHOLDS
    assert run.cut_points == {
        "recency": [7.0, 30.0, 90.0, 180.0],
        "frequency": [1.0, 2.0, 3.0, 4.0],
        "monetary": [50.0, 100.0, 200.0, 400.0],
    }
    scores = await scores_of(app, brand, run.id)
    # Recency 30 equals a threshold (only 90 and 180 are above), frequency 2 and amount 100 too.
    assert triple(scores[at_cuts]) == (3, 2, 2, "About to sleep")
    assert triple(scores[above]) == (5, 5, 5, "Champions")


async def test_a_brand_without_orders_runs_and_scores_nobody(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    await make_profile(app, brand, "idle@example.test")
    run = await run_rfm(app, brand)
    assert run.status is RfmRunStatus.SUCCEEDED
    assert (run.scored_count, run.changed_count, run.cut_points) == (0, 0, None)
    assert await scores_of(app, brand, run.id) == {}


async def test_another_brand_orders_are_not_scored(app: Litestar) -> None:
    world = await make_world(app)
    mine = await make_profile(app, world.brand_a.id, "mine@example.test")
    theirs = await make_profile(app, world.brand_b.id, "theirs@example.test")
    await add_orders(app, world.brand_a.id, mine, (AS_OF - DAY, "10"))
    await add_orders(app, world.brand_b.id, theirs, (AS_OF - DAY, "10"))
    run = await run_rfm(app, world.brand_a.id)
    assert set(await scores_of(app, world.brand_a.id, run.id)) == {mine}
