"""Pressure and quiet hours as time arithmetic: the next free slot under rolling caps, and the end
of quiet hours in the profile's zone across time zones and a DST change."""

from __future__ import annotations

import datetime as dt

import pytest

from backend.messaging.pressure import (
    Caps,
    Policy,
    after_quiet_hours,
    next_free_slot,
    zone_of,
)

UTC = dt.UTC
QUIET = Policy(Caps(), {}, dt.time(21, 0), dt.time(8, 0))


def test_next_free_slot_waits_for_the_oldest_message_to_leave_the_window() -> None:
    now = dt.datetime(2026, 3, 10, 12, tzinfo=UTC)
    policy = Policy(Caps({"week": 2}), {"sms": Caps({"day": 1})}, None, None)
    sent = [("email", now - dt.timedelta(days=6)), ("email", now - dt.timedelta(days=1))]
    assert next_free_slot(policy, "email", sent, now) == now + dt.timedelta(days=1)
    assert next_free_slot(policy, "email", sent[1:], now) == now
    sms = [("sms", now - dt.timedelta(hours=3))]
    assert next_free_slot(policy, "sms", sms, now) == now + dt.timedelta(hours=21)


@pytest.mark.parametrize(
    ("zone", "moment", "expected"),
    [
        # 22:00 in Brussels (summer, UTC+2) → 08:00 next day Brussels = 06:00 UTC.
        (
            "Europe/Brussels",
            dt.datetime(2026, 6, 15, 20, 0, tzinfo=UTC),
            dt.datetime(2026, 6, 16, 6, 0, tzinfo=UTC),
        ),
        # The same instant is 08:00 in Auckland (NZST, UTC+12): outside quiet hours.
        (
            "Pacific/Auckland",
            dt.datetime(2026, 6, 15, 20, 0, tzinfo=UTC),
            dt.datetime(2026, 6, 15, 20, 0, tzinfo=UTC),
        ),
        # 03:00 UTC = 15:00 in Auckland: fine; = 05:00 in Brussels: quiet until 08:00 (06:00 UTC).
        (
            "Pacific/Auckland",
            dt.datetime(2026, 6, 15, 3, 0, tzinfo=UTC),
            dt.datetime(2026, 6, 15, 3, 0, tzinfo=UTC),
        ),
        (
            "Europe/Brussels",
            dt.datetime(2026, 6, 15, 3, 0, tzinfo=UTC),
            dt.datetime(2026, 6, 15, 6, 0, tzinfo=UTC),
        ),
        # DST: the night of 28→29 March 2026 Brussels goes from UTC+1 to UTC+2. 22:00 local on the
        # 28th (21:00 UTC) → 08:00 local on the 29th, which is 06:00 UTC (not 07:00).
        (
            "Europe/Brussels",
            dt.datetime(2026, 3, 28, 21, 0, tzinfo=UTC),
            dt.datetime(2026, 3, 29, 6, 0, tzinfo=UTC),
        ),
        # Auckland leaves DST on 5 April 2026 (UTC+13 → UTC+12): 23:00 local on the 4th
        # (10:00 UTC) → 08:00 local on the 5th = 20:00 UTC on the 4th.
        (
            "Pacific/Auckland",
            dt.datetime(2026, 4, 4, 10, 0, tzinfo=UTC),
            dt.datetime(2026, 4, 4, 20, 0, tzinfo=UTC),
        ),
    ],
)
def test_quiet_hours_end_in_the_profiles_time_zone(
    zone: str, moment: dt.datetime, expected: dt.datetime
) -> None:
    assert after_quiet_hours(QUIET, zone_of(zone, "UTC"), moment) == expected


def test_an_unknown_zone_falls_back_to_the_brand_zone() -> None:
    assert str(zone_of("Mars/Olympus", "Europe/Brussels")) == "Europe/Brussels"
    assert str(zone_of(None, "")) == "UTC"
