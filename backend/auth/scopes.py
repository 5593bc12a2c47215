"""OAuth scopes (``domain:action``): the catalogue, what each role may hold, and route declarations.

A token carries scopes; a route declares the one it needs (:func:`needs`). Scopes bound what a
token may do; roles (viewer, manager, admin, owner) still bound what its user may do on each
brand. A request passes only when both allow it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from backend.core.access import Access
from backend.core.api import SCOPE_OPT

# Brand-level scopes: what a client granted brands, or a brand member, works with.
BRAND_SCOPES: dict[str, str] = {
    "brands:read": "Read the brands within reach and their settings",
    "brands:write": "Change brands and their settings",
    "profiles:read": "Read profiles, their consents, orders and linked rows",
    "profiles:write": "Create, change, merge, import and erase profiles",
    "events:read": "Read events and trigger occurrences",
    "events:write": "Send events",
    "segments:read": "Read segments, their members and RFM scores",
    "segments:write": "Create and change segments, run RFM",
    "messages:read": "Read messages, their timelines and the pressure policy",
    "messages:write": "Send transactional messages, change the pressure policy",
    "programs:read": "Read programs, the program templates and the coverage map",
    "programs:write": "Create, change and delete programs, make them from templates",
    "campaigns:read": "Read campaigns and their results",
    "campaigns:write": "Create, schedule and send campaigns",
    "scenarios:read": "Read scenarios and their runs",
    "scenarios:write": "Create, change and start scenarios",
    "content:read": "Read templates, snippets and coupon pools; preview templates",
    "content:write": "Create and change templates, snippets and coupon pools",
    "webhooks:read": "Read webhook endpoints, connectors and deliveries",
    "webhooks:write": "Manage webhook endpoints and connectors, redeliver",
    "messaging:read": "Read sender identities, provider accounts and captured messages",
    "messaging:write": "Manage sender identities and provider accounts (credentials, DKIM keys)",
}
# Agency-level scopes: only people hold them (agency owners and admins for the write side).
AGENCY_SCOPES: dict[str, str] = {
    "agencies:read": "Read agencies, their members, brand grants and OAuth clients",
    "agencies:write": "Manage agencies, members, brand grants and OAuth clients",
    "audit:read": "Read the audit log",
    "billing:read": "Read plans, invoices and usage",
    "billing:write": "Change plans and payment details",
}
SCOPES: dict[str, str] = {**BRAND_SCOPES, **AGENCY_SCOPES}
ALL_SCOPES = frozenset(SCOPES)

# Any user may list what they reach and create an agency of their own, so every user may hold
# these; roles decide what else they allow.
_ANY_USER = frozenset({"agencies:read", "agencies:write", "brands:read"})
_READ_SCOPES = frozenset(s for s in BRAND_SCOPES if s.endswith(":read")) | _ANY_USER
_MANAGER_SCOPES = frozenset(BRAND_SCOPES) | _ANY_USER
# The most a token may carry for a user whose highest role anywhere is this one.
ROLE_SCOPES: dict[Access | None, frozenset[str]] = {
    None: _ANY_USER,
    Access.VIEWER: _READ_SCOPES,
    Access.MANAGER: _MANAGER_SCOPES,
    Access.ADMIN: ALL_SCOPES,
    Access.OWNER: ALL_SCOPES,
}


class UnknownScopeError(ValueError):
    def __init__(self, unknown: Iterable[str]) -> None:
        self.unknown = sorted(unknown)
        super().__init__(f"unknown scope(s): {' '.join(self.unknown)}")


def parse_scopes(text: str | Iterable[str] | None) -> frozenset[str]:
    """Scopes from a space-separated string (or a list); ``domain:*`` stands for every action.

    Raises :class:`UnknownScopeError` for anything outside the catalogue.
    """
    items = text.split() if isinstance(text, str) else list(text or ())
    scopes: set[str] = set()
    unknown: list[str] = []
    for item in items:
        if item.endswith(":*"):
            domain = item.removesuffix("*")
            matched = {s for s in SCOPES if s.startswith(domain)}
            if not matched:
                unknown.append(item)
            scopes |= matched
        elif item in SCOPES:
            scopes.add(item)
        else:
            unknown.append(item)
    if unknown:
        raise UnknownScopeError(unknown)
    return frozenset(scopes)


def format_scopes(scopes: Iterable[str]) -> str:
    return " ".join(sorted(scopes))


def ceiling_for_role(highest: Access | None) -> frozenset[str]:
    return ROLE_SCOPES[highest]


def needs(scope: str, *, opt: dict[str, Any] | None = None) -> dict[str, Any]:
    """Route keyword arguments declaring ``scope`` (and other ``opt``): checked by the guards,
    shown in the OpenAPI security requirements."""
    if scope not in SCOPES:
        raise UnknownScopeError([scope])
    return {
        "opt": {**(opt or {}), SCOPE_OPT: scope},
        "security": [{"oauth2": [scope]}, {"bearer": [scope]}],
    }
