"""Send-time optimisation: each recipient's send hour chosen from their own past opens and clicks
(the brand's default for those without enough history), placed inside the campaign's window and
outside the brand's quiet hours.

**History.** A person's opens and clicks are the profile events messaging tracking ingests when
a *person* engages (``messaging.service.ENGAGEMENT_EVENT_NAMES``: ``email_opened``,
``email_clicked``, ``push_opened``, ``push_clicked``, ``sms_clicked``). Machine opens — Apple
Mail Privacy Protection, scanners, prefetches — are counted on the ledger's timeline but make
no event, so they never weigh here. Events follow their profile through merges. They are read
by local hour with their decayed weight (``events.service.activity_by_local_hour``): one query
per chunk of :data:`CHUNK` profiles whatever their history, grouped in the database on
PostgreSQL (about 3 rows a profile come back, not one per event).

**The hour.** Each event counts for the local hour it happened in, in the profile's time zone
(the brand's when the profile has none or an unknown one — as the send gate resolves it), so
"19:00 in Paris" stays 19:00 across a daylight-saving change. Recent engagement weighs more:
an event ``age`` old weighs ``2 ** (-age / HALF_LIFE)`` (a 30-day half-life; events older than
:data:`LOOKBACK`, 180 days, are not read — they would weigh under 1/64). Each hour's score is
its weight plus :data:`NEIGHBOUR_SHARE` of its two neighbours' (opens at 18:50 and 19:10 are
one habit), and the best score wins (ties: the hour with more weight of its own, then the
earlier). A profile with fewer than :data:`MIN_EVENTS` events in the lookback has no hour of
its own: it gets the brand's default — the brand's best hour computed the same way over its
latest :data:`BRAND_SAMPLE` engagement events (each in its own profile's zone) when it has at
least :data:`MIN_BRAND_EVENTS`, else :data:`DEFAULT_HOUR` (10:00 local).

On SQLite (and for a zone PostgreSQL's time zone database lacks) events are counted per UTC
hour and converted in Python: in a zone whose offset is not a whole hour (India, Nepal…), an
hour's events count there for the local hour its first minute falls in. The brand's sample is
read that way on both.

**The moment.** An hour inside the brand's quiet hours is moved to the nearest hour outside
them (19:00 stays, 23:00 with quiet hours 21:00-08:00 becomes 20:00). The profile is placed
at the first occurrence of that local hour (``HH:00``) inside the window; when none occurs
there, at the allowed moment of the window nearest to an occurrence (to the minute; the
earliest on a tie); when the whole window lies in quiet hours, at the window's moment nearest
to an occurrence (the gate will then defer it to the end of the quiet hours).

Queries per call: the brand, its pressure policy, the brand's sample and its profiles' zones,
then two per chunk of :data:`CHUNK` profiles (zones, activity) — constant for any call up to a
chunk. Placement is computed once per (zone, hour), not per profile.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import utcnow
from backend.core.errors import InvalidInput
from backend.core.tenancy import TenantId
from backend.events import service as events_service
from backend.messaging import service as messaging_service
from backend.messaging.pressure import zone_of
from backend.profiles import service as profiles_service
from backend.tenancy import service as tenancy_service

HALF_LIFE = dt.timedelta(days=30)
LOOKBACK = dt.timedelta(days=180)
MIN_EVENTS = 3  # a profile's own hour needs at least this many opens and clicks in the lookback
NEIGHBOUR_SHARE = 0.25  # below 0.5: see best_hour
BRAND_SAMPLE = 5_000  # the brand's latest engagement events its default hour is drawn from
MIN_BRAND_EVENTS = 20
DEFAULT_HOUR = 10  # 10:00 local, for a brand without engagement history
CHUNK = 10_000  # profile ids per query (under every driver's parameter limit)

_DAY = dt.timedelta(days=1)
_MINUTE = dt.timedelta(minutes=1)
QuietHours = tuple[dt.time, dt.time]


@dataclass(frozen=True)
class SendWindow:
    """When a campaign may send: from ``start`` to ``end`` (both included), aware UTC."""

    start: dt.datetime
    end: dt.datetime


async def optimal_send_times(
    session: AsyncSession,
    tenant: TenantId,
    profile_ids: Sequence[UUID],
    window: SendWindow,
    *,
    now: dt.datetime | None = None,
) -> dict[UUID, dt.datetime]:
    """The moment (aware UTC, inside ``window``) to send to each of ``profile_ids``: their best
    local hour from their own opens and clicks (the brand's default without enough history),
    outside the brand's quiet hours. An unknown or merged-away id gets the brand's default in
    the brand's zone. ``now`` (default: the current time) dates the history."""
    _check(window)
    ids = list(dict.fromkeys(profile_ids))
    if not ids:
        return {}
    now = now or utcnow()
    since = now - LOOKBACK
    names = messaging_service.ENGAGEMENT_EVENT_NAMES
    zones = _Zones((await tenancy_service.get_brand(session, tenant)).time_zone)
    quiet = await messaging_service.quiet_hours(session, tenant)

    sample = await events_service.latest_activity_by_hour(session, names, since, now, BRAND_SAMPLE)
    sample_zones = await _zones_of(session, zones, sorted({p for p, _, _ in sample}))
    brand = [0.0] * 24
    brand_events = 0
    for activity in events_service.by_local_hour(sample, sample_zones, now, HALF_LIFE).values():
        for hour, count, weight in activity:
            brand[hour] += weight
            brand_events += count
    default_hour = best_hour(brand) if brand_events >= MIN_BRAND_EVENTS else DEFAULT_HOUR

    places = _Placement(window, quiet)
    chosen: dict[UUID, dt.datetime] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        chunk_zones = await _zones_of(session, zones, chunk)
        history = await events_service.activity_by_local_hour(
            session, names, since, now, chunk_zones, HALF_LIFE
        )
        for profile_id in chunk:
            hour = own_hour(history.get(profile_id, ())) or default_hour
            chosen[profile_id] = places.moment(chunk_zones[profile_id], hour)
    return chosen


def own_hour(activity: Iterable[events_service.HourActivity]) -> int | None:
    """The best hour of a profile's own history, or None below :data:`MIN_EVENTS` events."""
    weights = [0.0] * 24
    events = 0
    for hour, count, weight in activity:
        weights[hour] += weight
        events += count
    return best_hour(weights) if events >= MIN_EVENTS else None


class _Zones:
    """Zones by name, resolved as the send gate resolves them (the profile's, else the
    brand's, else UTC), each name once."""

    def __init__(self, brand_zone: str) -> None:
        self.brand_zone = brand_zone
        self._found: dict[str | None, ZoneInfo] = {}

    def __call__(self, name: str | None) -> ZoneInfo:
        found = self._found.get(name)
        if found is None:
            found = self._found[name] = zone_of(name, self.brand_zone)
        return found


async def _zones_of(
    session: AsyncSession, zones: _Zones, profile_ids: Sequence[UUID]
) -> dict[UUID, ZoneInfo]:
    """Each profile's zone (the brand's for a profile without one, or unknown here), one query
    per :data:`CHUNK` ids."""
    names: dict[UUID, str | None] = {}
    for start in range(0, len(profile_ids), CHUNK):
        chunk = profile_ids[start : start + CHUNK]
        names |= await profiles_service.time_zones_of(session, chunk)
    return {profile_id: zones(names.get(profile_id)) for profile_id in profile_ids}


def _check(window: SendWindow) -> None:
    if window.start.tzinfo is None or window.end.tzinfo is None:
        raise InvalidInput(
            "the send window needs aware times (with their UTC offset)",
            errors=[{"field": "window", "message": "naive time"}],
        )
    if window.end < window.start:
        raise InvalidInput(
            "the send window ends before it starts",
            errors=[{"field": "window", "message": "end before start"}],
        )


def best_hour(weights: Sequence[float]) -> int:
    """The hour (0 to 23) whose weight plus :data:`NEIGHBOUR_SHARE` of its neighbours' is the
    highest; ties go to the hour with more weight of its own, then to the earlier hour."""

    def score(hour: int) -> tuple[float, float, int]:
        around = weights[(hour - 1) % 24] + weights[(hour + 1) % 24]
        return (weights[hour] + NEIGHBOUR_SHARE * around, weights[hour], -hour)

    # An hour without weight of its own scores at most half the heaviest hour's weight (the
    # share is below a half): only hours with weight can win (any hour, when none has).
    candidates = [hour for hour in range(24) if weights[hour] > 0]
    return max(candidates or range(24), key=score)


def _quiet_at(clock: dt.time, quiet: QuietHours | None) -> bool:
    if quiet is None:
        return False
    start, end = quiet
    if start > end:  # overnight, e.g. 21:00 → 08:00
        return clock >= start or clock < end
    return start <= clock < end


def allowed_hour(hour: int, quiet: QuietHours | None) -> int:
    """``hour``, or the nearest hour (around the clock; the earlier on a tie) whose start is
    outside the quiet hours; ``hour`` itself when every hour is quiet."""
    allowed = [h for h in range(24) if not _quiet_at(dt.time(h), quiet)]
    if hour in allowed or not allowed:
        return hour
    return min(allowed, key=lambda h: (min((h - hour) % 24, (hour - h) % 24), h))


def _at(day: dt.date, clock: dt.time, zone: ZoneInfo) -> dt.datetime:
    """The instant of a wall-clock time in ``zone`` (a time in a spring-forward gap is the
    first instant after it; an ambiguous one, its first occurrence), in UTC."""
    return dt.datetime.combine(day, clock, tzinfo=zone).astimezone(dt.UTC)


class _Placement:
    """Places a local hour in the window, once per (zone, hour)."""

    def __init__(self, window: SendWindow, quiet: QuietHours | None) -> None:
        self.start = window.start.astimezone(dt.UTC)
        self.end = window.end.astimezone(dt.UTC)
        self.quiet = quiet
        self._placed: dict[tuple[str, int], dt.datetime] = {}

    def moment(self, zone: ZoneInfo, hour: int) -> dt.datetime:
        key = (zone.key, hour)
        found = self._placed.get(key)
        if found is None:
            found = self._placed[key] = self._place(zone, allowed_hour(hour, self.quiet))
        return found

    def _days(self, zone: ZoneInfo, margin: int) -> list[dt.date]:
        first = self.start.astimezone(zone).date() - dt.timedelta(days=margin)
        last = self.end.astimezone(zone).date() + dt.timedelta(days=margin)
        return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]

    def _place(self, zone: ZoneInfo, hour: int) -> dt.datetime:
        clock = dt.time(hour)
        occurrences = [_at(day, clock, zone) for day in self._days(zone, 1)]
        for moment in occurrences:
            if self.start <= moment <= self.end and not self._quiet(moment, zone):
                return moment
        allowed = self._allowed_spans(zone) or [(self.start, self.end)]
        best: tuple[dt.timedelta, dt.datetime] | None = None
        for target in occurrences:
            for low, high in allowed:
                moment = min(max(target, low), high)
                candidate = (abs(moment - target), moment)
                if best is None or candidate < best:
                    best = candidate
        assert best is not None  # the window holds at least its start
        return best[1]

    def _quiet(self, moment: dt.datetime, zone: ZoneInfo) -> bool:
        return _quiet_at(moment.astimezone(zone).time().replace(tzinfo=None), self.quiet)

    def _allowed_spans(self, zone: ZoneInfo) -> list[tuple[dt.datetime, dt.datetime]]:
        """The window without its quiet hours: closed spans, to the minute (a span that ends
        where quiet hours start ends a minute before them)."""
        if self.quiet is None:
            return [(self.start, self.end)]
        start, end = self.quiet
        quiet_spans = sorted(
            (_at(day, start, zone), _at(day + _DAY if start > end else day, end, zone))
            for day in self._days(zone, 1)
        )
        spans: list[tuple[dt.datetime, dt.datetime]] = []
        cursor = self.start
        for quiet_start, quiet_end in quiet_spans:
            if quiet_end <= cursor:
                continue
            if quiet_start > cursor:
                last = min(quiet_start - _MINUTE, self.end)
                if last >= cursor:
                    spans.append((cursor, last))
            cursor = max(cursor, quiet_end)
            if cursor > self.end:
                return spans
        if cursor <= self.end:
            spans.append((cursor, self.end))
        return spans
