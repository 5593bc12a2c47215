"""OpenAPI examples of the RFM domain."""

from __future__ import annotations

from typing import Any

PROFILE = "01938f52-8a7b-7c6d-9e0f-1a2b3c4d5e6f"
RUN = "01938f61-a4b5-76c7-88d9-e0f102132435"

_RUN = {
    "id": RUN,
    "kind": "purchase",
    "status": "succeeded",
    "method": "quintiles",
    "asOf": "2026-11-01T00:00:00Z",
    "windowDays": 365,
    "cutPoints": {
        "recency": [21.0, 48.0, 97.0, 180.0],
        "frequency": [1.0, 2.0, 4.0, 7.0],
        "monetary": [35.5, 80.0, 162.4, 320.0],
    },
    "scoredCount": 18231,
    "changedCount": 1204,
    "error": None,
    "scheduledFor": "2026-11-01T00:00:00Z",
    "createdAt": "2026-11-01T00:00:00Z",
    "startedAt": "2026-11-01T00:00:02Z",
    "finishedAt": "2026-11-01T00:00:41Z",
}
_SCORE = {
    "profileId": PROFILE,
    "runId": RUN,
    "r": 5,
    "f": 4,
    "m": 4,
    "recencyDays": 3,
    "frequency": 6,
    "monetary": "286.40",
    "segment": "champions",
    "previousSegment": "loyal",
    "direction": "up",
}
_PROFILE_SCORE = {**_SCORE, "kind": "purchase", "asOf": "2026-11-01T00:00:00Z"}
_THRESHOLDS = {
    "recency": [30.0, 60.0, 120.0, 240.0],
    "frequency": [1.0, 2.0, 4.0, 8.0],
    "monetary": [40.0, 100.0, 200.0, 400.0],
}
_SETTINGS = {
    "purchaseWindowDays": 365,
    "engagementWindowDays": 180,
    "engagementEvents": ["email_opened", "email_clicked", "product_viewed"],
    "schedule": "weekly",
    "thresholds": {"purchase": _THRESHOLDS, "engagement": None},
}

EXAMPLES: dict[str, Any] = {
    "RfmRunIn": {"kind": "purchase", "asOf": "2026-11-01T00:00:00Z"},
    "RfmRunOut": _RUN,
    "RfmScoreOut": _SCORE,
    "ProfileRfmOut": {"purchase": _PROFILE_SCORE, "engagement": None, "history": [_PROFILE_SCORE]},
    "RfmSettingsIn": _SETTINGS,
    "RfmSettingsOut": _SETTINGS,
}
