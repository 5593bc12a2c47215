"""OpenAPI examples of the triggers domain."""

from __future__ import annotations

from typing import Any

_TRIGGER = {
    "id": "01938f63-c6d7-78e9-8afb-021324354657",
    "key": "abandoned_cart_2h",
    "label": "Cart left for 2 hours",
    "kind": "abandoned_cart",
    "enabled": True,
    "delayMinutes": 120,
    "eventName": None,
    "propertyEquals": None,
    "dateField": None,
    "offsetDays": None,
    "yearly": None,
    "localTime": None,
    "inactivityDays": None,
    "changedField": None,
    "changedTo": None,
    "createdAt": "2026-10-09T10:00:00Z",
    "updatedAt": "2026-10-09T10:00:00Z",
}

EXAMPLES: dict[str, Any] = {
    "TriggerCreate": {
        "key": "abandoned_cart_2h",
        "label": "Cart left for 2 hours",
        "kind": "abandoned_cart",
        "delayMinutes": 120,
    },
    "TriggerUpdate": {"enabled": False},
    "TriggerOut": _TRIGGER,
    "OccurrenceOut": {
        "id": "01938f64-d7e8-79fa-8b0c-132435465768",
        "type": "abandoned_cart_2h",
        "profileId": "01938f52-8a7b-7c6d-9e0f-1a2b3c4d5e6f",
        "dedupeKey": "cart-88213:2026-11-02T09:42:30Z",
        "occurredAt": "2026-11-02T11:42:30Z",
        "payload": {"cartId": "cart-88213", "total": "33.00", "currency": "EUR"},
        "createdAt": "2026-11-02T11:42:31Z",
    },
}
