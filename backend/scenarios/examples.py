"""OpenAPI examples of the scenarios domain."""

from __future__ import annotations

from typing import Any

from backend.scenarios.schemas import GRAPH_EXAMPLE

PROFILE = "01938f52-8a7b-7c6d-9e0f-1a2b3c4d5e6f"
SCENARIO = "01938f80-3c4d-7e5f-8a6b-7c8d9e0f1a2b"
VERSION = "01938f80-4d5e-7f60-8b7c-8d9e0f1a2b3c"
JOURNEY = "01938f81-5e6f-7071-8c8d-9e0f1a2b3c4d"
MESSAGE = "01938f82-6f70-7182-8d9e-0f1a2b3c4d5e"
PROGRAM = "01938f7f-2b3c-7d4e-8f50-6a7b8c9d0e1f"

_SCENARIO = {
    "id": SCENARIO,
    "name": "Welcome",
    "description": "Welcome new sign-ups; remind those who did not buy within a week.",
    "programId": PROGRAM,
    "status": "active",
    "liveVersion": 2,
    "draftVersion": None,
    "createdAt": "2026-10-08T10:00:00Z",
    "updatedAt": "2026-11-02T09:30:00Z",
}
_VERSION = {
    "id": VERSION,
    "scenarioId": SCENARIO,
    "number": 2,
    "state": "live",
    "graph": GRAPH_EXAMPLE,
    "entryType": "scenario_3f2a9c0d41b7e65a8c12",
    "activatedAt": "2026-11-02T09:30:00Z",
    "retiredAt": None,
    "createdAt": "2026-11-01T16:00:00Z",
}
_JOURNEY = {
    "id": JOURNEY,
    "scenarioId": SCENARIO,
    "versionId": VERSION,
    "profileId": PROFILE,
    "state": "waiting",
    "nodeId": "wait-purchase",
    "enteredAt": "2026-11-02T10:14:03Z",
    "dueAt": "2026-11-09T10:14:05Z",
    "waitingForEvent": "order_completed",
    "waitingForMessage": None,
    "data": {"eventName": "signed_up", "properties": {"source": "shop"}},
    "finishedAt": None,
}
_STEPS = [
    {
        "seq": 1,
        "versionId": VERSION,
        "nodeId": "signed-up",
        "kind": "entry",
        "outcome": "entered",
        "messageId": None,
        "detail": None,
        "startedAt": "2026-11-02T10:14:03Z",
        "finishedAt": "2026-11-02T10:14:03Z",
    },
    {
        "seq": 2,
        "versionId": VERSION,
        "nodeId": "welcome",
        "kind": "send",
        "outcome": "sent",
        "messageId": MESSAGE,
        "detail": None,
        "startedAt": "2026-11-02T10:14:03Z",
        "finishedAt": "2026-11-02T10:14:05Z",
    },
    {
        "seq": 3,
        "versionId": VERSION,
        "nodeId": "wait-purchase",
        "kind": "wait_event",
        "outcome": None,
        "messageId": None,
        "detail": None,
        "startedAt": "2026-11-02T10:14:05Z",
        "finishedAt": None,
    },
]


def _node(node_id: str, kind: str, entered: int, **counts: Any) -> dict[str, Any]:
    node = {
        "nodeId": node_id,
        "kind": kind,
        "entered": entered,
        "waiting": 0,
        "passed": 0,
        "exited": 0,
        "converted": 0,
        "outcomes": {},
        "messages": None,
    }
    node.update(counts)
    return node


EXAMPLES: dict[str, Any] = {
    "ScenarioCreate": {
        "name": "Welcome",
        "description": "Welcome new sign-ups; remind those who did not buy within a week.",
        "programId": PROGRAM,
        "graph": GRAPH_EXAMPLE,
    },
    "ScenarioUpdate": {"name": "Welcome (2026)"},
    "ScenarioOut": _SCENARIO,
    "VersionOut": _VERSION,
    "PublishIn": {"migration": "move", "nodeMap": {"old-reminder": "reminder"}},
    "EntryIn": {"profileId": PROFILE, "data": {"orderId": "1042"}, "key": "order-1042"},
    "EntryOut": {"admitted": True, "journey": _JOURNEY, "reason": None},
    "JourneyOut": _JOURNEY,
    "JourneyDetailOut": {"journey": _JOURNEY, "steps": _STEPS},
    "StepOut": _STEPS[1],
    "StatsOut": {
        "scenarioId": SCENARIO,
        "version": 2,
        "versionId": VERSION,
        "nodes": [
            _node("signed-up", "entry", 1200, passed=1200, outcomes={"entered": 1200}),
            _node(
                "welcome",
                "send",
                1200,
                waiting=4,
                passed=1196,
                outcomes={"refused": 21, "sent": 1175},
                messages={"sent": 1175, "refused": 21, "failed": 0, "pending": 4, "deferred": 37},
            ),
            _node(
                "wait-purchase",
                "wait_event",
                1196,
                waiting=610,
                passed=586,
                outcomes={"happened": 233, "timed_out": 353},
            ),
            _node("bought", "goal", 241, converted=241, outcomes={"converted": 241}),
        ],
    },
}
