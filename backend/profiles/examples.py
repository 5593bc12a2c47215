"""OpenAPI examples of the profiles domain: profiles, attributes, consents, orders, linked tables,
exports and the GDPR export."""

from __future__ import annotations

from typing import Any

PROFILE = "01938f52-8a7b-7c6d-9e0f-1a2b3c4d5e6f"
OTHER_PROFILE = "01938f53-9b8c-7d7e-8f10-2b3c4d5e6f70"
NOW = "2026-11-02T09:41:55Z"

_EXTERNAL_ID = {"source": "shopify", "id": "7412093345"}
_PROFILE = {
    "id": PROFILE,
    "email": "lea.martin@example.com",
    "phone": "+33612345678",
    "firstName": "Léa",
    "lastName": "Martin",
    "birthDate": "1991-04-17",
    "locale": "fr-FR",
    "timeZone": "Europe/Paris",
    "country": "FR",
    "preferredStore": "paris-opera",
    "channelAppetency": "email",
    "attributes": {"loyalty_tier": "gold", "newsletter_frequency": "weekly"},
    "externalIds": [_EXTERNAL_ID],
    "suppressed": [],
    "bounced": [],
    "createdAt": "2026-10-12T15:03:22Z",
    "updatedAt": NOW,
}
_ATTRIBUTE = {
    "id": "01938f50-6e5f-7a4b-8c3d-2e1f0a9b8c7d",
    "key": "loyalty_tier",
    "label": "Loyalty tier",
    "type": "enum",
    "options": ["silver", "gold", "platinum"],
    "required": False,
    "unique": False,
    "default": "silver",
    "createdAt": "2026-10-01T09:00:00Z",
    "updatedAt": "2026-10-01T09:00:00Z",
}
_TOPIC = {
    "id": "01938f51-7f60-7b5c-8d4e-3f2a1b0c9d8e",
    "key": "newsletter",
    "label": "Weekly newsletter",
    "createdAt": "2026-10-01T09:05:00Z",
}
_CONSENT = {
    "id": "01938f55-0b1c-7d2e-8f30-415263748596",
    "channel": "email",
    "topic": "newsletter",
    "state": "granted",
    "source": "website-footer-form",
    "proof": {"ip": "203.0.113.24", "wording": "I want to receive the weekly newsletter"},
    "occurredAt": "2026-11-02T09:41:50Z",
    "recordedAt": NOW,
}
_ORDER = {
    "id": "01938f56-1c2d-7e3f-8041-5263748596a7",
    "profileId": PROFILE,
    "orderId": "SHOP-100482",
    "occurredAt": "2026-10-30T17:45:00Z",
    "amount": "42.80",
    "currency": "EUR",
    "store": "paris-opera",
    "channel": "store",
    "lines": [
        {"product": "Pain de campagne", "category": "bread", "quantity": "2", "price": "4.90"},
        {"product": "Tarte aux pommes", "category": "pastry", "quantity": "1", "price": "33.00"},
    ],
    "createdAt": "2026-10-30T17:45:03Z",
}
_ORDER_IN = {k: v for k, v in _ORDER.items() if k not in ("id", "profileId", "createdAt")}
_COLUMNS = [
    {"key": "code", "label": "Coupon code", "type": "text", "required": True},
    {"key": "value", "label": "Value (EUR)", "type": "number", "required": True},
    {"key": "expires_on", "label": "Expires on", "type": "date", "required": False},
]
_TABLE = {
    "id": "01938f57-2d3e-7f40-8152-63748596a7b8",
    "key": "coupons",
    "label": "Coupons",
    "columns": _COLUMNS,
    "createdAt": "2026-10-06T11:00:00Z",
    "updatedAt": "2026-10-06T11:00:00Z",
}
_ROW_VALUES = {"code": "NOEL-5EUR-7Q2K", "value": 5, "expires_on": "2026-12-31"}
_ROW = {
    "id": "01938f59-3e4f-7051-8263-748596a7b8c9",
    "table": "coupons",
    "key": "NOEL-5EUR-7Q2K",
    "profileId": PROFILE,
    "values": _ROW_VALUES,
    "version": 1,
    "createdAt": "2026-11-20T08:00:00Z",
    "updatedAt": "2026-11-20T08:00:00Z",
}
_ROW_VERSION = {
    "version": 1,
    "operation": "created",
    "profileId": PROFILE,
    "values": _ROW_VALUES,
    "changedAt": "2026-11-20T08:00:00Z",
}
_MERGE = {
    "id": "01938f5b-4f50-7162-8374-8596a7b8c9d0",
    "survivorId": PROFILE,
    "mergedId": OTHER_PROFILE,
    "reason": "same email",
    "keys": ["email"],
    "mergedAt": "2026-10-20T12:00:00Z",
}
_EXPORT = {
    "id": "01938f5c-5061-7273-8485-96a7b8c9d0e1",
    "format": "csv",
    "status": "succeeded",
    "fields": ["id", "email", "firstName", "lastName", "country"],
    "filter": {"country": "FR"},
    "rowCount": 18231,
    "totalRows": 18231,
    "byteCount": 1482210,
    "error": None,
    "expiredReason": None,
    "createdAt": "2026-11-02T10:00:00Z",
    "startedAt": "2026-11-02T10:00:01Z",
    "finishedAt": "2026-11-02T10:00:09Z",
    "expiresAt": "2026-11-09T10:00:09Z",
}

EXAMPLES: dict[str, Any] = {
    "ProfileCreate": {
        "email": "Lea.Martin@example.com",
        "phone": "06 12 34 56 78",
        "firstName": "Léa",
        "lastName": "Martin",
        "birthDate": "1991-04-17",
        "country": "FR",
        "attributes": {"loyalty_tier": "gold"},
        "externalIds": [_EXTERNAL_ID],
        "consents": [
            {
                "channel": "email",
                "topic": "newsletter",
                "state": "granted",
                "source": "website-footer-form",
            }
        ],
    },
    "ProfileUpdate": {"preferredStore": "paris-opera", "attributes": {"loyalty_tier": "platinum"}},
    "ProfileOut": _PROFILE,
    "MergeRequest": {"otherId": OTHER_PROFILE, "reason": "same person, two e-mail addresses"},
    "MergeOut": _MERGE,
    "eraseProfile.request": {"reason": "GDPR request #4821 by e-mail"},
    "EraseOut": {"profileId": PROFILE, "erasedAt": NOW, "suppressedKeys": 2},
    "AttributeCreate": {
        "key": "loyalty_tier",
        "label": "Loyalty tier",
        "type": "enum",
        "options": ["silver", "gold", "platinum"],
        "default": "silver",
    },
    "AttributeUpdate": {"label": "Loyalty programme tier"},
    "AttributeOut": _ATTRIBUTE,
    "TopicCreate": {"key": "newsletter", "label": "Weekly newsletter"},
    "TopicUpdate": {"label": "Newsletter (weekly)"},
    "TopicOut": _TOPIC,
    "ConsentChangeIn": {
        "channel": "email",
        "topic": "newsletter",
        "state": "granted",
        "source": "website-footer-form",
        "proof": {"ip": "203.0.113.24", "wording": "I want to receive the weekly newsletter"},
        "occurredAt": "2026-11-02T09:41:50Z",
    },
    "ConsentOut": _CONSENT,
    "ConsentsOut": {
        "items": [_CONSENT],
        "contactability": [
            {"channel": "email", "contactable": True, "reasons": []},
            {"channel": "sms", "contactable": False, "reasons": ["no consent"]},
        ],
    },
    "OrderIn": _ORDER_IN,
    "OrderOut": _ORDER,
    "LinkedTableCreate": {"key": "coupons", "label": "Coupons", "columns": _COLUMNS},
    "LinkedTableUpdate": {"label": "Coupons and vouchers"},
    "LinkedTableOut": _TABLE,
    "LinkedRowCreate": {
        "key": "NOEL-5EUR-7Q2K",
        "profileKey": {"kind": "email", "value": "lea.martin@example.com"},
        "values": _ROW_VALUES,
    },
    "LinkedRowUpdate": {"values": {"value": 10, "expires_on": None}},
    "LinkedRowOut": _ROW,
    "LinkedRowVersionOut": _ROW_VERSION,
    "LinkedRowHistory": {"items": [_ROW_VERSION], "nextCursor": None},
    "ExportCreate": {
        "format": "csv",
        "fields": ["id", "email", "firstName", "lastName", "country"],
        "filter": {"country": "FR"},
    },
    "ExportOut": _EXPORT,
    "GdprExport": {
        "profile": _PROFILE,
        "identities": [
            {"kind": "email", "value": "lea.martin@example.com"},
            {"kind": "phone", "value": "+33612345678"},
        ],
        "consents": [_CONSENT],
        "orders": [_ORDER],
        "linkedRows": [
            {
                "id": _ROW["id"],
                "table": "coupons",
                "values": _ROW_VALUES,
                "history": [_ROW_VERSION],
            }
        ],
        "merges": [_MERGE],
        "exportedAt": NOW,
    },
}
