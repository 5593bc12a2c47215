"""When a campaign's occurrences happen: the moment of a one-shot send, the dates of an RRULE
(python-dateutil) in a time zone, and wall-clock times reached in each recipient's zone — all
DST-correct through zoneinfo. Pure functions: the service checks and stores what they answer.

A wall time that does not exist (the hour skipped when clocks go forward) is read with the
offset before the change, so it lands just after it; one that happens twice (clocks going back)
is the first of the two.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import rrule as dateutil_rrule

from backend.core.errors import InvalidInput

UTC = dt.UTC
# The farthest ahead of UTC a zone is: a wall time is reached there first.
EARLIEST_OFFSET = dt.timedelta(hours=14)
# An RRULE is searched this far ahead for its next date; one with none is refused.
HORIZON = dt.timedelta(days=5 * 366)
FREQUENCIES = frozenset({"DAILY", "WEEKLY", "MONTHLY", "YEARLY"})
_FREQ = re.compile(r"(?:^|;)FREQ=([A-Z]+)(?:;|$)")
_UNTIL_UTC = re.compile(r"(?<=UNTIL=)(\d{8}T\d{6})Z", re.IGNORECASE)


def zone_or_none(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def zone(name: str | None, fallback: str) -> ZoneInfo:
    """The zone of this name; the fallback's when it is empty or unknown."""
    return zone_or_none(name) or zone_or_none(fallback) or ZoneInfo("UTC")


def checked_zone(name: str, pointer: str) -> ZoneInfo:
    found = zone_or_none(name)
    if found is None:
        raise InvalidInput(
            f"unknown time zone {name!r}",
            errors=[{"field": "timeZone", "pointer": pointer, "message": "unknown time zone"}],
        )
    return found


def wall_time(text: str) -> dt.datetime:
    """A naive wall-clock datetime from ``YYYY-MM-DDTHH:MM[:SS]``."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{text!r} is not a date and time",
            errors=[
                {"field": "localTime", "pointer": "/schedule/localTime", "message": "not a date"}
            ],
        ) from None
    return value.replace(tzinfo=None)


def at_wall(wall: dt.datetime, where: ZoneInfo) -> dt.datetime:
    """The moment (UTC) the wall time ``wall`` is reached in ``where``."""
    return wall.replace(tzinfo=where).astimezone(UTC)


def first_reached(wall: dt.datetime) -> dt.datetime:
    """The moment a wall time is first reached anywhere (UTC+14)."""
    return (wall - EARLIEST_OFFSET).replace(tzinfo=UTC)


def wall_in(moment: dt.datetime, where: ZoneInfo) -> dt.datetime:
    """The wall time (naive) at ``moment`` in ``where``."""
    return moment.astimezone(where).replace(tzinfo=None)


def _until_wall(utc_text: str, where: ZoneInfo) -> str:
    moment = dt.datetime.strptime(utc_text, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    return wall_in(moment, where).strftime("%Y%m%dT%H%M%S")


def _rule_error(message: str) -> InvalidInput:
    return InvalidInput(
        f"rrule: {message}",
        errors=[{"field": "rrule", "pointer": "/schedule/rrule", "message": message}],
    )


@dataclass(frozen=True)
class Recurrence:
    """An RRULE from a first date, its wall times in ``where``."""

    rule: dateutil_rrule.rrule
    where: ZoneInfo

    @classmethod
    def parse(cls, text: str, starts_at: dt.datetime, where: ZoneInfo) -> Recurrence:
        body = text.strip().removeprefix("RRULE:")
        if "DTSTART" in body.upper() or "\n" in body:
            raise _rule_error("give one RRULE line; its first date is `startsAt`")
        frequency = _FREQ.search(body.upper())
        if frequency is None or frequency.group(1) not in FREQUENCIES:
            raise _rule_error("FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY")
        # The rule's dates are wall times in its zone: an UNTIL given in UTC is read there too.
        body = _UNTIL_UTC.sub(lambda m: _until_wall(m.group(1), where), body)
        try:
            rule = dateutil_rrule.rrulestr(body, dtstart=wall_in(starts_at, where))
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise _rule_error(str(exc) or "not an RRULE") from None
        if not isinstance(rule, dateutil_rrule.rrule):  # pragma: no cover - one line, one rule
            raise _rule_error("give one RRULE")
        return cls(rule, where)

    def next_after(self, moment: dt.datetime) -> dt.datetime | None:
        """The first date strictly after ``moment`` (UTC), or None: the rule is over."""
        wall = wall_in(moment, self.where)
        # Searched within the horizon first: a rule that never matches (February 30th) would
        # otherwise walk the calendar to year 9999.
        bounded = self.rule.replace(count=None, until=wall + HORIZON)
        if self.rule._until is not None and self.rule._until < wall + HORIZON:
            bounded = self.rule.replace(count=None, until=self.rule._until)
        if bounded.after(wall) is None:
            return None
        found = self.rule.after(wall)  # bounded by the horizon's date: it stops there
        if found is None:
            return None
        at = at_wall(found, self.where)
        if at <= moment:  # a wall time read back into the past (DST): the one after it
            return self.next_after(at + dt.timedelta(seconds=1))
        return at
