"""Typed rule nodes → one SQLAlchemy Core boolean expression over the ``profiles`` row.

Conditions over other tables (orders, events, linked rows, consents, RFM scores, members of
another segment) become ``profiles.id IN (SELECT profile_id … GROUP BY … HAVING …)``: PostgreSQL
turns those into hash semi-joins, the shape a hand-written query gets. A condition a profile
with no rows satisfies (``count = 0``, ``sum < 10``) is the complement, ``NOT EXISTS`` over the
rows that fail it (an anti-join; ``NOT IN`` would defeat the planner). ``NOT`` is pushed down
to the leaves, so a negated set condition is an anti-join too and a missing value (SQL NULL)
never turns ``not (tier = gold)`` into unknown.

Every subquery names its tenant explicitly (and PostgreSQL's row-level security applies too),
and "now" is a parameter, so tests evaluate at a fixed instant.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Select,
    String,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.util import ClauseAdapter

from backend.events.models import Event
from backend.profiles.models import (
    AttributeType,
    Channel,
    ConsentChange,
    ConsentState,
    LinkedRow,
    Order,
    OrderLine,
    Profile,
)
from backend.rfm import service as rfm_service
from backend.rfm.models import RfmKind, RfmRun, RfmScore
from backend.segments import rules
from backend.segments.models import SegmentMember
from backend.segments.rules import Compare

T = AttributeType
P = Profile.__table__
O = Order.__table__  # noqa: E741
L = OrderLine.__table__
E = Event.__table__
C = ConsentChange.__table__
R = LinkedRow.__table__
M = SegmentMember.__table__

Bool = ColumnElement[bool]


@dataclass(frozen=True)
class Context:
    """What a compilation depends on besides the rules."""

    tenant: UUID
    now: dt.datetime
    dialect: str  # postgresql or sqlite
    brand_time_zone: str = "UTC"
    only: Sequence[UUID] | None = None  # restrict every subquery to these profiles

    @property
    def postgres(self) -> bool:
        return self.dialect == "postgresql"


@dataclass(frozen=True)
class _Set:
    """``profiles.id IN rows`` (positive) or ``NOT IN`` (negative); ``rows`` selects profile_id."""

    rows: Select[Any]
    positive: bool


# Entry points ----------------------------------------------------------------------------------


def condition(node: rules.Node, ctx: Context) -> Bool:
    """The node as a boolean expression over ``profiles`` (never NULL)."""
    return _compile(node, ctx, negated=False)


def members_query(node: rules.Node, ctx: Context) -> Select[tuple[UUID]]:
    """SELECT profiles.id of the profiles the rules hold for: the one statement per evaluation."""
    query = select(P.c.id).where(P.c.tenant_id == ctx.tenant, condition(node, ctx))
    if ctx.only is not None:
        query = query.where(P.c.id.in_(list(ctx.only)))
    return query


def count_query(node: rules.Node, ctx: Context) -> Select[Any]:
    query = select(func.count()).select_from(P).where(P.c.tenant_id == ctx.tenant)
    query = query.where(condition(node, ctx))
    if ctx.only is not None:
        query = query.where(P.c.id.in_(list(ctx.only)))
    return query


# The tree --------------------------------------------------------------------------------------


def _compile(node: rules.Node, ctx: Context, *, negated: bool) -> Bool:
    if isinstance(node, rules.And | rules.Or):
        parts = [_compile(child, ctx, negated=negated) for child in node.children]
        # De Morgan: a negated AND is an OR of negations.
        conjunction = isinstance(node, rules.And) != negated
        return and_(*parts) if conjunction else or_(*parts)
    if isinstance(node, rules.Not):
        return _compile(node.child, ctx, negated=not negated)
    if isinstance(node, rules.ContactableCondition):
        scalar, rows = _contactable(node, ctx)
        if negated:
            return or_(not_(scalar), _membership(_Set(rows, False), ctx))
        return and_(scalar, _membership(_Set(rows, True), ctx))
    compiled = _leaf(node, ctx)
    if isinstance(compiled, _Set):
        return _membership(_Set(compiled.rows, compiled.positive != negated), ctx)
    if not negated:
        return compiled
    # A scalar predicate may be NULL (a missing value): NULL counts as false before negation.
    return not_(func.coalesce(compiled, false()))


def _membership(rows: _Set, ctx: Context) -> Bool:
    if rows.positive:
        return P.c.id.in_(rows.rows)
    sub = rows.rows.subquery()
    return ~exists(select(literal(1)).select_from(sub).where(sub.c.profile_id == P.c.id))


def _leaf(node: rules.Node, ctx: Context) -> Bool | _Set:
    if isinstance(node, rules.FieldCondition):
        column: Any = P.c[node.column]
        if node.test.type is T.ENUM:
            column = type_coerce(column, String)
        return _test(column, node.test, ctx, json=False)
    if isinstance(node, rules.AttributeCondition):
        return _test(
            _json_value(P.c.attributes[node.key], node.test.type), node.test, ctx, json=True
        )
    if isinstance(node, rules.OrdersCondition):
        return _orders(node, ctx)
    if isinstance(node, rules.EventCondition):
        return _events(node, ctx)
    if isinstance(node, rules.LinkedCondition):
        return _linked(node, ctx)
    if isinstance(node, rules.ConsentCondition):
        return _consent(node, ctx)
    if isinstance(node, rules.RfmCondition):
        return _rfm(node, ctx)
    if isinstance(node, rules.SegmentCondition):
        rows = select(M.c.profile_id).where(
            M.c.tenant_id == ctx.tenant, M.c.segment_id == node.segment_id
        )
        return _Set(_only(rows, M.c.profile_id, ctx), True)
    raise TypeError(f"unknown node {node!r}")


def _only(query: Select[Any], column: Any, ctx: Context) -> Select[Any]:
    return query if ctx.only is None else query.where(column.in_(list(ctx.only)))


def _json_value(element: Any, kind: AttributeType) -> Any:
    if kind is T.NUMBER:
        return element.as_float()
    if kind is T.BOOLEAN:
        return element.as_boolean()
    return element.as_string()


# Comparisons -----------------------------------------------------------------------------------


def _literal(value: Any, test: Compare, json: bool) -> Any:
    """A value as the compared expression holds it: JSON dates and times are ISO text."""
    if json and isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if json and isinstance(value, dt.date):
        return value.isoformat()
    return value


def _test(expr: Any, test: Compare, ctx: Context, *, json: bool) -> Bool:
    op, value = test.op, test.value

    def lit(v: Any) -> Any:
        return _literal(v, test, json)

    if op == "exists":
        return expr.is_not(None) if value else expr.is_(None)  # type: ignore[no-any-return]
    if op == "eq":
        return expr == lit(value)  # type: ignore[no-any-return]
    if op == "neq":  # a missing value is not equal either
        return or_(expr.is_(None), expr != lit(value))
    if op == "in":
        return expr.in_([lit(v) for v in value])  # type: ignore[no-any-return]
    if op == "not_in":
        return or_(expr.is_(None), expr.not_in([lit(v) for v in value]))
    if op in ("gt", "gte", "lt", "lte"):
        return _ordering(expr, op, lit(value))
    if op == "between":
        return and_(expr >= lit(value[0]), expr <= lit(value[1]))
    if op == "contains":
        return func.lower(expr).contains(value.lower(), autoescape=True)
    if op == "starts_with":
        return func.lower(expr).startswith(value.lower(), autoescape=True)
    if test.type is T.DATETIME:
        return _moment_window(expr, op, int(value), ctx, json)
    return _date_relative(expr, op, int(value), ctx, json)


def _ordering(expr: Any, op: str, value: Any) -> Bool:
    if op == "gt":
        return expr > value  # type: ignore[no-any-return]
    if op == "gte":
        return expr >= value  # type: ignore[no-any-return]
    if op == "lt":
        return expr < value  # type: ignore[no-any-return]
    return expr <= value  # type: ignore[no-any-return]


def _holds(test: Compare, value: Any) -> bool:
    """Whether the test holds for a profile with no rows (``value`` 0, or None)."""
    if test.op == "exists":
        return (value is not None) == bool(test.value)
    if value is None:
        return False
    if test.op == "between":
        return bool(test.value[0] <= value <= test.value[1])
    if test.op == "in":
        return value in test.value
    if test.op == "not_in":
        return value not in test.value
    checks: dict[str, Callable[[Any, Any], bool]] = {
        "eq": lambda a, b: a == b,
        "neq": lambda a, b: a != b,
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }
    return checks[test.op](value, test.value)


def _moment_window(expr: Any, op: str, days: int, ctx: Context, json: bool) -> Bool:
    span = dt.timedelta(days=days)
    low, high = (ctx.now - span, ctx.now) if op == "within_last_days" else (ctx.now, ctx.now + span)
    if json:
        return and_(expr >= low.isoformat(), expr <= high.isoformat())
    return and_(expr >= low, expr <= high)


# Dates in the profile's time zone ---------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _zones_by_date(minute: dt.datetime) -> dict[dt.date, tuple[str, ...]]:
    """Every IANA zone grouped by its local date at ``minute``."""
    groups: dict[dt.date, list[str]] = {}
    for name in sorted(zoneinfo.available_timezones()):
        try:
            local = minute.astimezone(zoneinfo.ZoneInfo(name)).date()
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            continue
        groups.setdefault(local, []).append(name)
    return {day: tuple(names) for day, names in groups.items()}


def _by_local_date(ctx: Context, predicate: Callable[[dt.date], Bool]) -> Bool:
    """``predicate(today)`` with today the profile's local date (its time zone, else the
    brand's): one branch per date some zone has now (at most three)."""
    zone = func.coalesce(P.c.time_zone, ctx.brand_time_zone)
    minute = ctx.now.astimezone(dt.UTC).replace(second=0, microsecond=0)
    groups = _zones_by_date(minute)
    brand_today = ctx.now.astimezone(zoneinfo.ZoneInfo(ctx.brand_time_zone)).date()
    others = [day for day in sorted(groups) if day != brand_today]
    if not others:
        return predicate(brand_today)
    if ctx.postgres:
        local = cast(func.timezone(zone, cast(literal(ctx.now), DateTime(timezone=True))), Date)
        whens = [(local == day, predicate(day)) for day in others]
    else:
        whens = [(zone.in_(groups[day]), predicate(day)) for day in others]
    return case(*whens, else_=predicate(brand_today))


def _date_relative(expr: Any, op: str, days: int, ctx: Context, json: bool) -> Bool:
    def as_value(day: dt.date) -> Any:
        return day.isoformat() if json else day

    if op == "birthday_in_days":
        month_day = (
            func.to_char(expr, "MM-DD") if ctx.postgres and not json else func.substr(expr, 6, 5)
        )
        return _by_local_date(ctx, lambda today: month_day.in_(_birthdays(today, days)))
    if op == "in_days":
        return _by_local_date(ctx, lambda today: expr == as_value(today + dt.timedelta(days=days)))
    span = dt.timedelta(days=days)
    if op == "within_last_days":
        return _by_local_date(
            ctx, lambda today: and_(expr >= as_value(today - span), expr <= as_value(today))
        )
    return _by_local_date(
        ctx, lambda today: and_(expr >= as_value(today), expr <= as_value(today + span))
    )


def _birthdays(today: dt.date, days: int) -> list[str]:
    """Month-days of the birthdays falling from today to ``days`` later; 29 February is
    celebrated on 28 February in common years."""
    found: set[str] = set()
    for offset in range(days + 1):
        day = today + dt.timedelta(days=offset)
        found.add(day.strftime("%m-%d"))
        if (day.month, day.day) == (2, 28) and (day + dt.timedelta(days=1)).month == 3:
            found.add("02-29")
    return sorted(found)


# Orders, events, linked rows --------------------------------------------------------------------


def _grouped(
    base: Select[Any], profile_column: Any, aggregate: Any, test: Compare, neutral: Any
) -> _Set:
    """Profiles whose rows' ``aggregate`` passes ``test``; ``neutral`` is its value without rows."""
    grouped = base.group_by(profile_column)
    if _holds(test, neutral):
        failing = not_(func.coalesce(_test(aggregate, test, _NO_CONTEXT, json=False), false()))
        return _Set(grouped.having(failing), False)
    return _Set(grouped.having(_test(aggregate, test, _NO_CONTEXT, json=False)), True)


_NO_CONTEXT = Context(tenant=UUID(int=0), now=dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dialect="")


def _since(column: Any, days: int | None, ctx: Context) -> list[Bool]:
    return [] if days is None else [column >= ctx.now - dt.timedelta(days=days)]


def _orders(node: rules.OrdersCondition, ctx: Context) -> _Set:
    where: list[Bool] = [
        O.c.tenant_id == ctx.tenant,
        *_since(O.c.occurred_at, node.window_days, ctx),
    ]
    if node.stores:
        where.append(O.c.store.in_(node.stores))
    for column, values in ((L.c.category, node.categories), (L.c.product, node.products)):
        if values:
            lines = select(literal(1)).where(
                L.c.tenant_id == O.c.tenant_id, L.c.order_uuid == O.c.id, column.in_(values)
            )
            where.append(exists(lines))
    base = _only(select(O.c.profile_id).where(*where), O.c.profile_id, ctx)
    aggregate, neutral = {
        "count": (func.count(), 0),
        "sum": (func.sum(O.c.amount), 0),
        "avg": (func.avg(O.c.amount), None),
        "max": (func.max(O.c.amount), None),
        "last_date": (func.max(O.c.occurred_at), None),
    }[node.aggregate]
    test = node.test
    if node.aggregate == "last_date" and test.op in ("within_last_days", "within_next_days"):
        window = _moment_window(aggregate, test.op, int(test.value), ctx, False)
        return _Set(base.group_by(O.c.profile_id).having(window), True)
    if node.aggregate in ("sum", "avg", "max"):  # amounts are NUMERIC: compare with decimals
        test = _decimal_test(test)
    return _grouped(base, O.c.profile_id, aggregate, test, neutral)


def _decimal_test(test: Compare) -> Compare:
    def exact(value: Any) -> Any:
        if isinstance(value, tuple):
            return tuple(exact(v) for v in value)
        return Decimal(str(value)) if isinstance(value, int | float) else value

    return Compare(test.type, test.op, exact(test.value))


def _events(node: rules.EventCondition, ctx: Context) -> _Set:
    where: list[Bool] = [
        E.c.tenant_id == ctx.tenant,
        E.c.name == node.name,
        *_since(E.c.occurred_at, node.window_days, ctx),
        *(_filter(E.c.properties, f, ctx) for f in node.where),
    ]
    base = _only(select(E.c.profile_id).where(*where), E.c.profile_id, ctx)
    return _grouped(base, E.c.profile_id, func.count(), node.test, 0)


def _filter(column: Any, item: rules.PropertyFilter, ctx: Context) -> Bool:
    value = _json_value(column[item.name], item.test.type)
    return func.coalesce(_test(value, item.test, ctx, json=True), false())


def _linked(node: rules.LinkedCondition, ctx: Context) -> _Set:
    where = [
        R.c.tenant_id == ctx.tenant,
        R.c.table_id == node.table_id,
        *(_filter(R.c["values"], f, ctx) for f in node.where),
    ]
    base = _only(select(R.c.profile_id).where(*where), R.c.profile_id, ctx)
    if node.aggregate == "count":
        return _grouped(base, R.c.profile_id, func.count(), node.test, 0)
    assert node.column is not None
    number = R.c["values"][node.column].as_float()
    aggregate = {"sum": func.sum(number), "min": func.min(number), "max": func.max(number)}[
        node.aggregate
    ]
    return _grouped(
        base, R.c.profile_id, aggregate, node.test, 0 if node.aggregate == "sum" else None
    )


# Consents and contactability --------------------------------------------------------------------


def _latest_consents(channel: Channel | None, topic: str | None, ctx: Context) -> Any:
    """The latest change of each profile for (channel, topic): profile_id, state, occurred_at."""
    where = [
        C.c.tenant_id == ctx.tenant,
        C.c.channel.is_(None) if channel is None else C.c.channel == channel.value,
        C.c.topic.is_(None) if topic is None else C.c.topic == topic,
    ]
    if ctx.only is not None:
        where.append(C.c.profile_id.in_(list(ctx.only)))
    order = (C.c.occurred_at.desc(), C.c.id.desc())
    if ctx.postgres:
        return (
            select(C.c.profile_id, C.c.state, C.c.occurred_at)
            .where(*where)
            .ext(distinct_on(C.c.profile_id))
            .order_by(C.c.profile_id, *order)
            .subquery()
        )
    rank = func.row_number().over(partition_by=C.c.profile_id, order_by=order).label("rank")
    ranked = select(C.c.profile_id, C.c.state, C.c.occurred_at, rank).where(*where).subquery()
    return (
        select(ranked.c.profile_id, ranked.c.state, ranked.c.occurred_at)
        .where(ranked.c.rank == 1)
        .subquery()
    )


def _consent(node: rules.ConsentCondition, ctx: Context) -> _Set:
    if node.state == "none":
        where = [
            C.c.tenant_id == ctx.tenant,
            C.c.channel.is_(None) if node.channel is None else C.c.channel == node.channel.value,
            C.c.topic.is_(None) if node.topic is None else C.c.topic == node.topic,
        ]
        return _Set(_only(select(C.c.profile_id).where(*where), C.c.profile_id, ctx), False)
    latest = _latest_consents(node.channel, node.topic, ctx)
    return _Set(select(latest.c.profile_id).where(latest.c.state == node.state), True)


def _has(column: Any, value: str, ctx: Context) -> Bool:
    """Whether a JSON list of texts holds ``value``."""
    if ctx.postgres:
        return column.op("?", return_type=Boolean)(value)  # type: ignore[no-any-return]
    return type_coerce(column, String).like(f'%"{value}"%')


def _contactable(node: rules.ContactableCondition, ctx: Context) -> tuple[Bool, Select[Any]]:
    """As :func:`backend.profiles.consents.contactability`: an address, the channel's latest
    consent granted and later than any global opt-out, neither bounced nor suppressed. (Whether
    a phone number is a mobile is not known to SQL: any number counts for SMS.)"""
    channel = node.channel
    if channel is Channel.EMAIL:
        address: Bool = P.c.email.is_not(None)
    elif channel in (Channel.SMS, Channel.PHONE):
        address = P.c.phone.is_not(None)
    else:
        address = false()
    scalar = and_(
        address,
        not_(_has(P.c.bounced, channel.value, ctx)),
        not_(_has(P.c.suppressed, channel.value, ctx)),
    )
    own = _latest_consents(channel, None, ctx)
    overall = _latest_consents(None, None, ctx)
    rows = (
        select(own.c.profile_id)
        .select_from(own.outerjoin(overall, overall.c.profile_id == own.c.profile_id))
        .where(
            own.c.state == ConsentState.GRANTED.value,
            or_(
                overall.c.state.is_(None),
                overall.c.state == ConsentState.GRANTED.value,
                overall.c.occurred_at < own.c.occurred_at,
            ),
        )
    )
    return scalar, rows


# RFM --------------------------------------------------------------------------------------------


def _rfm_scores(kind: RfmKind, tenant: UUID) -> Any:
    """The current scores of ``kind``, with the brand named in each of its tables (an INSERT …
    SELECT is not scoped by the session)."""
    query: Any = rfm_service.current_scores_query(kind)
    tables: tuple[Any, ...] = (RfmRun.__table__, RfmScore.__table__)
    for table in tables:
        scoped = select(table).where(table.c.tenant_id == tenant).subquery(f"{table.name}_scoped")
        query = ClauseAdapter(scoped).traverse(query)
    return query.subquery()


def _rfm(node: rules.RfmCondition, ctx: Context) -> _Set:
    scores = _rfm_scores(node.kind, ctx.tenant)
    column = scores.c.segment if node.score is None else scores.c[node.score]
    given = node.test if node.score != "monetary" else _decimal_test(node.test)
    test = _test(column, given, ctx, json=False)
    rows = select(scores.c.profile_id).where(func.coalesce(test, false()))
    return _Set(_only(rows, scores.c.profile_id, ctx), True)


__all__ = ["Context", "condition", "count_query", "members_query", "true"]
