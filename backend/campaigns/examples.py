"""OpenAPI examples of the campaigns domain."""

from __future__ import annotations

from typing import Any

CAMPAIGN = "01939a10-4c2b-7d3e-8f40-5a6b7c8d9e0f"
OCCURRENCE = "01939a12-0b1c-7d2e-9f30-4a5b6c7d8e9f"
SEGMENT = "01938f60-9a8b-7c6d-8e5f-4a3b2c1d0e9f"
LAPSED = "01938f61-1a2b-7c3d-8e4f-5a6b7c8d9e0a"
TEMPLATE = "01939001-7a6b-7c5d-8e4f-3a2b1c0d9e8f"
SMS_TEMPLATE = "01939002-7a6b-7c5d-8e4f-3a2b1c0d9e8a"
PROFILE = "01938f52-8a7b-7c6d-9e0f-1a2b3c4d5e6f"
MESSAGE = "01939a20-2b3c-7d4e-8f5a-6b7c8d9e0f1a"

_SCHEDULE = {
    "kind": "recurring",
    "rrule": "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0",
    "startsAt": "2026-12-07T09:00:00+01:00",
    "timeZone": "Europe/Brussels",
    "perRecipientTimeZone": True,
}
_TEST = {
    "mode": "winner",
    "testPercent": 20,
    "winnerMetric": "clicks",
    "attributionHours": 72,
    "decideAfterMinutes": 240,
    "holdoutPercent": 5,
}
_VARIANTS_IN = [
    {"key": "a", "weight": 50},
    {"key": "b", "weight": 50, "subject": "{{ first_name }}, this week's picks are in"},
]
_VARIANTS_OUT = [
    {
        "key": "a",
        "name": None,
        "weight": 50,
        "channel": None,
        "templateId": None,
        "templateVersion": None,
        "subject": None,
        "senderIdentityId": None,
        "sendDelayMinutes": 0,
    },
    {
        "key": "b",
        "name": None,
        "weight": 50,
        "channel": None,
        "templateId": None,
        "templateVersion": None,
        "subject": "{{ first_name }}, this week's picks are in",
        "senderIdentityId": None,
        "sendDelayMinutes": 0,
    },
]
_CREATE = {
    "name": "Weekly newsletter",
    "audience": {"include": [SEGMENT], "exclude": [LAPSED]},
    "channel": "email",
    "templateId": TEMPLATE,
    "fallback": {"channel": "sms", "templateId": SMS_TEMPLATE},
    "topic": "newsletter",
    "priority": "campaign",
    "schedule": _SCHEDULE,
    "throttlePerHour": 50000,
    "variants": _VARIANTS_IN,
    "test": _TEST,
}
_CAMPAIGN = {
    "id": CAMPAIGN,
    "name": "Weekly newsletter",
    "description": None,
    "programId": None,
    "status": "scheduled",
    "audience": {"include": [SEGMENT], "exclude": [LAPSED]},
    "channel": "email",
    "templateId": TEMPLATE,
    "fallback": {"channel": "sms", "templateId": SMS_TEMPLATE},
    "topic": "newsletter",
    "priority": "campaign",
    "deferOverPressure": True,
    "schedule": {**_SCHEDULE, "sendAt": None, "localTime": None},
    "throttlePerHour": 50000,
    "sendTimeOptimization": False,
    "optimizationWindowHours": 24,
    "variants": _VARIANTS_OUT,
    "test": {**_TEST, "goalEvent": None},
    "scheduledAt": "2026-12-03T16:20:00Z",
    "nextRunAt": "2026-12-07T08:00:00Z",
    "finishedAt": None,
    "cancelledAt": None,
    "createdAt": "2026-12-03T16:02:11Z",
    "updatedAt": "2026-12-03T16:20:00Z",
}
_OCCURRENCE = {
    "id": OCCURRENCE,
    "campaignId": CAMPAIGN,
    "kind": "scheduled",
    "status": "sending",
    "plannedAt": "2026-12-07T08:00:00Z",
    "startedAt": "2026-12-06T18:00:01Z",
    "preparedAt": "2026-12-06T18:00:09Z",
    "finishedAt": None,
    "decideAt": "2026-12-07T12:00:09Z",
    "winnerVariant": None,
    "failure": None,
    "targeted": 48210,
    "excluded": 1204,
    "holdout": 2350,
    "released": 9120,
    "withdrawn": 0,
}

EXAMPLES: dict[str, Any] = {
    "CampaignCreate": _CREATE,
    "CampaignUpdate": {"name": "Weekly newsletter (FR)", "throttlePerHour": 20000},
    "CampaignOut": _CAMPAIGN,
    "CampaignTestSendIn": {"profileIds": [PROFILE], "variant": "b"},
    "CampaignOccurrenceOut": _OCCURRENCE,
    "CampaignRecipientOut": {
        "profileId": PROFILE,
        "variant": "b",
        "state": "released",
        "reason": None,
        "dueAt": "2026-12-07T08:00:00Z",
        "releasedAt": "2026-12-07T08:00:02Z",
        "messageId": MESSAGE,
    },
    "CampaignProgress": {
        "campaignId": CAMPAIGN,
        "campaignStatus": "sending",
        "occurrenceId": OCCURRENCE,
        "occurrenceStatus": "sending",
        "plannedAt": "2026-12-07T08:00:00Z",
        "startedAt": "2026-12-06T18:00:01Z",
        "finishedAt": None,
        "targeted": 48210,
        "excluded": {"excluded-segment": 1204, "no-consent": 311, "pressure-cap": 42},
        "holdout": 2350,
        "waiting": 35536,
        "released": 9120,
        "queued": 480,
        "deferred": 96,
        "sent": 8191,
        "failed": 12,
        "cancelled": 0,
        "fallbacks": 27,
        "opened": 2210,
        "clicked": 388,
        "winnerVariant": None,
        "decideAt": "2026-12-07T12:00:09Z",
        "variants": [
            {
                "key": "a",
                "messages": 4561,
                "queued": 240,
                "deferred": 50,
                "sent": 4095,
                "failed": 6,
                "refused": 170,
                "opened": 1080,
                "clicked": 171,
                "score": None,
            },
            {
                "key": "b",
                "messages": 4559,
                "queued": 240,
                "deferred": 46,
                "sent": 4096,
                "failed": 6,
                "refused": 171,
                "opened": 1130,
                "clicked": 217,
                "score": None,
            },
        ],
    },
}
