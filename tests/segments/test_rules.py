"""Validation of rule definitions: every error names its node with a JSON pointer."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from backend.core.errors import InvalidInput
from backend.profiles.models import AttributeType
from backend.segments import rules
from backend.segments.rules import LinkedSchema, RuleSchema, Typed

SELF, OTHER, THIRD = uuid4(), uuid4(), uuid4()
SCHEMA = RuleSchema(
    attributes={
        "tier": Typed(AttributeType.ENUM, ("gold", "silver")),
        "points": Typed(AttributeType.NUMBER),
        "joined_on": Typed(AttributeType.DATE),
    },
    linked={"coupons": LinkedSchema(uuid4(), {"used": Typed(AttributeType.BOOLEAN)})},
    topics={"newsletter"},
    # OTHER references SELF; THIRD references nothing.
    segments={SELF: set(), OTHER: {SELF}, THIRD: set()},
    self_id=SELF,
)


def errors_of(definition: Any) -> list[dict[str, str]]:
    with pytest.raises(InvalidInput) as caught:
        rules.parse(definition, SCHEMA)
    assert caught.value.errors is not None
    return caught.value.errors


def pointers(definition: Any) -> list[str]:
    return [e["pointer"] for e in errors_of(definition)]


def test_a_valid_tree_parses_into_typed_nodes() -> None:
    node = rules.parse(
        {
            "and": [
                {"field": "country", "op": "in", "value": ["FR", "BE"]},
                {"attribute": "tier", "op": "eq", "value": "gold"},
                {"field": "birth_date", "op": "birthday_in_days", "value": 7},
                {"orders": {"aggregate": "count", "windowDays": 90, "store": "Lyon"}, "op": "gte",
                 "value": 3},
                {"not": {"consent": {"channel": "email", "topic": "newsletter"}, "op": "granted"}},
                {"contactable": "sms"},
                {"linked": {"table": "coupons", "where": [{"column": "used", "op": "eq",
                                                           "value": False}]}, "op": "exists"},
                {"rfm": {"kind": "purchase", "segment": True}, "op": "in", "value": ["At risk"]},
                {"segment": str(THIRD)},
            ]
        },
        SCHEMA,
    )  # fmt: skip
    assert isinstance(node, rules.And)
    assert len(node.children) == 9
    orders = node.children[3]
    assert isinstance(orders, rules.OrdersCondition)
    assert (orders.window_days, orders.stores, orders.test.value) == (90, ("Lyon",), 3)


def test_errors_name_the_bad_node_by_pointer() -> None:
    definition = {
        "and": [
            {"field": "country", "op": "eq", "value": "FR"},
            {"attribute": "nope", "op": "eq", "value": 1},
            {"attribute": "points", "op": "gte", "value": "many"},
            {"or": [{"attribute": "tier", "op": "contains", "value": "go"}]},
        ]
    }
    assert pointers(definition) == ["/and/1/attribute", "/and/2/value", "/and/3/or/0/op"]


@pytest.mark.parametrize(
    ("definition", "pointer"),
    [
        ("country = FR", "/"),
        ({"xor": []}, "/"),
        ({"and": []}, "/and"),
        ({"field": "shoe_size", "op": "eq", "value": 1}, "/field"),
        ({"field": "email", "op": "gt", "value": "a"}, "/op"),
        ({"attribute": "tier", "op": "eq", "value": "bronze"}, "/value"),
        ({"attribute": "joined_on", "op": "eq", "value": "yesterday"}, "/value"),
        ({"attribute": "tier", "op": "in", "value": []}, "/value"),
        ({"attribute": "points", "op": "between", "value": [5, 1]}, "/value"),
        ({"field": "birth_date", "op": "birthday_in_days", "value": 400}, "/value"),
        ({"orders": {"windowDays": 0}, "op": "gte", "value": 1}, "/orders/windowDays"),
        ({"orders": {"windowDays": 3651}, "op": "gte", "value": 1}, "/orders/windowDays"),
        ({"orders": {"aggregate": "median"}, "op": "gte", "value": 1}, "/orders/aggregate"),
        ({"orders": {}, "op": "gte", "value": -1}, "/value"),
        ({"orders": {}, "op": "gte", "value": 1.5}, "/value"),
        ({"event": {"name": "x", "windowDays": 9999}}, "/event/windowDays"),
        ({"event": {"name": ""}}, "/event/name"),
        ({"linked": {"table": "vouchers"}, "op": "exists"}, "/linked/table"),
        (
            {"linked": {"table": "coupons", "where": [{"column": "x", "op": "eq", "value": 1}]},
             "op": "exists"},
            "/linked/where/0/column",
        ),
        ({"consent": {"channel": "fax"}, "op": "granted"}, "/consent/channel"),
        ({"consent": {"channel": "email", "topic": "promo"}, "op": "granted"}, "/consent/topic"),
        ({"consent": {"channel": "email"}, "op": "maybe"}, "/op"),
        ({"contactable": "pigeon"}, "/contactable"),
        ({"rfm": {"kind": "purchase", "score": "z"}, "op": "eq", "value": 1}, "/rfm/score"),
        ({"segment": str(uuid4())}, "/segment"),
        ({"segment": str(OTHER)}, "/segment"),  # OTHER references this one: a cycle
        ({"segment": str(SELF)}, "/segment"),
        ({"field": "email", "op": "exists", "extra": 1}, "/extra"),
    ],
)  # fmt: skip
def test_each_kind_of_mistake_is_named(definition: Any, pointer: str) -> None:
    assert pointers(definition)[0] == pointer


def test_depth_and_size_are_bounded() -> None:
    deep: dict[str, Any] = {"field": "email", "op": "exists"}
    for _ in range(rules.MAX_DEPTH):
        deep = {"not": deep}
    assert "nested deeper" in errors_of(deep)[0]["detail"]
    wide = {"or": [{"field": "email", "op": "exists"}] * (rules.MAX_NODES + 1)}
    assert "at most" in errors_of(wide)[0]["detail"]
