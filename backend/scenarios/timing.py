"""When a wait ends, in the profile's time zone (else the brand's): pure functions of a moment.

Days are counted on the profile's calendar (a day's wait started at 09:00 ends at 09:00 the next
day, across a change of summer time); hours, minutes and seconds on the clock. A local time the
clocks skip (spring forward) ends the wait at the same offset as before the jump, i.e. just after
the gap; one that happens twice (autumn) ends it the first time.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from backend.scenarios.graph import Duration

UTC = dt.UTC


def zone_of(profile_zone: str | None, brand_zone: str | None) -> ZoneInfo:
    for name in (profile_zone, brand_zone):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def localize(wall: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The UTC instant of a wall-clock time in ``zone`` (see the module for gaps and folds)."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def after(start: dt.datetime, duration: Duration, zone: ZoneInfo) -> dt.datetime:
    """``start`` plus ``duration``: its days on the calendar of ``zone``, the rest on the clock."""
    moment = start
    if duration.days:
        local = start.astimezone(zone)
        wall = local.replace(tzinfo=None) + dt.timedelta(days=duration.days)
        moment = localize(wall, zone)
    return (moment + duration.clock).astimezone(UTC)


def next_time_of_day(now: dt.datetime, at: dt.time, zone: ZoneInfo) -> dt.datetime:
    """The first ``at`` in ``zone`` strictly after ``now``."""
    today = now.astimezone(zone).date()
    for days in (0, 1, 2):
        moment = localize(dt.datetime.combine(today + dt.timedelta(days=days), at), zone)
        if moment > now:
            return moment
    raise AssertionError("a time of day comes back within two days")  # pragma: no cover


def _anniversary(day: dt.date, year: int) -> dt.date:
    try:
        return day.replace(year=year)
    except ValueError:  # 29 February in a common year
        return dt.date(year, 2, 28)


def until_date(
    now: dt.datetime,
    day: dt.date,
    offset_days: int,
    at: dt.time,
    zone: ZoneInfo,
    *,
    yearly: bool,
) -> dt.datetime:
    """When a wait until ``day`` + ``offset_days`` at ``at`` ends: the date itself, or (``yearly``:
    a birthday) its next anniversary not yet past. A past date ends the wait at once (``now``)."""
    if not yearly:
        moment = localize(dt.datetime.combine(day + dt.timedelta(days=offset_days), at), zone)
        return max(moment, now)
    year = now.astimezone(zone).year
    for candidate in (year - 1, year, year + 1):
        target = _anniversary(day, candidate) + dt.timedelta(days=offset_days)
        moment = localize(dt.datetime.combine(target, at), zone)
        if moment > now:
            return moment
    return now  # pragma: no cover - one of three years is ahead
