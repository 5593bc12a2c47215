"""A scenario's graph: its nodes (typed structs, one per kind), parsed from the stored JSON, and
the structural checks made on every save — one entry, ids unique, edges to existing nodes,
every node reachable, every path reaching an exit, no cycle without a wait. Each problem names
its node with a JSON pointer into the request body (``/graph/nodes/3/next``).

References to other domains (templates, segments, endpoints…) are checked by
:mod:`backend.scenarios.references`; this module reads nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

import msgspec

from backend.core.errors import InvalidInput

NodeId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
EventName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
TIME_OF_DAY = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
MAX_NODES = 200
MAX_WAIT = dt.timedelta(days=3660)
GRAPH_POINTER = "/graph"


class _Struct(
    msgspec.Struct,
    rename="camel",
    forbid_unknown_fields=True,
    kw_only=True,
    omit_defaults=True,
):
    pass


class EntryKind(StrEnum):
    EVENT = "event"  # an event with property values (an event trigger)
    SEGMENT_ENTERED = "segment_entered"
    SEGMENT_EXITED = "segment_exited"
    DATE_ATTRIBUTE = "date_attribute"  # a date field plus an offset (birthday…)
    RFM_DOWN = "rfm_down"  # the profile's RFM segment went down
    FORM_SUBMITTED = "form_submitted"  # a partner form (connectors' event)
    TRIGGER = "trigger"  # any trigger definition of the brand, by key
    API = "api"  # POST …/scenarios/{id}/entries


class ReentryPolicy(StrEnum):
    NEVER = "never"
    AFTER_DAYS = "after_days"  # again once N days passed since the last entry, none in flight
    ALWAYS = "always"  # again at every occurrence, even while a journey is in flight


class Duration(_Struct):
    days: Annotated[int, msgspec.Meta(ge=0, le=3650)] = 0
    hours: Annotated[int, msgspec.Meta(ge=0, le=10000)] = 0
    minutes: Annotated[int, msgspec.Meta(ge=0, le=100000)] = 0
    seconds: Annotated[int, msgspec.Meta(ge=0, le=1000000)] = 0

    @property
    def clock(self) -> dt.timedelta:
        """The part counted on the clock (days are counted on the profile's calendar)."""
        return dt.timedelta(hours=self.hours, minutes=self.minutes, seconds=self.seconds)

    @property
    def empty(self) -> bool:
        return not (self.days or self.hours or self.minutes or self.seconds)


class EntryTrigger(_Struct):
    kind: EntryKind
    event_name: EventName | None = None  # event; form_submitted (default form_submitted)
    property_equals: dict[str, Any] | None = None  # event, form_submitted
    segment_id: UUID | None = None  # segment_entered / segment_exited
    date_field: str | None = None  # date_attribute: birth_date or a date attribute
    offset_days: int | None = None  # date_attribute
    local_time: str | None = None  # date_attribute, "HH:MM"
    yearly: bool | None = None  # date_attribute
    rfm_kind: str | None = None  # rfm_down: purchase (default) or engagement
    trigger_key: str | None = None  # trigger


class Reentry(_Struct):
    policy: ReentryPolicy = ReentryPolicy.NEVER
    days: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = None


class EntryNode(_Struct, tag="entry", tag_field="kind", kw_only=True):
    id: NodeId
    trigger: EntryTrigger
    reentry: Reentry = msgspec.field(default_factory=Reentry)
    entry_segment_id: UUID | None = None  # only members of this segment enter
    next: NodeId


class DateWait(_Struct):
    field: str  # birth_date or a date attribute's key
    offset_days: Annotated[int, msgspec.Meta(ge=-3650, le=3650)] = 0
    time: str = "09:00"


class WaitNode(_Struct, tag="wait", tag_field="kind", kw_only=True):
    id: NodeId
    duration: Duration | None = None
    until_time: str | None = None  # the next "HH:MM" in the profile's time zone
    until_date: DateWait | None = None
    next: NodeId


class WaitEventNode(_Struct, tag="wait_event", tag_field="kind", kw_only=True):
    id: NodeId
    event_name: EventName
    property_equals: dict[str, Any] = {}
    timeout: Duration
    happened: NodeId
    timed_out: NodeId


class ConditionNode(_Struct, tag="condition", tag_field="kind", kw_only=True):
    id: NodeId
    rule: dict[str, Any]
    yes: NodeId
    no: NodeId


class SplitBranch(_Struct):
    percent: Annotated[int, msgspec.Meta(ge=0, le=100)]
    next: NodeId
    label: Annotated[str, msgspec.Meta(max_length=100)] | None = None


class SplitNode(_Struct, tag="split", tag_field="kind", kw_only=True):
    id: NodeId
    branches: Annotated[list[SplitBranch], msgspec.Meta(min_length=2, max_length=10)]


class SendPriority(StrEnum):
    TRIGGERED = "triggered"
    TRANSACTIONAL = "transactional"


class SendFallback(_Struct):
    template_id: UUID


class SendNode(_Struct, tag="send", tag_field="kind", kw_only=True):
    id: NodeId
    template_id: UUID
    fallback: SendFallback | None = None
    topic: str | None = None
    priority: SendPriority = SendPriority.TRIGGERED
    next: NodeId


class ConsentUpdate(_Struct):
    channel: str
    state: str
    topic: str | None = None


class UpdateNode(_Struct, tag="update", tag_field="kind", kw_only=True):
    id: NodeId
    attributes: dict[str, Any] | None = None
    add_to_list: UUID | None = None
    remove_from_list: UUID | None = None
    consent: ConsentUpdate | None = None
    next: NodeId


class WebhookNode(_Struct, tag="webhook", tag_field="kind", kw_only=True):
    id: NodeId
    endpoint_id: UUID
    payload: dict[str, Any] = {}
    next: NodeId


class GoalNode(_Struct, tag="goal", tag_field="kind", kw_only=True):
    id: NodeId
    event_name: EventName
    property_equals: dict[str, Any] = {}


class ExitNode(_Struct, tag="exit", tag_field="kind", kw_only=True):
    id: NodeId


Node = (
    EntryNode
    | WaitNode
    | WaitEventNode
    | ConditionNode
    | SplitNode
    | SendNode
    | UpdateNode
    | WebhookNode
    | GoalNode
    | ExitNode
)
NODE_TYPES: dict[str, type[Any]] = {
    "entry": EntryNode,
    "wait": WaitNode,
    "wait_event": WaitEventNode,
    "condition": ConditionNode,
    "split": SplitNode,
    "send": SendNode,
    "update": UpdateNode,
    "webhook": WebhookNode,
    "goal": GoalNode,
    "exit": ExitNode,
}
# Nodes that take time: a cycle must hold one of these.
WAITING_KINDS = (WaitNode, WaitEventNode)


def edges(node: Node) -> list[tuple[str, str]]:
    """(field pointer below the node, target id) of each outgoing edge."""
    if isinstance(node, WaitEventNode):
        return [("happened", node.happened), ("timedOut", node.timed_out)]
    if isinstance(node, ConditionNode):
        return [("yes", node.yes), ("no", node.no)]
    if isinstance(node, SplitNode):
        return [(f"branches/{i}/next", b.next) for i, b in enumerate(node.branches)]
    if isinstance(node, GoalNode | ExitNode):
        return []
    return [("next", node.next)]


@dataclass(frozen=True)
class Graph:
    """A parsed graph: its nodes by id, in the order given (index: their place in the body)."""

    nodes: dict[str, Node]
    index: dict[str, int]

    @property
    def entry(self) -> EntryNode:
        return next(n for n in self.nodes.values() if isinstance(n, EntryNode))

    @property
    def goals(self) -> list[GoalNode]:
        return [n for n in self.nodes.values() if isinstance(n, GoalNode)]

    def pointer(self, node_id: str, below: str = "") -> str:
        base = f"{GRAPH_POINTER}/nodes/{self.index[node_id]}"
        return f"{base}/{below}" if below else base

    def of_kind(self, kind: type[Any]) -> Iterator[Any]:
        return (n for n in self.nodes.values() if isinstance(n, kind))

    def kind_of(self, node_id: str) -> str:
        return str(type(self.nodes[node_id]).__struct_config__.tag)


class GraphErrors:
    """Every problem of a graph, each with the pointer of its node (or field)."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, pointer: str, message: str, node_id: str | None = None) -> None:
        field = next((p for p in reversed(pointer.split("/")) if p and not p.isdigit()), None)
        item: dict[str, Any] = {"field": field, "pointer": pointer, "message": message}
        if node_id is not None:
            item["nodeId"] = node_id
        self.items.append(item)

    def raise_if_any(self) -> None:
        if self.items:
            first = self.items[0]
            raise InvalidInput(
                f"the graph is not valid at {first['pointer']}: {first['message']}",
                errors=self.items,
            )


def _pointer_of(path: str) -> str:
    """msgspec's ``$.branches[0].next`` → ``branches/0/next`` (wire names)."""
    parts = re.findall(r"[^.\[\]$]+", path)
    return "/".join(parts)


def parse_time(value: str) -> dt.time | None:
    match = TIME_OF_DAY.match(value)
    return dt.time(int(match.group(1)), int(match.group(2))) if match else None


def parse(raw: Any) -> Graph:
    """The graph's typed nodes and its structure checked; 422 naming every bad node."""
    errors = GraphErrors()
    if not isinstance(raw, dict) or not isinstance(raw.get("nodes"), list):
        errors.add(GRAPH_POINTER, "expected an object with a list of nodes")
        errors.raise_if_any()
    unknown = sorted(set(raw) - {"nodes"})
    for name in unknown:
        errors.add(f"{GRAPH_POINTER}/{name}", "unknown field")
    items: list[Any] = raw["nodes"]
    if not items:
        errors.add(f"{GRAPH_POINTER}/nodes", "a graph needs an entry and an exit")
    if len(items) > MAX_NODES:
        errors.add(f"{GRAPH_POINTER}/nodes", f"at most {MAX_NODES} nodes")
    nodes: dict[str, Node] = {}
    index: dict[str, int] = {}
    for position, item in enumerate(items):
        here = f"{GRAPH_POINTER}/nodes/{position}"
        kind = item.get("kind") if isinstance(item, dict) else None
        if kind not in NODE_TYPES:
            errors.add(f"{here}/kind", f"expected one of {', '.join(NODE_TYPES)}")
            continue
        try:
            node = msgspec.convert(item, NODE_TYPES[kind])
        except msgspec.ValidationError as exc:
            message, _, path = str(exc).rpartition(" - at `")
            below = _pointer_of(path.rstrip("`")) if message else ""
            named = re.search(r"(?:unknown|missing required) field `([^`]+)`", str(exc))
            if named:
                below = "/".join(p for p in (below, named.group(1)) if p)
            errors.add(f"{here}/{below}" if below else here, message or str(exc), item.get("id"))
            continue
        if node.id in nodes:
            errors.add(f"{here}/id", f"a node {node.id!r} exists already", node.id)
            continue
        nodes[node.id] = node
        index[node.id] = position
    errors.raise_if_any()
    graph = Graph(nodes, index)
    _check_nodes(graph, errors)
    errors.raise_if_any()
    _check_structure(graph, errors)
    errors.raise_if_any()
    return graph


def _check_duration(
    graph: Graph, node_id: str, below: str, value: Duration, errors: GraphErrors
) -> None:
    if value.empty:
        errors.add(graph.pointer(node_id, below), "expected a duration above zero", node_id)
    elif dt.timedelta(days=value.days) + value.clock > MAX_WAIT:
        errors.add(graph.pointer(node_id, below), "at most ten years", node_id)


def _check_nodes(graph: Graph, errors: GraphErrors) -> None:
    """What each node's kind requires of its own fields."""
    entries = [n for n in graph.nodes.values() if isinstance(n, EntryNode)]
    if len(entries) != 1:
        errors.add(
            f"{GRAPH_POINTER}/nodes", f"expected exactly one entry node, found {len(entries)}"
        )
    if not any(isinstance(n, ExitNode) for n in graph.nodes.values()):
        errors.add(f"{GRAPH_POINTER}/nodes", "expected at least one exit node")
    for node in graph.nodes.values():
        here = node.id
        if isinstance(node, EntryNode):
            _check_entry(graph, node, errors)
        elif isinstance(node, WaitNode):
            given = [x for x in (node.duration, node.until_time, node.until_date) if x is not None]
            if len(given) != 1:
                errors.add(
                    graph.pointer(here),
                    "expected exactly one of duration, untilTime, untilDate",
                    here,
                )
            if node.duration is not None:
                _check_duration(graph, here, "duration", node.duration, errors)
            if node.until_time is not None and parse_time(node.until_time) is None:
                errors.add(graph.pointer(here, "untilTime"), "expected a time HH:MM", here)
            if node.until_date is not None and parse_time(node.until_date.time) is None:
                errors.add(graph.pointer(here, "untilDate/time"), "expected a time HH:MM", here)
        elif isinstance(node, WaitEventNode):
            _check_duration(graph, here, "timeout", node.timeout, errors)
        elif isinstance(node, SplitNode):
            total = sum(b.percent for b in node.branches)
            if total != 100:
                errors.add(
                    graph.pointer(here, "branches"),
                    f"the branches' percentages add up to {total}, not 100",
                    here,
                )
        elif isinstance(node, UpdateNode) and not (
            node.attributes or node.add_to_list or node.remove_from_list or node.consent
        ):
            errors.add(
                graph.pointer(here),
                "expected attributes, addToList, removeFromList or consent",
                here,
            )


_ENTRY_FIELDS: dict[EntryKind, tuple[str, ...]] = {
    EntryKind.EVENT: ("event_name", "property_equals"),
    EntryKind.SEGMENT_ENTERED: ("segment_id",),
    EntryKind.SEGMENT_EXITED: ("segment_id",),
    EntryKind.DATE_ATTRIBUTE: ("date_field", "offset_days", "local_time", "yearly"),
    EntryKind.RFM_DOWN: ("rfm_kind",),
    EntryKind.FORM_SUBMITTED: ("event_name", "property_equals"),
    EntryKind.TRIGGER: ("trigger_key",),
    EntryKind.API: (),
}
_WIRE = {f.name: f.encode_name for f in msgspec.structs.fields(EntryTrigger)}


def _check_entry(graph: Graph, node: EntryNode, errors: GraphErrors) -> None:
    trigger = node.trigger
    allowed = _ENTRY_FIELDS[trigger.kind]
    for name, wire in _WIRE.items():
        if name != "kind" and getattr(trigger, name) is not None and name not in allowed:
            errors.add(
                graph.pointer(node.id, f"trigger/{wire}"),
                f"not a setting of a {trigger.kind.value} entry",
                node.id,
            )
    required = {
        EntryKind.EVENT: ("event_name",),
        EntryKind.SEGMENT_ENTERED: ("segment_id",),
        EntryKind.SEGMENT_EXITED: ("segment_id",),
        EntryKind.DATE_ATTRIBUTE: ("date_field",),
        EntryKind.TRIGGER: ("trigger_key",),
    }.get(trigger.kind, ())
    for name in required:
        if getattr(trigger, name) is None:
            errors.add(
                graph.pointer(node.id, f"trigger/{_WIRE[name]}"),
                f"a {trigger.kind.value} entry needs it",
                node.id,
            )
    if trigger.local_time is not None and parse_time(trigger.local_time) is None:
        errors.add(graph.pointer(node.id, "trigger/localTime"), "expected a time HH:MM", node.id)
    if trigger.rfm_kind is not None and trigger.rfm_kind not in ("purchase", "engagement"):
        errors.add(
            graph.pointer(node.id, "trigger/rfmKind"), "expected purchase or engagement", node.id
        )
    if (node.reentry.policy is ReentryPolicy.AFTER_DAYS) != (node.reentry.days is not None):
        errors.add(
            graph.pointer(node.id, "reentry/days"),
            "days go with the after_days policy, and only with it",
            node.id,
        )


def _check_structure(graph: Graph, errors: GraphErrors) -> None:
    """Edges, reachability, every path ending, no cycle without a wait."""
    for node in graph.nodes.values():
        for below, target in edges(node):
            if target not in graph.nodes:
                errors.add(graph.pointer(node.id, below), f"no node {target!r}", node.id)
            elif isinstance(graph.nodes[target], EntryNode | GoalNode):
                errors.add(
                    graph.pointer(node.id, below),
                    f"{target!r} is {graph.kind_of(target)} node: no edge may lead to it",
                    node.id,
                )
    if errors.items:
        return
    entry = graph.entry
    reached = _reachable(graph, entry.id)
    for node in graph.nodes.values():
        if node.id not in reached and not isinstance(node, GoalNode):
            errors.add(graph.pointer(node.id), "no path from the entry reaches this node", node.id)
    ending = _reaching_an_exit(graph)
    for node_id in sorted(reached - ending, key=graph.index.__getitem__):
        errors.add(
            graph.pointer(node_id), "no path from this node reaches an exit (a loop?)", node_id
        )
    cycle = _cycle_without_wait(graph)
    if cycle:
        errors.add(
            graph.pointer(cycle[0]),
            f"the loop {' → '.join(cycle)} has no wait: it would run forever at once",
            cycle[0],
        )


def _reachable(graph: Graph, start: str) -> set[str]:
    seen = {start}
    stack = [start]
    while stack:
        for _, target in edges(graph.nodes[stack.pop()]):
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


def _reaching_an_exit(graph: Graph) -> set[str]:
    """Nodes from which some path reaches an exit."""
    incoming: dict[str, list[str]] = {node_id: [] for node_id in graph.nodes}
    for node in graph.nodes.values():
        for _, target in edges(node):
            incoming[target].append(node.id)
    ending = {n.id for n in graph.nodes.values() if isinstance(n, ExitNode)}
    stack = list(ending)
    while stack:
        for source in incoming[stack.pop()]:
            if source not in ending:
                ending.add(source)
                stack.append(source)
    return ending


def _cycle_without_wait(graph: Graph) -> list[str] | None:
    """A cycle among the nodes that take no time, if any (its node ids, in order)."""
    instant = {n.id for n in graph.nodes.values() if not isinstance(n, WAITING_KINDS)}
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node_id: str) -> list[str] | None:
        state[node_id] = 1
        path.append(node_id)
        for _, target in edges(graph.nodes[node_id]):
            if target not in instant:
                continue
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[node_id] = 2
        return None

    for node_id in sorted(instant, key=graph.index.__getitem__):
        if node_id not in state:
            found = visit(node_id)
            if found:
                return found
    return None


def as_json(graph_raw: dict[str, Any]) -> dict[str, Any]:
    """The graph as stored: the body's JSON, re-encoded through the typed nodes (defaults
    filled, so what runs is what is shown)."""
    parsed = parse(graph_raw)
    return {"nodes": [msgspec.to_builtins(n) for n in parsed.nodes.values()]}
