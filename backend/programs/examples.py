"""OpenAPI examples of programs, their templates and the coverage map (the template examples are
the catalog's own Welcome and Newsletter)."""

from __future__ import annotations

from typing import Any

import msgspec

from backend.programs import catalog
from backend.programs.schemas import ProgramTemplateOut

PROGRAM = "0193a201-1c2d-7e3f-8a40-5b6c7d8e9f01"
OWNER = "01938f50-1a2b-7c3d-8e4f-5a6b7c8d9e0f"
SEGMENT = "01a20d85-e2eb-78a6-aa55-b28d88104b44"

_KPIS = [
    {"name": "Welcome email opens", "metric": "open_rate", "target": 45.0, "unit": "percent"},
    {
        "name": "Emails recovered by SMS",
        "metric": "contact_enrichment_rate",
        "target": 20.0,
        "unit": "percent",
    },
]
_PROGRAM = {
    "id": PROGRAM,
    "name": "Welcome",
    "objective": "Welcome each new sign-up and lead them to a first visit of the Drive.",
    "stage": "engage",
    "kpis": _KPIS,
    "ownerId": OWNER,
    "startDate": "2027-01-01",
    "endDate": None,
    "status": "active",
    "statusChangedAt": "2026-12-20T09:00:00Z",
    "momentsOfTruth": ["signup"],
    "templateKey": "welcome",
    "audienceSegmentId": SEGMENT,
    "archivedAt": None,
    "createdAt": "2026-12-18T10:00:00Z",
    "updatedAt": "2026-12-20T09:00:00Z",
}


def _template(key: str, program_count: int) -> dict[str, Any]:
    template = catalog.BY_KEY[key]
    out = ProgramTemplateOut.of_template(template, program_count)
    built: dict[str, Any] = msgspec.to_builtins(out)
    return built


_COVERING = [{"id": PROGRAM, "name": "Welcome", "templateKey": "welcome"}]

EXAMPLES: dict[str, Any] = {
    "ProgramCreate": {
        "name": "Welcome",
        "objective": "Welcome each new sign-up and lead them to a first visit of the Drive.",
        "stage": "engage",
        "kpis": _KPIS,
        "ownerId": OWNER,
        "startDate": "2027-01-01",
        "momentsOfTruth": ["signup"],
        "audienceSegmentId": SEGMENT,
    },
    "ProgramUpdate": {"endDate": "2027-12-31", "kpis": _KPIS[:1]},
    "ProgramOut": _PROGRAM,
    "ProgramInstantiate": {
        "templateKey": "welcome",
        "overrides": {"name": "Welcome (Drive)", "ownerId": OWNER, "startDate": "2027-01-01"},
        "createAudience": True,
    },
    "ProgramTemplateOut": _template("welcome", 1),
    "ProgramTemplateList": {"items": [_template("welcome", 1), _template("newsletter", 0)]},
    "ProgramCoverageOut": {
        "asOf": "2027-01-15",
        "gaps": 1,
        "stages": [
            {
                "stage": "engage",
                "label": "Engage",
                "description": "Build the relationship before and between purchases.",
                "covered": True,
                "programs": _COVERING,
                "suggestedTemplates": [],
            },
            {
                "stage": "win_back",
                "label": "Win back",
                "description": "Bring back inactive customers (20-50% of a base) and those "
                "who unsubscribed.",
                "covered": False,
                "programs": [],
                "suggestedTemplates": [
                    {"key": "reactivation", "name": "Reactivation / re-engagement"},
                    {"key": "resubscription", "name": "Re-subscription"},
                ],
            },
        ],
        "moments": [
            {
                "moment": "signup",
                "label": "Sign-up / first contact",
                "description": "A person becomes known: signs up, opts in, creates an account.",
                "covered": True,
                "programs": _COVERING,
                "suggestedTemplates": [],
            }
        ],
    },
}
