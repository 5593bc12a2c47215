"""The RFM method in one place: scoring against cut points, the (R, F) grids naming segments, the
rank that says whether a change of segment is up or down, and the SQL they compile to.

Scores: F and M score 1 + the number of cut points strictly below the value; R scores 1 + the
number of cut points strictly above it (recent is better). Cut points are the 20/40/60/80th
percentiles of the brand's values by linear interpolation (PostgreSQL ``percentile_cont``;
:func:`percentile_cont` here computes the same float operations for SQLite), or the brand's fixed
thresholds. The SQL fragments below are used on both dialects, so one rule scores everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from backend.rfm.models import RfmDirection, RfmKind

QUINTILES = (0.2, 0.4, 0.6, 0.8)
AXES = ("recency", "frequency", "monetary")

# Purchase segments by (R, F): rows R5 → R1, columns F1 → F5.
PURCHASE_GRID: dict[int, tuple[str, str, str, str, str]] = {
    5: ("New", "Potential loyalists", "Potential loyalists", "Champions", "Champions"),
    4: ("Promising", "Potential loyalists", "Potential loyalists", "Loyal", "Loyal"),
    3: ("About to sleep", "About to sleep", "Need attention", "Loyal", "Loyal"),
    2: ("Hibernating", "Hibernating", "At risk", "At risk", "Can't lose"),
    1: ("Lost", "Lost", "At risk", "At risk", "Can't lose"),
}
# Best first: a change towards the front is `up`.
PURCHASE_RANK = (
    "Champions",
    "Loyal",
    "Potential loyalists",
    "New",
    "Promising",
    "Need attention",
    "About to sleep",
    "Can't lose",
    "At risk",
    "Hibernating",
    "Lost",
)

# Engagement segments by (R, F), after two rules read first (see ENGAGEMENT_RANK).
ENGAGEMENT_GRID: dict[int, tuple[str, str, str, str, str]] = {
    5: ("Promising", "Promising", "Engaged", "Engaged", "Hyperactive"),
    4: ("Promising", "Promising", "Engaged", "Engaged", "Hyperactive"),
    3: ("Cooling", "Cooling", "Cooling", "Engaged", "Engaged"),
    2: ("Dormant", "Dormant", "Slipping", "Slipping", "Slipping"),
    1: ("Dormant", "Dormant", "Slipping", "Slipping", "Slipping"),
}
FADING_STARS = "Fading stars"  # previous run's r, f and m all above today's, previous m >= 4
ZOMBIES = "Zombies"  # engaged at most once in the window, dormant ZOMBIE_DAYS or more
ZOMBIE_DAYS = 182
ZOMBIE_MAX_FREQUENCY = 1
FADING_MIN_PREVIOUS_M = 4
ENGAGEMENT_RANK = (
    "Hyperactive",
    "Engaged",
    "Promising",
    "Cooling",
    FADING_STARS,
    "Slipping",
    "Dormant",
    ZOMBIES,
)
RANKS: dict[RfmKind, tuple[str, ...]] = {
    RfmKind.PURCHASE: PURCHASE_RANK,
    RfmKind.ENGAGEMENT: ENGAGEMENT_RANK,
}


# Python (the reference the SQL is tested against, and the SQLite cut points) -----------------


def percentile_cont(sorted_values: Sequence[float], fraction: float) -> float:
    """PostgreSQL's ``percentile_cont`` with the same float operations (so equal results)."""
    n = len(sorted_values)
    position = fraction * (n - 1)
    first, second = math.floor(position), math.ceil(position)
    low = float(sorted_values[first])
    if first == second:
        return low
    high = float(sorted_values[second])
    return low + (high - low) * (position - first)


def cut_points(values: Sequence[float]) -> list[float] | None:
    """The quintile cut points of ``values`` (None when there are none)."""
    if not values:
        return None
    ordered = sorted(float(v) for v in values)
    return [percentile_cont(ordered, q) for q in QUINTILES]


def score(value: float, cuts: Sequence[float], *, lower_is_better: bool = False) -> int:
    if lower_is_better:
        return 1 + sum(1 for cut in cuts if cut > value)
    return 1 + sum(1 for cut in cuts if cut < value)


def purchase_segment(r: int, f: int) -> str:
    return PURCHASE_GRID[r][f - 1]


def direction(kind: RfmKind, previous: str | None, current: str) -> RfmDirection | None:
    if previous is None:
        return None
    rank = RANKS[kind]
    before, now = rank.index(previous), rank.index(current)
    if now < before:
        return RfmDirection.UP
    if now > before:
        return RfmDirection.DOWN
    return RfmDirection.SAME


# SQL -------------------------------------------------------------------------------------------


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def score_sql(value: str, cuts: Sequence[str], *, lower_is_better: bool = False) -> str:
    """``1 + (number of cut points strictly below value)`` (above, for recency) in SQL."""
    op = ">" if lower_is_better else "<"
    terms = " + ".join(f"CASE WHEN {cut} {op} {value} THEN 1 ELSE 0 END" for cut in cuts)
    return f"(1 + {terms})"


def _grid_sql(grid: dict[int, tuple[str, str, str, str, str]], r: str, f: str) -> str:
    whens = [
        f"WHEN {r} = {row} AND {f} = {col + 1} THEN {_literal(name)}"
        for row, names in grid.items()
        for col, name in enumerate(names)
    ]
    return "CASE " + " ".join(whens) + " END"


def segment_sql(
    kind: RfmKind,
    *,
    r: str,
    f: str,
    m: str,
    recency: str,
    frequency: str,
    previous_r: str,
    previous_f: str,
    previous_m: str,
) -> str:
    """The named segment of a scored row (engagement reads the previous run's scores too)."""
    if kind is RfmKind.PURCHASE:
        return _grid_sql(PURCHASE_GRID, r, f)
    fading = (
        f"{previous_m} >= {FADING_MIN_PREVIOUS_M} AND {previous_r} > {r} "
        f"AND {previous_f} > {f} AND {previous_m} > {m}"
    )
    zombie = f"{frequency} <= {ZOMBIE_MAX_FREQUENCY} AND {recency} >= {ZOMBIE_DAYS}"
    grid = _grid_sql(ENGAGEMENT_GRID, r, f)
    return (
        f"CASE WHEN {fading} THEN {_literal(FADING_STARS)} "
        f"WHEN {zombie} THEN {_literal(ZOMBIES)} ELSE {grid} END"
    )


def rank_sql(kind: RfmKind, segment: str) -> str:
    whens = " ".join(
        f"WHEN {_literal(name)} THEN {index}" for index, name in enumerate(RANKS[kind])
    )
    return f"CASE {segment} {whens} END"


def direction_sql(kind: RfmKind, segment: str, previous: str) -> str:
    now, before = rank_sql(kind, segment), rank_sql(kind, previous)
    return (
        f"CASE WHEN {previous} IS NULL THEN NULL "
        f"WHEN {now} < {before} THEN {_literal(RfmDirection.UP.value)} "
        f"WHEN {now} > {before} THEN {_literal(RfmDirection.DOWN.value)} "
        f"ELSE {_literal(RfmDirection.SAME.value)} END"
    )


def engagement_segment(
    r: int,
    f: int,
    m: int,
    recency: int,
    frequency: int,
    previous: tuple[int, int, int] | None,
) -> str:
    """The engagement segment in Python (the reference the SQL is tested against)."""
    if previous is not None:
        pr, pf, pm = previous
        if pm >= FADING_MIN_PREVIOUS_M and pr > r and pf > f and pm > m:
            return FADING_STARS
    if frequency <= ZOMBIE_MAX_FREQUENCY and recency >= ZOMBIE_DAYS:
        return ZOMBIES
    return ENGAGEMENT_GRID[r][f - 1]
