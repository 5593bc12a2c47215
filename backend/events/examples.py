"""OpenAPI examples of the events domain: events, event types, ingestion settings and carts."""

from __future__ import annotations

from typing import Any

PROFILE = "01938f52-8a7b-7c6d-9e0f-1a2b3c4d5e6f"
EVENT = "01938f5d-6172-7384-8596-a7b8c9d0e1f2"

_EVENT_IN = {
    "eventId": "web-7f3c9a21-product_viewed",
    "name": "product_viewed",
    "email": "lea.martin@example.com",
    "occurredAt": "2026-11-02T09:40:12Z",
    "properties": {"sku": "TARTE-POMMES-6", "price": 33.0, "page": "/tartes/pommes"},
}
_EVENT_OUT = {
    "id": EVENT,
    "eventId": "web-7f3c9a21-product_viewed",
    "name": "product_viewed",
    "profileId": PROFILE,
    "occurredAt": "2026-11-02T09:40:12Z",
    "receivedAt": "2026-11-02T09:40:12.511000Z",
    "source": "api",
    "properties": {"sku": "TARTE-POMMES-6", "price": 33.0, "page": "/tartes/pommes"},
}
_ACCEPTED = {
    "index": 0,
    "outcome": "accepted",
    "eventId": "web-7f3c9a21-product_viewed",
    "id": EVENT,
    "profileId": PROFILE,
}
_EVENT_TYPE = {
    "id": "01938f5e-7283-7495-86a7-b8c9d0e1f203",
    "name": "product_viewed",
    "description": "A product page was shown.",
    "propertiesSchema": {
        "type": "object",
        "required": ["sku"],
        "properties": {"sku": {"type": "string"}, "price": {"type": "number"}},
    },
    "createdAt": "2026-10-07T10:00:00Z",
    "updatedAt": "2026-10-07T10:00:00Z",
}
_SETTINGS = {
    "createUnknownProfiles": True,
    "requireDeclaredTypes": False,
    "maxFutureSkewSeconds": 300,
}

EXAMPLES: dict[str, Any] = {
    "EventIn": _EVENT_IN,
    "EventOut": _EVENT_OUT,
    "EventOutcomeOut": _ACCEPTED,
    "sendEvents.request": {
        "events": [
            _EVENT_IN,
            {
                "eventId": "pos-SHOP-100482",
                "name": "store_visit",
                "externalId": {"source": "shopify", "id": "7412093345"},
                "occurredAt": "2026-10-30T17:40:00Z",
                "properties": {"store": "paris-opera"},
            },
        ]
    },
    "EventBatchOut": {
        "accepted": 1,
        "duplicates": 1,
        "rejected": 0,
        "results": [
            _ACCEPTED,
            {
                "index": 1,
                "outcome": "duplicate",
                "eventId": "pos-SHOP-100482",
                "id": "01938f5d-6172-7384-8596-a7b8c9d0e1f3",
                "profileId": PROFILE,
            },
        ],
    },
    "EventTypeCreate": {
        "name": "product_viewed",
        "description": "A product page was shown.",
        "propertiesSchema": _EVENT_TYPE["propertiesSchema"],
    },
    "EventTypeUpdate": {"description": "A product page was shown (web or app)."},
    "EventTypeOut": _EVENT_TYPE,
    "EventSettingsUpdate": {"requireDeclaredTypes": True},
    "EventSettingsOut": _SETTINGS,
    "CartOut": {
        "id": "01938f5f-8394-75a6-87b8-c9d0e1f20314",
        "profileId": PROFILE,
        "cartId": "cart-88213",
        "status": "open",
        "items": [{"sku": "TARTE-POMMES-6", "quantity": 1, "price": 33.0}],
        "total": "33.00",
        "currency": "EUR",
        "changedAt": "2026-11-02T09:42:30Z",
        "updatedAt": "2026-11-02T09:42:30.218000Z",
    },
}
