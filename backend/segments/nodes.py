"""The typed nodes a segment definition parses into, and the brand schema it is checked
against (see :mod:`backend.segments.rules`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from backend.profiles.models import AttributeType, Channel
from backend.rfm.models import RfmKind

# Nodes -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Compare:
    """A typed comparison: ``op`` with its (normalised) ``value``."""

    type: AttributeType
    op: str
    value: Any = None


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class FieldCondition:
    column: str
    test: Compare


@dataclass(frozen=True)
class AttributeCondition:
    key: str
    test: Compare


@dataclass(frozen=True)
class PropertyFilter:
    """A test of an event property or a linked-row column (JSON values)."""

    name: str
    test: Compare


@dataclass(frozen=True)
class OrdersCondition:
    aggregate: str
    window_days: int | None
    stores: tuple[str, ...]
    categories: tuple[str, ...]
    products: tuple[str, ...]
    test: Compare


@dataclass(frozen=True)
class EventCondition:
    name: str
    window_days: int | None
    where: tuple[PropertyFilter, ...]
    test: Compare  # over the count


@dataclass(frozen=True)
class LinkedCondition:
    table_id: UUID
    where: tuple[PropertyFilter, ...]
    aggregate: str
    column: str | None
    test: Compare  # over the aggregate; `exists` is count >= 1


@dataclass(frozen=True)
class ConsentCondition:
    channel: Channel | None
    topic: str | None
    state: str  # granted, denied, unsubscribed, none


@dataclass(frozen=True)
class ContactableCondition:
    channel: Channel


@dataclass(frozen=True)
class RfmCondition:
    kind: RfmKind
    score: str | None  # None: the named segment
    test: Compare


@dataclass(frozen=True)
class SegmentCondition:
    segment_id: UUID


Node = (
    And
    | Or
    | Not
    | FieldCondition
    | AttributeCondition
    | OrdersCondition
    | EventCondition
    | LinkedCondition
    | ConsentCondition
    | ContactableCondition
    | RfmCondition
    | SegmentCondition
)


# Schema ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Typed:
    type: AttributeType
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class LinkedSchema:
    id: UUID
    columns: dict[str, Typed]


@dataclass
class RuleSchema:
    """What a definition may name in one brand."""

    attributes: dict[str, Typed] = field(default_factory=dict)
    linked: dict[str, LinkedSchema] = field(default_factory=dict)
    topics: set[str] = field(default_factory=set)
    # Every segment of the brand → the segments its definition references.
    segments: dict[UUID, set[UUID]] = field(default_factory=dict)
    self_id: UUID | None = None
