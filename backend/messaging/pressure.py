"""Commercial pressure and quiet hours: pure time arithmetic over a profile's counted messages.

The policy caps how many messages a profile receives per rolling day, week and month (30 days),
overall and per channel. A message over a cap gets the profile's **next free slot**: the earliest
moment at which every window holds fewer messages than its cap. Quiet hours are read in the
profile's time zone (the brand's when unknown) with ``zoneinfo``, so a deferral lands on the
right wall-clock time across a daylight-saving change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WINDOWS: dict[str, dt.timedelta] = {
    "day": dt.timedelta(days=1),
    "week": dt.timedelta(days=7),
    "month": dt.timedelta(days=30),
}
LONGEST_WINDOW = max(WINDOWS.values())


@dataclass(frozen=True)
class Caps:
    """At most N per window name (``day``, ``week``, ``month``); a missing window is uncapped."""

    limits: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    overall: Caps
    per_channel: dict[str, Caps]
    quiet_start: dt.time | None
    quiet_end: dt.time | None
    quiet_hours_for_triggered: bool = True


def parse_hhmm(value: str | None) -> dt.time | None:
    if not value:
        return None
    hours, minutes = value.split(":")
    return dt.time(int(hours), int(minutes))


def zone_of(name: str | None, default: str) -> ZoneInfo:
    """The profile's time zone, else the brand's, else UTC (an unknown name is ignored)."""
    for candidate in (name, default):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def _free_for(caps: Caps, sent: Sequence[dt.datetime], at: dt.datetime) -> dt.datetime:
    """The earliest moment ≥ ``at`` at which ``sent`` (sorted) leaves room under every cap."""
    moment = at
    for _ in range(len(sent) + 1):  # each pass moves past at least one message
        moved = False
        for name, limit in caps.limits.items():
            window = WINDOWS[name]
            inside = [t for t in sent if moment - window < t <= moment]
            if limit <= 0:
                return dt.datetime.max.replace(tzinfo=dt.UTC)
            if len(inside) >= limit:
                # Wait until enough of the oldest leave the window.
                moment = inside[len(inside) - limit] + window
                moved = True
        if not moved:
            return moment
    return moment


def next_free_slot(
    policy: Policy,
    channel: str,
    counted: Sequence[tuple[str, dt.datetime]],
    now: dt.datetime,
) -> dt.datetime:
    """When a message on ``channel`` fits under every cap, given the profile's counted messages
    (channel, time): ``now`` when it fits now. The result can be in the future when planned
    (deferred) messages already hold the slots."""
    everything = sorted(t for _, t in counted)
    on_channel = sorted(t for c, t in counted if c == channel)
    channel_caps = policy.per_channel.get(channel, Caps())
    moment = now
    for _ in range(len(everything) + 2):
        later = max(
            _free_for(policy.overall, everything, moment),
            _free_for(channel_caps, on_channel, moment),
        )
        if later == moment:
            return moment
        moment = later
    return moment


def after_quiet_hours(policy: Policy, zone: ZoneInfo, moment: dt.datetime) -> dt.datetime:
    """``moment`` when outside the quiet hours in ``zone``; otherwise their end (wall-clock time
    in that zone, DST-correct), in UTC."""
    start, end = policy.quiet_start, policy.quiet_end
    if start is None or end is None or start == end:
        return moment
    local = moment.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    overnight = start > end  # e.g. 21:00 → 08:00
    quiet = (clock >= start or clock < end) if overnight else (start <= clock < end)
    if not quiet:
        return moment
    day = local.date()
    if overnight and clock >= start:
        day += dt.timedelta(days=1)
    # The end's wall-clock time that day; fold=0 and zoneinfo resolve a DST gap or overlap.
    resume = dt.datetime.combine(day, end, tzinfo=zone)
    # A wall time inside a spring-forward gap does not exist: round-tripping through UTC moves it
    # to the first real instant after it.
    return resume.astimezone(dt.UTC)
