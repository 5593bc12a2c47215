"""OpenAPI examples of the tenancy domain: agencies, brands, members, grants, brand settings."""

from __future__ import annotations

from typing import Any

AGENCY = "01938f40-1a2b-7c3d-8e4f-50617283a4b5"
BRAND = "01938f4e-5c1a-7d2b-9e3f-4a5b6c7d8e9f"
USER = "01938f41-2b3c-7d4e-8f50-6172839405a1"

_AGENCY = {
    "id": AGENCY,
    "name": "Maison Bleue Digital",
    "createdAt": "2026-10-01T08:00:00Z",
    "updatedAt": "2026-10-01T08:00:00Z",
}
_BRAND = {
    "id": BRAND,
    "agencyId": AGENCY,
    "name": "Boulangerie Dupont",
    "status": "active",
    "timeZone": "Europe/Paris",
    "locale": "fr-FR",
    "provisionedAt": "2026-10-01T08:05:12Z",
    "createdAt": "2026-10-01T08:05:11Z",
    "updatedAt": "2026-10-01T08:05:12Z",
}
_MEMBER = {
    "id": "01938f42-3c4d-7e5f-8061-728394a5b6c1",
    "userId": USER,
    "email": "camille.roux@maisonbleue.example",
    "role": "admin",
    "createdAt": "2026-10-02T14:31:07Z",
}
_GRANT = {
    "id": "01938f43-4d5e-7f60-8172-8394a5b6c7d2",
    "userId": USER,
    "email": "camille.roux@maisonbleue.example",
    "role": "manager",
    "createdAt": "2026-10-03T09:12:44Z",
}
_SETTINGS = {
    "brandId": BRAND,
    "senderName": "Boulangerie Dupont",
    "quietHoursStart": "21:00",
    "quietHoursEnd": "08:00",
    "maxMessagesPerWeek": 3,
    "defaultChannel": "email",
    "updatedAt": "2026-10-04T10:00:00Z",
}

EXAMPLES: dict[str, Any] = {
    "AgencyCreate": {"name": "Maison Bleue Digital"},
    "AgencyUpdate": {"name": "Maison Bleue Digital & Data"},
    "AgencyOut": _AGENCY,
    "BrandCreate": {"name": "Boulangerie Dupont", "timeZone": "Europe/Paris", "locale": "fr-FR"},
    "BrandUpdate": {"name": "Boulangerie Dupont & Fils"},
    "BrandOut": _BRAND,
    "MemberCreate": {"email": "camille.roux@maisonbleue.example", "role": "admin"},
    "MemberUpdate": {"role": "member"},
    "AgencyMemberOut": _MEMBER,
    "GrantCreate": {"email": "camille.roux@maisonbleue.example", "role": "manager"},
    "GrantOut": _GRANT,
    "BrandSettingsUpdate": {"quietHoursStart": "21:00", "maxMessagesPerWeek": 3},
    "BrandSettingsOut": _SETTINGS,
}
