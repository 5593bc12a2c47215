"""OpenAPI examples of the webhooks domain, and the events sent to endpoints (the document's
``webhooks`` section): each event type's ``data``, as a JSON Schema and an example."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backend.webhooks.models import WebhookEventType

ENDPOINT = "01938f5a-2b3c-7d4e-8f50-6172839405a6"
DELIVERY = "01938f6b-3c4d-7e5f-8061-728394a5b6c7"
EVENT = "01938f6b-3c4d-7e5f-8061-728394a5b6c8"
PROFILE = "01938f52-8a7b-7c6d-9e0f-1a2b3c4d5e6f"

_ENDPOINT_OUT = {
    "id": ENDPOINT,
    "url": "https://hooks.example-shop.com/levier",
    "description": "CRM sync",
    "eventTypes": ["profile.created", "profile.updated", "consent.changed"],
    "enabled": True,
    "secretHint": "whsec_MfKQ…",
    "consecutiveFailures": 0,
    "disabledAt": None,
    "disabledReason": None,
    "createdAt": "2026-11-02T09:14:03.512000Z",
    "updatedAt": "2026-11-02T09:14:03.512000Z",
}
_DELIVERY_OUT = {
    "id": DELIVERY,
    "endpointId": ENDPOINT,
    "eventId": EVENT,
    "eventType": "profile.updated",
    "payload": {"profile": {"id": PROFILE, "email": "lea.martin@example.com"}},
    "status": "succeeded",
    "attemptCount": 1,
    "nextAttemptAt": None,
    "lastStatusCode": 200,
    "lastError": None,
    "finishedAt": "2026-11-02T10:01:07.386000Z",
    "createdAt": "2026-11-02T10:01:06.998000Z",
}
_ATTEMPT_OUT = {
    "id": "01938f6b-4d5e-7f60-8172-8394a5b6c7d8",
    "attemptedAt": "2026-11-02T10:01:07.204000Z",
    "succeeded": True,
    "statusCode": 200,
    "durationMs": 182,
    "responseExcerpt": "ok",
    "error": None,
}

EXAMPLES: dict[str, Any] = {
    "EndpointCreate": {
        "url": "https://hooks.example-shop.com/levier",
        "eventTypes": ["profile.created", "profile.updated", "consent.changed"],
        "description": "CRM sync",
    },
    "EndpointUpdate": {"eventTypes": ["profile.created", "segment.entered"], "enabled": True},
    "EndpointOut": _ENDPOINT_OUT,
    "EndpointCreated": {**_ENDPOINT_OUT, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
    "EndpointPage": {"items": [_ENDPOINT_OUT], "nextCursor": None},
    "DeliveryOut": _DELIVERY_OUT,
    "DeliveryPage": {"items": [_DELIVERY_OUT], "nextCursor": None},
    "AttemptOut": _ATTEMPT_OUT,
    "AttemptPage": {"items": [_ATTEMPT_OUT], "nextCursor": None},
}


@dataclass(frozen=True)
class EventDoc:
    """One event type as sent to endpoints: what it reports, its ``data`` schema, an example."""

    summary: str
    description: str
    data_schema: dict[str, Any]
    data_example: dict[str, Any]


_UUID = {"type": "string", "format": "uuid"}
_TIME = {"type": "string", "format": "date-time"}
_TEXT_OR_NULL = {"type": ["string", "null"]}

PROFILE_DATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["profile"],
    "properties": {
        "profile": {
            "type": "object",
            "required": ["id", "email", "phone", "firstName", "lastName", "attributes"],
            "properties": {
                "id": _UUID,
                "email": _TEXT_OR_NULL,
                "phone": {**_TEXT_OR_NULL, "description": "E.164"},
                "firstName": _TEXT_OR_NULL,
                "lastName": _TEXT_OR_NULL,
                "birthDate": {"type": ["string", "null"], "format": "date"},
                "locale": _TEXT_OR_NULL,
                "timeZone": _TEXT_OR_NULL,
                "country": _TEXT_OR_NULL,
                "preferredStore": _TEXT_OR_NULL,
                "channelAppetency": _TEXT_OR_NULL,
                "attributes": {"type": "object", "description": "The brand's own attributes."},
            },
        }
    },
}
_PROFILE_DATA = {
    "profile": {
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
        "attributes": {"loyaltyTier": "gold", "newsletterFrequency": "weekly"},
    }
}
SEGMENT_DATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["transitionId", "segmentId", "segmentKey", "profileId", "kind", "occurredAt"],
    "properties": {
        "transitionId": _UUID,
        "segmentId": _UUID,
        "segmentKey": _TEXT_OR_NULL,
        "profileId": _UUID,
        "kind": {"type": "string", "enum": ["entered", "exited"]},
        "occurredAt": _TIME,
    },
}


def _segment_data(kind: str) -> dict[str, Any]:
    return {
        "transitionId": "01938f70-1a2b-7c3d-8e4f-5061728394a5",
        "segmentId": "01938f60-9a8b-7c6d-8e5f-4a3b2c1d0e9f",
        "segmentKey": "lapsed-vip",
        "profileId": PROFILE,
        "kind": kind,
        "occurredAt": "2026-11-02T03:00:12.044000+00:00",
    }


EVENTS: dict[WebhookEventType, EventDoc] = {
    WebhookEventType.PROFILE_CREATED: EventDoc(
        "A profile was created",
        "Sent when a profile is created (API, GraphQL, import, connector or event ingestion).",
        PROFILE_DATA_SCHEMA,
        _PROFILE_DATA,
    ),
    WebhookEventType.PROFILE_UPDATED: EventDoc(
        "A profile changed",
        "Sent when a write changed at least one of the profile's fields (a write that changes "
        "nothing sends nothing). The profile as it is after the change.",
        PROFILE_DATA_SCHEMA,
        _PROFILE_DATA,
    ),
    WebhookEventType.CONSENT_CHANGED: EventDoc(
        "A consent was recorded",
        "Sent for every consent change recorded on a profile; no `channel` means all channels, "
        "no `topic` the channel as a whole.",
        {
            "type": "object",
            "required": ["profileId", "consentId", "channel", "topic", "state", "source"],
            "properties": {
                "profileId": _UUID,
                "consentId": _UUID,
                "channel": _TEXT_OR_NULL,
                "topic": _TEXT_OR_NULL,
                "state": {"type": "string", "enum": ["granted", "denied", "unsubscribed"]},
                "source": {"type": "string"},
                "occurredAt": _TIME,
            },
        },
        {
            "profileId": PROFILE,
            "consentId": "01938f55-0b1c-7d2e-8f30-415263748596",
            "channel": "email",
            "topic": "newsletter",
            "state": "granted",
            "source": "qualifio",
            "occurredAt": "2026-11-02T09:41:55+00:00",
        },
    ),
    WebhookEventType.SEGMENT_ENTERED: EventDoc(
        "A profile entered a segment",
        "Sent once per entry found by a segment evaluation.",
        SEGMENT_DATA_SCHEMA,
        _segment_data("entered"),
    ),
    WebhookEventType.SEGMENT_EXITED: EventDoc(
        "A profile left a segment",
        "Sent once per exit found by a segment evaluation.",
        SEGMENT_DATA_SCHEMA,
        _segment_data("exited"),
    ),
    WebhookEventType.BILLING_USAGE_WARNING: EventDoc(
        "Usage crossed 80 % or 100 % of an entitlement",
        "Sent once per period, metric and threshold to every brand the account bills: its "
        "usage of `metric` (`messages_email`, `messages_sms`, `messages_push`, `profiles`, "
        "`brands`) reached `threshold` percent of the plan's `limit`. At 100 %, campaigns over "
        "the rest of the allowance are refused and non-transactional sends are held.",
        {
            "type": "object",
            "required": [
                "agencyId",
                "brandId",
                "metric",
                "threshold",
                "used",
                "limit",
                "periodStart",
            ],
            "properties": {
                "agencyId": _UUID,
                "brandId": _UUID,
                "metric": {"type": "string"},
                "threshold": {"type": "integer", "enum": [80, 100]},
                "used": {"type": "integer", "minimum": 0},
                "limit": {"type": "integer", "minimum": 1},
                "periodStart": _TIME,
            },
        },
        {
            "agencyId": "01938f4e-1a2b-7c3d-8e4f-5a6b7c8d9e0f",
            "brandId": "01938f4f-2b3c-7d4e-8f50-6172839405a6",
            "metric": "messages_email",
            "threshold": 80,
            "used": 80412,
            "limit": 100000,
            "periodStart": "2026-12-01T00:00:00+00:00",
        },
    ),
    WebhookEventType.IMPORT_FINISHED: EventDoc(
        "An import finished",
        "Sent when a bulk import succeeds or fails, with its counts.",
        {
            "type": "object",
            "required": ["importId", "kind", "status", "rows", "created", "updated", "rejected"],
            "properties": {
                "importId": _UUID,
                "kind": {"type": "string", "examples": ["profiles", "orders", "linked_rows"]},
                "status": {"type": "string", "enum": ["succeeded", "failed"]},
                "rows": {"type": "integer", "minimum": 0},
                "created": {"type": "integer", "minimum": 0},
                "updated": {"type": "integer", "minimum": 0},
                "rejected": {"type": "integer", "minimum": 0},
                "error": _TEXT_OR_NULL,
                "finishedAt": {"type": ["string", "null"], "format": "date-time"},
            },
        },
        {
            "importId": "01938f58-7e6f-7a5b-8c4d-3e2f1a0b9c8d",
            "kind": "profiles",
            "status": "succeeded",
            "rows": 12500,
            "created": 11842,
            "updated": 641,
            "rejected": 17,
            "error": None,
            "finishedAt": "2026-11-02T11:06:40.118000+00:00",
        },
    ),
    WebhookEventType.ENDPOINT_DISABLED: EventDoc(
        "An endpoint was disabled",
        "Sent to the brand's other endpoints subscribed to it when an endpoint is disabled "
        "after too many failed attempts in a row; enable it again with `PATCH` once fixed.",
        {
            "type": "object",
            "required": ["endpointId", "url", "consecutiveFailures", "reason", "disabledAt"],
            "properties": {
                "endpointId": _UUID,
                "url": {"type": "string", "format": "uri"},
                "consecutiveFailures": {"type": "integer", "minimum": 1},
                "reason": {"type": "string"},
                "disabledAt": _TIME,
            },
        },
        {
            "endpointId": ENDPOINT,
            "url": "https://hooks.example-shop.com/levier",
            "consecutiveFailures": 20,
            "reason": "20 failed attempts in a row; the last: 503 Service Unavailable",
            "disabledAt": "2026-11-03T02:17:09.881000+00:00",
        },
    ),
}


_MESSAGE_DATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "messageId",
        "profileId",
        "channel",
        "topic",
        "templateId",
        "source",
        "status",
        "occurredAt",
    ],
    "properties": {
        "messageId": _UUID,
        "profileId": _UUID,
        "channel": {"type": "string", "enum": ["email", "sms", "push"]},
        "topic": _TEXT_OR_NULL,
        "templateId": _UUID,
        "source": {
            "type": "object",
            "properties": {"kind": {"type": "string"}, "key": {"type": "string"}},
        },
        "status": {"type": "string"},
        "occurredAt": _TIME,
        "url": {"type": "string", "description": "The clicked link (`message.clicked`)."},
        "bounce": {"type": "string", "enum": ["soft", "hard"]},
        "detail": {"type": "string", "description": "The provider's words, when it gave some."},
        "providerMessageId": {
            "type": "string",
            "description": "The provider's id of the message (`message.sent`).",
        },
        "version": {
            "type": "integer",
            "description": "The template version sent (`message.sent`).",
        },
        "until": {**_TIME, "description": "When it is tried again (`message.deferred`)."},
    },
}


def _message_data(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "messageId": "01938f70-1a2b-7c3d-8e4f-5a6b7c8d9e0f",
        "profileId": PROFILE,
        "channel": "email",
        "topic": "newsletter",
        "templateId": "01938f6f-0a1b-7c2d-8e3f-4a5b6c7d8e9f",
        "source": {"kind": "transactional", "key": "order-1042-confirmation"},
        "status": status,
        "occurredAt": "2026-11-02T10:14:03+00:00",
        **extra,
    }


_MESSAGE_EVENTS = {
    WebhookEventType.MESSAGE_DELIVERED: (
        "A message was delivered",
        "Sent once per message when its provider reports the delivery.",
        _message_data("delivered"),
    ),
    WebhookEventType.MESSAGE_BOUNCED: (
        "A message bounced",
        "Sent once per message and kind of bounce (`bounce`: `soft` or `hard`). A hard bounce "
        "marks the address as bounced; soft bounces in a row count as a hard one at the fifth.",
        _message_data("bounced_hard", bounce="hard", detail="550 5.1.1 user unknown"),
    ),
    WebhookEventType.MESSAGE_COMPLAINED: (
        "A recipient reported a message as spam",
        "Sent once per message; the address is suppressed on the message's channel.",
        _message_data("complained"),
    ),
    WebhookEventType.MESSAGE_OPENED: (
        "A message was opened",
        "Sent at the first open of a message by a person (open pixel, push open or the "
        "provider's report); opens by mail privacy proxies and scanners are not sent.",
        _message_data("opened"),
    ),
    WebhookEventType.MESSAGE_CLICKED: (
        "A link of a message was clicked",
        "Sent at the first click on each link of a message by a person.",
        _message_data("clicked", url="https://shop.example/offers?utm_source=levier"),
    ),
    WebhookEventType.MESSAGE_UNSUBSCRIBED: (
        "A recipient unsubscribed from a message",
        "Sent once per message unsubscribed from (one-click, preference page or the "
        "provider's report); the consent change itself is also sent as `consent.changed`.",
        _message_data("unsubscribed"),
    ),
    WebhookEventType.MESSAGE_SENT: (
        "A message was handed to its provider",
        "Sent once per message when its provider accepted it (`providerMessageId`, the "
        "template `version`).",
        _message_data("sent", providerMessageId="<0193@mail.example>", version=3),
    ),
    WebhookEventType.MESSAGE_FAILED: (
        "A message could not be sent",
        "Sent once per message that failed for good: its template could not be rendered "
        "(`detail` starts with the reason, e.g. `coupon-pool-empty`), its provider refused it, "
        "or retries ran out.",
        _message_data("failed", detail="coupon-pool-empty: pool WELCOME10 has no code left"),
    ),
    WebhookEventType.MESSAGE_REFUSED: (
        "The send gate refused a message",
        "Sent once per message the gate refused (`detail`: the reason, e.g. `no-consent`, "
        "`suppressed`, `pressure-cap`); a fallback message, when one was asked for, is sent on "
        "its own.",
        _message_data("refused", detail="no-consent"),
    ),
    WebhookEventType.MESSAGE_DEFERRED: (
        "A message was deferred",
        "Sent each time a message is put off: quiet hours, a pressure cap (to its next free "
        "slot) or a provider asking to retry later; `until` says when it is tried again.",
        _message_data("deferred", detail="quiet-hours", until="2026-11-02T07:00:00+00:00"),
    ),
}
for _type, (_summary, _description, _example) in _MESSAGE_EVENTS.items():
    EVENTS[_type] = EventDoc(_summary, _description, _MESSAGE_DATA_SCHEMA, _example)


EVENTS[WebhookEventType.SCENARIO_WEBHOOK] = EventDoc(
    "A scenario's webhook step ran",
    "Sent to the endpoint a scenario's webhook step names (whatever the endpoint subscribes "
    "to), once per step a journey runs: `payload` is the step's, as its author wrote it.",
    {
        "type": "object",
        "properties": {
            "journeyId": _UUID,
            "profileId": _UUID,
            "nodeId": {"type": "string"},
            "payload": {"type": "object", "additionalProperties": True},
        },
    },
    {
        "journeyId": "01938f71-2b3c-7d4e-8f50-6a7b8c9d0e1f",
        "profileId": PROFILE,
        "nodeId": "notify-crm",
        "payload": {"list": "welcome", "step": 2},
    },
)
