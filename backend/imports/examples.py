"""OpenAPI examples of the imports domain."""

from __future__ import annotations

from typing import Any

EXAMPLES: dict[str, Any] = {
    "ImportOut": {
        "id": "01938f58-7e6f-7a5b-8c4d-3e2f1a0b9c8d",
        "kind": "profiles",
        "mode": "upsert",
        "format": "csv",
        "status": "running",
        "linkedTable": None,
        "compression": None,
        "delimiter": ";",
        "encoding": "utf-8",
        "sizeBytes": 1843221,
        "rowsProcessed": 8000,
        "created": 7562,
        "updated": 431,
        "rejected": 7,
        "error": None,
        "createdAt": "2026-11-02T11:05:00Z",
        "startedAt": "2026-11-02T11:05:01Z",
        "finishedAt": None,
        "purgedAt": None,
    },
    "RejectionOut": {
        "line": 42,
        "reason": "email: not a valid e-mail address",
        "raw": "lea.martin@,Léa,Martin,FR",
    },
}
