"""OpenAPI examples of the connectors domain, and what partners post to the inbound hook
(``POST /v1/hooks/{connector_id}``): its body and signature headers."""

from __future__ import annotations

from typing import Any

CONNECTOR = "01938f80-6a5b-7c4d-8e3f-2a1b0c9d8e7f"
DELIVERY = "01938f81-7b6c-7d5e-8f40-3b2c1d0e9f8a"

_MAPPING = {
    "identity": {"email": "/form/EMAIL"},
    "profile": {"firstName": "/form/FIRSTNAME", "lastName": "/form/LASTNAME"},
    "consents": [{"optin": "newsletter", "channel": "email", "topic": "newsletter"}],
}
_CONNECTOR_OUT = {
    "id": CONNECTOR,
    "type": "qualifio",
    "name": "Christmas contest",
    "enabled": True,
    "hookPath": f"/v1/hooks/{CONNECTOR}",
    "mapping": _MAPPING,
    "eventName": "contest_participation",
    "secretHint": "q8Rz2kQ0tL…",
    "createdAt": "2026-11-20T08:30:00Z",
    "updatedAt": "2026-11-20T08:30:00Z",
}
_INBOUND_DELIVERY = {
    "id": DELIVERY,
    "connectorId": CONNECTOR,
    "externalId": "3f9a1c2e-55d0-4b7e-9d0c-6a8b1e2f3c4d",
    "status": "processed",
    "attempts": 1,
    "error": None,
    "result": {"profileId": "01938f52-8a7b-7c6d-9e0f-1a2b3c4d5e6f", "created": False},
    "receivedAt": "2026-12-01T18:22:41.307000Z",
    "processedAt": "2026-12-01T18:22:41.902000Z",
}

EXAMPLES: dict[str, Any] = {
    "ConnectorCreate": {
        "type": "qualifio",
        "name": "Christmas contest",
        "mapping": _MAPPING,
        "eventName": "contest_participation",
    },
    "ConnectorUpdate": {"enabled": False},
    "ConnectorOut": _CONNECTOR_OUT,
    "ConnectorWithSecret": {
        **_CONNECTOR_OUT,
        "secret": "q8Rz2kQ0tLx7mWc4NvB1yHs6dPe9aGu3JmXo1Tb5Ke0",
    },
    "ConnectorPage": {"items": [_CONNECTOR_OUT], "nextCursor": None},
    "InboundDeliveryOut": _INBOUND_DELIVERY,
    "InboundDeliveryPage": {"items": [_INBOUND_DELIVERY], "nextCursor": None},
    "HookAccepted": {"deliveryId": DELIVERY, "duplicate": False},
}

# The inbound hook: headers of the two signature schemes (a connector uses one).
HOOK_HEADERS: list[dict[str, Any]] = [
    {
        "name": "X-Qualifio-Signature",
        "in": "header",
        "required": False,
        "description": "Qualifio connectors: `sha256=` followed by the hex HMAC-SHA256 of the "
        "raw body, keyed with the connector's secret (the previous secret is accepted during "
        "the grace period after a rotation). Replays are stopped by the participation `id`.",
        "schema": {"type": "string", "pattern": "^sha256=[0-9a-fA-F]{64}$"},
        "example": "sha256=6f1ed002ab5595859014ebf0951522d9b3e5b6e2a7a1b4e1d7b6e8f1d2c3b4a5",
    },
    {
        "name": "webhook-id",
        "in": "header",
        "required": False,
        "description": "Standard Webhooks connectors: the message id; a redelivery with the "
        "same id is acknowledged (202, `duplicate: true`) and changes nothing.",
        "schema": {"type": "string", "maxLength": 200},
        "example": "msg_2Kp9XoQ7c1VZr4sT",
    },
    {
        "name": "webhook-timestamp",
        "in": "header",
        "required": False,
        "description": "Standard Webhooks connectors: Unix seconds; accepted 5 minutes either "
        "side of the server's clock.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
        "example": "1764613361",
    },
    {
        "name": "webhook-signature",
        "in": "header",
        "required": False,
        "description": "Standard Webhooks connectors: space-separated `v1,<base64 HMAC-SHA256 "
        'of "{webhook-id}.{webhook-timestamp}.{body}">`, keyed with the connector\'s secret.',
        "schema": {"type": "string"},
        "example": "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
    },
]

QUALIFIO_PARTICIPATION_SCHEMA: dict[str, Any] = {
    "title": "QualifioParticipation",
    "description": "A Qualifio Webhook 2.0 participation (schema 2.3.0); the connector's "
    "`mapping` picks the fields it uses with JSON pointers.",
    "type": "object",
    "required": ["id"],
    "properties": {
        "id": {"type": "string", "description": "The participation id: the delivery's id."},
        "ip": {"type": "string"},
        "url": {"type": "string"},
        "startedAt": {"type": "string"},
        "completedAt": {"type": "string"},
        "state": {"type": "string"},
        "browser": {"type": "object"},
        "campaign": {"type": "object"},
        "form": {"type": "array", "items": {"type": "object"}},
        "optins": {"type": "array", "items": {"type": "object"}},
        "questionnaire": {"type": "array", "items": {"type": "object"}},
    },
}
PARTNER_PAYLOAD_SCHEMA: dict[str, Any] = {
    "title": "PartnerPayload",
    "description": "Any JSON object a Standard Webhooks source sends; the connector's "
    "`mapping` picks the fields it uses with JSON pointers.",
    "type": "object",
}
HOOK_BODY_EXAMPLES: dict[str, Any] = {
    "qualifio": {
        "summary": "A Qualifio participation",
        "value": {
            "id": "3f9a1c2e-55d0-4b7e-9d0c-6a8b1e2f3c4d",
            "ip": "9c1185a5c5e9fc54612808977ee8f548b2258d31",
            "url": "https://contests.example-shop.com/christmas",
            "startedAt": "2026-12-01T18:20:02Z",
            "completedAt": "2026-12-01T18:22:40Z",
            "state": "COMPLETED",
            "browser": {"device": "mobile", "userAgent": "Mozilla/5.0 (iPhone)"},
            "campaign": {"id": 482913, "name": "Christmas contest", "type": "quiz"},
            "form": [
                {
                    "id": 1,
                    "label": "E-mail",
                    "type": "EMAIL",
                    "variable": "email",
                    "responses": [{"value": "lea.martin@example.com"}],
                },
                {
                    "id": 2,
                    "label": "First name",
                    "type": "FIRSTNAME",
                    "variable": "firstname",
                    "responses": [{"value": "Léa"}],
                },
            ],
            "optins": [
                {
                    "id": 77,
                    "label": "Newsletter",
                    "description": "I want to receive the newsletter",
                    "response": True,
                    "variable": "newsletter",
                }
            ],
            "questionnaire": [],
        },
    },
    "standard_webhooks": {
        "summary": "A Standard Webhooks source's message",
        "value": {
            "type": "popup.submitted",
            "timestamp": "2026-12-01T18:22:40Z",
            "data": {"email": "lea.martin@example.com", "campaign": "black-friday"},
        },
    },
}
