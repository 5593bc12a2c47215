"""Send-time optimisation: each recipient's send hour chosen from their own past opens and clicks
(the brand's default for those without enough history), placed inside the campaign's window and
outside the brand's quiet hours.

**History.** A person's opens and clicks are the profile events messaging tracking ingests when
a *person* engages (``messaging.service.ENGAGEMENT_EVENT_NAMES``: ``email_opened``,
``email_clicked``, ``push_opened``, ``push_clicked``, ``sms_clicked``). Machine opens — Apple
Mail Privacy Protection, scanners, prefetches — are counted on the ledger's timeline but make
no event, so they never weigh here. Events follow their profile through merges. They are read
per UTC hour, grouped in the database (``events.service.activity_by_hour``): one query per
chunk of :data:`CHUNK` profiles, whatever their history.

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

Events are counted per UTC hour: in a zone whose offset is not a whole hour (India, Nepal…),
an hour's events count for the local hour its first minute falls in.

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
import math
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
NEIGHBOUR_SHARE = 0.25
BRAND_SAMPLE = 20_000  # the brand's latest engagement events its default hour is drawn from
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
    brand_zone_name = (await tenancy_service.get_brand(session, tenant)).time_zone
    quiet = await messaging_service.quiet_hours(session, tenant)
    history = _History(now, brand_zone_name)

    sample = await events_service.latest_activity_by_hour(session, names, since, now, BRAND_SAMPLE)
    sample_zones = await _zones(session, {profile_id for profile_id, _, _ in sample})
    brand_weights, brand_events = history.weights(sample, sample_zones)
    default_hour = (
        best_hour(brand_weights.get(None, [0.0] * 24))
        if brand_events.get(None, 0) >= MIN_BRAND_EVENTS
        else DEFAULT_HOUR
    )

    places = _Placement(window, quiet)
    chosen: dict[UUID, dt.datetime] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        zones = await profiles_service.time_zones_of(session, chunk)
        activity = await events_service.activity_by_hour(session, names, since, now, chunk)
        weights, counts = history.weights(activity, zones)
        for profile_id in chunk:
            zone = history.zone(zones.get(profile_id))
            own = weights.get(profile_id)
            hour = best_hour(own) if own and counts[profile_id] >= MIN_EVENTS else default_hour
            chosen[profile_id] = places.moment(zone, hour)
    return chosen


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


async def _zones(session: AsyncSession, profile_ids: set[UUID]) -> dict[UUID, str | None]:
    ids = sorted(profile_ids)
    zones: dict[UUID, str | None] = {}
    for start in range(0, len(ids), CHUNK):
        zones |= await profiles_service.time_zones_of(session, ids[start : start + CHUNK])
    return zones


def best_hour(weights: Sequence[float]) -> int:
    """The hour (0 to 23) whose weight plus :data:`NEIGHBOUR_SHARE` of its neighbours' is the
    highest; ties go to the hour with more weight of its own, then to the earlier hour."""

    def score(hour: int) -> tuple[float, float, int]:
        around = weights[(hour - 1) % 24] + weights[(hour + 1) % 24]
        return (weights[hour] + NEIGHBOUR_SHARE * around, weights[hour], -hour)

    return max(range(24), key=score)


class _History:
    """Turns (profile, UTC hour, count) rows into decayed weights per local hour, remembering
    each hour's local hour per zone and its decay (rows share a few thousand distinct hours)."""

    def __init__(self, now: dt.datetime, brand_zone_name: str) -> None:
        self.now = now
        self.brand_zone_name = brand_zone_name
        self._zones: dict[str | None, ZoneInfo] = {}
        self._local: dict[tuple[dt.datetime, str], int] = {}
        self._decay: dict[dt.datetime, float] = {}

    def zone(self, name: str | None) -> ZoneInfo:
        found = self._zones.get(name)
        if found is None:
            found = self._zones[name] = zone_of(name, self.brand_zone_name)
        return found

    def weights(
        self,
        rows: Iterable[tuple[UUID, dt.datetime, int]],
        zones: dict[UUID, str | None],
    ) -> tuple[dict[UUID | None, list[float]], dict[UUID | None, int]]:
        """Per profile, 24 decayed weights by local hour and the number of events; the brand's
        whole sample pooled under the key None as well."""
        weights: dict[UUID | None, list[float]] = {None: [0.0] * 24}
        counts: dict[UUID | None, int] = {None: 0}
        for profile_id, hour_start, count in rows:
            zone = self.zone(zones.get(profile_id))
            local = self._local.get((hour_start, zone.key))
            if local is None:
                local = self._local[(hour_start, zone.key)] = hour_start.astimezone(zone).hour
            decay = self._decay.get(hour_start)
            if decay is None:
                age = max((self.now - hour_start).total_seconds(), 0.0)
                decay = self._decay[hour_start] = math.exp2(-age / HALF_LIFE.total_seconds())
            own = weights.get(profile_id)
            if own is None:
                own = weights[profile_id] = [0.0] * 24
                counts[profile_id] = 0
            own[local] += count * decay
            counts[profile_id] += count
            weights[None][local] += count * decay
            counts[None] += count
        return weights, counts


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
