"""The named-segment grids and ranks: one cell of every segment by hand, and the SQL the scoring
statement uses agreeing with the table on every cell, on each dialect."""

from __future__ import annotations

import pytest
from litestar import Litestar
from sqlalchemy import text

from backend.rfm import grid
from backend.rfm.models import RfmDirection, RfmKind
from tests.factories import session_of

# (R, F) → segment, one cell of every purchase segment, written by hand from the README grid.
PURCHASE_CELLS = {
    (5, 5): "Champions",
    (4, 4): "Loyal",
    (3, 5): "Loyal",
    (5, 2): "Potential loyalists",
    (4, 3): "Potential loyalists",
    (5, 1): "New",
    (4, 1): "Promising",
    (3, 3): "Need attention",
    (3, 2): "About to sleep",
    (2, 4): "At risk",
    (1, 3): "At risk",
    (2, 5): "Can't lose",
    (2, 1): "Hibernating",
    (1, 2): "Lost",
}
ENGAGEMENT_CELLS = {
    (5, 5): "Hyperactive",
    (4, 3): "Engaged",
    (3, 4): "Engaged",
    (5, 1): "Promising",
    (3, 2): "Cooling",
    (2, 3): "Slipping",
    (1, 1): "Dormant",
}


def test_every_purchase_segment_has_its_cell() -> None:
    assert {grid.purchase_segment(r, f) for r, f in PURCHASE_CELLS} == set(grid.PURCHASE_RANK)
    for (r, f), name in PURCHASE_CELLS.items():
        assert grid.purchase_segment(r, f) == name


def test_engagement_cells_and_the_two_rules_read_first() -> None:
    for (r, f), name in ENGAGEMENT_CELLS.items():
        assert grid.engagement_segment(r, f, 1, 10, 5, None) == name
    # Engaged once, dormant 182 days: a zombie whatever its cell.
    assert grid.engagement_segment(1, 1, 1, 182, 1, None) == "Zombies"
    assert grid.engagement_segment(1, 1, 1, 181, 1, None) == "Dormant"
    # Valuable before (m 4) and lower on every axis now: fading; equal on one axis: not.
    assert grid.engagement_segment(3, 3, 3, 40, 5, (4, 4, 4)) == "Fading stars"
    assert grid.engagement_segment(3, 3, 3, 40, 5, (4, 3, 4)) == "Cooling"
    assert grid.engagement_segment(2, 2, 2, 40, 5, (3, 3, 3)) == "Dormant"  # m was 3


def test_directions_follow_the_rank() -> None:
    assert grid.direction(RfmKind.PURCHASE, "Champions", "Loyal") is RfmDirection.DOWN
    assert grid.direction(RfmKind.PURCHASE, "At risk", "Can't lose") is RfmDirection.UP
    assert grid.direction(RfmKind.PURCHASE, "Lost", "Lost") is RfmDirection.SAME
    assert grid.direction(RfmKind.PURCHASE, None, "Lost") is None
    assert grid.direction(RfmKind.ENGAGEMENT, "Hyperactive", "Fading stars") is RfmDirection.DOWN


@pytest.mark.parametrize("kind", list(RfmKind))
async def test_the_sql_grid_agrees_with_the_table_on_every_cell(
    app: Litestar, kind: RfmKind
) -> None:
    cells = [(r, f) for r in range(1, 6) for f in range(1, 6)]
    values = " UNION ALL ".join(f"SELECT {r} AS r, {f} AS f" for r, f in cells)
    segment = grid.segment_sql(
        kind,
        r="c.r",
        f="c.f",
        m="1",
        recency="10",
        frequency="5",
        previous_r="NULL",
        previous_f="NULL",
        previous_m="NULL",
    )
    rank = grid.rank_sql(kind, "s.segment")
    sql = f"SELECT s.r, s.f, s.segment, {rank} FROM (SELECT c.r, c.f, {segment} AS segment FROM ({values}) c) s"  # noqa: S608, E501
    async with session_of(app) as session:
        rows = (await session.execute(text(sql))).all()
    expected = {
        (r, f): grid.purchase_segment(r, f)
        if kind is RfmKind.PURCHASE
        else grid.engagement_segment(r, f, 1, 10, 5, None)
        for r, f in cells
    }
    assert {(r, f): name for r, f, name, _ in rows} == expected
    assert all(position == grid.RANKS[kind].index(name) for _, _, name, position in rows)
