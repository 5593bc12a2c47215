"""OpenAPI examples of the ledger: sending a message, messages and their timelines, the pressure
policy."""

from __future__ import annotations

from typing import Any

MESSAGE = "01939b40-5f60-7172-8384-9e0f1a2b3c4d"
PROFILE = "01938f52-8a7b-7c6d-9e0f-1a2b3c4d5e6f"
TEMPLATE = "01939b10-1a2b-7c3d-8e4f-5a6b7c8d9e0f"
VERSION = "01939b11-2b3c-7d4e-8f50-6a7b8c9d0e1f"
ACCOUNT = "01939a12-2c3d-7e4f-8051-6b7c8d9e0f1a"
BRAND = "01938f40-1a2b-7c3d-8e4f-5a6b7c8d9e0f"

_MESSAGE_OUT = {
    "id": MESSAGE,
    "profileId": PROFILE,
    "channel": "email",
    "status": "sent",
    "statusReason": None,
    "priority": "transactional",
    "sourceKind": "transactional",
    "sourceKey": "order-1042-confirmation",
    "topic": None,
    "templateId": TEMPLATE,
    "templateVersionId": VERSION,
    "templateVersion": 3,
    "subject": "Your order 1042 is confirmed, Léa",
    "dueAt": None,
    "sentAt": "2026-12-03T10:00:01.204000Z",
    "attempts": 1,
    "providerKind": "smtp",
    "providerMessageId": f"<{MESSAGE}@brand.example>",
    "fallbackOf": None,
    "createdAt": "2026-12-03T10:00:00.912000Z",
}
_QUEUED = {
    **_MESSAGE_OUT,
    "status": "queued",
    "templateVersionId": None,
    "templateVersion": None,
    "subject": None,
    "sentAt": None,
    "attempts": 0,
    "providerKind": None,
    "providerMessageId": None,
}
_TIMELINE = [
    {
        "id": "01939b40-5f61-7000-8000-000000000001",
        "kind": "queued",
        "occurredAt": "2026-12-03T10:00:00.912000Z",
        "detail": None,
        "until": None,
        "url": None,
    },
    {
        "id": "01939b40-6a02-7000-8000-000000000002",
        "kind": "sent",
        "occurredAt": "2026-12-03T10:00:01.204000Z",
        "detail": None,
        "until": None,
        "url": None,
    },
    {
        "id": "01939b52-0b13-7000-8000-000000000003",
        "kind": "opened",
        "occurredAt": "2026-12-03T10:14:40.000000Z",
        "detail": None,
        "until": None,
        "url": None,
    },
]
_POLICY = {
    "brandId": BRAND,
    "perDay": 2,
    "perWeek": 5,
    "perMonth": 12,
    "channelCaps": {"sms": {"day": 1, "week": 2, "month": None}},
    "quietHoursStart": "21:00",
    "quietHoursEnd": "08:00",
    "quietHoursForTriggered": True,
}

EXAMPLES: dict[str, Any] = {
    "MessageSend": {
        "templateId": TEMPLATE,
        "identity": {"kind": "email", "value": "lea.martin@example.com"},
        "channel": "email",
        "data": {"orderId": "1042", "total": 89.9},
        "key": "order-1042-confirmation",
        "fallback": {"channel": "sms", "templateId": "01939b12-3c4d-7e5f-8061-7b8c9d0e1f2a"},
    },
    "MessageOut": _QUEUED,
    "MessagePage": {"items": [_MESSAGE_OUT], "nextCursor": None},
    "MessageDetail": {**_MESSAGE_OUT, "status": "opened", "timeline": _TIMELINE},
    "PressurePolicyOut": _POLICY,
    "PressurePolicyUpdate": {
        "perWeek": 5,
        "channelCaps": {"sms": {"day": 1, "week": 2}},
        "quietHoursStart": "21:00",
        "quietHoursEnd": "08:00",
    },
}
