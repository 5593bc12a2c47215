"""OpenAPI examples of the audit domain."""

from __future__ import annotations

from typing import Any

EXAMPLES: dict[str, Any] = {
    "AuditEventOut": {
        "id": "01938f45-6f70-7182-8394-a5b6c7d8e9f4",
        "occurredAt": "2026-11-02T09:14:03Z",
        "actor": "user:01938f41-2b3c-7d4e-8f50-6172839405a1",
        "action": "updated",
        "objectType": "segment",
        "objectId": "01938f60-9a8b-7c6d-8e5f-4a3b2c1d0e9f",
        "agencyId": "01938f40-1a2b-7c3d-8e4f-50617283a4b5",
        "brandId": "01938f4e-5c1a-7d2b-9e3f-4a5b6c7d8e9f",
        "fields": ["definition", "name"],
        "requestId": "01a20d86365f789f894683f4079fae4a",
    }
}
