"""The segment rule language: a JSON tree parsed and validated against the brand's schema into
typed nodes. Every error names its node with a JSON pointer into the definition
(``/and/2/value``), so a 422 says exactly what to fix.

Pure functions over a :class:`RuleSchema` (the brand's attributes, linked tables, topics and
segments), loaded once per validation by the service.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from backend.core.errors import InvalidInput
from backend.profiles.models import AttributeType, Channel, ConsentState
from backend.rfm.models import RfmKind
from backend.segments.nodes import (
    And,
    AttributeCondition,
    Compare,
    ConsentCondition,
    ContactableCondition,
    EventCondition,
    FieldCondition,
    LinkedCondition,
    LinkedSchema,
    Node,
    Not,
    Or,
    OrdersCondition,
    PropertyFilter,
    RfmCondition,
    RuleSchema,
    SegmentCondition,
    Typed,
)

MAX_DEPTH = 10
MAX_NODES = 200
MAX_LIST = 1000
MIN_WINDOW, MAX_WINDOW = 1, 3650
MAX_RELATIVE_DAYS = 3650
MAX_BIRTHDAY_DAYS = 366

T = AttributeType

# Standard profile fields a rule may read: API name → (stored column, type).
PROFILE_FIELDS: dict[str, tuple[str, AttributeType]] = {
    "email": ("email", T.TEXT),
    "phone": ("phone", T.TEXT),
    "firstName": ("first_name", T.TEXT),
    "lastName": ("last_name", T.TEXT),
    "birthDate": ("birth_date", T.DATE),
    "locale": ("locale", T.TEXT),
    "timeZone": ("time_zone", T.TEXT),
    "country": ("country", T.TEXT),
    "preferredStore": ("preferred_store", T.TEXT),
    "channelAppetency": ("channel_appetency", T.ENUM),
    "createdAt": ("created_at", T.DATETIME),
    "updatedAt": ("updated_at", T.DATETIME),
}
# Stored (snake_case) names are accepted too.
FIELD_ALIASES = {stored: api for api, (stored, _) in PROFILE_FIELDS.items()}

EQUALITY = {"eq", "neq", "in", "not_in", "exists"}
ORDERING = {"gt", "gte", "lt", "lte", "between"}
RELATIVE = {"within_last_days", "within_next_days", "in_days"}
OPS_OF_TYPE: dict[AttributeType, set[str]] = {
    T.TEXT: EQUALITY | {"contains", "starts_with"},
    T.ENUM: EQUALITY,
    T.NUMBER: EQUALITY | ORDERING,
    T.BOOLEAN: {"eq", "neq", "exists"},
    T.DATE: EQUALITY | ORDERING | RELATIVE | {"birthday_in_days"},
    T.DATETIME: {"exists"} | ORDERING | {"within_last_days", "within_next_days"},
}
COMPARISON = {"eq", "neq", "gt", "gte", "lt", "lte"}
ORDER_AGGREGATES = {"count", "sum", "avg", "max", "last_date"}
LINKED_AGGREGATES = {"count", "sum", "min", "max"}
RFM_SCORES: dict[str, AttributeType] = {
    "r": T.NUMBER,
    "f": T.NUMBER,
    "m": T.NUMBER,
    "recency_days": T.NUMBER,
    "frequency": T.NUMBER,
    "monetary": T.NUMBER,
}
CONSENT_OPS = {"granted", "denied", "unsubscribed", "none"}


# Parsing ---------------------------------------------------------------------------------------


class RuleErrors:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, pointer: str, detail: str) -> None:
        self.items.append({"pointer": pointer or "/", "detail": detail})

    def raise_if_any(self) -> None:
        if self.items:
            first = self.items[0]
            raise InvalidInput(
                f"the segment definition is not valid at {first['pointer']}: {first['detail']}",
                errors=self.items,
            )


class _Skip(Exception):
    """This node is invalid (already reported)."""


def _escape(token: str | int) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


class _Parser:
    def __init__(self, schema: RuleSchema) -> None:
        self.schema = schema
        self.errors = RuleErrors()
        self.nodes = 0

    def fail(self, pointer: str, detail: str) -> _Skip:
        self.errors.add(pointer, detail)
        return _Skip()

    def node(self, raw: Any, at: str, depth: int) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(at, f"a definition has at most {MAX_NODES} conditions")
        if depth > MAX_DEPTH:
            raise self.fail(at, f"nested deeper than {MAX_DEPTH} levels")
        if not isinstance(raw, dict):
            raise self.fail(at, "expected a condition (a JSON object)")
        for group, make in (("and", And), ("or", Or)):
            if group in raw:
                self._only(raw, {group}, at)
                items = raw[group]
                if not isinstance(items, list) or not items:
                    raise self.fail(f"{at}/{group}", "expected a non-empty list of conditions")
                children = self._children(items, f"{at}/{group}", depth + 1)
                return make(children)
        if "not" in raw:
            self._only(raw, {"not"}, at)
            return Not(self.node(raw["not"], f"{at}/not", depth + 1))
        for key, parse in self._leaves.items():
            if key in raw:
                return parse(self, raw, at)
        known = ", ".join(["and", "or", "not", *self._leaves])
        raise self.fail(at, f"unknown condition: expected one of {known}")

    def _children(self, items: list[Any], at: str, depth: int) -> tuple[Node, ...]:
        children: list[Node] = []
        for index, item in enumerate(items):
            try:
                children.append(self.node(item, f"{at}/{index}", depth))
            except _Skip:
                continue
        if len(children) != len(items):
            raise _Skip()
        return tuple(children)

    def _only(self, raw: dict[str, Any], allowed: set[str], at: str) -> None:
        extra = sorted(set(raw) - allowed)
        if extra:
            raise self.fail(f"{at}/{_escape(extra[0])}", "not a member of this condition")

    # Comparisons ---------------------------------------------------------------------------

    def compare(
        self,
        raw: dict[str, Any],
        at: str,
        typed: Typed,
        *,
        ops: set[str] | None = None,
    ) -> Compare:
        op = raw.get("op")
        allowed = OPS_OF_TYPE[typed.type] if ops is None else ops
        if not isinstance(op, str):
            raise self.fail(
                f"{at}/op", f"expected an operator: one of {', '.join(sorted(allowed))}"
            )
        if op not in allowed:
            raise self.fail(
                f"{at}/op",
                f"{op!r} does not apply to a {typed.type.value} value: "
                f"expected one of {', '.join(sorted(allowed))}",
            )
        value = raw.get("value")
        vat = f"{at}/value"
        if op == "exists":
            if value is None:
                return Compare(typed.type, op, True)
            if not isinstance(value, bool):
                raise self.fail(vat, "expected true or false (or no value)")
            return Compare(typed.type, op, value)
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not 0 < len(value) <= MAX_LIST:
                raise self.fail(vat, f"expected a list of 1 to {MAX_LIST} values")
            return Compare(
                typed.type,
                op,
                tuple(self.scalar(v, typed, f"{vat}/{i}") for i, v in enumerate(value)),
            )
        if op == "between":
            if not isinstance(value, list) or len(value) != 2:
                raise self.fail(vat, "expected [low, high]")
            low, high = (self.scalar(v, typed, f"{vat}/{i}") for i, v in enumerate(value))
            if low > high:
                raise self.fail(vat, "low is above high")
            return Compare(typed.type, op, (low, high))
        if op in RELATIVE or op == "birthday_in_days":
            limit = MAX_BIRTHDAY_DAYS if op == "birthday_in_days" else MAX_RELATIVE_DAYS
            low = 1 if op in ("within_last_days", "within_next_days") else 0
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= limit:
                raise self.fail(vat, f"expected a number of days from {low} to {limit}")
            return Compare(typed.type, op, value)
        if op in ("contains", "starts_with"):
            if not isinstance(value, str) or not value:
                raise self.fail(vat, "expected some text")
            return Compare(typed.type, op, value)
        return Compare(typed.type, op, self.scalar(value, typed, vat))

    def scalar(self, value: Any, typed: Typed, at: str) -> Any:
        kind = typed.type
        if kind is T.NUMBER:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self.fail(at, "expected a number")
            if isinstance(value, float) and not math.isfinite(value):
                raise self.fail(at, "expected a finite number")
            return value
        if kind is T.BOOLEAN:
            if not isinstance(value, bool):
                raise self.fail(at, "expected true or false")
            return value
        if kind is T.DATE:
            try:
                return dt.date.fromisoformat(value)
            except (TypeError, ValueError):
                raise self.fail(at, "expected a date (YYYY-MM-DD)") from None
        if kind is T.DATETIME:
            try:
                moment = dt.datetime.fromisoformat(value)
            except (TypeError, ValueError):
                raise self.fail(at, "expected an ISO 8601 date and time") from None
            if moment.tzinfo is None:
                raise self.fail(at, "expected a date and time with its UTC offset")
            return moment.astimezone(dt.UTC)
        if not isinstance(value, str):
            raise self.fail(at, "expected text")
        if kind is T.ENUM and typed.options and value not in typed.options:
            raise self.fail(at, f"expected one of {', '.join(typed.options)}")
        return value

    def count_test(self, raw: dict[str, Any], at: str) -> Compare:
        test = self.compare(raw, at, Typed(T.NUMBER), ops=COMPARISON)
        if not _is_int(test.value) or test.value < 0:
            raise self.fail(f"{at}/value", "expected a whole number, 0 or more")
        return test

    def window(self, raw: dict[str, Any], at: str) -> int | None:
        days = raw.get("windowDays")
        if days is None:
            return None
        if not _is_int(days) or not MIN_WINDOW <= days <= MAX_WINDOW:
            raise self.fail(f"{at}/windowDays", f"expected {MIN_WINDOW} to {MAX_WINDOW} days")
        return int(days)

    def texts(self, raw: dict[str, Any], name: str, at: str) -> tuple[str, ...]:
        value = raw.get(name)
        if value is None:
            return ()
        values = value if isinstance(value, list) else [value]
        if not 0 < len(values) <= MAX_LIST or not all(isinstance(v, str) and v for v in values):
            raise self.fail(f"{at}/{name}", "expected text or a list of texts")
        return tuple(values)

    def filters(
        self, raw: Any, at: str, typing: Callable[[str, Any, str], Typed], key: str
    ) -> tuple[PropertyFilter, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list) or len(raw) > 20:
            raise self.fail(at, "expected a list of at most 20 filters")
        result = []
        for index, item in enumerate(raw):
            fat = f"{at}/{index}"
            if not isinstance(item, dict) or not isinstance(item.get(key), str):
                raise self.fail(fat, f"expected {{{key!r}: …, 'op': …, 'value': …}}")
            self._only(item, {key, "op", "value"}, fat)
            typed = typing(item[key], item.get("value"), f"{fat}/{key}")
            result.append(PropertyFilter(item[key], self.compare(item, fat, typed)))
        return tuple(result)

    # Leaves --------------------------------------------------------------------------------

    def field(self, raw: dict[str, Any], at: str) -> Node:
        self._only(raw, {"field", "op", "value"}, at)
        name = raw["field"]
        api = FIELD_ALIASES.get(name, name) if isinstance(name, str) else None
        if api not in PROFILE_FIELDS:
            raise self.fail(f"{at}/field", f"unknown profile field {name!r}")
        column, kind = PROFILE_FIELDS[api]
        options = tuple(c.value for c in Channel) if kind is T.ENUM else ()
        return FieldCondition(column, self.compare(raw, at, Typed(kind, options)))

    def attribute(self, raw: dict[str, Any], at: str) -> Node:
        self._only(raw, {"attribute", "op", "value"}, at)
        key = raw["attribute"]
        typed = self.schema.attributes.get(key) if isinstance(key, str) else None
        if typed is None:
            raise self.fail(f"{at}/attribute", f"unknown attribute {key!r}")
        return AttributeCondition(key, self.compare(raw, at, typed))

    def orders(self, raw: dict[str, Any], at: str) -> Node:
        self._only(raw, {"orders", "op", "value"}, at)
        spec, sat = raw["orders"], f"{at}/orders"
        if not isinstance(spec, dict):
            raise self.fail(sat, "expected {'aggregate': …, 'windowDays': …}")
        self._only(spec, {"aggregate", "windowDays", "store", "category", "product"}, sat)
        aggregate = spec.get("aggregate", "count")
        if aggregate not in ORDER_AGGREGATES:
            raise self.fail(
                f"{sat}/aggregate", f"expected one of {', '.join(sorted(ORDER_AGGREGATES))}"
            )
        window = self.window(spec, sat)
        stores = self.texts(spec, "store", sat)
        categories = self.texts(spec, "category", sat)
        products = self.texts(spec, "product", sat)
        if aggregate == "count":
            test = self.count_test(raw, at)
        elif aggregate == "last_date":
            test = self.compare(raw, at, Typed(T.DATETIME))
        else:
            test = self.compare(raw, at, Typed(T.NUMBER), ops=COMPARISON | {"between"})
        return OrdersCondition(aggregate, window, stores, categories, products, test)

    def event(self, raw: dict[str, Any], at: str) -> Node:
        self._only(raw, {"event", "op", "value"}, at)
        spec, sat = raw["event"], f"{at}/event"
        if not isinstance(spec, dict):
            raise self.fail(sat, "expected {'name': …, 'windowDays': …, 'where': […]}")
        self._only(spec, {"name", "windowDays", "where"}, sat)
        name = spec.get("name")
        if not isinstance(name, str) or not 0 < len(name) <= 100:
            raise self.fail(f"{sat}/name", "expected the event's name")
        window = self.window(spec, sat)
        where = self.filters(spec.get("where"), f"{sat}/where", _typed_by_value, "property")
        if "op" not in raw:  # did it at least once
            return EventCondition(name, window, where, Compare(T.NUMBER, "gte", 1))
        return EventCondition(name, window, where, self.count_test(raw, at))

    def linked(self, raw: dict[str, Any], at: str) -> Node:
        self._only(raw, {"linked", "op", "value"}, at)
        spec, sat = raw["linked"], f"{at}/linked"
        if not isinstance(spec, dict):
            raise self.fail(sat, "expected {'table': …, 'where': […]}")
        self._only(spec, {"table", "where", "aggregate", "column"}, sat)
        name = spec.get("table")
        table = self.schema.linked.get(name) if isinstance(name, str) else None
        if table is None:
            raise self.fail(f"{sat}/table", f"unknown linked table {spec.get('table')!r}")

        def column_type(name: str, _value: Any, cat: str) -> Typed:
            typed = table.columns.get(name)
            if typed is None:
                raise self.fail(cat, f"unknown column {name!r}")
            return typed

        where = self.filters(spec.get("where"), f"{sat}/where", column_type, "column")
        aggregate = spec.get("aggregate", "count")
        if aggregate not in LINKED_AGGREGATES:
            raise self.fail(
                f"{sat}/aggregate", f"expected one of {', '.join(sorted(LINKED_AGGREGATES))}"
            )
        column = spec.get("column")
        if aggregate == "count":
            if column is not None:
                raise self.fail(f"{sat}/column", "a count takes no column")
            if raw.get("op") == "exists":
                if raw.get("value") not in (None, True, False):
                    raise self.fail(f"{at}/value", "expected true or false (or no value)")
                wanted = raw.get("value") is not False
                return LinkedCondition(
                    table.id,
                    where,
                    "count",
                    None,
                    Compare(T.NUMBER, "gte" if wanted else "eq", 1 if wanted else 0),
                )
            return LinkedCondition(table.id, where, "count", None, self.count_test(raw, at))
        typed = column_type(column, None, f"{sat}/column") if isinstance(column, str) else None
        if typed is None:
            raise self.fail(f"{sat}/column", f"a {aggregate} needs a number column")
        if typed.type is not T.NUMBER:
            raise self.fail(f"{sat}/column", f"column {column!r} is not a number")
        test = self.compare(raw, at, typed, ops=COMPARISON | {"between"})
        return LinkedCondition(table.id, where, aggregate, column, test)

    def consent(self, raw: dict[str, Any], at: str) -> Node:
        self._only(raw, {"consent", "op"}, at)
        spec, sat = raw["consent"], f"{at}/consent"
        if not isinstance(spec, dict):
            raise self.fail(sat, "expected {'channel': …, 'topic': …}")
        self._only(spec, {"channel", "topic"}, sat)
        channel = _channel(spec.get("channel"))
        if spec.get("channel") is not None and channel is None:
            raise self.fail(
                f"{sat}/channel", f"expected one of {', '.join(c.value for c in Channel)}"
            )
        topic = spec.get("topic")
        if topic is not None:
            if channel is None:
                raise self.fail(f"{sat}/topic", "a topic subscription names its channel")
            if topic not in self.schema.topics:
                raise self.fail(f"{sat}/topic", f"unknown topic {topic!r}")
        op = raw.get("op")
        if op not in CONSENT_OPS:
            raise self.fail(f"{at}/op", f"expected one of {', '.join(sorted(CONSENT_OPS))}")
        return ConsentCondition(channel, topic, str(op))

    def contactable(self, raw: dict[str, Any], at: str) -> Node:
        self._only(raw, {"contactable"}, at)
        channel = _channel(raw["contactable"])
        if channel is None:
            raise self.fail(
                f"{at}/contactable", f"expected one of {', '.join(c.value for c in Channel)}"
            )
        return ContactableCondition(channel)

    def rfm(self, raw: dict[str, Any], at: str) -> Node:
        self._only(raw, {"rfm", "op", "value"}, at)
        spec, sat = raw["rfm"], f"{at}/rfm"
        if not isinstance(spec, dict):
            raise self.fail(sat, "expected {'kind': …, 'score': …} or {'kind': …, 'segment': true}")
        self._only(spec, {"kind", "score", "segment"}, sat)
        try:
            kind = RfmKind(spec.get("kind", RfmKind.PURCHASE))
        except ValueError:
            raise self.fail(f"{sat}/kind", "expected purchase or engagement") from None
        if spec.get("segment") is True:
            if "score" in spec:
                raise self.fail(f"{sat}/score", "name a score or the segment, not both")
            test = self.compare(raw, at, Typed(T.TEXT), ops={"eq", "neq", "in", "not_in"})
            return RfmCondition(kind, None, test)
        score = spec.get("score")
        if score not in RFM_SCORES:
            raise self.fail(f"{sat}/score", f"expected one of {', '.join(RFM_SCORES)}")
        test = self.compare(raw, at, Typed(T.NUMBER), ops=COMPARISON | {"between", "in", "not_in"})
        return RfmCondition(kind, str(score), test)

    def segment(self, raw: dict[str, Any], at: str) -> Node:
        self._only(raw, {"segment"}, at)
        try:
            segment_id = UUID(str(raw["segment"]))
        except ValueError:
            raise self.fail(f"{at}/segment", "expected a segment id") from None
        if segment_id not in self.schema.segments:
            raise self.fail(f"{at}/segment", "no such segment in this brand")
        if self.schema.self_id is not None and _reaches(
            self.schema.segments, segment_id, self.schema.self_id
        ):
            raise self.fail(f"{at}/segment", "this reference makes a cycle of segments")
        return SegmentCondition(segment_id)

    _leaves: Mapping[str, Callable[[_Parser, dict[str, Any], str], Node]] = {
        "field": field,
        "attribute": attribute,
        "orders": orders,
        "event": event,
        "linked": linked,
        "consent": consent,
        "contactable": contactable,
        "rfm": rfm,
        "segment": segment,
    }


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _channel(value: Any) -> Channel | None:
    try:
        return Channel(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _typed_by_value(_name: str, value: Any, _at: str) -> Typed:
    """An event property has no declared type here: the value given decides."""
    sample = value[0] if isinstance(value, list) and value else value
    if isinstance(sample, bool):
        return Typed(T.BOOLEAN)
    if isinstance(sample, int | float):
        return Typed(T.NUMBER)
    return Typed(T.TEXT)


def _reaches(graph: dict[UUID, set[UUID]], start: UUID, target: UUID) -> bool:
    """Whether ``target`` is ``start`` or is referenced from it, transitively."""
    seen: set[UUID] = set()
    stack = [start]
    while stack:
        current = stack.pop()
        if current == target:
            return True
        if current in seen:
            continue
        seen.add(current)
        stack.extend(graph.get(current, ()))
    return False


def parse(raw: Any, schema: RuleSchema) -> Node:
    """The typed tree of a definition; InvalidInput (422) naming every bad node otherwise."""
    parser = _Parser(schema)
    try:
        node = parser.node(raw, "", 1)
    except _Skip:
        node = None
    parser.errors.raise_if_any()
    assert node is not None
    return node


def referenced_segments(raw: Any) -> set[UUID]:
    """The segment ids a (valid) definition references, at any depth."""
    found: set[UUID] = set()
    stack = [raw]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "segment" in item and isinstance(item["segment"], str):
                with contextlib.suppress(ValueError):
                    found.add(UUID(item["segment"]))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


__all__ = [
    "And",
    "AttributeCondition",
    "Compare",
    "ConsentCondition",
    "ConsentState",
    "ContactableCondition",
    "EventCondition",
    "FieldCondition",
    "LinkedCondition",
    "LinkedSchema",
    "Node",
    "Not",
    "Or",
    "OrdersCondition",
    "PropertyFilter",
    "RfmCondition",
    "RuleErrors",
    "RuleSchema",
    "SegmentCondition",
    "Typed",
    "parse",
    "referenced_segments",
]
