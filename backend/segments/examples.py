"""OpenAPI examples of the segments domain."""

from __future__ import annotations

from typing import Any

PROFILE = "01938f52-8a7b-7c6d-9e0f-1a2b3c4d5e6f"
SEGMENT = "01938f60-9a8b-7c6d-8e5f-4a3b2c1d0e9f"
EVALUATION = "01938f62-b5c6-77d8-89ea-f10213243546"

_DEFINITION = {
    "and": [
        {"attribute": "loyalty_tier", "op": "eq", "value": "gold"},
        {"op": "gte", "orders": {"aggregate": "count", "windowDays": 90}, "value": 3},
        {"contactable": "email"},
    ]
}
_SEGMENT = {
    "id": SEGMENT,
    "key": "gold_regulars",
    "name": "Gold regulars",
    "description": "Gold members with 3 orders or more in 90 days, reachable by e-mail.",
    "kind": "rule",
    "definition": _DEFINITION,
    "refreshEveryMinutes": 1440,
    "memberCount": 1873,
    "version": 3,
    "lastEvaluatedAt": "2026-11-02T03:00:00Z",
    "nextRefreshAt": "2026-11-03T03:00:00Z",
    "createdAt": "2026-10-08T10:00:00Z",
    "updatedAt": "2026-10-21T16:12:00Z",
}
_SUMMARY = {
    "id": PROFILE,
    "email": "lea.martin@example.com",
    "phone": "+33612345678",
    "firstName": "Léa",
    "lastName": "Martin",
    "country": "FR",
}
_TRANSITION = {
    "id": "01938f70-1a2b-7c3d-8e4f-5061728394a5",
    "segmentId": SEGMENT,
    "profileId": PROFILE,
    "evaluationId": EVALUATION,
    "kind": "entered",
    "occurredAt": "2026-11-02T03:00:12Z",
}

EXAMPLES: dict[str, Any] = {
    "SegmentCreate": {
        "key": "gold_regulars",
        "name": "Gold regulars",
        "description": "Gold members with 3 orders or more in 90 days, reachable by e-mail.",
        "kind": "rule",
        "definition": _DEFINITION,
        "refreshEveryMinutes": 1440,
    },
    "SegmentUpdate": {"name": "Gold regulars (FR)", "refreshEveryMinutes": 720},
    "SegmentOut": _SEGMENT,
    "PreviewIn": {"definition": _DEFINITION},
    "PreviewOut": {"count": 1873, "sample": [_SUMMARY]},
    "EvaluationQueued": {"evaluationId": EVALUATION, "segmentId": SEGMENT},
    "SegmentMemberOut": {"profileId": PROFILE, "enteredAt": "2026-11-02T03:00:12Z"},
    "MembersUpload": {
        "emails": ["lea.martin@example.com", "hugo.bernard@example.com"],
        "externalIds": [{"source": "shopify", "id": "7412093345"}],
    },
    "UploadOut": {
        "memberCount": 2,
        "entered": 2,
        "exited": 0,
        "evaluationId": EVALUATION,
        "unknownKeys": ["hugo.bernard@example.com"],
        "unknownProfileIds": [],
    },
    "SizeOut": {
        "evaluationId": EVALUATION,
        "cause": "schedule",
        "size": 1873,
        "entered": 41,
        "exited": 12,
        "measuredAt": "2026-11-02T03:00:15Z",
    },
    "TransitionOut": _TRANSITION,
    "ProfileSegmentsOut": {
        "memberships": [
            {
                "segmentId": SEGMENT,
                "segmentKey": "gold_regulars",
                "segmentName": "Gold regulars",
                "enteredAt": "2026-11-02T03:00:12Z",
            }
        ],
        "transitions": [_TRANSITION],
        "nextCursor": None,
    },
}
