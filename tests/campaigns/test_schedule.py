"""When occurrences happen and who falls in which part of a test — pure functions: RRULE dates
in a zone across both DST changes, wall times reached in each zone, the earliest start of a
per-recipient send, and the deterministic split."""

from __future__ import annotations

import datetime as dt
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest

from backend.campaigns.assignment import Split, point
from backend.campaigns.models import RecipientState
from backend.campaigns.schedule import Recurrence, at_wall, first_reached, wall_time
from backend.core.errors import InvalidInput

UTC = dt.UTC
BRUSSELS = ZoneInfo("Europe/Brussels")


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


def dates(rule: Recurrence, after: dt.datetime, count: int) -> list[dt.datetime]:
    found = []
    for _ in range(count):
        following = rule.next_after(after)
        assert following is not None
        found.append(following)
        after = following
    return found


def test_a_weekly_rule_keeps_its_wall_time_across_both_dst_changes() -> None:
    rule = Recurrence.parse(
        "FREQ=WEEKLY;BYDAY=SU;BYHOUR=9;BYMINUTE=0", utc(2030, 3, 1, 12), BRUSSELS
    )
    spring = dates(rule, utc(2030, 3, 20), 2)  # clocks go forward on Sunday 31 March
    assert spring == [utc(2030, 3, 24, 8), utc(2030, 3, 31, 7)]
    autumn = dates(rule, utc(2030, 10, 20), 2)  # and back on Sunday 27 October
    assert autumn == [utc(2030, 10, 20, 7), utc(2030, 10, 27, 8)]


def test_a_wall_time_skipped_or_repeated_by_dst_is_read_once() -> None:
    skipped = Recurrence.parse("FREQ=DAILY;BYHOUR=2;BYMINUTE=30", utc(2030, 3, 29), BRUSSELS)
    # 02:30 does not exist on 31 March: read with the winter offset, it is 03:30 summer time.
    assert dates(skipped, utc(2030, 3, 30, 12), 2) == [
        utc(2030, 3, 31, 1, 30),
        utc(2030, 4, 1, 0, 30),
    ]
    repeated = Recurrence.parse("FREQ=DAILY;BYHOUR=2;BYMINUTE=30", utc(2030, 10, 25), BRUSSELS)
    # 02:30 happens twice on 27 October: the first one, once.
    assert dates(repeated, utc(2030, 10, 26, 12), 2) == [
        utc(2030, 10, 27, 0, 30),
        utc(2030, 10, 28, 1, 30),
    ]


@pytest.mark.parametrize(
    ("rule", "starts", "after", "expected"),
    [
        ("FREQ=DAILY;COUNT=2", utc(2030, 1, 1, 9), utc(2030, 1, 1, 10), utc(2030, 1, 2, 9)),
        ("FREQ=DAILY;COUNT=2", utc(2030, 1, 1, 9), utc(2030, 1, 2, 10), None),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", utc(2030, 1, 1), utc(2030, 1, 1), None),
        # The 31st, skipping February; 31 March is summer time already.
        ("FREQ=MONTHLY;BYMONTHDAY=31", utc(2030, 1, 31, 9), utc(2030, 2, 1), utc(2030, 3, 31, 8)),
        # UNTIL in UTC (RFC 5545) against wall times in Brussels: 23:00Z is midnight there.
        ("FREQ=DAILY;UNTIL=20300102T230000Z", utc(2030, 1, 1, 23), utc(2030, 1, 1, 23),
         utc(2030, 1, 2, 23)),
        ("FREQ=DAILY;UNTIL=20300102T225959Z", utc(2030, 1, 1, 23), utc(2030, 1, 1, 23), None),
    ],
)  # fmt: skip
def test_the_next_date_or_none_once_the_rule_is_over(
    rule: str, starts: dt.datetime, after: dt.datetime, expected: dt.datetime | None
) -> None:
    assert Recurrence.parse(rule, starts, BRUSSELS).next_after(after) == expected


@pytest.mark.parametrize(
    "rule",
    ["FREQ=HOURLY", "FREQ=SECONDLY", "BYDAY=MO", "FREQ=DAILY;BYDAY=XX", "FREQ=DAILY;COUNT=x",
     "DTSTART:20300101T000000\nRRULE:FREQ=DAILY"],
)  # fmt: skip
def test_rules_we_do_not_run_are_refused(rule: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        Recurrence.parse(rule, utc(2030, 1, 1), BRUSSELS)
    errors = refused.value.errors or []
    assert [(e["field"], e["pointer"]) for e in errors] == [("rrule", "/schedule/rrule")]


def test_a_wall_time_is_reached_zone_by_zone_the_first_at_utc_plus_14() -> None:
    wall = wall_time("2030-03-31T09:00")
    assert at_wall(wall, BRUSSELS) == utc(2030, 3, 31, 7)
    assert at_wall(wall, ZoneInfo("America/New_York")) == utc(2030, 3, 31, 13)
    assert (
        at_wall(wall, ZoneInfo("Pacific/Kiritimati")) == first_reached(wall) == utc(2030, 3, 30, 19)
    )


def test_the_split_is_deterministic_and_follows_the_shares() -> None:
    campaign = UUID("01939a10-4c2b-7d3e-8f40-5a6b7c8d9e0f")
    profiles = [uuid4() for _ in range(20_000)]
    winner = Split(holdout=0.1, test=0.3, weights=[("a", 20), ("b", 30), ("c", 50)])
    first = [winner.assign(point(campaign, p)) for p in profiles]
    assert first == [winner.assign(point(campaign, p)) for p in profiles]  # the same again
    counts: dict[tuple[RecipientState, str | None], int] = {}
    for found in first:
        counts[found] = counts.get(found, 0) + 1
    share = {key: n / len(profiles) for key, n in counts.items()}
    expected = {
        (RecipientState.HOLDOUT, None): 0.1,
        (RecipientState.WAITING, "a"): 0.06,
        (RecipientState.WAITING, "b"): 0.09,
        (RecipientState.WAITING, "c"): 0.15,
        (RecipientState.AWAITING_WINNER, None): 0.6,
    }
    assert share.keys() == expected.keys()
    for key, value in expected.items():
        assert abs(share[key] - value) < 0.015, (key, share[key])
    # Another campaign splits the same profiles differently.
    other = [winner.assign(point(uuid4(), p)) for p in profiles[:200]]
    assert other != first[:200]
    plain = Split(holdout=0.0, test=None, weights=[("a", 100)])
    assert {plain.assign(point(campaign, p)) for p in profiles[:100]} == {
        (RecipientState.WAITING, "a")
    }
