"""What the REST API reads and writes for scenarios, their versions, journeys and statistics."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

import msgspec

from backend.core.schemas import Schema
from backend.scenarios.models import JourneyState, ScenarioStatus, VersionState

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Description = Annotated[str, msgspec.Meta(max_length=1000)]
EntryKey = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
GRAPH_EXAMPLE: dict[str, Any] = {
    "nodes": [
        {
            "kind": "entry",
            "id": "signed-up",
            "trigger": {"kind": "event", "eventName": "signed_up"},
            "reentry": {"policy": "never"},
            "next": "welcome",
        },
        {
            "kind": "send",
            "id": "welcome",
            "templateId": "01938f6f-0a1b-7c2d-8e3f-4a5b6c7d8e9f",
            "next": "wait-purchase",
        },
        {
            "kind": "wait_event",
            "id": "wait-purchase",
            "eventName": "order_completed",
            "timeout": {"days": 7},
            "happened": "done",
            "timedOut": "reminder",
        },
        {
            "kind": "send",
            "id": "reminder",
            "templateId": "01938f6f-0a1b-7c2d-8e3f-4a5b6c7d8ea0",
            "next": "done",
        },
        {"kind": "goal", "id": "bought", "eventName": "order_completed"},
        {"kind": "exit", "id": "done"},
    ]
}
Graph = Annotated[
    dict[str, Any],
    msgspec.Meta(
        description='The nodes of the journey (see the README\'s "Automating a journey").',
        examples=[GRAPH_EXAMPLE],
    ),
]


class ScenarioCreate(Schema, kw_only=True):
    """A scenario: its graph becomes draft version 1 (validated: a 422 names the node with a
    JSON pointer such as `/graph/nodes/3/next`). `programId` names the program it serves."""

    name: Name
    description: Description | None = None
    program_id: UUID | None = None
    graph: Graph


class ScenarioUpdate(Schema):
    """Fields to change. A `graph` replaces the draft's; editing an active scenario opens a new
    draft version (the live one is frozen) until it is published."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType | None = msgspec.UNSET
    program_id: UUID | msgspec.UnsetType | None = msgspec.UNSET
    graph: Graph | msgspec.UnsetType = msgspec.UNSET


class ScenarioOut(Schema):
    id: UUID
    name: str
    description: str | None
    program_id: UUID | None
    status: ScenarioStatus
    live_version: int | None
    draft_version: int | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ScenarioPage(Schema):
    items: list[ScenarioOut]
    next_cursor: str | None


class VersionOut(Schema):
    id: UUID
    scenario_id: UUID
    number: int
    state: VersionState
    graph: dict[str, Any]
    entry_type: str | None
    activated_at: dt.datetime | None
    retired_at: dt.datetime | None
    created_at: dt.datetime


class VersionPage(Schema):
    items: list[VersionOut]
    next_cursor: str | None


class Migration(StrEnum):
    MOVE = "move"  # in-flight profiles move to the new version, by node id
    FINISH = "finish"  # they finish on the old version


class PublishIn(Schema, kw_only=True):
    """Publish the draft over the live version. `migration`: `move` the profiles in flight to
    the new version by node id (a node the draft removed needs its place in `nodeMap`: removed
    node id → node id of the draft), or let them `finish` on the old one."""

    migration: Migration
    node_map: dict[str, str] = {}


class EntryIn(Schema, kw_only=True):
    """Enter a profile (a scenario whose entry is `api`); `key` makes the call idempotent (else
    the `Idempotency-Key` header); `data` is the journey's, for its templates."""

    profile_id: UUID
    data: dict[str, Any] = {}
    key: EntryKey | None = None


class JourneyOut(Schema):
    id: UUID
    scenario_id: UUID
    version_id: UUID
    profile_id: UUID
    state: JourneyState
    node_id: str
    entered_at: dt.datetime
    due_at: dt.datetime | None
    waiting_for_event: str | None
    waiting_for_message: UUID | None
    data: dict[str, Any]
    finished_at: dt.datetime | None


class JourneyPage(Schema):
    items: list[JourneyOut]
    next_cursor: str | None


class EntryOut(Schema):
    """Whether the profile entered (a key seen before answers as it did then: `journey` is the
    journey that key started), and why not when it did not."""

    admitted: bool
    journey: JourneyOut | None
    reason: str | None = None


class StepOut(Schema):
    seq: int
    version_id: UUID
    node_id: str
    kind: str
    outcome: str | None
    message_id: UUID | None
    detail: dict[str, Any] | None
    started_at: dt.datetime
    finished_at: dt.datetime | None


class JourneyDetailOut(Schema):
    """A journey and its steps, in order (the last without outcome: where it waits)."""

    journey: JourneyOut
    steps: list[StepOut]


class MessageStatsOut(Schema):
    """A send node's messages: `sent`, `refused` (the gate said no), `failed`, `pending` (not
    sent yet), and how many were `deferred` on the way (pressure, quiet hours)."""

    sent: int
    refused: int
    failed: int
    pending: int
    deferred: int


class NodeStatsOut(Schema):
    """One node of one version: profiles that `entered` it, are `waiting` there, `passed` it,
    `exited` there (an exit, or a step that failed for good), `converted` (a goal); `outcomes`
    counts each outcome (`yes`/`no`, `branch:<label>`, `happened`/`timed_out`, `sent`…)."""

    node_id: str
    kind: str
    entered: int
    waiting: int
    passed: int
    exited: int
    converted: int
    outcomes: dict[str, int]
    messages: MessageStatsOut | None


class StatsOut(Schema):
    scenario_id: UUID
    version: int
    version_id: UUID
    nodes: list[NodeStatsOut]
