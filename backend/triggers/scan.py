"""The periodic scan of scheduled triggers (a date field plus an offset, inactivity).

Each scheduled definition keeps a watermark; a scan covers (watermark, now] and moves it to now,
so a trigger that fell due while no scheduler ran is raised when one comes back — once, since an
occurrence is unique by (type, dedupe key). Watermarks are claimed with ``FOR UPDATE SKIP
LOCKED`` (PostgreSQL), so scheduler replicas never scan one definition at the same time. A scan
looks back at most :data:`MAX_CATCH_UP`: a birthday greeted months late does more harm than good.

Time zones: a date trigger fires at its local time in the profile's time zone (the brand's when
the profile has none). The profiles' distinct time zones are few (hundreds at most), so for each
zone the window (watermark, now] is turned, in Python, into the range of dates that fall due
there; one set-based SQL query per page of profiles then matches every zone's range at once
(textual ISO comparisons, identical on PostgreSQL and SQLite). No loop runs over profiles that do
not match.

Yearly (birthday, anniversary): the date's month and day recur each year; 29 February falls on
28 February in common years. Its dedupe key holds the profile and the year of the anniversary.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.tenancy import TenantId
from backend.profiles import attributes as profile_attributes
from backend.profiles import orders as profile_orders
from backend.profiles.models import AttributeType
from backend.tenancy import service as tenancy_service
from backend.tenancy.models import Brand, BrandStatus
from backend.triggers import repository, service
from backend.triggers.models import TriggerDefinition, TriggerKind
from backend.triggers.repository import NewOccurrence, ZoneWindow

log = structlog.get_logger("levier.triggers")

MAX_CATCH_UP = dt.timedelta(days=31)
SCAN_PAGE = 1000
ONE_DAY = dt.timedelta(days=1)


async def active_brand_ids(session: AsyncSession) -> list[UUID]:
    """The brands to scan (read from the platform's brand list)."""
    query = select(Brand.id).where(Brand.status == BrandStatus.ACTIVE).order_by(Brand.id)
    return list((await session.scalars(query)).all())


async def scan_brand(session: AsyncSession, tenant: TenantId, now: dt.datetime) -> int:
    """Scan every enabled scheduled trigger of the brand up to ``now``; return how many
    occurrences were raised."""
    brand_zone = (await tenancy_service.get_brand(session, tenant)).time_zone
    raised = 0
    for watermark, definition in await repository.claim_watermarks(session):
        if now <= watermark.scanned_until:
            continue
        start = max(watermark.scanned_until, now - MAX_CATCH_UP)
        if start > watermark.scanned_until:
            log.warning(
                "trigger_scan_window_capped",
                trigger=definition.key,
                skipped_from=watermark.scanned_until.isoformat(),
                skipped_until=start.isoformat(),
            )
        if definition.kind is TriggerKind.DATE_ATTRIBUTE:
            raised += await _scan_dates(session, tenant, definition, brand_zone, start, now)
        elif definition.kind is TriggerKind.INACTIVITY:
            raised += await _scan_inactivity(session, tenant, definition, start, now)
        watermark.scanned_until = now
    await session.flush()
    return raised


# Dates -----------------------------------------------------------------------------------------


def _zone(name: str | None, fallback: str) -> str:
    if name:
        try:
            zoneinfo.ZoneInfo(name)
            return name
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    return fallback


def _fire_at(day: dt.date, at: dt.time, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, at, tzinfo=zone).astimezone(dt.UTC)


def _due_days(
    start: dt.datetime, end: dt.datetime, at: dt.time, zone: zoneinfo.ZoneInfo
) -> tuple[dt.date, dt.date] | None:
    """The first and last local days whose ``at`` o'clock in ``zone`` lies in (start, end]."""
    day = start.astimezone(zone).date() - ONE_DAY
    last = end.astimezone(zone).date() + ONE_DAY
    due: list[dt.date] = []
    while day <= last:
        if start < _fire_at(day, at, zone) <= end:
            due.append(day)
        day += ONE_DAY
    return (due[0], due[-1]) if due else None


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _anniversaries(first: dt.date, last: dt.date) -> dict[str, list[dt.date]]:
    """Month-day (``MM-DD``) → the days in [first, last] it recurs on; in a common year
    ``02-29`` recurs on 28 February."""
    recurring: dict[str, list[dt.date]] = {}
    day = first
    while day <= last:
        recurring.setdefault(day.strftime("%m-%d"), []).append(day)
        if day.month == 2 and day.day == 28 and not _is_leap(day.year):
            recurring.setdefault("02-29", []).append(day)
        day += ONE_DAY
    return recurring


@dataclass(frozen=True)
class _ZonePlan:
    zone: zoneinfo.ZoneInfo
    anniversaries: dict[str, list[dt.date]]


async def _field_type(session: AsyncSession, field: str) -> AttributeType | None:
    if field == service.BIRTH_DATE:
        return AttributeType.DATE
    definition = (await profile_attributes.definitions(session)).get(field)
    return definition.type if definition is not None else None


async def _scan_dates(
    session: AsyncSession,
    tenant: TenantId,
    definition: TriggerDefinition,
    brand_zone: str,
    start: dt.datetime,
    end: dt.datetime,
) -> int:
    settings = definition.settings
    field: str = settings["date_field"]
    offset = dt.timedelta(days=int(settings["offset_days"]))
    at = dt.time.fromisoformat(settings["local_time"])
    yearly = bool(settings["yearly"])
    field_type = await _field_type(session, field)
    if field_type not in (AttributeType.DATE, AttributeType.DATETIME):
        log.warning("trigger_date_field_gone", trigger=definition.key, field=field)
        return 0
    instant = field_type is AttributeType.DATETIME
    if yearly and instant:
        return 0

    # Profiles' zones grouped by the zone they count in (no or unknown zone: the brand's).
    groups: dict[str, list[str | None]] = {}
    for raw in await repository.profile_time_zones(session):
        groups.setdefault(_zone(raw, brand_zone), []).append(raw)
    windows: list[ZoneWindow] = []
    plans: dict[str | None, _ZonePlan] = {}
    for name, raws in groups.items():
        zone = zoneinfo.ZoneInfo(name)
        due = _due_days(start, end, at, zone)
        if due is None:
            continue
        first, last = due[0] - offset, due[1] - offset  # the field's dates that fall due
        anniversaries = _anniversaries(first, last) if yearly else {}
        if instant:
            date_from = _fire_at(first, dt.time(0), zone).isoformat()
            date_to = _fire_at(last + ONE_DAY, dt.time(0), zone).isoformat()
        else:
            date_from, date_to = first.isoformat(), last.isoformat()
        windows.append(ZoneWindow(tuple(raws), date_from, date_to, tuple(sorted(anniversaries))))
        for raw in raws:
            plans[raw] = _ZonePlan(zone, anniversaries)

    raised = 0
    after: UUID | None = None
    while True:
        rows = await repository.profiles_with_dates(
            session, field, windows, yearly=yearly, instant=instant, after=after, limit=SCAN_PAGE
        )
        occurrences: list[NewOccurrence] = []
        for profile_id, raw_zone, value in rows:
            plan = plans.get(raw_zone)
            if plan is None:  # a zone that appeared since the zones were read
                continue
            occurrences.extend(
                _date_occurrences(definition, profile_id, value, plan, offset, at, yearly, instant)
            )
        due_now = [o for o in occurrences if start < o.occurred_at <= end]
        raised += len(await service.raise_many(session, tenant, due_now))
        if len(rows) < SCAN_PAGE:
            return raised
        after = rows[-1][0]


def _date_occurrences(
    definition: TriggerDefinition,
    profile_id: UUID,
    value: str,
    plan: _ZonePlan,
    offset: dt.timedelta,
    at: dt.time,
    yearly: bool,
    instant: bool,
) -> Sequence[NewOccurrence]:
    payload_base = {"field": definition.settings["date_field"], "value": value}
    if yearly:
        return [
            NewOccurrence(
                profile_id=profile_id,
                type=definition.key,
                dedupe_key=f"{profile_id}:{day.year}",
                occurred_at=_fire_at(day + offset, at, plan.zone),
                payload={**payload_base, "anniversary": day.isoformat()},
            )
            for day in plan.anniversaries.get(value[5:10], [])
        ]
    try:
        if instant:
            day = dt.datetime.fromisoformat(value).astimezone(plan.zone).date()
        else:
            day = dt.date.fromisoformat(value[:10])
    except ValueError:
        return []
    return [
        NewOccurrence(
            profile_id=profile_id,
            type=definition.key,
            dedupe_key=f"{profile_id}:{value}",
            occurred_at=_fire_at(day + offset, at, plan.zone),
            payload={**payload_base, "date": day.isoformat()},
        )
    ]


# Inactivity ------------------------------------------------------------------------------------


async def _scan_inactivity(
    session: AsyncSession,
    tenant: TenantId,
    definition: TriggerDefinition,
    start: dt.datetime,
    end: dt.datetime,
) -> int:
    """Profiles whose last order is ``inactivity_days`` old at some instant of (start, end]; the
    dedupe key holds the last order's time, so each lapse raises once."""
    days = int(definition.settings["inactivity_days"])
    lapse = dt.timedelta(days=days)
    raised = 0
    after: UUID | None = None
    while True:
        rows = await profile_orders.profiles_by_last_order(
            session, start - lapse, end - lapse, after_profile=after, limit=SCAN_PAGE
        )
        occurrences = [
            NewOccurrence(
                profile_id=profile_id,
                type=definition.key,
                dedupe_key=f"{profile_id}:{last.astimezone(dt.UTC).isoformat()}",
                occurred_at=last + lapse,
                payload={"lastOrderAt": last.isoformat(), "inactivityDays": days},
            )
            for profile_id, last in rows
        ]
        raised += len(await service.raise_many(session, tenant, occurrences))
        if len(rows) < SCAN_PAGE:
            return raised
        after = rows[-1][0]
