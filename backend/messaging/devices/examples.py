"""OpenAPI examples of push devices."""

from __future__ import annotations

from typing import Any

PROFILE = "01938f52-8a7b-7c6d-9e0f-1a2b3c4d5e6f"
DEVICE = "01939a10-4b5c-7d6e-8f90-a1b2c3d4e5f6"

_DEVICE = {
    "id": DEVICE,
    "profileId": PROFILE,
    "kind": "webpush",
    "addressHint": "https://fcm.googleapis.com/…",
    "appId": "shop-web",
    "platform": "web",
    "label": "Firefox on Linux",
    "lastSeenAt": "2026-12-03T09:15:00Z",
    "createdAt": "2026-11-20T18:02:00Z",
}

EXAMPLES: dict[str, Any] = {
    "DeviceOut": _DEVICE,
    "DevicePage": {"items": [_DEVICE], "nextCursor": None},
    "DeviceRegister": {
        "kind": "webpush",
        "subscription": {
            "endpoint": "https://fcm.googleapis.com/fcm/send/dpH5lCsTSSM:APA91bHqjZxM0VImWWqDRN7U",
            "keys": {
                "p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1Xbjha"
                "zAkj7I99e8QcYP7DkM",
                "auth": "tBHItJI5svbpez7KI4CCXg",
            },
        },
        "appId": "shop-web",
        "platform": "web",
        "label": "Firefox on Linux",
    },
}
