"""OpenAPI examples of the auth domain: OAuth clients and their secrets."""

from __future__ import annotations

from typing import Any

AGENCY = "01938f40-1a2b-7c3d-8e4f-50617283a4b5"
BRAND = "01938f4e-5c1a-7d2b-9e3f-4a5b6c7d8e9f"
CLIENT = "01938f44-5e6f-7061-8273-94a5b6c7d8e3"

_CLIENT = {
    "id": CLIENT,
    "agencyId": AGENCY,
    "name": "Shop CRM sync",
    "public": False,
    "firstParty": False,
    "disabled": False,
    "brandIds": [BRAND],
    "scopes": ["profiles:read", "profiles:write", "events:write"],
    "redirectUris": [],
    "secretPrefix": "lvr_cs_Xq3T",
    "createdAt": "2026-10-05T16:20:00Z",
    "updatedAt": "2026-10-05T16:20:00Z",
}

EXAMPLES: dict[str, Any] = {
    "ClientCreate": {
        "name": "Shop CRM sync",
        "brandIds": [BRAND],
        "scopes": ["profiles:read", "profiles:write", "events:write"],
    },
    "ClientUpdate": {"scopes": ["profiles:read", "events:write"]},
    "ClientOut": _CLIENT,
    "ClientSecret": {
        "client": _CLIENT,
        "clientId": CLIENT,
        "clientSecret": "lvr_cs_Xq3T9bKe2WmZr7Pn4Ld8Hs1Ya6Uc0VfRt3Eq7Jw",
    },
}
