"""OpenAPI examples of sender identities, provider accounts and captured messages."""

from __future__ import annotations

from typing import Any

IDENTITY = "01939a10-1b2c-7d3e-8f40-5a6b7c8d9e0f"
ACCOUNT = "01939a12-2c3d-7e4f-8051-6b7c8d9e0f1a"
CAPTURED = "01939a20-3d4e-7f50-8162-7c8d9e0f1a2b"
MESSAGE = "01939a1f-4e5f-7061-9273-8d9e0f1a2b3c"
TENANT = "01938f40-1a2b-7c3d-8e4f-5a6b7c8d9e0f"

_DKIM = {
    "domain": "brand.example",
    "selector": "lv1",
    "dnsName": "lv1._domainkey.brand.example",
    "dnsType": "TXT",
    "dnsValue": "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu3x…",
}
_IDENTITY_OUT = {
    "id": IDENTITY,
    "name": "Newsletter",
    "fromName": "Match",
    "fromAddress": "news@brand.example",
    "replyTo": "service@brand.example",
    "smsSenderId": "MATCH",
    "pushAppId": "be.match.app",
    "isDefault": True,
    "dkim": _DKIM,
    "createdAt": "2026-12-01T09:00:00.000000Z",
    "updatedAt": "2026-12-01T09:05:00.000000Z",
}
_ACCOUNT_OUT = {
    "id": ACCOUNT,
    "kind": "smtp",
    "channel": "email",
    "name": "Brevo relay",
    "isDefault": True,
    "settings": {"host": "smtp-relay.brevo.com", "port": 587, "security": "starttls"},
    "credentialFields": ["password", "username"],
    "identityId": IDENTITY,
    "createdAt": "2026-12-01T09:10:00.000000Z",
    "updatedAt": "2026-12-01T09:10:00.000000Z",
}
_CAPTURED_OUT = {
    "id": CAPTURED,
    "messageId": MESSAGE,
    "channel": "email",
    "recipient": "lea.martin@example.com",
    "payload": {
        "message_id": MESSAGE,
        "tenant_id": TENANT,
        "from_name": "Match",
        "from_address": "news@brand.example",
        "to_address": "lea.martin@example.com",
        "subject": "Welcome, Léa",
        "html": "<p>Welcome, Léa</p>",
        "text": "Welcome, Léa",
    },
    "createdAt": "2026-12-01T10:00:00.000000Z",
}

EXAMPLES: dict[str, Any] = {
    "SenderIdentityCreate": {
        "name": "Newsletter",
        "fromName": "Match",
        "fromAddress": "news@brand.example",
        "replyTo": "service@brand.example",
        "smsSenderId": "MATCH",
    },
    "SenderIdentityUpdate": {"replyTo": "care@brand.example", "isDefault": True},
    "SenderIdentityOut": _IDENTITY_OUT,
    "SenderIdentityPage": {"items": [_IDENTITY_OUT], "nextCursor": None},
    "DkimKeyIn": {"selector": "lv1", "domain": "brand.example"},
    "ProviderAccountCreate": {
        "kind": "smtp",
        "name": "Brevo relay",
        "settings": {"host": "smtp-relay.brevo.com", "port": 587, "security": "starttls"},
        "credentials": {"username": "relay@brand.example", "password": "xsmtpsib-…"},
    },
    "ProviderAccountUpdate": {"credentials": {"apiKey": "SG.new-key"}},
    "ProviderAccountOut": _ACCOUNT_OUT,
    "ProviderAccountPage": {"items": [_ACCOUNT_OUT], "nextCursor": None},
    "CapturedMessageOut": _CAPTURED_OUT,
    "CapturedMessagePage": {"items": [_CAPTURED_OUT], "nextCursor": None},
}
